//go:build linux

package httpd

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// floodEnv makes the test binary a flooding client (see flood) instead of
// running the tests: the flood's descriptors then count against another
// process, as they would for a real attacker.
const floodEnv = "KICKSTAND_HTTPD_FLOOD"

func TestMain(m *testing.M) {
	if addr := os.Getenv(floodEnv); addr != "" {
		n, _ := strconv.Atoi(os.Getenv(floodEnv + "_N"))
		os.Exit(flood(addr, n))
	}
	os.Exit(m.Run())
}

// flood opens n keep-alive connections to addr, sends one request on each
// and reads the answers, then prints what it got and holds the connections
// until its standard input closes (or a minute passes).
func flood(addr string, n int) int {
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	var conns []conn
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: kickstand\r\n\r\n")
		conns = append(conns, conn{c, bufio.NewReader(c)})
	}
	deadline := time.Now().Add(3 * time.Second)
	answered := 0
	for _, c := range conns {
		c.c.SetReadDeadline(deadline)
		if resp, err := http.ReadResponse(c.r, nil); err == nil {
			io.Copy(io.Discard, resp.Body)
			answered++
		}
	}
	fmt.Printf("opened=%d answered=%d\n", len(conns), answered)
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
	}
	return 0
}

// TestIdleFloodDoesNotStarveDownloads replays the attack: with the open
// file limit at 1024, another process opens 1100 keep-alive connections and
// leaves them idle. Without a connection cap the server runs out of
// descriptors and accepts nobody; with it, the flood's idle connections
// make room for a real download.
func TestIdleFloodDoesNotStarveDownloads(t *testing.T) {
	requireTool(t, "curl")
	const limit, flooders = 1024, 1100
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < 2*flooders {
		t.Skipf("the open file limit's hard limit %d is below the %d the flood needs", rl.Max, 2*flooders)
	}
	lowered := rl
	lowered.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) })
	fx, base := newServer(t)

	// The flood raises its own soft limit back: Go does at start.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), floodEnv+"="+strings.TrimPrefix(base, "http://"), fmt.Sprintf("%s_N=%d", floodEnv, flooders))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ready:
		t.Logf("flood: %s", line)
	case <-time.After(30 * time.Second):
		t.Fatal("the flood did not get going within 30s")
	}

	start := time.Now()
	out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", base+"/install.img").Output()
	took := time.Since(start)
	want, _ := os.ReadFile(filepath.Join(fx.dir, "install.img"))
	if err != nil || sha256.Sum256(out) != sha256.Sum256(want) {
		t.Fatalf("download during the flood failed after %v: %v, %d bytes", took, err, len(out))
	}
	if took > 3*time.Second {
		t.Errorf("download during the flood took %v", took)
	}
	t.Logf("download during the flood: %d bytes in %v", len(out), took.Round(time.Millisecond))
}
