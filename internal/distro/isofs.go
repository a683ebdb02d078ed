package distro

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync/atomic"
)

var (
	errIsDir  = errors.New("is a directory")
	errNotDir = errors.New("not a directory")
)

var (
	_ interface {
		fs.ReadDirFS
		fs.StatFS
		fs.ReadFileFS
	} = isoFS{}
	_ interface {
		fs.File
		io.Seeker
		io.ReaderAt
		Extent() (offset, size int64)
	} = (*File)(nil)
	_ interface {
		fs.File
		io.Seeker
		io.ReaderAt
	} = (*spannedFile)(nil)
	_ fs.ReadDirFile = (*dirFile)(nil)
)

// isoFS is ISO.FS: fs.FS, fs.ReadDirFS, fs.StatFS and fs.ReadFileFS over
// the in-memory index.
type isoFS struct{ iso *ISO }

// Open returns a *File for a regular file stored in one extent, an
// fs.File without an Extent method for one stored in several, and an
// fs.ReadDirFile for a directory.
func (f isoFS) Open(name string) (fs.File, error) {
	n, err := f.iso.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return &dirFile{node: n, path: name}, nil
	}
	data := fileData{r: f.iso.r, sections: n.sections, size: n.size}
	if len(n.sections) > 1 {
		return &spannedFile{fileHandle{node: n, path: name, data: data}}, nil
	}
	return &File{fileHandle{node: n, path: name, data: data}}, nil
}

func (f isoFS) Stat(name string) (fs.FileInfo, error) {
	return f.iso.lookup("stat", name)
}

func (f isoFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.iso.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	return dirEntries(n.children), nil
}

func (f isoFS) ReadFile(name string) ([]byte, error) {
	n, err := f.iso.lookup("read", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errIsDir}
	}
	buf := make([]byte, n.size)
	data := fileData{r: f.iso.r, sections: n.sections, size: n.size}
	if _, err := data.ReadAt(buf, 0); err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return buf, nil
}

func dirEntries(nodes []*node) []fs.DirEntry {
	out := make([]fs.DirEntry, len(nodes))
	for i, n := range nodes {
		out[i] = n
	}
	return out
}

// fileData reads a file's sections out of the shared image file. ReadAt
// on an *os.File is safe for concurrent use, so fileData is too.
type fileData struct {
	r        io.ReaderAt
	sections []section
	size     int64
}

func (d fileData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	start := int64(0) // offset in the file of the section at hand
	for _, s := range d.sections {
		if len(p) == 0 {
			break
		}
		if off >= start+s.size {
			start += s.size
			continue
		}
		within := off - start
		chunk := min(int64(len(p)), s.size-within)
		m, err := d.r.ReadAt(p[:chunk], s.offset+within)
		n, off, p = n+m, off+int64(m), p[m:]
		if int64(m) < chunk {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the image shrank after it was opened
			}
			return n, err
		}
		start += s.size
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// fileHandle is an open regular file: a read position over fileData.
type fileHandle struct {
	node   *node
	path   string
	data   fileData
	pos    int64 // for Read and Seek; ReadAt does not touch it
	closed atomic.Bool
}

func (h *fileHandle) Stat() (fs.FileInfo, error) { return h.node, nil }

func (h *fileHandle) Close() error {
	if h.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: h.path, Err: fs.ErrClosed}
	}
	return nil
}

func (h *fileHandle) Read(p []byte) (int, error) {
	if h.closed.Load() {
		return 0, &fs.PathError{Op: "read", Path: h.path, Err: fs.ErrClosed}
	}
	if h.pos >= h.data.size {
		return 0, io.EOF
	}
	n, err := h.data.ReadAt(p, h.pos)
	h.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt is safe for concurrent use.
func (h *fileHandle) ReadAt(p []byte, off int64) (int, error) {
	if h.closed.Load() {
		return 0, &fs.PathError{Op: "read", Path: h.path, Err: fs.ErrClosed}
	}
	return h.data.ReadAt(p, off)
}

func (h *fileHandle) Seek(offset int64, whence int) (int64, error) {
	if h.closed.Load() {
		return 0, &fs.PathError{Op: "seek", Path: h.path, Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += h.pos
	case io.SeekEnd:
		offset += h.data.size
	default:
		return 0, &fs.PathError{Op: "seek", Path: h.path, Err: fmt.Errorf("invalid whence %d", whence)}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: h.path, Err: errors.New("negative position")}
	}
	h.pos = offset
	return offset, nil
}

// File is a regular file stored in one extent, as opened from ISO.FS. It
// is an fs.File, an io.Seeker and an io.ReaderAt.
type File struct{ fileHandle }

// Extent returns where the file's bytes are inside the ISO file.
func (f *File) Extent() (offset, size int64) {
	return f.data.sections[0].offset, f.data.size
}

// spannedFile is a file stored in several extents (over 4 GiB). It has no
// Extent method, so code that looks for one falls back to reading it.
type spannedFile struct{ fileHandle }

// dirFile is an open directory.
type dirFile struct {
	node *node
	path string
	pos  int // entries already returned by ReadDir
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.node, nil }
func (d *dirFile) Close() error               { return nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errIsDir}
}

func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	rest := d.node.children[d.pos:]
	if count > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(count, len(rest))]
	}
	d.pos += len(rest)
	return dirEntries(rest), nil
}
