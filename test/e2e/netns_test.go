//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netns is a network namespace the test created; nothing in it reaches the host's
// networks, so the DHCP servers and firmware inside can broadcast freely.
type netns struct {
	name string
}

// newNetns creates a namespace with a name unique to this run ("ks-<random>") and
// registers its removal, after killing whatever still runs inside it.
func newNetns(t *testing.T) *netns {
	t.Helper()
	ns := &netns{name: "ks-" + randomHex(t, 4)}
	runCmd(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() {
		ns.killAll()
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	ns.run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// command returns args run inside the namespace; the process dies with the test binary.
func (ns *netns) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// run runs args inside the namespace and fails the test if they fail.
func (ns *netns) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.command(ctx, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v\n%s", ns.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// killAll kills the processes left inside the namespace: only ones this test started
// can be there, since the namespace's name is unique to the test. The test process
// itself may be listed (see listenTCP) and is spared.
func (ns *netns) killAll() {
	out, _ := exec.Command("ip", "netns", "pids", ns.name).Output()
	for _, field := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(field); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// listenTCP opens a TCP listener inside the namespace from this process.
func (ns *netns) listenTCP(addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.inside(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// inside runs fn on a thread moved into the namespace, so that the sockets fn opens
// belong to it: a socket belongs to the namespace of the thread that creates it, and
// keeps it. A goroutine locks a thread, moves it into the namespace, runs fn, moves it
// back and unlocks it. The thread must not die: a child started with Pdeathsig (every
// daemon and QEMU here) is killed when the thread that forked it exits, not the
// process, so a thread discarded by the runtime would take, say, dnsmasq with it in
// the middle of a test. Only if the way back fails does the goroutine exit locked, and
// the runtime discard that thread rather than let it serve other goroutines in the
// wrong namespace. (If that thread is the main one, the runtime parks it for good
// instead, and since the kernel reports a process's namespace as its main thread's,
// `ip netns pids` then lists this process.)
func (ns *netns) inside(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer home.Close()
		target, err := os.Open("/var/run/netns/" + ns.name)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		err = fn()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// lan is a namespace holding one Ethernet segment: a bridge carrying the server's
// address and a tap device for QEMU.
type lan struct {
	ns       *netns
	bridge   string
	tap      string
	serverIP string            // the bridge's address
	prefix   string            // the /24, e.g. "10.213.7"
	machines map[string]*netns // hosts standing in for machines, by MAC (see asMachine)
}

// asMachine returns a host on the LAN with mac's address (one per MAC, at
// prefix.200 and up): once a guest is off, it asks for what kickstand
// serves only to that machine, as the machine would.
func (l *lan) asMachine(t *testing.T, mac string) *netns {
	t.Helper()
	if ns, ok := l.machines[mac]; ok {
		return ns
	}
	if l.machines == nil {
		l.machines = map[string]*netns{}
	}
	ns, _ := l.addPeerMAC(t, fmt.Sprintf("%s.%d", l.prefix, 200+len(l.machines)), mac)
	l.machines[mac] = ns
	return ns
}

// newLAN builds a segment prefix.0/24 with the bridge at prefix.1.
func newLAN(t *testing.T, prefix string) *lan {
	t.Helper()
	l := &lan{ns: newNetns(t), bridge: "br0", tap: "tap0", serverIP: prefix + ".1", prefix: prefix}
	l.ns.run(t, "ip", "link", "add", l.bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0")
	l.ns.run(t, "ip", "addr", "add", l.serverIP+"/24", "dev", l.bridge)
	l.ns.run(t, "ip", "tuntap", "add", "dev", l.tap, "mode", "tap")
	l.ns.run(t, "ip", "link", "set", l.tap, "master", l.bridge)
	l.ns.run(t, "ip", "link", "set", l.tap, "up")
	l.ns.run(t, "ip", "link", "set", l.bridge, "up")
	return l
}

// addPeer plugs a second namespace into the segment through a veth pair, its end
// named "lan0" with address ip/24 — another host on the LAN, such as its DHCP server.
func (l *lan) addPeer(t *testing.T, ip string) (*netns, string) {
	t.Helper()
	return l.addPeerMAC(t, ip, "")
}

// addPeerMAC is addPeer with the peer's interface at mac ("" for a random
// one): a host that is, for the network, a given machine.
func (l *lan) addPeerMAC(t *testing.T, ip, mac string) (*netns, string) {
	t.Helper()
	peer := newNetns(t)
	const iface = "lan0"
	veth := "v" + randomHex(t, 4)
	l.ns.run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", iface)
	l.ns.run(t, "ip", "link", "set", iface, "netns", peer.name)
	l.ns.run(t, "ip", "link", "set", veth, "master", l.bridge)
	l.ns.run(t, "ip", "link", "set", veth, "up")
	if mac != "" {
		peer.run(t, "ip", "link", "set", iface, "address", mac)
	}
	peer.run(t, "ip", "addr", "add", ip+"/24", "dev", iface)
	peer.run(t, "ip", "link", "set", iface, "up")
	return peer, iface
}

// daemon is a long-running process inside a namespace, logging to a file.
type daemon struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startDaemon starts args inside ns with stdout and stderr to logPath, and stops it
// (SIGTERM, then SIGKILL after 5 s) when the test ends.
func startDaemon(t *testing.T, ns *netns, logPath string, args ...string) *daemon {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{name: args[0], log: logPath, done: make(chan struct{})}
	d.cmd = ns.command(context.Background(), args...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		d.err = d.cmd.Wait()
		logFile.Close()
		close(d.done)
	}()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// exited reports whether the daemon has ended, and how.
func (d *daemon) exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// startDnsmasq runs dnsmasq as the segment's ordinary DHCP server (no boot options)
// on iface inside ns, handing out first..last.
func startDnsmasq(t *testing.T, ns *netns, iface, first, last string) *daemon {
	t.Helper()
	dir := t.TempDir()
	return startDaemon(t, ns, dir+"/dnsmasq.log", "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--interface="+iface, "--bind-interfaces", "--user=root",
		"--dhcp-range="+first+","+last+",12h", "--dhcp-leasefile="+dir+"/leases",
		"--pid-file="+dir+"/dnsmasq.pid", "--log-dhcp")
}

// waitFor polls check every interval until it returns nil or timeout passes.
func waitFor(timeout, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// runCmd runs a command on the host and fails the test if it fails.
func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// randomMAC is a locally unique QEMU-range address, 52:54:00:xx:xx:xx.
func randomMAC(t *testing.T) string {
	t.Helper()
	b := randomHex(t, 3)
	return "52:54:00:" + b[0:2] + ":" + b[2:4] + ":" + b[4:6]
}

// logFile returns a file's contents for a failure report.
func logFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
