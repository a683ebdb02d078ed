package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"kickstand/internal/app"
	"kickstand/internal/store"
)

func (e *env) distroCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "distro", Short: "Manage installable distributions"}
	cmd.AddCommand(&cobra.Command{
		Use:   "import NAME PATH",
		Short: "Register install media: an ISO file (read in place, never mounted or copied) or an extracted tree",
		Args:  cobra.ExactArgs(2),
		RunE:  e.withStore(e.distroImport),
	}, &cobra.Command{
		Use:   "list",
		Short: "List distributions and whether their media is still in place",
		Args:  cobra.NoArgs,
		RunE:  e.withStore(e.distroList),
	}, &cobra.Command{
		Use:   "remove NAME",
		Short: "Forget a distribution (the ISO or tree itself is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE:  e.withStore(e.distroRemove),
	})
	return cmd
}

func (e *env) distroImport(ctx context.Context, s store.Store, args []string) error {
	name, path := args[0], args[1]
	if err := checkName("distro", name); err != nil {
		return err
	}
	d, err := app.Import(ctx, s, name, path, e.progress())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported %s: %s %s %s from %s (%s)\n", d.Name, orDash(d.Family), orDash(d.Version), orDash(d.Arch), d.Source, app.Human(d.Size))
	return nil
}

func (e *env) distroList(ctx context.Context, s store.Store, _ []string) error {
	ds, err := s.Distros(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tFAMILY\tVERSION\tARCH\tKIND\tSIZE\tSTATUS\tSOURCE")
	for _, d := range ds {
		status := app.CheckSource(d)
		if status != "ok" {
			status += " (re-import)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, orDash(d.Family), orDash(d.Version), orDash(d.Arch),
			d.Kind, app.Human(d.Size), status, d.Source)
	}
	return w.Flush()
}

func (e *env) distroRemove(ctx context.Context, s store.Store, args []string) error {
	name := args[0]
	err := s.RemoveDistro(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("distro %s does not exist (see kickstand distro list)", name)
	case errors.Is(err, store.ErrInUse):
		return fmt.Errorf("distro %s is used by a profile: remove its profiles first (kickstand profile list, kickstand profile remove NAME)", name)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "removed distro %s\n", name)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
