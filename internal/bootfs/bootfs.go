// Package bootfs is the one read-only tree that TFTP, HTTP and FTP serve:
// boot loaders at the root, generated per-client files, and every distro's
// install tree under distros/NAME/ (the default distro also under pub/),
// read from an extracted directory or straight out of an ISO file.
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
	"sync"
	"syscall"
	"time"

	"kickstand/internal/distro"
	"kickstand/internal/treepath"
)

// File is an open file of the tree. Files on disk are *os.File and files in
// an ISO are *Section, so HTTP and FTP can send both with sendfile.
type File interface {
	io.ReadSeekCloser
	Stat() (fs.FileInfo, error)
}

// Generator returns the content of a generated file (a per-client boot
// config). ok is false when name is not one it generates.
type Generator func(ctx context.Context, name string, client netip.Addr) (content []byte, ok bool, err error)

// Source is where a distro's tree is and what it looked like at import.
type Source struct {
	ISO     bool      // Path is an ISO file rather than a directory
	Path    string    // absolute path
	Size    int64     // the ISO's size at import
	ModTime time.Time // the ISO's mtime at import
}

// ErrStale means a distro's ISO was moved, removed or changed since import.
var ErrStale = errors.New("ISO changed since import")

// Tree is the served tree. Its funcs are called on every Open, so a running
// server sees new distros without a restart.
type Tree struct {
	// Loaders maps file names at the root (lpxelinux.0, ldlinux.c32...) to host paths.
	Loaders map[string]string
	// Distro returns where the named distro's tree is (an error wrapping
	// fs.ErrNotExist for an unknown name).
	Distro func(ctx context.Context, name string) (Source, error)
	// Distros returns every distro name, for directory listings.
	Distros func(ctx context.Context) ([]string, error)
	// Default names the distro served at pub/ ("" for none).
	Default func(ctx context.Context) (string, error)
	// Generate makes per-client files; nil means none.
	Generate Generator

	isos isoCache
}

// Clean turns a requested name into a path inside the tree, or fails with
// fs.ErrNotExist for names that try to leave it or that no file can have
// (a NUL byte). The root is ".".
func Clean(name string) (string, error) {
	name = strings.TrimLeft(strings.ReplaceAll(name, "\\", "/"), "/")
	if name == "" {
		return ".", nil
	}
	clean := path.Clean(name)
	if !fs.ValidPath(clean) || strings.ContainsRune(clean, 0) {
		return "", fmt.Errorf("bootfs: %q: %w", name, fs.ErrNotExist)
	}
	return clean, nil
}

