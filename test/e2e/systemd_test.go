//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// container is systemd booted by systemd-nspawn; in runs commands in it.
type container struct {
	leader int // its PID 1, as the host numbers it
}

func (c container) in(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(c.leader), "-a"}, args...)...).CombinedOutput()
	return string(out), err
}

func (c container) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.in(args...)
	if err != nil {
		t.Fatalf("in the container: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runUnderSystemd starts the installed kickstand.service under a real
// systemd, as an administrator would with systemctl, with every protection
// of the unit in force, and checks what the unit promises. This machine's
// PID 1 is not systemd, so systemd boots in a container: the host's /usr
// (where dpkg just put kickstand) read-only, an empty /etc but for the
// kickstand user, /etc/kickstand and a machine id (so that no other
// service is enabled), and a network namespace of its own.
func runUnderSystemd(t *testing.T) {
	t.Helper()
	c := bootContainer(t)
	addDefaultLAN(t, c.run)

	// Type=notify: start returns once kickstand said READY=1.
	if out, err := c.in("systemctl", "start", "kickstand"); err != nil {
		journal, _ := c.in("journalctl", "-u", "kickstand", "--no-pager")
		t.Fatalf("systemctl start kickstand: %v\n%s\n%s", err, out, journal)
	}
	show := c.run(t, "systemctl", "show", "-p", "ActiveState,StatusText,MainPID", "kickstand")
	if !strings.Contains(show, "ActiveState=active\n") || !strings.Contains(show, "StatusText=serving on lan0 (192.0.2.1)\n") {
		t.Errorf("after systemctl start:\n%s", show)
	}
	c.run(t, "curl", "-sSf", "--max-time", "10", "http://192.0.2.1/healthz")
	if out := c.run(t, "curl", "-sS", "--max-time", "10", "tftp://192.0.2.1/ldlinux.c32"); len(out) < 1000 {
		t.Errorf("ldlinux.c32 over TFTP: %d bytes", len(out))
	}
	mainPID := regexp.MustCompile(`MainPID=(\d+)`).FindStringSubmatch(show)
	if mainPID != nil {
		status := c.run(t, "cat", "/proc/"+mainPID[1]+"/status")
		for _, want := range []string{"CapEff:\t0000000000003400", "CapAmb:\t0000000000003400", "NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(status, want+"\n") {
				t.Errorf("kickstand under systemd: no %q in its /proc status:\n%s", want, status)
			}
		}
		if uid := regexp.MustCompile(`Uid:\t(\d+)`).FindStringSubmatch(status); uid == nil || uid[1] == "0" {
			t.Errorf("kickstand runs as root under systemd:\n%s", status)
		}
	}

	c.run(t, "systemctl", "kill", "-s", "HUP", "kickstand")
	time.Sleep(time.Second)
	if out, err := c.in("systemctl", "is-active", "kickstand"); err != nil {
		t.Errorf("after SIGHUP kickstand is %s", out)
	}
	security := c.run(t, "systemd-analyze", "security", "--no-pager", "kickstand")
	if m := regexp.MustCompile(`exposure level for kickstand.service: ([0-9.]+)`).FindStringSubmatch(security); m != nil {
		t.Logf("systemd-analyze security kickstand, running under systemd: exposure %s", m[1])
	} else {
		t.Errorf("systemd-analyze security kickstand:\n%s", security)
	}
	c.run(t, "systemctl", "stop", "kickstand")
	if show := c.run(t, "systemctl", "show", "-p", "Result,ExecMainStatus", "kickstand"); show != "Result=success\nExecMainStatus=0\n" {
		t.Errorf("after systemctl stop:\n%s", show)
	}
	checkJournal(t, c)
}

// checkJournal: kickstand's lines reached the journal with their
// priorities and without a time of their own.
func checkJournal(t *testing.T, c container) {
	t.Helper()
	out := c.run(t, "journalctl", "-u", "kickstand", "-o", "json", "--no-pager", "_COMM=kickstand")
	priorities := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var entry struct{ MESSAGE, PRIORITY string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("journalctl -o json: %v: %s", err, line)
		}
		if strings.Contains(entry.MESSAGE, "time=") {
			t.Errorf("a second time in the journal: %s", entry.MESSAGE)
		}
		for _, msg := range []string{"kickstand serving", "SIGHUP"} {
			if strings.Contains(entry.MESSAGE, msg) {
				priorities[msg] = entry.PRIORITY
			}
		}
	}
	if priorities["kickstand serving"] != "6" || priorities["SIGHUP"] != "6" {
		t.Errorf("journal priorities %v, want 6 (info) for the start and the SIGHUP answer\n%s", priorities, out)
	}
}

// bootContainer boots systemd with systemd-nspawn and waits until it has
// started what it starts; the container is powered off when the test ends.
func bootContainer(t *testing.T) container {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "machine-id"), randomHex(t, 16)+"\n")
	// nspawn leaves these behind on a host whose /run is no tmpfs.
	machine := "ks-" + randomHex(t, 4)
	leftovers := []string{"/run/systemd/nspawn/propagate/" + machine}
	for _, d := range []string{"/run/systemd/nspawn/propagate", "/run/systemd/nspawn", "/run/systemd/nspawn-root"} {
		if _, err := os.Stat(d); err != nil {
			leftovers = append(leftovers, d)
		}
	}
	log := filepath.Join(dir, "nspawn.log")
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-nspawn", "--directory=/", "--volatile=yes", "--register=no", "--keep-unit",
		"--private-network", "--machine="+machine, "--bind-ro=/etc/passwd", "--bind-ro=/etc/group",
		"--bind-ro=/etc/kickstand", "--bind-ro="+filepath.Join(dir, "machine-id")+":/etc/machine-id", "--boot")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		out.Close()
		close(done)
	}()
	var c container
	t.Cleanup(func() {
		if c.leader != 0 {
			c.in("systemctl", "poweroff")
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			// Killing the container's PID 1 ends everything in it.
			if c.leader != 0 {
				syscall.Kill(c.leader, syscall.SIGKILL)
			}
			cmd.Process.Kill()
			<-done
		}
		for _, d := range leftovers {
			os.Remove(d)
		}
	})
	if err := waitFor(60*time.Second, 200*time.Millisecond, func() error {
		c.leader = descendant(cmd.Process.Pid, "systemd")
		if c.leader == 0 {
			return os.ErrNotExist
		}
		return nil
	}); err != nil {
		t.Fatalf("systemd-nspawn started no systemd: %v\n%s", err, logFile(log))
	}
	// Until systemd listens, systemctl cannot reach it; then --wait waits
	// for the boot to end. degraded: a unit of the host's failed in the
	// container; not ours.
	var state string
	if err := waitFor(120*time.Second, 500*time.Millisecond, func() error {
		state, _ = c.in("systemctl", "is-system-running", "--wait")
		if strings.Contains(state, "running") || strings.Contains(state, "degraded") {
			return nil
		}
		return errors.New(strings.TrimSpace(state))
	}); err != nil {
		t.Fatalf("systemd in the container: %v\n%s", err, logFile(log))
	}
	return c
}

// descendant is the PID of the first process named comm below pid, or 0.
func descendant(pid int, comm string) int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	parent := map[int]int{}
	name := map[int]string{}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 {
			continue
		}
		id, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		parent[id], _ = strconv.Atoi(fields[1])
		name[id] = s[open+1 : end]
	}
	for id, n := range name {
		if n != comm {
			continue
		}
		for p := parent[id]; p > 1; p = parent[p] {
			if p == pid {
				return id
			}
		}
	}
	return 0
}
