package netlimit

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConnsFollowsFileLimit(t *testing.T) {
	const def = 1024
	got := Conns(def)
	if limit := openFileLimit(); limit > 0 && got > max(limit/4, 16) || got > def || got < 16 {
		t.Errorf("Conns(%d) = %d with an open-file limit of %d", def, got, openFileLimit())
	}
}

// recordingConn is a connection that records the deadlines set on it and
// what its ReadFrom is handed.
type recordingConn struct {
	net.Conn
	deadlines int
	readers   []io.LimitedReader
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { c.deadlines++; return nil }

func (c *recordingConn) ReadFrom(r io.Reader) (int64, error) {
	lr := r.(*io.LimitedReader)
	c.readers = append(c.readers, *lr)
	return io.Copy(io.Discard, lr)
}

// TestStallConnChunks checks that a file copied with ReadFrom reaches the
// TCP connection's ReadFrom as the *os.File itself (which is what lets net
// use sendfile), in chunks that each get a fresh deadline.
func TestStallConnChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o644); err != nil || os.Truncate(path, 3*StallChunk+5) != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inner := &recordingConn{}
	c := &StallConn{Conn: inner, Timeout: time.Minute}
	n, err := c.ReadFrom(&io.LimitedReader{R: f, N: 2*StallChunk + 3})
	if err != nil || n != 2*StallChunk+3 {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	if len(inner.readers) != 3 || inner.deadlines != 3 {
		t.Fatalf("%d chunks with %d deadlines, want 3 and 3", len(inner.readers), inner.deadlines)
	}
	for i, lr := range inner.readers {
		if lr.R != f || lr.N != min(StallChunk, 2*StallChunk+3-int64(i)*StallChunk) {
			t.Errorf("chunk %d: %T of %d bytes, want the *os.File", i, lr.R, lr.N)
		}
	}
	// Without a limit, ReadFrom copies to the end of the file.
	f.Seek(0, io.SeekStart)
	inner.readers = nil
	if n, err := c.ReadFrom(f); err != nil || n != 3*StallChunk+5 || len(inner.readers) != 4 {
		t.Fatalf("ReadFrom(file) = %d, %v in %d chunks", n, err, len(inner.readers))
	}
}
