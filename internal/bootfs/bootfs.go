// Package bootfs is the one read-only tree that TFTP and HTTP serve: boot
// loaders at the root, generated per-client files, and every distro's install
// tree under distros/NAME/, confined to that tree.
package bootfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"
)

// File is an open file of the tree. Files that live on disk are *os.File, so
// net/http can send them with sendfile.
type File interface {
	io.ReadSeekCloser
	Stat() (fs.FileInfo, error)
}

// Generator returns the content of a generated file (a per-client boot
// config). ok is false when name is not one it generates.
type Generator func(ctx context.Context, name string, client netip.Addr) (content []byte, ok bool, err error)

// Tree is the served tree. Its fields are read on every Open, so a running
// server sees new distros without a restart.
type Tree struct {
	// Loaders maps file names at the root (lpxelinux.0, ldlinux.c32...) to host paths.
	Loaders map[string]string
	// DistroDir returns the host directory holding the named distro's tree.
	DistroDir func(ctx context.Context, name string) (string, error)
	// Generate makes per-client files; nil means none.
	Generate Generator
}

// Clean turns a requested name into a path inside the tree, or fails with
// fs.ErrNotExist for names that try to leave it.
func Clean(name string) (string, error) {
	name = strings.TrimLeft(strings.ReplaceAll(name, "\\", "/"), "/")
	clean := path.Clean(name)
	if clean == "." || !fs.ValidPath(clean) {
		return "", fmt.Errorf("bootfs: %q: %w", name, fs.ErrNotExist)
	}
	return clean, nil
}

// Open opens name for client.
func (t *Tree) Open(ctx context.Context, name string, client netip.Addr) (File, error) {
	name, err := Clean(name)
	if err != nil {
		return nil, err
	}
	if rest, ok := strings.CutPrefix(name, "distros/"); ok {
		return t.openDistro(ctx, rest)
	}
	if p, ok := t.Loaders[name]; ok {
		return openRegular(os.Open(p))
	}
	if t.Generate != nil {
		content, ok, err := t.Generate(ctx, name, client)
		if err != nil {
			return nil, fmt.Errorf("bootfs: generate %s: %w", name, err)
		}
		if ok {
			return &memFile{Reader: bytes.NewReader(content), name: path.Base(name), size: int64(len(content)), mod: time.Now()}, nil
		}
	}
	return nil, fmt.Errorf("bootfs: %s: %w", name, fs.ErrNotExist)
}

func (t *Tree) openDistro(ctx context.Context, rest string) (File, error) {
	distro, file, ok := strings.Cut(rest, "/")
	if !ok || t.DistroDir == nil {
		return nil, fmt.Errorf("bootfs: distros/%s: %w", rest, fs.ErrNotExist)
	}
	dir, err := t.DistroDir(ctx, distro)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("bootfs: distro %s: %w", distro, err)
	}
	defer root.Close() // an open file outlives its Root
	return openRegular(root.Open(file))
}

// openRegular refuses directories and devices: the tree serves files only.
func openRegular(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("bootfs: %s is not a regular file: %w", st.Name(), fs.ErrNotExist)
	}
	return f, nil
}

// memFile is a generated file.
type memFile struct {
	*bytes.Reader
	name string
	size int64
	mod  time.Time
}

func (m *memFile) Close() error               { return nil }
func (m *memFile) Stat() (fs.FileInfo, error) { return m, nil }
func (m *memFile) Name() string               { return m.name }
func (m *memFile) Size() int64                { return m.size }
func (m *memFile) Mode() fs.FileMode          { return 0o444 }
func (m *memFile) ModTime() time.Time         { return m.mod }
func (m *memFile) IsDir() bool                { return false }
func (m *memFile) Sys() any                   { return nil }

// IsNotExist reports whether err means the file is not in the tree.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
