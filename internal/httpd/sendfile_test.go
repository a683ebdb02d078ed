package httpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"
)

// windowFile is a byte range of a larger file, like a file inside an ISO. It
// counts Read calls: when the server hands the range to sendfile, none happen.
type windowFile struct {
	f          *os.File
	base, size int64
	pos        int64
	reads      *atomic.Int64
}

func (w *windowFile) Read(p []byte) (int, error) {
	w.reads.Add(1)
	if w.pos >= w.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), w.size-w.pos)]
	n, err := w.f.ReadAt(p, w.base+w.pos)
	w.pos += int64(n)
	return n, err
}

func (w *windowFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += w.pos
	case io.SeekEnd:
		off += w.size
	}
	if off < 0 {
		return 0, errors.New("negative")
	}
	w.pos = off
	return off, nil
}

func (w *windowFile) Close() error { return w.f.Close() }

func (w *windowFile) Stat() (fs.FileInfo, error) {
	return fstest.MapFS{"f.img": {Data: make([]byte, w.size)}}.Stat("f.img")
}

func (w *windowFile) SendfileSource() (*os.File, int64, error) {
	_, err := w.f.Seek(w.base+w.pos, io.SeekStart)
	return w.f, w.size - w.pos, err
}

func TestWindowFilesGoToSendfile(t *testing.T) {
	image := make([]byte, 4<<20)
	rand.Read(image)
	path := filepath.Join(t.TempDir(), "image.iso")
	os.WriteFile(path, image, 0o644)
	const base, size = 123456, 2<<20 + 7
	var reads atomic.Int64
	s := &Server{Open: func(context.Context, string, netip.Addr) (File, error) {
		f, err := os.Open(path)
		return &windowFile{f: f, base: base, size: size, reads: &reads}, err
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, ln)
	get := func(rng string) []byte {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/f.img", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	if got := get(""); !bytes.Equal(got, image[base:base+size]) {
		t.Fatalf("whole file: %d bytes, content differs", len(got))
	}
	if got := get("bytes=1000-1999999"); !bytes.Equal(got, image[base+1000:base+2000000]) {
		t.Fatalf("range: %d bytes, content differs", len(got))
	}
	// ServeContent may sniff nothing (the type comes from the name), so the
	// body must have gone out without a single Read through the window.
	if n := reads.Load(); n != 0 {
		t.Fatalf("%d Read calls: the body was copied in user space, not handed to sendfile", n)
	}
}
