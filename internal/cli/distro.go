package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"kickstand/internal/distro"
	"kickstand/internal/store"
)

func (e *env) distroCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "distro", Short: "Manage installable distributions"}
	cmd.AddCommand(&cobra.Command{
		Use:   "import NAME PATH",
		Short: "Register an extracted RHEL-family install tree (a DVD's contents or a mirror)",
		Args:  cobra.ExactArgs(2),
		RunE:  e.withStore(e.distroImport),
	}, &cobra.Command{
		Use:   "list",
		Short: "List distributions",
		Args:  cobra.NoArgs,
		RunE:  e.withStore(e.distroList),
	})
	return cmd
}

func (e *env) distroImport(ctx context.Context, s store.Store, args []string) error {
	name, path := args[0], args[1]
	if err := checkName("distro", name); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	info, err := distro.DetectDir(abs)
	if err != nil {
		return fmt.Errorf("distro import %s: %w", path, err)
	}
	d := store.Distro{Name: name, Family: info.Family, Version: info.Version, Arch: info.Arch,
		Source: abs, Kernel: info.Kernel, Initrd: info.Initrd, Stage2: info.Stage2}
	if err := s.AddDistro(ctx, d); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("distro %s already exists: choose another name", name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "imported %s: %s %s %s from %s\n", name, orDash(d.Family), orDash(d.Version), orDash(d.Arch), abs)
	return nil
}

func (e *env) distroList(ctx context.Context, s store.Store, _ []string) error {
	ds, err := s.Distros(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tFAMILY\tVERSION\tARCH\tSOURCE")
	for _, d := range ds {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.Name, orDash(d.Family), orDash(d.Version), orDash(d.Arch), d.Source)
	}
	return w.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
