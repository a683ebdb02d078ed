package bootfs

import (
	"context"
	"io"
	"io/fs"
	"kickstand/internal/treepath"
	"os"
	"slices"
	"time"
)

// FS returns the distro trees as an io/fs.FS with directories, for FTP:
// pub/ (the default distro) and distros/NAME/.
func (t *Tree) FS() fs.FS { return treeFS{t} }

type treeFS struct{ t *Tree }

func (v treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	ctx := context.Background()
	switch name {
	case ".":
		entries := []string{treepath.Distros}
		if d, _ := v.defaultName(ctx); d != "" {
			entries = append(entries, treepath.Pub)
		}
		return newVirtualDir(".", entries), nil
	case treepath.Distros:
		if v.t.Distros == nil {
			return newVirtualDir(name, nil), nil
		}
		names, err := v.t.Distros(ctx)
		if err != nil {
			return nil, err
		}
		return newVirtualDir(name, names), nil
	}
	distroName, rest, ok := v.t.splitDistro(ctx, name)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return v.openInDistro(ctx, distroName, rest)
}

func (v treeFS) defaultName(ctx context.Context) (string, error) {
	if v.t.Default == nil {
		return "", nil
	}
	return v.t.Default(ctx)
}

// openInDistro opens a file or a directory of a distro's tree.
func (v treeFS) openInDistro(ctx context.Context, name, rest string) (fs.File, error) {
	src, err := v.t.source(ctx, name)
	if err != nil {
		return nil, err
	}
	if !src.ISO {
		root, err := os.OpenRoot(src.Path)
		if err != nil {
			return nil, err
		}
		defer root.Close()
		f, err := root.Open(rest)
		if err != nil {
			return nil, notFound(err)
		}
		return f, nil
	}
	iso, err := v.t.isos.get(src)
	if err != nil {
		return nil, err
	}
	info, err := fs.Stat(iso.FS(), rest)
	if err != nil {
		return nil, notFound(err)
	}
	if info.IsDir() {
		return iso.FS().Open(rest)
	}
	return v.t.openDistroFile(ctx, name, rest)
}

// virtualDir is a directory kickstand makes up: the root and distros/.
type virtualDir struct {
	name    string
	entries []fs.DirEntry
	read    int
}

func newVirtualDir(name string, children []string) *virtualDir {
	d := &virtualDir{name: name}
	for _, c := range slices.Sorted(slices.Values(children)) {
		d.entries = append(d.entries, fs.FileInfoToDirEntry(dirInfo(c)))
	}
	return d
}

func (d *virtualDir) Stat() (fs.FileInfo, error) { return dirInfo(d.name), nil }
func (d *virtualDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: fs.ErrInvalid}
}
func (d *virtualDir) Close() error { return nil }

// ReadDir follows fs.ReadDirFile: n <= 0 returns everything left.
func (d *virtualDir) ReadDir(n int) ([]fs.DirEntry, error) {
	left := d.entries[d.read:]
	if n <= 0 {
		d.read = len(d.entries)
		return left, nil
	}
	if len(left) == 0 {
		return nil, io.EOF
	}
	left = left[:min(n, len(left))]
	d.read += len(left)
	return left, nil
}

// dirInfo describes a made-up directory.
type dirInfo string

func (d dirInfo) Name() string       { return string(d) }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }
