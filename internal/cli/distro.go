package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"kickstand/internal/inventory"
	"kickstand/internal/loaders"
	"kickstand/internal/store"
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
	}, e.distroListCmd(), &cobra.Command{
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

func (e *env) distroListCmd() *cobra.Command {
	var where loaderFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List distributions and whether their media is still in place (--loaders: and where each boot loader comes from)",
		Long: `List distributions and whether their media is still in place. With --loaders, also
where kickstand serve takes each boot loader from on this host: the host's packages, an RPM
on an imported distro's media (syslinux-tftpboot, ipxe-bootimgs-x86), or none.`,
		Args: cobra.NoArgs,
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			local, isLocal := svc.(inventory.Service)
			if where.show && !isLocal {
				return fmt.Errorf("--loaders looks at this host's files and media: run it on the kickstand host, without --server")
			}
			if err := e.distroList(ctx, svc, args); err != nil || !where.show {
				return err
			}
			return e.loaderList(ctx, local.Inv.Store, where)
		}),
	}
	cmd.Flags().BoolVar(&where.show, "loaders", false, "also say where each boot loader comes from (host package, media RPM, none)")
	cmd.Flags().StringVar(&where.dir, "bootloader-dir", "", "with --loaders: serve's --bootloader-dir")
	cmd.Flags().StringVar(&where.mode, "bootloaders", "auto", "with --loaders: serve's --bootloaders (auto, host or media)")
	return cmd
}

// loaderFlags are serve's flags that say where boot loaders come from.
type loaderFlags struct {
	show      bool
	dir, mode string
}

// loaderList says where serve takes each boot loader from, without
// extracting anything: packages serve has extracted show their cached
// file and the digests checked.
func (e *env) loaderList(ctx context.Context, st store.Store, where loaderFlags) error {
	mode, err := loaders.ParseMode(where.mode)
	if err != nil {
		return err
	}
	ds, err := st.Distros(ctx)
	if err != nil {
		return err
	}
	media, closeMedia := loaders.OpenMedia(ds)
	defer closeMedia()
	res := loaders.Finder{Mode: mode, Dir: where.dir, Media: media, CacheDir: loaders.CacheDir(e.dataDir)}.Find()
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nBOOT LOADER\tFROM")
	for _, name := range loaders.Names() {
		from := "none"
		if l, ok := res.Loaders[name]; ok {
			from = l.Source()
		}
		fmt.Fprintf(w, "%s\t%s\n", name, from)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(e.stdout, "refused: %s\n", p)
	}
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
