package loaders

import (
	"io"
	"io/fs"
	"os"
	"sync"

	"kickstand/internal/distro"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
)

// OpenMedia returns the trees of the distros whose media are in place
// (moved or changed ones are skipped: they are not served either). Each
// is opened on first use, so that a host with every loader indexes no
// ISO for them. close releases those opened.
func OpenMedia(ds []store.Distro) (trees []MediaTree, close func()) {
	var lazies []*lazyFS
	for _, d := range ds {
		if inventory.CheckSource(d) != "ok" {
			continue
		}
		l := &lazyFS{open: func() (fs.FS, io.Closer, error) {
			if d.Kind == store.SourceISO {
				iso, err := distro.OpenISO(d.Source)
				if err != nil {
					return nil, nil, err
				}
				return iso.FS(), iso, nil
			}
			root, err := os.OpenRoot(d.Source)
			if err != nil {
				return nil, nil, err
			}
			return root.FS(), root, nil
		}}
		lazies = append(lazies, l)
		trees = append(trees, MediaTree{Distro: d.Name, FS: l})
	}
	return trees, func() {
		for _, l := range lazies {
			l.close()
		}
	}
}

// lazyFS opens its tree on first use.
type lazyFS struct {
	open   func() (fs.FS, io.Closer, error)
	once   sync.Once
	fsys   fs.FS
	closer io.Closer
	err    error
}

func (l *lazyFS) get() (fs.FS, error) {
	l.once.Do(func() { l.fsys, l.closer, l.err = l.open() })
	return l.fsys, l.err
}

func (l *lazyFS) Open(name string) (fs.File, error) {
	fsys, err := l.get()
	if err != nil {
		return nil, err
	}
	return fsys.Open(name)
}

// ReadDir keeps fs.Glob on the tree's own ReadDir.
func (l *lazyFS) ReadDir(name string) ([]fs.DirEntry, error) {
	fsys, err := l.get()
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(fsys, name)
}

func (l *lazyFS) close() {
	if l.closer != nil {
		l.closer.Close()
	}
}
