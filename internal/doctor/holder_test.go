package doctor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHelperHoldPorts is not a test: run by TestPortHeldByProcess as a
// child process, it holds a TCP and a UDP port on 127.0.0.1, prints them,
// and keeps them until its stdin closes.
func TestHelperHoldPorts(t *testing.T) {
	if os.Getenv("KICKSTAND_DOCTOR_HOLD_PORTS") != "1" {
		t.Skip("helper process for TestPortHeldByProcess")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ports %d %d\n", ln.Addr().(*net.TCPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port)
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
	pc.Close()
	os.Exit(0)
}

// holdPorts starts a process holding a TCP and a UDP port; args are added
// to its command line.
func holdPorts(t *testing.T, args ...string) (pid, tcpPort, udpPort int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperHoldPorts$"}, args...)...)
	cmd.Env = append(os.Environ(), "KICKSTAND_DOCTOR_HOLD_PORTS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		if _, err := fmt.Sscanf(line, "ports %d %d", &tcpPort, &udpPort); err != nil {
			t.Fatalf("helper said %q: %v", line, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the helper process did not say which ports it holds")
	}
	return cmd.Process.Pid, tcpPort, udpPort
}

// A port another process holds is named with the process and its PID; one a
// running kickstand serve holds is kickstand's.
func TestPortHeldByProcess(t *testing.T) {
	name := filepath.Base(os.Args[0])
	if len(name) > 15 {
		name = name[:15] // the kernel's comm
	}
	t.Run("other", func(t *testing.T) {
		pid, tcpPort, udpPort := holdPorts(t)
		checks := (&Doctor{}).checkPorts([]Port{{Proto: "tcp", First: tcpPort, Last: tcpPort, What: "HTTP", Flag: "--http-port"}, {Proto: "udp", First: udpPort, Last: udpPort, What: "TFTP", Flag: "--tftp-port"}})
		for i, what := range []string{fmt.Sprintf("%d/tcp (HTTP)", tcpPort), fmt.Sprintf("%d/udp (TFTP)", udpPort)} {
			want := fmt.Sprintf("%s held by %s (pid %d): stop it", what, name, pid)
			if checks[i].Status != Fail || !strings.Contains(checks[i].Text, want) {
				t.Errorf("check %d: %+v\nwant FAIL with %q", i, checks[i], want)
			}
		}
	})
	t.Run("kickstand serve", func(t *testing.T) {
		pid, tcpPort, _ := holdPorts(t, "serve") // this binary, with "serve" among its arguments
		c := (&Doctor{}).checkPorts([]Port{{Proto: "tcp", First: tcpPort, Last: tcpPort, What: "HTTP", Flag: "--http-port"}})[0]
		if want := fmt.Sprintf("in use by kickstand serve (pid %d)", pid); c.Status != Pass || !strings.Contains(c.Text, want) {
			t.Errorf("%+v\nwant PASS with %q", c, want)
		}
	})
}