// Open opens the regular file name for client.
func (t *Tree) Open(ctx context.Context, name string, client netip.Addr) (File, error) {
	name, err := Clean(name)
	if err != nil {
		return nil, err
	}
	if distroName, rest, ok := t.splitDistro(ctx, name); ok {
		return t.openDistroFile(ctx, distroName, rest)
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

// splitDistro maps distros/NAME/rest and pub/rest to a distro and a path
// inside it; rest is "." for the tree's root.
func (t *Tree) splitDistro(ctx context.Context, name string) (distroName, rest string, ok bool) {
	p, ok := treepath.Parse(name)
	switch {
	case !ok:
		return "", "", false
	case !p.Pub:
		return p.Distro, p.File, true
	case t.Default == nil:
		return "", "", false
	}
	d, err := t.Default(ctx)
	if err != nil || d == "" {
		return "", "", false
	}
	return d, p.File, true
}

// source returns the distro's source after checking that its ISO is still
// the one that was imported: a moved or changed ISO is never served stale.
func (t *Tree) source(ctx context.Context, name string) (Source, error) {
	if t.Distro == nil {
		return Source{}, fmt.Errorf("bootfs: distro %s: %w", name, fs.ErrNotExist)
	}
	src, err := t.Distro(ctx, name)
	if err != nil || !src.ISO {
		return src, err
	}
	st, err := os.Stat(src.Path)
	if err != nil {
		// The stat error is not wrapped: a missing ISO is ErrStale, which
		// servers report, not fs.ErrNotExist, which they answer quietly.
		return src, fmt.Errorf("distro %s: ISO %s is gone (%v); put it back or re-import: %w", name, src.Path, err, ErrStale)
	}
	if st.Size() != src.Size || !st.ModTime().Equal(src.ModTime) {
		return src, fmt.Errorf("distro %s: ISO %s changed since import (size %d → %d, mtime %s → %s); re-import it: %w",
			name, src.Path, src.Size, st.Size(), src.ModTime.Format(time.RFC3339), st.ModTime().Format(time.RFC3339), ErrStale)
	}
	return src, nil
}

func (t *Tree) openDistroFile(ctx context.Context, name, rest string) (File, error) {
	src, err := t.source(ctx, name)
	if err != nil {
		return nil, err
	}
	if !src.ISO {
		root, err := os.OpenRoot(src.Path)
		if err != nil {
			return nil, fmt.Errorf("bootfs: distro %s: %w", name, err)
		}
		defer root.Close() // an open file outlives its Root
		f, err := root.Open(rest)
		return openRegular(f, notFound(err))
	}
	iso, err := t.isos.get(src)
	if err != nil {
		return nil, fmt.Errorf("bootfs: distro %s: %w", name, err)
	}
	info, err := fs.Stat(iso.FS(), rest)
	if err != nil {
		return nil, notFound(err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("bootfs: %s is not a regular file: %w", rest, fs.ErrNotExist)
	}
	offset, _, err := iso.Extent(rest)
	if errors.Is(err, distro.ErrMultiExtent) {
		// A file over 4 GiB is stored in several pieces: read it through
		// the index (no sendfile) rather than send only its first piece.
		return openMultiExtent(iso, rest)
	}
	if err != nil {
		return nil, fmt.Errorf("bootfs: distro %s: %s: %w", name, rest, err)
	}
	f, err := os.Open(src.Path)
	if err != nil {
		return nil, err
	}
	return NewSection(f, offset, info), nil
}

func openMultiExtent(iso *distro.ISO, name string) (File, error) {
	f, err := iso.FS().Open(name)
	if err != nil {
		return nil, err
	}
	file, ok := f.(File)
	if !ok {
		f.Close()
		return nil, fmt.Errorf("bootfs: %s: ISO file cannot seek", name)
	}
	return file, nil
}

// notFound turns the ways a name can fail to be a file of a tree into an
// error wrapping fs.ErrNotExist, so that every server answers "not found"
// rather than reporting a server error: a name that does not exist, that
// goes through a file (ENOTDIR), loops (ELOOP), is too long or invalid, or
// follows a symlink out of the tree, which os.Root refuses with an error of
// its own (a *PathError not carrying an errno). Errors that say something
// is wrong with the server (I/O, no descriptors, permission) are kept.
func notFound(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var errno syscall.Errno
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &errno):
		if errno != syscall.ENOTDIR && errno != syscall.ELOOP && errno != syscall.ENAMETOOLONG && errno != syscall.EINVAL {
			return err
		}
	case errors.Is(err, fs.ErrInvalid), errors.As(err, &pathErr):
		// os.Root's own refusals: a symlink out of the tree, a bad name.
	default:
		return err
	}
	return fmt.Errorf("bootfs: %w (%w)", fs.ErrNotExist, err)
}

// openRegular refuses directories and devices: Open serves files only.
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

// isoCache keeps each ISO's directory index in memory: indexing a DVD takes
// a moment, serving a file from it must not.
type isoCache struct {
	mu   sync.Mutex
	isos map[string]*distro.ISO // by path; replaced when the file changes
	keys map[string]Source
}

func (c *isoCache) get(src Source) (*distro.ISO, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if iso, ok := c.isos[src.Path]; ok && c.keys[src.Path] == src {
		return iso, nil
	}
	iso, err := distro.OpenISO(src.Path)
	if err != nil {
		return nil, err
	}
	if c.isos == nil {
		c.isos, c.keys = map[string]*distro.ISO{}, map[string]Source{}
	}
	// An index that is replaced is not closed: requests may still use it,
	// and the garbage collector closes its file.
	c.isos[src.Path], c.keys[src.Path] = iso, src
	return iso, nil
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
