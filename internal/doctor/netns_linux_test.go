package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"kickstand/internal/config"
)

// testNetns is a network namespace this test created: nothing in it reaches
// the host's networks.
type testNetns struct{ name string }

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: needs %s", tool)
		}
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	ns := &testNetns{name: "ksdoc-" + hex.EncodeToString(b)}
	run(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() {
		out, _ := exec.Command("ip", "netns", "pids", ns.name).Output()
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL) // only what this test started runs in it
			}
		}
		exec.Command("ip", "netns", "del", ns.name).Run()
	})
	run(t, "ip", "-n", ns.name, "link", "set", "lo", "up")
	return ns
}

// inside runs fn on a thread moved into the namespace: the sockets fn
// opens, the interfaces it looks up and /proc/thread-self/net are the
// namespace's. The thread goes back, or, if it cannot, dies with its
// goroutine.
func (ns *testNetns) inside(fn func()) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return
		}
		defer home.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", ns.name))
		if err != nil {
			done <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- nil
	}()
	return <-done
}

// lanPair links two new namespaces with a veth pair: "probe0" at
// 10.213.9.1/24 in the first, "lan0" at 10.213.9.2/24 in the second.
func lanPair(t *testing.T) (probe, server *testNetns) {
	t.Helper()
	probe, server = newTestNetns(t), newTestNetns(t)
	run(t, "ip", "-n", probe.name, "link", "add", "probe0", "type", "veth", "peer", "name", "lan0", "netns", server.name)
	run(t, "ip", "-n", probe.name, "addr", "add", "10.213.9.1/24", "dev", "probe0")
	run(t, "ip", "-n", server.name, "addr", "add", "10.213.9.2/24", "dev", "lan0")
	run(t, "ip", "-n", probe.name, "link", "set", "probe0", "up")
	run(t, "ip", "-n", server.name, "link", "set", "lan0", "up")
	return probe, server
}

// startDNSMasq runs dnsmasq as the LAN's DHCP server in ns, with extra
// arguments, until the test ends.
func startDNSMasq(t *testing.T, ns *testNetns, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"netns", "exec", ns.name, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=lan0", "--bind-interfaces", "--dhcp-range=10.213.9.50,10.213.9.60,255.255.255.0,1h", "--no-ping",
		"--user=root", "--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file=" + filepath.Join(dir, "pid")}, extra...)
	cmd := exec.Command("ip", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log, _ := os.Create(filepath.Join(dir, "log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Up when it holds port 67 in its namespace.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "exec", ns.name, "ss", "-Hlun", "sport = :67").Output()
		if strings.Contains(string(out), ":67") {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dnsmasq did not start:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The DHCP probe finds the LAN's dnsmasq and names it: its server
// identifier and the address it offers; and doctor reads it as --dhcp full
// and --dhcp proxy should.
func TestProbeFindsDNSMasq(t *testing.T) {
	needRoot(t, "ip", "dnsmasq", "ss")
	probe, server := lanPair(t)
	startDNSMasq(t, server)

	var offers []Offer
	var checks []Check
	var probeErr error
	err := probe.inside(func() {
		ifi, err := net.InterfaceByName("probe0")
		if err != nil {
			probeErr = err
			return
		}
		start := time.Now()
		offers, probeErr = ProbeDHCP(context.Background(), ifi, 2*time.Second)
		if took := time.Since(start); took > 5*time.Second { // bounded: the wait, and slack for a loaded CI host
			probeErr = fmt.Errorf("the probe took %s for a 2s wait", took)
		}
		cfg := config.Default()
		cfg.Interface, cfg.DHCP, cfg.DataDir = "probe0", "full", t.TempDir()
		checks = (&Doctor{Config: cfg, DHCPWait: 2 * time.Second}).Run(context.Background())
	})
	if err != nil || probeErr != nil {
		t.Fatal(err, probeErr)
	}
	if len(offers) != 1 {
		t.Fatalf("%d offers, want dnsmasq's: %+v", len(offers), offers)
	}
	// dnsmasq picks the address from a hash of the client's MAC, which is
	// random per run: any address of its range will do.
	inRange := func(a netip.Addr) bool {
		return a.Compare(netip.MustParseAddr("10.213.9.50")) >= 0 && a.Compare(netip.MustParseAddr("10.213.9.60")) <= 0
	}
	o := offers[0]
	if o.ServerID != netip.MustParseAddr("10.213.9.2") || !inRange(o.Address) || o.GivesBoot() {
		t.Errorf("offer %+v: want server 10.213.9.2 offering an address in 10.213.9.50-60, no boot file", o)
	}
	var dhcp []Check
	for _, c := range checks {
		if c.Name == "dhcp" {
			dhcp = append(dhcp, c)
		}
	}
	offered := func(text string) bool {
		m := regexp.MustCompile(`offers addresses on probe0 \((10\.213\.9\.\d+);`).FindStringSubmatch(text)
		if m == nil {
			return false
		}
		a, err := netip.ParseAddr(m[1])
		return err == nil && inRange(a)
	}
	if len(dhcp) != 1 || dhcp[0].Status != Fail || !strings.Contains(dhcp[0].Text, "10.213.9.2") ||
		!offered(dhcp[0].Text) || !strings.Contains(dhcp[0].Text, "two DHCP servers on one LAN") {
		t.Errorf("doctor --dhcp full beside dnsmasq: %+v", dhcp)
	}
	t.Logf("doctor --dhcp full:\n%s", checksText(checks))
}

// A LAN server that gives a boot file too is a second boot answer in
// --dhcp proxy.
func TestProbeFindsBootingDNSMasq(t *testing.T) {
	needRoot(t, "ip", "dnsmasq", "ss")
	probe, server := lanPair(t)
	startDNSMasq(t, server, "--dhcp-boot=pxelinux.0")
	var offers []Offer
	var probeErr error
	if err := probe.inside(func() {
		ifi, err := net.InterfaceByName("probe0")
		if err != nil {
			probeErr = err
			return
		}
		offers, probeErr = ProbeDHCP(context.Background(), ifi, 2*time.Second)
	}); err != nil || probeErr != nil {
		t.Fatal(err, probeErr)
	}
	checks := InterpretOffers("proxy", "probe0", netip.MustParseAddr("10.213.9.1"), 2*time.Second, offers)
	if len(offers) != 1 || offers[0].BootFile != "pxelinux.0" || len(checks) != 1 || checks[0].Status != Warn ||
		!strings.Contains(checks[0].Text, `boot file "pxelinux.0"`) || !strings.Contains(checks[0].Text, "two boot answers") {
		t.Errorf("offers %+v\nchecks %+v", offers, checks)
	}
}

// With nobody answering, the probe ends after its wait with no offers.
func TestProbeQuietLAN(t *testing.T) {
	needRoot(t, "ip")
	probe, _ := lanPair(t)
	var offers []Offer
	var probeErr error
	start := time.Now()
	if err := probe.inside(func() {
		ifi, err := net.InterfaceByName("probe0")
		if err != nil {
			probeErr = err
			return
		}
		offers, probeErr = ProbeDHCP(context.Background(), ifi, time.Second)
	}); err != nil || probeErr != nil {
		t.Fatal(err, probeErr)
	}
	if len(offers) != 0 || time.Since(start) > 4*time.Second {
		t.Errorf("offers %+v after %s", offers, time.Since(start))
	}
}

func checksText(checks []Check) string {
	var b strings.Builder
	WriteChecks(&b, checks)
	return b.String()
}
