package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"kickstand/internal/bootfs"
	"kickstand/internal/sdnotify/sdnotifytest"
)

// TestMain runs kickstand's main instead of the tests when asked to, so
// that a test starts the real binary as a child without building it.
func TestMain(m *testing.M) {
	if os.Getenv("KICKSTAND_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestServeUnderSystemd runs kickstand serve as systemd runs the packaged
// unit (Type=notify, stderr to the journal) and checks that it says
// READY=1 only once its sockets are open, survives SIGHUP saying which
// settings need a restart, and says STOPPING=1 on SIGTERM.
func TestServeUnderSystemd(t *testing.T) {
	dir := t.TempDir()
	for _, n := range bootfs.LoaderFiles {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("loader"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Ports the kernel picks free now are free a moment later, for the child.
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tftpPort, httpPort := udp.LocalAddr().(*net.UDPAddr).Port, tcp.Addr().(*net.TCPAddr).Port
	udp.Close()
	tcp.Close()
	configFile := filepath.Join(dir, "kickstand.yaml")
	settings := fmt.Sprintf("data-dir: %s\ninterface: lo\ndhcp: \"off\"\nftp-port: 0\ntftp-port: %d\nhttp-port: %d\nbootloader-dir: %s\nlog-format: json\n",
		filepath.Join(dir, "data"), tftpPort, httpPort, dir)
	if err := os.WriteFile(configFile, []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}

	// systemd's notify socket, in the abstract namespace as systemd names it.
	socket := fmt.Sprintf("@kickstand-notify-test-%d", os.Getpid())
	systemd := sdnotifytest.Listen(t, socket)
	// The journal's stream is stderr: JOURNAL_STREAM names it.
	logR, logW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(logW.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--config", configFile)
	cmd.Env = append(os.Environ(), "KICKSTAND_TEST_MAIN=1", "NOTIFY_SOCKET="+socket, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	cmd.Stderr = logW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logW.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var logged []string
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("kickstand serve logged:\n%s", strings.Join(logged, "\n"))
		}
	}()
	// waitLog returns the first line logged from now on that has want.
	waitLog := func(want string) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kickstand serve ended without logging %s", want)
				}
				logged = append(logged, l)
				if strings.Contains(l, want) {
					return l
				}
			case <-timeout:
				t.Fatalf("kickstand serve did not log %s in 30 s", want)
			}
		}
	}

	if got := systemd.Next(t, 60*time.Second); !strings.HasPrefix(got, "READY=1\nSTATUS=serving on lo") {
		t.Fatalf("first notification %q, want READY=1 and a status", got)
	}
	// READY means served: HTTP answers and the TFTP port is taken, at once.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	if err != nil {
		t.Fatalf("READY=1 came before HTTP serves: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after READY=1: %s", resp.Status)
	}
	if c, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", tftpPort)); !errors.Is(err, syscall.EADDRINUSE) {
		if err == nil {
			c.Close()
		}
		t.Fatalf("READY=1 came before the TFTP socket was open: binding its port: %v", err)
	}
	// The journal gets JSON lines with their priority and no time of their own.
	if l := waitLog(`"msg":"kickstand serving"`); !strings.HasPrefix(l, `<6>{"level":"INFO",`) || strings.Contains(l, `"time"`) {
		t.Errorf("log line for the journal: %s", l)
	}

	if err := os.WriteFile(configFile, []byte(settings+"event-retention: 24h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if l := waitLog("SIGHUP"); !strings.HasPrefix(l, "<4>") || !strings.Contains(l, `"changed":"event-retention"`) {
		t.Errorf("after SIGHUP with event-retention changed: %s", l)
	}
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	if err != nil {
		t.Fatalf("SIGHUP stopped kickstand: %v", err)
	}
	resp.Body.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := systemd.Next(t, 60*time.Second); got != "STOPPING=1" {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", got)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("kickstand serve after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kickstand serve did not stop within 30 s of SIGTERM")
	}
}
