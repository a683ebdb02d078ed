package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"kickstand/internal/api"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
)

// tokenCmd manages REST API tokens, on the server's own data directory only:
// a token cannot make tokens.
func (e *env) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage REST API tokens (on the kickstand host)"}
	var readOnly bool
	create := &cobra.Command{
		Use:   "create NAME [--read-only]",
		Short: "Make an API token; it is shown once, and only its hash is kept",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			if err := inventory.CheckName("token", args[0]); err != nil {
				return err
			}
			text, rec := api.NewToken(args[0], readOnly)
			if err := s.AddAPIToken(ctx, rec); errors.Is(err, store.ErrExists) {
				return fmt.Errorf("token %s exists: choose another name, or kickstand token revoke %s first", args[0], args[0])
			} else if err != nil {
				return err
			}
			kind := "read-write"
			if readOnly {
				kind = "read-only"
			}
			fmt.Fprintf(e.stderr, "token %s (%s); it is not shown again:\n", args[0], kind)
			fmt.Fprintln(e.stdout, text)
			return nil
		}),
	}
	create.Flags().BoolVar(&readOnly, "read-only", false, "may read everything and change nothing")
	list := &cobra.Command{
		Use: "list", Short: "List API tokens (names, never the tokens)", Args: cobra.NoArgs,
		RunE: e.withStore(func(ctx context.Context, s store.Store, _ []string) error {
			ts, err := s.APITokens(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tACCESS\tCREATED\tLAST USED")
			for _, t := range ts {
				access, used := "read-write", "never"
				if t.ReadOnly {
					access = "read-only"
				}
				if !t.LastUsed.IsZero() {
					used = t.LastUsed.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, access, t.Created.Local().Format(time.DateTime), used)
			}
			return w.Flush()
		}),
	}
	revoke := &cobra.Command{
		Use: "revoke NAME", Short: "Delete an API token: it stops working at once", Args: cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			if err := s.RemoveAPIToken(ctx, args[0]); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("token %s does not exist (see kickstand token list)", args[0])
			} else if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked token %s\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
