package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"kickstand/internal/events"
	"kickstand/internal/loaders"
	"kickstand/internal/store"
)

// findLoaders decides where each boot loader comes from (--bootloaders):
// the host's, or the imported media's RPMs, extracted into the data
// directory. Without syslinux BIOS machines cannot boot: serve does not start.
func (a *App) findLoaders(ctx context.Context) error {
	mode, err := loaders.ParseMode(a.cfg.Bootloaders)
	if err != nil {
		return err
	}
	ds, err := a.store.Distros(ctx)
	if err != nil {
		return err
	}
	// The media named by --iso first, in their order.
	slices.SortStableFunc(ds, func(x, y store.Distro) int {
		return rank(a.defaults, x.Name) - rank(a.defaults, y.Name)
	})
	trees, closeMedia := loaders.OpenMedia(ds)
	defer closeMedia()
	res := loaders.Finder{Mode: mode, Dir: a.cfg.BootloaderDir, Media: trees,
		CacheDir: loaders.CacheDir(a.cfg.DataDir), Extract: true}.Find()
	for _, p := range res.Problems {
		a.log.Warn("boot loader package refused", "problem", p)
	}
	if len(res.Missing) > 0 {
		where := map[loaders.Mode]string{loaders.Host: "not found on the host", loaders.Media: "not found on any imported distro's media",
			loaders.Auto: "found neither on the host nor on any imported distro's media"}[mode]
		return fmt.Errorf("boot loaders: %s %s (--bootloaders %s): %s",
			strings.Join(res.Missing, ", "), where, mode, loaders.Advice(mode, a.cfg.BootloaderDir))
	}
	for _, l := range loaders.Summary(res) {
		a.log.Info("boot loaders", "files", l.Files, "from", l.Source)
	}
	a.loaders = res
	return nil
}

// rank is a distro's place among names, after them when not one of them.
func rank(names []string, name string) int {
	if i := slices.Index(names, name); i >= 0 {
		return i
	}
	return len(names)
}

// markLoaderSource says in a transfer's event where the boot loader it
// sent came from; other files are left alone.
func (a *App) markLoaderSource(detail *string, f *events.Fields, name string) {
	l, ok := a.loaders.Loaders[strings.TrimPrefix(name, "/")]
	if !ok {
		return
	}
	f.Source = l.Source()
	*detail += " (from " + f.Source + ")"
}
