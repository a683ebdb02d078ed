package httpd

import (
	"bufio"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickstand/internal/transfers"
)

// A download in flight is tracked, its bytes moving while sendfile sends
// it, with the file's size; it is gone once the client has it all.
func TestProgressIsTracked(t *testing.T) {
	tracker := &transfers.Tracker{}
	fx, base := newServerWith(t, func(s *Server) { s.Transfers = tracker })
	size := int64(64 << 20) // more than loopback's socket buffers hold
	f, err := os.Create(filepath.Join(fx.dir, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(f, rand.Reader, size)
	f.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /big.img HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v, %v", resp, err)
	}
	// Read a little, then stop: the server fills the socket buffers and waits.
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	var got []transfers.Snapshot
	for range 100 {
		if got = tracker.Snapshot(); len(got) == 1 && got[0].Bytes > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 1 || got[0].Proto != "http" || got[0].File != "big.img" || got[0].Total != size || got[0].Bytes <= 0 || got[0].Bytes >= size {
		t.Fatalf("in flight: %+v, want big.img part way through %d bytes", got, size)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size-1<<20 {
		t.Fatalf("rest of the body: %d, %v", n, err)
	}
	for range 100 {
		if got = tracker.Snapshot(); len(got) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after the download: %+v", got)
}
