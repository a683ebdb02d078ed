package loaders

import (
	"os"

	"kickstand/internal/distro"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
)

// OpenMedia opens the trees of the distros whose media are in place
// (moved or changed ones are skipped: they are not served either). close
// releases them.
func OpenMedia(ds []store.Distro) (trees []MediaTree, close func()) {
	var closers []func() error
	for _, d := range ds {
		if inventory.CheckSource(d) != "ok" {
			continue
		}
		switch d.Kind {
		case store.SourceISO:
			iso, err := distro.OpenISO(d.Source)
			if err != nil {
				continue
			}
			closers = append(closers, iso.Close)
			trees = append(trees, MediaTree{Distro: d.Name, FS: iso.FS()})
		default:
			root, err := os.OpenRoot(d.Source)
			if err != nil {
				continue
			}
			closers = append(closers, root.Close)
			trees = append(trees, MediaTree{Distro: d.Name, FS: root.FS()})
		}
	}
	return trees, func() {
		for _, c := range closers {
			c()
		}
	}
}
