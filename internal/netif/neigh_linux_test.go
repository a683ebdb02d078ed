package netif

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNeighboursLookup asks for single entries of a neighbour table in a
// network namespace this test makes: a permanent and a stale entry are
// found with their MACs, an address with no entry and one on another
// interface are not.
func TestNeighboursLookup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root (a network namespace)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("SKIPPED: needs ip (iproute2)")
	}
	b := make([]byte, 4)
	rand.Read(b)
	ns := "ksneigh-" + hex.EncodeToString(b)
	run := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
	run("-n", ns, "link", "add", "vc", "type", "veth", "peer", "name", "vd")
	for _, l := range []string{"va", "vb", "vc", "vd"} {
		run("-n", ns, "link", "set", l, "up")
	}
	run("-n", ns, "addr", "add", "10.77.0.1/24", "dev", "va")
	run("-n", ns, "addr", "add", "10.78.0.1/24", "dev", "vc")
	run("-n", ns, "neigh", "add", "10.77.0.2", "lladdr", "02:00:00:00:00:02", "dev", "va", "nud", "permanent")
	run("-n", ns, "neigh", "add", "10.77.0.3", "lladdr", "02:00:00:00:00:03", "dev", "va", "nud", "stale")
	run("-n", ns, "neigh", "add", "10.78.0.4", "lladdr", "02:00:00:00:00:04", "dev", "vc", "nud", "permanent")

	// Into the namespace on this goroutine's thread alone; the thread is
	// never unlocked, so it ends with the test instead of serving others.
	runtime.LockOSThread()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("setns: %v", err)
	}

	n, err := NewNeighbours("va")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, tt := range []struct {
		ip, mac string
	}{
		{"10.77.0.2", "02:00:00:00:00:02"},
		{"10.77.0.3", "02:00:00:00:00:03"},
		{"10.77.0.9", ""},
		{"10.78.0.4", ""}, // on vc, not va
		{"::1", ""},
	} {
		mac, ok := n.Lookup(netip.MustParseAddr(tt.ip))
		if got := mac.String(); ok != (tt.mac != "") || got != tt.mac {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tt.ip, got, ok, tt.mac)
		}
	}
	if n.old {
		t.Error("the kernel answered no single-address request: read /proc/net/arp instead")
	}
}
