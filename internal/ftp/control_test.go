package ftp

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

func TestMalformedCommands(t *testing.T) {
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	c := dialControl(t, ts)
	if code, msg := c.cmd("LIST"); code != 530 {
		t.Errorf("LIST before login: %d %s; want 530", code, msg)
	}
	c.login()
	for _, tc := range []struct {
		line string
		code int
	}{
		{"", 500},
		{"XYZZY", 500},
		{"SITE", 550},
		{"SITE CHMOD 755", 550},
		{"SITE CHOWN", 550},
		{"REST abc", 550},
		{"PORT 1,2,3", 421},
		{"EPRT |9|x|", 421},
		{"AUTH TLS", 550},
		{"TYPE X", 504},
		{"CWD /../../..", 250},
		{"PWD", 257},
		{"CWD pub/nested", 250},
		{"CDUP", 250},
		{"PWD", 257},
		{"CWD /pub/big.bin", 550},
		{"CWD /nope", 550},
		{"SIZE /pub/nested", 550},
		{"SIZE ../../pub/big.bin", 213},
		{"MDTM /nope", 550},
		{"RETR", 550},
		{"RETR /nope", 550},
		{"REST -5", 350},
		{"RETR /pub/big.bin", 550},
		{"STOU", 502},
		{"ALLO 100", 202},
		{"\xff\xf4\xff\xf2ABOR", 226},
		{"MLST /pub/../pub/big.bin", 250},
		{"NOOP", 200},
	} {
		code, msg := c.cmd(tc.line)
		if code != tc.code {
			t.Errorf("%q: got %d %s; want %d", tc.line, code, msg, tc.code)
		}
	}
	if code, msg := c.cmd("PWD"); code != 257 || !strings.Contains(msg, `"/pub"`) {
		t.Errorf("PWD after CDUP from /pub/nested: %d %s", code, msg)
	}
	if code, msg := c.cmd("MLST /pub/big.bin"); code != 250 || !strings.Contains(msg, fmt.Sprintf("Type=file;Size=%d;", bigSize)) {
		t.Errorf("MLST: %d %s", code, msg)
	}

	// A line longer than ftpserverlib reads ends the connection, not the server.
	long := dialControl(t, ts)
	long.login()
	_, _ = long.conn.Write([]byte(strings.Repeat("A", 10000) + "\r\n"))
	if _, err := long.text.ReadLine(); err == nil {
		t.Error("a 10000-byte line did not end the connection")
	}
	if code, msg := c.cmd("NOOP"); code != 200 {
		t.Errorf("NOOP after another client's long line: %d %s", code, msg)
	}
}

func TestMLSD(t *testing.T) {
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	c := dialControl(t, ts)
	c.login()
	data := c.epsv()
	if code, msg := c.cmd("MLSD /pub"); code != 150 {
		t.Fatalf("MLSD: %d %s", code, msg)
	}
	listing, err := io.ReadAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := c.read(); code != 226 {
		t.Errorf("after MLSD: %d %s", code, msg)
	}
	for _, want := range []string{fmt.Sprintf("Type=file;Size=%d;", bigSize), "; big.bin\r\n", "Type=dir;", "; nested\r\n"} {
		if !bytes.Contains(listing, []byte(want)) {
			t.Errorf("MLSD listing lacks %q:\n%s", want, listing)
		}
	}
}

func TestPASVAddress(t *testing.T) {
	tr := makeTree(t)
	for _, tc := range []struct {
		public netip.Addr
		want   string
	}{
		{netip.Addr{}, "(127,0,0,1,"},
		{netip.MustParseAddr("192.0.2.7"), "(192,0,2,7,"},
	} {
		ts := startServer(t, tr.fsys, func(s *Server) { s.PublicIP = tc.public })
		c := dialControl(t, ts)
		c.login()
		code, msg := c.cmd("PASV")
		if code != 227 || !strings.Contains(msg, tc.want) {
			t.Errorf("PublicIP %v: PASV replied %d %s; want 227 with %s", tc.public, code, msg, tc.want)
		}
		port, ok := passivePort(fmt.Sprintf("%d %s", code, msg))
		if !ok || port < ts.ports[0] || port > ts.ports[1] {
			t.Errorf("PASV port %d outside %d-%d", port, ts.ports[0], ts.ports[1])
		}
	}
}

func TestServeRefusesBadSettings(t *testing.T) {
	tr := makeTree(t)
	for name, srv := range map[string]*Server{
		"no FS":          {},
		"reversed ports": {FS: tr.fsys, PassivePorts: [2]int{30010, 30000}},
		"low ports":      {FS: tr.fsys, PassivePorts: [2]int{20, 21}},
		"IPv6 PublicIP":  {FS: tr.fsys, PublicIP: netip.MustParseAddr("2001:db8::1")},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(t.Context(), ln); err == nil {
			t.Errorf("%s: Serve returned nil", name)
		}
		if _, err := ln.Accept(); err == nil {
			t.Errorf("%s: Serve left the listener open", name)
		}
	}
}

// TestShutdown stops a server with an idle client, a client whose RETR waits
// for its data connection, and a client whose download is stalled; Serve
// must return at once and leave no goroutine behind.
func TestShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	huge := fstest.MapFS{"huge.bin": {Data: make([]byte, 64<<20)}}
	ts := startServer(t, huge, nil)

	idle := dialControl(t, ts)
	idle.login()

	waiting := dialControl(t, ts)
	waiting.login()
	if code, msg := waiting.cmd("EPSV"); code != 229 {
		t.Fatalf("EPSV: %d %s", code, msg)
	}
	_, _ = waiting.conn.Write([]byte("RETR huge.bin\r\n"))

	stalled := dialControl(t, ts)
	stalled.login()
	code, msg := stalled.cmd("EPSV")
	port, ok := passivePort(fmt.Sprintf("%d %s", code, msg))
	if !ok {
		t.Fatalf("EPSV: %d %s", code, msg)
	}
	data, err := smallBufferDial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	if code, msg := stalled.cmd("RETR huge.bin"); code != 150 {
		t.Fatalf("RETR: %d %s", code, msg)
	}
	time.Sleep(200 * time.Millisecond) // let the transfer fill the socket buffers

	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Serve took %v to return after cancel", took)
	}
	if tr := ts.transfer(t); tr.Err == nil || tr.Bytes >= int64(len(huge["huge.bin"].Data)) {
		t.Errorf("stalled download reported %+v; want an error and a partial count", tr)
	}
	for _, c := range []*control{idle, waiting, stalled} {
		_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c.conn); err != nil {
			t.Errorf("client connection not closed by the server: %v", err)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines after Serve returned, %d before:\n%s", n, before, buf)
	}
}

// smallBufferDial connects with a 4 KiB receive buffer, so that a download
// not being read stalls quickly.
func smallBufferDial(addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.Dial("tcp", addr)
}
