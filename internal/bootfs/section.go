package bootfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Section is a file stored inside an ISO image: a byte range of the ISO file.
// It owns its own *os.File so that the range can be handed to sendfile.
type Section struct {
	f          *os.File
	base, size int64
	pos        int64
	info       fs.FileInfo
}

// NewSection returns the file of info's size starting at base in f; the
// Section closes f.
func NewSection(f *os.File, base int64, info fs.FileInfo) *Section {
	return &Section{f: f, base: base, size: info.Size(), info: info}
}

// Read reads from the current position.
func (s *Section) Read(p []byte) (int, error) {
	n, err := s.ReadAt(p, s.pos)
	s.pos += int64(n)
	return n, err
}

// ReadAt reads len(p) bytes at off within the section.
func (s *Section) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("bootfs: negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	short := false
	if rest := s.size - off; int64(len(p)) > rest {
		p, short = p[:rest], true
	}
	n, err := s.f.ReadAt(p, s.base+off)
	if err == nil && short {
		err = io.EOF
	}
	if errors.Is(err, io.EOF) && n < len(p) {
		return n, fmt.Errorf("bootfs: %s: the ISO ends inside the file: %w", s.info.Name(), io.ErrUnexpectedEOF)
	}
	return n, err
}

// Seek sets the position for the next Read.
func (s *Section) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.size
	default:
		return 0, errors.New("bootfs: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("bootfs: seek before start")
	}
	s.pos = offset
	return offset, nil
}

// Stat returns the file's own info (name, size, time inside the ISO).
func (s *Section) Stat() (fs.FileInfo, error) { return s.info, nil }

// Close closes the underlying ISO file.
func (s *Section) Close() error { return s.f.Close() }

// SendfileSource positions the ISO file at the section's current position
// and returns it with the number of bytes left, so that a caller can let the
// kernel copy them (sendfile). The caller reports what it sent with Seek.
func (s *Section) SendfileSource() (*os.File, int64, error) {
	if _, err := s.f.Seek(s.base+s.pos, io.SeekStart); err != nil {
		return nil, 0, err
	}
	return s.f, max(s.size-s.pos, 0), nil
}

// WriteTo copies the rest of the section to w; when w is a TCP connection
// the kernel does the copy with sendfile.
func (s *Section) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{s})
	}
	f, n, err := s.SendfileSource()
	if err != nil {
		return 0, err
	}
	written, err := rf.ReadFrom(&io.LimitedReader{R: f, N: n})
	s.pos += written
	return written, err
}
