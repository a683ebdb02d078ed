package httpd

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// client is a raw HTTP/1.1 connection, kept open between requests.
type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, base string, rcvbuf int) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if rcvbuf > 0 {
		d.Control = receiveBuffer(rcvbuf)
	}
	conn, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{conn: conn, r: bufio.NewReader(conn)}
}

// send writes a GET for path.
func (c *client) send(path string) error {
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := fmt.Fprintf(c.conn, "GET %s HTTP/1.1\r\nHost: kickstand\r\n\r\n", path)
	return err
}

// get asks for path and reads the whole answer, leaving the connection
// open as a keep-alive.
func (c *client) get(path string) (*http.Response, []byte, error) {
	if err := c.send(path); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

// closedWithin reports whether the server closes the connection within
// wait: a read ends in EOF or a reset rather than a timeout.
func (c *client) closedWithin(wait time.Duration) bool {
	c.conn.SetReadDeadline(time.Now().Add(wait))
	_, err := c.r.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// idleClients opens n keep-alive connections, each idle after one request.
func idleClients(t *testing.T, base string, n int) []*client {
	t.Helper()
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, base, 0)
		if resp, _, err := clients[i].get("/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("keep-alive %d: %v %v", i, resp, err)
		}
	}
	return clients
}

func TestIdleTimeout(t *testing.T) {
	const idle = 500 * time.Millisecond
	_, base := newServerWith(t, func(s *Server) { s.IdleTimeout = idle })
	clients := idleClients(t, base, 50)
	start := time.Now()
	if resp, _, err := clients[len(clients)-1].get("/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a keep-alive reused within IdleTimeout: %v %v", resp, err)
	}
	for i, c := range clients {
		if !c.closedWithin(5 * time.Second) {
			t.Fatalf("keep-alive %d still open %v after IdleTimeout %v", i, time.Since(start).Round(time.Millisecond), idle)
		}
	}
	t.Logf("50 idle keep-alives closed within %v of IdleTimeout %v", time.Since(start).Round(time.Millisecond), idle)
}

func TestConnCapClosesLongestIdle(t *testing.T) {
	requireTool(t, "curl")
	const max = 8
	fx, base := newServerWith(t, func(s *Server) { s.MaxConns = max })
	clients := idleClients(t, base, 30)
	// Each connection over the cap closed the one that had waited longest
	// for a request. (The server marks a connection as waiting only after
	// the client has its answer, so under load the order may slip a little.)
	closed := make([]bool, len(clients))
	count := 0
	for i, c := range clients {
		if closed[i] = c.closedWithin(100 * time.Millisecond); closed[i] {
			count++
		}
	}
	if count != len(clients)-max {
		t.Errorf("%d of %d keep-alives closed; want %d over MaxConns %d", count, len(clients), len(clients)-max, max)
	}
	if !closed[0] || closed[len(clients)-1] {
		t.Errorf("closed: the oldest keep-alive %v, the newest %v; want true, false", closed[0], closed[len(clients)-1])
	}
	start := time.Now()
	got := curl(t, "--max-time", "10", base+"/install.img")
	want, _ := os.ReadFile(filepath.Join(fx.dir, "install.img"))
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("download at the cap: %d bytes, checksum differs", len(got))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("download at the cap took %v", took)
	}

}

// stalledDownload asks for path and reads only the headers, with a tiny
// receive buffer, so that the server's writes soon block.
func stalledDownload(t *testing.T, base, path string) *client {
	t.Helper()
	c := dial(t, base, 4096)
	if err := c.send(path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", path, resp, err)
	}
	return c
}

