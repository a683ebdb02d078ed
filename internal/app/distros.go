package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"kickstand/internal/bootfs"
	"kickstand/internal/ftp"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
)

// progressWriter is where the one-time ISO checksum shows its progress: the
// terminal, if there is one.
func progressWriter() io.Writer {
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return os.Stderr
	}
	return nil
}

func (a *App) distroSource(ctx context.Context, name string) (bootfs.Source, error) {
	d, err := a.store.Distro(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return bootfs.Source{}, fmt.Errorf("%w: %w", err, fs.ErrNotExist) // a 404, not a server error
	}
	if err != nil {
		return bootfs.Source{}, err
	}
	return bootfs.Source{ISO: d.Kind == store.SourceISO, Path: d.Source, Size: d.Size, ModTime: d.ModTime}, nil
}

func (a *App) distroNames(ctx context.Context) ([]string, error) {
	ds, err := a.store.Distros(ctx)
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return names, err
}

// defaultDistro is the tree at pub/: the first --iso, else the first distro.
func (a *App) defaultDistro(ctx context.Context) (string, error) {
	if len(a.defaults) > 0 {
		return a.defaults[0], nil
	}
	names, err := a.distroNames(ctx)
	if err != nil || len(names) == 0 {
		return "", err
	}
	return names[0], nil
}

// reportSources warns at start about distros whose ISO or directory is gone
// or changed: they are not served until re-imported.
func (a *App) reportSources(ctx context.Context) {
	ds, err := a.store.Distros(ctx)
	if err != nil {
		a.log.Error("list distros", "err", err)
		return
	}
	for _, d := range ds {
		if status := inventory.CheckSource(d); status != "ok" {
			a.log.Warn("distro not served: its source "+status+" since import; re-import it",
				"distro", d.Name, "source", d.Source)
		}
	}
}

func (a *App) ftpServer() (*ftp.Server, error) {
	ports, err := ftp.ParsePortRange(a.cfg.FTPPassive)
	if err != nil {
		return nil, err
	}
	return &ftp.Server{FS: a.tree.FS(), PassivePorts: ports, PublicIP: a.net.ServerIP,
		OnTransfer: a.onFTP, Logger: a.log.With("server", "ftp"), Transfers: &a.transfers}, nil
}

func (a *App) ftpSummary() string {
	if a.cfg.FTPPort == 0 {
		return "off"
	}
	return fmt.Sprintf("%s (passive ports %s)", a.machines.ftpBase, a.cfg.FTPPassive)
}
