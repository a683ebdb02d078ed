package firewall

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests against the real tools in network namespaces they create: the
// rules, the sockets and the packets stay inside them.

func requireRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root (network namespaces, nft, iptables)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian: apt-get install nftables iptables iproute2)", tool)
		}
	}
}

// testNS is a network namespace with a name unique to the test run.
type testNS struct{ name string }

func newNS(t *testing.T) *testNS {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	ns := &testNS{name: "kfw-" + hex.EncodeToString(b)}
	if out, err := exec.Command("ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	ns.run(t, nil, "ip", "link", "set", "lo", "up")
	return ns
}

// runner runs the firewall tools inside the namespace.
func (ns *testNS) runner() Runner {
	return ExecRunner{Prefix: []string{"ip", "netns", "exec", ns.name}}
}

// run runs a command inside the namespace and fails the test if it fails.
func (ns *testNS) run(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v\n%s", ns.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inside runs fn on a thread moved into the namespace: the sockets fn opens
// belong to it for good. The thread goes back before it is unlocked; if it
// cannot, the goroutine exits locked and the runtime discards the thread.
func (ns *testNS) inside(fn func() error) error {
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
		target, err := os.Open("/run/netns/" + ns.name)
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
		ferr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns back: %w", err) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// lan is a server namespace (br0, 192.0.2.1/24) and a client namespace
// (cli0, 192.0.2.2/24) joined by a veth pair; addresses from TEST-NET-1,
// only inside these namespaces.
type lan struct {
	server, client *testNS
}

var (
	lanServer = netip.MustParseAddr("192.0.2.1")
	lanTarget = Target{Interface: "br0", ServerIP: lanServer, Subnet: netip.MustParsePrefix("192.0.2.0/24"), Ports: kickstandPorts}
)

func newLAN(t *testing.T) *lan {
	l := &lan{server: newNS(t), client: newNS(t)}
	l.server.run(t, nil, "ip", "link", "add", "br0", "type", "veth", "peer", "name", "cli0", "netns", l.client.name)
	l.server.run(t, nil, "ip", "addr", "add", "192.0.2.1/24", "dev", "br0")
	l.server.run(t, nil, "ip", "link", "set", "br0", "up")
	l.client.run(t, nil, "ip", "addr", "add", "192.0.2.2/24", "dev", "cli0")
	l.client.run(t, nil, "ip", "link", "set", "cli0", "up")
	l.listen(t)
	return l
}

// listen starts, in the server namespace, UDP echo servers on 67 and 69
// and a TCP listener on 80, closed when the test ends.
func (l *lan) listen(t *testing.T) {
	t.Helper()
	var closers []func() error
	t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
	})
	err := l.server.inside(func() error {
		for _, port := range []string{"67", "69"} {
			pc, err := net.ListenPacket("udp4", "0.0.0.0:"+port)
			if err != nil {
				return err
			}
			closers = append(closers, pc.Close)
			go func() {
				buf := make([]byte, 512)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
				}
			}()
		}
		ln, err := net.Listen("tcp4", "0.0.0.0:80")
		if err != nil {
			return err
		}
		closers = append(closers, ln.Close)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// reach sends from the client namespace a TFTP-port datagram, a DHCP
// broadcast and a TCP connection to HTTP, each from a new source port (so
// conntrack sees a new flow), and reports which got an answer.
// Each probe waits as long as its wait says (one for all if there is one).
func (l *lan) reach(t *testing.T, wait ...time.Duration) (tftp, dhcp, http bool) {
	t.Helper()
	for len(wait) < 3 {
		wait = append(wait, wait[0])
	}
	err := l.client.inside(func() error {
		tftp = udpEcho(netip.AddrPortFrom(lanServer, 69), false, wait[0])
		dhcp = udpEcho(netip.MustParseAddrPort("255.255.255.255:67"), true, wait[1])
		c, err := net.DialTimeout("tcp4", "192.0.2.1:80", wait[2])
		if err == nil {
			c.Close()
		}
		http = err == nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tftp, dhcp, http
}

func udpEcho(to netip.AddrPort, broadcast bool, wait time.Duration) bool {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if broadcast {
				serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1),
					unix.BindToDevice(int(fd), "cli0"))
			}
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:0")
	if err != nil {
		return false
	}
	defer pc.Close()
	if _, err := pc.WriteTo([]byte("ping"), net.UDPAddrFromAddrPort(to)); err != nil {
		return false
	}
	pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	n, _, err := pc.ReadFrom(buf)
	return err == nil && string(buf[:n]) == "echo ping"
}

// expectReach checks the three probes; a blocked port is waited for
// briefly, an open one longer.
func (l *lan) expectReach(t *testing.T, when string, open bool) {
	t.Helper()
	wait := 400 * time.Millisecond
	if open {
		wait = 3 * time.Second
	}
	tftp, dhcp, http := l.reach(t, wait)
	if tftp != open || dhcp != open || http != open {
		t.Errorf("%s: TFTP answered %v, DHCP broadcast %v, HTTP %v; want %v", when, tftp, dhcp, http, open)
	}
}

// checkAll runs Check in the server namespace and wants every port
// of the target with verdict v.
func checkAll(t *testing.T, h *Host, v Verdict) *Report {
	t.Helper()
	rep, err := h.Check(context.Background(), lanTarget)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range rep.Ports {
		if pr.Verdict != v {
			t.Errorf("%s: want %s", summary(pr), v)
		}
	}
	return rep
}

// TestNamespaceNftables: in a namespace with firewalld's rule set (firewalld
// not running) and a second table with policy drop, Check finds every port
// blocked in both, a real datagram, broadcast and connection are refused;
// Open lets them in; Close, and Cleanup after a killed run (with or
// without recorded handles), leave `nft list ruleset` exactly as before.
func TestNamespaceNftables(t *testing.T) {
	requireRoot(t, "nft")
	l := newLAN(t)
	l.server.run(t, []byte(readTestdata(t, "nft/rhel9-firewalld.nft")+readTestdata(t, "nft/plain-drop.nft")), "nft", "-f", "-")
	ruleset := func() string { return l.server.run(t, nil, "nft", "-s", "list", "ruleset") }
	before := ruleset()
	h := &Host{Runner: l.server.runner()}

	rep := checkAll(t, h, Blocked)
	if bs := rep.Ports[2].Blocks; len(bs) != 2 || bs[0].Chain != "input" || bs[0].Action != "policy drop" || bs[1].Chain != "filter_INPUT" {
		t.Errorf("69/udp: %s", summary(rep.Ports[2]))
	}
	l.expectReach(t, "before opening", false)

	dir := t.TempDir()
	o, err := h.Open(context.Background(), lanTarget, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Added) != 4 {
		t.Errorf("added %q", o.Added)
	}
	for _, pr := range o.After.Ports {
		if pr.Verdict != Allowed {
			t.Errorf("after opening: %s", summary(pr))
		}
	}
	l.expectReach(t, "opened", true)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	l.expectReach(t, "closed", false)
	if got := ruleset(); got != before {
		t.Errorf("after Close the rule set differs:\n%s\nwas:\n%s", got, before)
	}

	// Killed while open: the next start's Cleanup removes the rules.
	if _, err := h.Open(context.Background(), lanTarget, dir); err != nil {
		t.Fatal(err)
	}
	l.expectReach(t, "opened again", true)
	if err := (&Host{Runner: l.server.runner()}).Cleanup(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(); got != before {
		t.Errorf("after Cleanup the rule set differs:\n%s\nwas:\n%s", got, before)
	}
	l.expectReach(t, "cleaned up", false)

	// Killed after adding, before recording the handles.
	if _, err := h.Open(context.Background(), lanTarget, dir); err != nil {
		t.Fatal(err)
	}
	rules := stateRules(t, dir)
	for i := range rules {
		rules[i].Handle = 0
	}
	if err := writeState(dir, rules); err != nil {
		t.Fatal(err)
	}
	if err := (&Host{Runner: l.server.runner()}).Cleanup(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(); got != before {
		t.Errorf("after Cleanup without handles the rule set differs:\n%s\nwas:\n%s", got, before)
	}
	if _, err := os.Stat(dir + "/" + StateFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left: %v", err)
	}
}

// TestNamespaceIptables: the same with iptables rule sets, on the
// nf_tables backend (Debian's ufw) and the legacy one (RHEL 7's
// iptables-services); `iptables-save` is exactly as before after Close
// and after Cleanup of a killed run.
func TestNamespaceIptables(t *testing.T) {
	requireRoot(t, "iptables-restore", "iptables-legacy-restore", "nft")
	for _, tt := range []struct {
		name, restore, save, file string
	}{
		{"nf_tables", "iptables-restore", "iptables-save", "debian-ufw"},
		{"legacy", "iptables-legacy-restore", "iptables-legacy-save", "rhel7-iptables-services"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLAN(t)
			l.server.run(t, []byte(readTestdata(t, "iptables/"+tt.file+".save")), tt.restore)
			save := func() string { return stripSave(l.server.run(t, nil, tt.save)) }
			before := save()
			h := &Host{Runner: l.server.runner()}
			target := lanTarget
			target.Ports = []Port{{Proto: "udp", First: 67, Broadcast: true}, {Proto: "tcp", First: 80}}
			if tt.name == "legacy" { // (ufw lets 69/udp in)
				target.Ports = append(target.Ports, Port{Proto: "udp", First: 69})
			}
			rep, err := h.Check(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range rep.Ports {
				if pr.Verdict != Blocked {
					t.Errorf("before: %s", summary(pr))
				}
			}
			tftpWait := 400 * time.Millisecond
			if tt.name == "nf_tables" { // ufw allows 69/udp
				tftpWait = 3 * time.Second
			}
			tftp, dhcp, http := l.reach(t, tftpWait, 400*time.Millisecond, 400*time.Millisecond)
			if dhcp || http || (tftp != (tt.name == "nf_tables")) {
				t.Errorf("before: TFTP %v, DHCP %v, HTTP %v", tftp, dhcp, http)
			}

			dir := t.TempDir()
			o, err := h.Open(context.Background(), target, dir)
			if err != nil {
				t.Fatal(err)
			}
			if w := o.After.Warnings(""); len(w) != 0 {
				t.Errorf("after opening: %q", w)
			}
			l.expectReach(t, "opened", true)
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if got := save(); got != before {
				t.Errorf("after Close:\n%s\nwas:\n%s", got, before)
			}
			if _, err := h.Open(context.Background(), target, dir); err != nil {
				t.Fatal(err)
			}
			if err := (&Host{Runner: l.server.runner()}).Cleanup(context.Background(), dir); err != nil {
				t.Fatal(err)
			}
			if got := save(); got != before {
				t.Errorf("after Cleanup:\n%s\nwas:\n%s", got, before)
			}
			_, dhcp, http = l.reach(t, 400*time.Millisecond)
			if dhcp || http {
				t.Errorf("after Cleanup: DHCP %v, HTTP %v", dhcp, http)
			}
		})
	}
}

// stripSave drops iptables-save's comments and counters.
func stripSave(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, ":") {
			if i := strings.LastIndex(line, " ["); i > 0 {
				line = line[:i]
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// TestNamespaceSimulationAgreesWithKernel (root): for each rule set, what
// Check says of TFTP (69/udp), a DHCP broadcast (67/udp) and HTTP
// (80/tcp) is what the kernel does with real packets from a client.
func TestNamespaceSimulationAgreesWithKernel(t *testing.T) {
	requireRoot(t, "nft", "iptables-restore")
	type ruleset struct{ name, tool, text string }
	var sets []ruleset
	for _, f := range []string{"rhel9-firewalld", "firewalld-tftp", "plain-drop", "sets-ranges", "two-tables", "dhcp-broadcast", "ingress"} {
		sets = append(sets, ruleset{f, "nft", readTestdata(t, "nft/"+f+".nft")})
	}
	for _, f := range []string{"rhel7-iptables-services", "debian-ufw", "rhel7-firewalld", "debian-raw-drop"} {
		sets = append(sets, ruleset{f, "iptables-restore", readTestdata(t, "iptables/"+f+".save")})
	}
	// Before conntrack (raw priority), every packet's ct state is invalid.
	sets = append(sets,
		ruleset{"nft raw ct state", "nft", "table ip raw {\n chain pre {\n  type filter hook prerouting priority raw; policy accept;\n  ct state invalid udp dport 69 drop\n }\n}\n"},
		ruleset{"iptables raw ctstate", "iptables-restore", "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p tcp -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n"},
	)
	target := lanTarget
	target.Ports = []Port{{Proto: "udp", First: 69}, {Proto: "udp", First: 67, Broadcast: true}, {Proto: "tcp", First: 80}}
	for _, rs := range sets {
		t.Run(rs.name, func(t *testing.T) {
			l := newLAN(t)
			args := []string{rs.tool}
			if rs.tool == "nft" {
				args = append(args, "-f", "-")
			}
			l.server.run(t, []byte(rs.text), args...)
			rep, err := (&Host{Runner: l.server.runner()}).Check(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			// A port Check allows gets time to answer; a blocked one little.
			var waits []time.Duration
			for _, pr := range rep.Ports {
				wait := 400 * time.Millisecond
				if pr.Verdict == Allowed {
					wait = 3 * time.Second
				}
				waits = append(waits, wait)
			}
			tftp, dhcp, http := l.reach(t, waits...)
			for i, reached := range []bool{tftp, dhcp, http} {
				pr := rep.Ports[i]
				if pr.Verdict == Unknown {
					t.Logf("%s (not compared)", summary(pr))
					continue
				}
				if (pr.Verdict == Allowed) != reached {
					t.Errorf("%s, but the kernel answered: %v", summary(pr), reached)
				}
			}
		})
	}
}