// sparseFile makes a file of size bytes in dir that takes no disk space.
func sparseFile(t *testing.T, dir, name string, size int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func TestConnCapRefusesOnlyWhenAllBusy(t *testing.T) {
	const size = 16 << 20
	fx, base := newServerWith(t, func(s *Server) { s.MaxConns = 2 })
	sparseFile(t, fx.dir, "big.img", size)
	busy := []*client{stalledDownload(t, base, "/big.img"), stalledDownload(t, base, "/big.img")}

	refused := dial(t, base, 0)
	if err := refused.send("/healthz"); err == nil && !refused.closedWithin(2*time.Second) {
		t.Fatal("a third connection was not refused while both others download")
	}
	for i, c := range busy {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.Copy(io.Discard, io.LimitReader(c.r, size))
		if n != size {
			t.Errorf("download %d: %d of %d bytes (%v): a busy connection was closed", i, n, size, err)
		}
	}
	if resp, _, err := dial(t, base, 0).get("/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the downloads: %v %v", resp, err)
	}
}

func TestStallTimeout(t *testing.T) {
	const size = 16 << 20
	const stall = 300 * time.Millisecond
	fx, base := newServerWith(t, func(s *Server) { s.StallTimeout = stall })
	sparseFile(t, fx.dir, "big.img", size)
	start := time.Now()
	c := stalledDownload(t, base, "/big.img")
	var tr []Transfer
	for len(tr) == 0 && time.Since(start) < 10*time.Second {
		time.Sleep(20 * time.Millisecond)
		tr = fx.transfers()
	}
	if len(tr) == 0 {
		t.Fatalf("a download nobody reads still holds its connection after %v (StallTimeout %v)", time.Since(start), stall)
	}
	t.Logf("stalled download dropped after %v, %d bytes sent", time.Since(start).Round(time.Millisecond), tr[0].Bytes)
	if tr[0].Bytes >= size {
		t.Errorf("stalled download reported %d bytes, all of them", tr[0].Bytes)
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := io.Copy(io.Discard, c.r); n >= size {
		t.Errorf("the client got all %d bytes after the server gave up", n)
	}
	if log := fx.log(); strings.Contains(log, "level=ERROR") {
		t.Errorf("a stalled client is logged as an error:\n%s", log)
	}
}

// TestSlowDownloadOutlivesStallTimeout reads a file slowly: the download
// lasts many times StallTimeout but always moves, so it completes.
func TestSlowDownloadOutlivesStallTimeout(t *testing.T) {
	const size = 12 << 20
	const stall = time.Second
	fx, base := newServerWith(t, func(s *Server) { s.StallTimeout = stall })
	want := make([]byte, size)
	rand.Read(want)
	os.WriteFile(filepath.Join(fx.dir, "slow.img"), want, 0o644)

	c := dial(t, base, 64<<10)
	if err := c.send("/slow.img"); err != nil {
		t.Fatal(err)
	}
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h := sha256.New()
	var n int64
	for {
		k, err := io.CopyN(h, resp.Body, 256<<10)
		n += k
		if err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // 5 MiB/s: 256 KiB well within StallTimeout
	}
	took := time.Since(start)
	if n != size || [32]byte(h.Sum(nil)) != sha256.Sum256(want) {
		t.Fatalf("slow download: %d of %d bytes after %v", n, size, took)
	}
	if took < 2*stall {
		t.Errorf("download took %v, not long enough to outlive StallTimeout %v", took, stall)
	}
	t.Logf("slow download: %d bytes in %v with StallTimeout %v", n, took.Round(time.Millisecond), stall)
}

func TestReadTimeout(t *testing.T) {
	const read = 300 * time.Millisecond
	_, base := newServerWith(t, func(s *Server) { s.ReadTimeout = read })
	c := dial(t, base, 0)
	start := time.Now()
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c.conn, "POST /phone-home/good HTTP/1.1\r\nHost: kickstand\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nstate=inst")
	resp, err := http.ReadResponse(c.r, nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a body that stops: status %d, want 400", resp.StatusCode)
		}
	}
	if !c.closedWithin(5 * time.Second) {
		t.Error("the connection stays open")
	}
	if took := time.Since(start); took > 3*time.Second || took < read/2 {
		t.Errorf("a body that stops was given up after %v, want ReadTimeout %v", took, read)
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	_, base := newServer(t)
	c := dial(t, base, 0)
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c.conn, "GET /healthz HTTP/1.1\r\nHost: kickstand\r\nX-Pad: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: %v %v, want 431", resp, err)
	}
}
