package ftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

const bigSize = 5 << 20

// tree is a served directory: srv/pub/big.bin (random), srv/pub/nested/hello.txt,
// and secret.txt next to srv, outside the served tree.
type tree struct {
	root, srv string
	fsys      fs.FS
	big       []byte
}

func makeTree(t *testing.T) tree {
	t.Helper()
	root := t.TempDir()
	srv := filepath.Join(root, "srv")
	big := make([]byte, bigSize)
	_, _ = rand.Read(big)
	files := map[string][]byte{
		filepath.Join(srv, "pub", "big.bin"):             big,
		filepath.Join(srv, "pub", "nested", "hello.txt"): []byte("hello\n"),
		filepath.Join(root, "secret.txt"):                []byte("top secret\n"),
	}
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tree{root: root, srv: srv, fsys: os.DirFS(srv), big: big}
}

// freePorts finds n consecutive free TCP ports for a passive range.
func freePorts(t *testing.T, n int) [2]int {
	t.Helper()
	for range 50 {
		first := 10000 + mathrand.IntN(20000)
		var held []net.Listener
		for p := first; p < first+n; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				break
			}
			held = append(held, ln)
		}
		for _, ln := range held {
			_ = ln.Close()
		}
		if len(held) == n {
			return [2]int{first, first + n - 1}
		}
	}
	t.Fatal("no free passive port range found")
	return [2]int{}
}

// syncBuffer collects the server's logs; they are shown when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	addr      string // host:port of the control connection
	url       string // ftp://host:port
	ports     [2]int
	transfers chan Transfer
	cancel    context.CancelFunc
	done      chan error
}

// startServer serves fsys on 127.0.0.1 until the test ends, and then checks
// that Serve returned nil.
func startServer(t *testing.T, fsys fs.FS, configure func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ts := &testServer{
		addr:      ln.Addr().String(),
		url:       "ftp://" + ln.Addr().String(),
		ports:     freePorts(t, 8),
		transfers: make(chan Transfer, 100),
		done:      make(chan error, 1),
	}
	srv := &Server{
		FS:           fsys,
		PassivePorts: ts.ports,
		OnTransfer:   func(tr Transfer) { ts.transfers <- tr },
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// stop cancels the server and waits for Serve; it may be called twice.
func (ts *testServer) stop() error {
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok {
			close(ts.done)
		}
		if err != nil {
			return fmt.Errorf("Serve: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("Serve did not return within 10s of cancel")
	}
}

// transfer waits for the next OnTransfer report.
func (ts *testServer) transfer(t *testing.T) Transfer {
	t.Helper()
	select {
	case tr := <-ts.transfers:
		return tr
	case <-time.After(10 * time.Second):
		t.Fatal("no OnTransfer report")
		return Transfer{}
	}
}

func needCurl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required in CI")
		}
		t.Skip("curl not installed")
	}
}

// curl runs curl with args and returns its stdout, its stderr and its exit code.
func curl(t *testing.T, args ...string) ([]byte, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "30"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return stdout.Bytes(), stderr.String(), code
}

var (
	epsvReply = regexp.MustCompile(`229 Entering Extended Passive Mode \(\|\|\|(\d+)\|\)`)
	pasvReply = regexp.MustCompile(`227 Entering Passive Mode \((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)
)

// passivePort finds the data port announced in a 229 or 227 reply.
func passivePort(reply string) (int, bool) {
	if m := epsvReply.FindStringSubmatch(reply); m != nil {
		port, _ := strconv.Atoi(m[1])
		return port, true
	}
	if m := pasvReply.FindStringSubmatch(reply); m != nil {
		hi, _ := strconv.Atoi(m[5])
		lo, _ := strconv.Atoi(m[6])
		return hi*256 + lo, true
	}
	return 0, false
}

// control is a raw FTP control connection, for what curl cannot send.
type control struct {
	t    *testing.T
	conn net.Conn
	text *textproto.Conn
}

func dialControl(t *testing.T, ts *testServer) *control {
	t.Helper()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &control{t: t, conn: conn, text: textproto.NewConn(conn)}
	t.Cleanup(func() { _ = conn.Close() })
	if code, msg := c.read(); code != 220 {
		t.Fatalf("greeting: %d %s", code, msg)
	}
	return c
}

func (c *control) read() (int, string) {
	c.t.Helper()
	code, msg, err := c.text.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatalf("reading reply: %v", err)
	}
	return code, msg
}

// cmd sends one command line and returns the reply.
func (c *control) cmd(line string) (int, string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("sending %q: %v", line, err)
	}
	return c.read()
}

func (c *control) login() {
	c.t.Helper()
	if code, msg := c.cmd("USER anonymous"); code != 331 {
		c.t.Fatalf("USER: %d %s", code, msg)
	}
	if code, msg := c.cmd("PASS guest@"); code != 230 {
		c.t.Fatalf("PASS: %d %s", code, msg)
	}
}

// epsv asks for a passive port and connects to it.
func (c *control) epsv() net.Conn {
	c.t.Helper()
	code, msg := c.cmd("EPSV")
	if code != 229 {
		c.t.Fatalf("EPSV: %d %s", code, msg)
	}
	port, ok := passivePort(fmt.Sprintf("%d %s", code, msg))
	if !ok {
		c.t.Fatalf("EPSV reply without a port: %s", msg)
	}
	data, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = data.Close() })
	return data
}
