package ftp

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"kickstand/internal/netlimit"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holdPassive logs a client in and sends PASV, which opens a passive port
// that the client then never connects to.
func holdPassive(t *testing.T, ts *testServer) (*control, int) {
	t.Helper()
	c := dialControl(t, ts)
	c.login()
	code, msg := c.cmd("PASV")
	port, ok := passivePort(fmt.Sprintf("%d %s", code, msg))
	if !ok {
		t.Fatalf("PASV: %d %s", code, msg)
	}
	return c, port
}

// portFree reports whether nothing listens on port any more.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func TestPassiveTimeoutFreesPorts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, func(s *Server) {
		s.PassivePorts = freePorts(t, 2)
		s.PassiveTimeout = timeout
	})
	var holders []*control
	var ports []int
	for range 2 {
		c, port := holdPassive(t, ts)
		holders, ports = append(holders, c), append(ports, port)
	}
	if portFree(ports[0]) {
		t.Fatalf("port %d is free right after PASV", ports[0])
	}
	time.Sleep(timeout)
	for i, c := range holders {
		if code, msg := c.cmd("NOOP"); code != 200 {
			t.Fatalf("NOOP: %d %s", code, msg)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !portFree(ports[i]) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !portFree(ports[i]) {
			t.Errorf("port %d still held 5s after PassiveTimeout %v", ports[i], timeout)
		}
		code, msg := c.cmd("RETR /pub/nested/hello.txt")
		if code != 425 {
			t.Errorf("RETR after its passive port was closed: %d %s; want 425", code, msg)
		}
		t.Logf("RETR after PassiveTimeout: %d %s", code, msg)
	}
	// The clients go on: a new PASV works.
	data := holders[0].epsv()
	if code, msg := holders[0].cmd("RETR /pub/nested/hello.txt"); code != 150 {
		t.Fatalf("RETR with a new EPSV: %d %s", code, msg)
	}
	if got, _ := io.ReadAll(data); string(got) != "hello\n" {
		t.Errorf("RETR with a new EPSV got %q", got)
	}
}

// TestPassiveRangeFullOfIdlers fills the passive range with clients that
// send PASV and then only NOOP: a new client still gets a port and
// downloads, long before PassiveTimeout.
func TestPassiveRangeFullOfIdlers(t *testing.T) {
	needCurl(t)
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, func(s *Server) {
		s.PassivePorts = freePorts(t, 2)
		s.PassiveTimeout = time.Minute
	})
	var holders []*control
	var ports []int
	for range 2 {
		c, port := holdPassive(t, ts)
		holders, ports = append(holders, c), append(ports, port)
	}
	time.Sleep(passiveGrace)
	for _, c := range holders {
		if code, msg := c.cmd("NOOP"); code != 200 {
			t.Fatalf("NOOP: %d %s", code, msg)
		}
	}
	start := time.Now()
	out, stderr, code := curl(t, ts.url+"/pub/big.bin")
	if code != 0 || sha256.Sum256(out) != sha256.Sum256(tr.big) {
		t.Fatalf("download with the passive range held: curl exit %d, %d bytes: %s", code, len(out), stderr)
	}
	t.Logf("download with the passive range held by idlers: %d bytes in %v", len(out), time.Since(start).Round(time.Millisecond))
	// One idler lost its port to curl and is told so; the other still has
	// its own.
	lost := 0
	for i, c := range holders {
		if !portFree(ports[i]) {
			data, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[i]))
			if err != nil {
				t.Fatal(err)
			}
			defer data.Close()
			if code, msg := c.cmd("RETR /pub/nested/hello.txt"); code != 150 {
				t.Errorf("RETR by the idler that kept its port: %d %s", code, msg)
			} else if got, _ := io.ReadAll(data); string(got) != "hello\n" {
				t.Errorf("RETR by the idler that kept its port got %q", got)
			}
			continue
		}
		lost++
		if code, msg := c.cmd("RETR /pub/nested/hello.txt"); code != 425 {
			t.Errorf("RETR by the idler whose port was taken: %d %s; want 425", code, msg)
		}
	}
	if lost != 1 {
		t.Errorf("%d idlers lost their port to one download; want 1", lost)
	}
}

// TestPassiveRangeTakenOnlyAfterGrace checks that a port just handed out is
// not taken from its client.
func TestPassiveRangeTakenOnlyAfterGrace(t *testing.T) {
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, func(s *Server) {
		s.PassivePorts = freePorts(t, 1)
		s.PassiveTimeout = time.Minute
	})
	holder, port := holdPassive(t, ts)
	late := dialControl(t, ts)
	late.login()
	if code, msg := late.cmd("EPSV"); code != 421 {
		t.Errorf("EPSV with the only port just handed out: %d %s; want 421", code, msg)
	}
	data, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	if code, msg := holder.cmd("RETR /pub/nested/hello.txt"); code != 150 {
		t.Fatalf("RETR: %d %s", code, msg)
	}
	if got, _ := io.ReadAll(data); string(got) != "hello\n" {
		t.Errorf("RETR got %q", got)
	}
}

