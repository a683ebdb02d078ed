package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"kickstand/internal/kickstart"
	"kickstand/internal/store"
)

func (e *env) profileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage install profiles (distro + kickstart + kernel arguments)"}
	var p store.Profile
	var ksFile string
	add := &cobra.Command{
		Use:   "add NAME --distro NAME",
		Short: "Add a profile",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			p.Name = args[0]
			return e.profileAdd(ctx, s, p, ksFile)
		}),
	}
	add.Flags().StringVar(&p.Distro, "distro", "", "distro to install (required)")
	add.Flags().StringVar(&ksFile, "kickstart", "", "kickstart template file (default: the built-in template)")
	add.Flags().StringVar(&p.KernelArgs, "kernel-args", "", "extra kernel command line arguments")
	add.Flags().StringVar(&p.RepoProtocol, "repo-protocol", store.RepoHTTP, "how the installer reaches the tree: http or ftp")
	add.MarkFlagRequired("distro")
	cmd.AddCommand(add, &cobra.Command{
		Use:   "list",
		Short: "List profiles",
		Args:  cobra.NoArgs,
		RunE:  e.withStore(e.profileList),
	}, &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a profile no machine uses",
		Args:  cobra.ExactArgs(1),
		RunE:  e.withStore(e.profileRemove),
	})
	return cmd
}

func (e *env) profileAdd(ctx context.Context, s store.Store, p store.Profile, ksFile string) error {
	if err := checkName("profile", p.Name); err != nil {
		return err
	}
	if p.RepoProtocol != store.RepoHTTP && p.RepoProtocol != store.RepoFTP {
		return fmt.Errorf("--repo-protocol %q: want http or ftp", p.RepoProtocol)
	}
	if ksFile != "" {
		b, err := os.ReadFile(ksFile)
		if err != nil {
			return fmt.Errorf("--kickstart: %w", err)
		}
		p.Kickstart = string(b)
		// The template is copied into the store, so the file may move later.
		if err := kickstart.Parse(ksFile, p.Kickstart); err != nil {
			return err
		}
	}
	if _, err := s.Distro(ctx, p.Distro); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("distro %s does not exist: import it with kickstand distro import %s PATH", p.Distro, p.Distro)
	}
	if err := s.AddProfile(ctx, p); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("profile %s already exists: choose another name", p.Name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "added profile %s (distro %s)\n", p.Name, p.Distro)
	return nil
}

func (e *env) profileList(ctx context.Context, s store.Store, _ []string) error {
	ps, err := s.Profiles(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tDISTRO\tREPO\tKICKSTART\tKERNEL ARGS")
	for _, p := range ps {
		ks := "built-in"
		if p.Kickstart != "" {
			ks = "custom"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Distro, p.RepoProtocol, ks, orDash(p.KernelArgs))
	}
	return w.Flush()
}

func (e *env) profileRemove(ctx context.Context, s store.Store, args []string) error {
	err := s.RemoveProfile(ctx, args[0])
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("profile %s does not exist (see kickstand profile list)", args[0])
	case errors.Is(err, store.ErrInUse):
		return fmt.Errorf("profile %s is used by a machine: remove or re-register those machines first (kickstand machine list)", args[0])
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "removed profile %s\n", args[0])
	return nil
}
