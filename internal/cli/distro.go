package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"kickstand/internal/inventory"
)

func (e *env) distroCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "distro", Short: "Manage installable distributions"}
	cmd.AddCommand(&cobra.Command{
		Use:   "import NAME PATH",
		Short: "Register install media: an ISO file (read in place, never mounted or copied) or an extracted tree",
		Long: `Register install media: an ISO file (read in place, never mounted or copied) or an
extracted tree. PATH is on the server: with --server, a path on the kickstand host.`,
		Args: cobra.ExactArgs(2),
		RunE: e.withService(e.distroImport),
	}, &cobra.Command{
		Use:   "list",
		Short: "List distributions and whether their media is still in place",
		Args:  cobra.NoArgs,
		RunE:  e.withService(e.distroList),
	}, &cobra.Command{
		Use:   "remove NAME",
		Short: "Forget a distribution (the ISO or tree itself is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			if err := svc.RemoveDistro(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed distro %s\n", args[0])
			return nil
		}),
	})
	return cmd
}

func (e *env) distroImport(ctx context.Context, svc service, args []string) error {
	name, path := args[0], args[1]
	if e.server == "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		path = abs
	}
	d, err := svc.ImportDistro(ctx, name, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported %s: %s %s %s from %s (%s)\n", d.Name, orDash(d.Family), orDash(d.Version), orDash(d.Arch), d.Source, inventory.Human(d.Size))
	return nil
}

func (e *env) distroList(ctx context.Context, svc service, _ []string) error {
	ds, err := svc.Distros(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tFAMILY\tVERSION\tARCH\tKIND\tSIZE\tSTATUS\tSOURCE")
	for _, d := range ds {
		status := d.Status
		if status != "ok" {
			status += " (re-import)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, orDash(d.Family), orDash(d.Version), orDash(d.Arch),
			d.Kind, inventory.Human(d.Size), status, d.Source)
	}
	return w.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