func TestStallTimeout(t *testing.T) {
	const size = 64 << 20
	const stall = 300 * time.Millisecond
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	ts := startServer(t, os.DirFS(dir), func(s *Server) { s.StallTimeout = stall })
	c := dialControl(t, ts)
	c.login()
	code, msg := c.cmd("EPSV")
	port, ok := passivePort(fmt.Sprintf("%d %s", code, msg))
	if !ok {
		t.Fatalf("EPSV: %d %s", code, msg)
	}
	data, err := smallBufferDial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	start := time.Now()
	if code, msg := c.cmd("RETR big.img"); code != 150 {
		t.Fatalf("RETR: %d %s", code, msg)
	}
	select {
	case tr := <-ts.transfers:
		t.Logf("stalled download ended after %v with %d bytes sent: %v", time.Since(start).Round(time.Millisecond), tr.Bytes, tr.Err)
		if tr.Err == nil || tr.Bytes >= size {
			t.Errorf("stalled download reported %+v; want an error and a partial count", tr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a download nobody reads still runs after %v (StallTimeout %v)", time.Since(start), stall)
	}
	if code, msg := c.read(); code < 400 || !strings.Contains(msg, "took no data") {
		t.Errorf("after the stalled download: %d %s; want an error saying why", code, msg)
	}
	if code, msg := c.cmd("NOOP"); code != 200 {
		t.Errorf("the control connection after a stalled download: %d %s", code, msg)
	}
}

// TestClientCapClosesLongestSilent opens more idle clients than MaxConns:
// the longest silent ones are closed to make room, and a download works.
func TestClientCapClosesLongestSilent(t *testing.T) {
	needCurl(t)
	const max = 4
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, func(s *Server) { s.MaxConns = max })
	var clients []*control
	for range 10 {
		c := dialControl(t, ts)
		c.login()
		clients = append(clients, c)
	}
	for i, c := range clients {
		newest := i >= len(clients)-max
		wait := 2 * time.Second
		if newest {
			wait = 100 * time.Millisecond
		}
		if closed := closedWithin(c, wait); closed == newest {
			t.Errorf("client %d of %d (MaxConns %d): closed %v", i, len(clients), max, closed)
		}
	}
	out, stderr, code := curl(t, ts.url+"/pub/big.bin")
	if code != 0 || sha256.Sum256(out) != sha256.Sum256(tr.big) {
		t.Fatalf("download at the cap: curl exit %d, %d bytes: %s", code, len(out), stderr)
	}
}

// TestClientCapRefusesWhenAllDownload fills the table with a client whose
// download is in progress: a new client is refused with 421 and the
// download is not disturbed.
func TestClientCapRefusesWhenAllDownload(t *testing.T) {
	const size = 16 << 20
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	ts := startServer(t, os.DirFS(dir), func(s *Server) { s.MaxConns = 1 })
	busy := dialControl(t, ts)
	busy.login()
	data, err := smallBufferDial(fmt.Sprintf("127.0.0.1:%d", mustPort(t, busy)))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	if code, msg := busy.cmd("RETR big.img"); code != 150 {
		t.Fatalf("RETR: %d %s", code, msg)
	}

	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(reply), "421 ") {
		t.Errorf("a client over MaxConns while the other downloads got %q; want 421 and a close", reply)
	}

	_ = data.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.Copy(io.Discard, data); n != size {
		t.Errorf("the download got %d of %d bytes (%v): it was disturbed", n, size, err)
	}
	if code, msg := busy.read(); code != 226 {
		t.Errorf("after the download: %d %s", code, msg)
	}
}

// mustPort sends EPSV and returns the announced port.
func mustPort(t *testing.T, c *control) int {
	t.Helper()
	code, msg := c.cmd("EPSV")
	port, ok := passivePort(fmt.Sprintf("%d %s", code, msg))
	if !ok {
		t.Fatalf("EPSV: %d %s", code, msg)
	}
	return port
}

// closedWithin reports whether the server closes c's connection within
// wait: a read ends otherwise than by timing out.
func closedWithin(c *control, wait time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	defer func() { _ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second)) }()
	_, err := c.conn.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// recordingConn is a connection that records the deadlines set on it and
// what its ReadFrom is handed.
type recordingConn struct {
	net.Conn
	deadlines int
	readers   []io.Reader
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { c.deadlines++; return nil }

func (c *recordingConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		c.readers = append(c.readers, lr.R)
	} else {
		c.readers = append(c.readers, r)
	}
	return io.Copy(io.Discard, r)
}

// TestDownloadKeepsSendfile checks the path of a RETR of an *os.File: the
// download hands the file itself to the data connection, which passes it
// to the TCP connection's ReadFrom (what lets net use sendfile) in chunks
// that each get a fresh deadline.
func TestDownloadKeepsSendfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 2*netlimit.StallChunk+5), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	inner := &recordingConn{}
	d := newDownload(f, "f", netip.Addr{}, &mainDriver{server: &Server{}, life: newLifetime(t.Context()), log: slog.New(slog.DiscardHandler)})
	d.main.life.acquire()
	defer d.Close()
	n, err := d.WriteTo(&netlimit.StallConn{Conn: inner, Timeout: time.Minute})
	if err != nil || n != 2*netlimit.StallChunk+5 {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	if len(inner.readers) != 3 || inner.deadlines != 3 {
		t.Fatalf("%d chunks with %d deadlines; want 3 and 3", len(inner.readers), inner.deadlines)
	}
	for i, r := range inner.readers {
		if r != f {
			t.Errorf("chunk %d read from a %T, not the *os.File", i, r)
		}
	}
}
