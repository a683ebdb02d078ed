//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestRelayedSubnetFullDHCP: a client on a network behind a router, whose
// dnsmasq relays DHCP to kickstand (--dhcp-relay, as a router's
// ip helper-address would), gets an address from that network's pool
// (--dhcp-subnet) with that network's mask, router and DNS server,
// through the relay; the lease is stored, and a client on kickstand's
// own LAN still gets one from the own pool.
func TestRelayedSubnetFullDHCP(t *testing.T) {
	requireRootNetns(t)
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		t.Fatal("dnsmasq is missing (scripts/deps.sh installs dnsmasq-base)")
	}
	bin := kickstandBinary(t)
	dataDir, logs := t.TempDir(), t.TempDir()
	server, router, client, local := newNetns(t), newNetns(t), newNetns(t), newNetns(t)
	tag := randomHex(t, 3)
	// server lan0 10.217.0.1 — bridge — router up0 10.217.0.2 and a local
	// client; router down0 10.218.0.1 — client cl0.
	runCmd(t, "ip", "link", "add", "kr"+tag+"s", "type", "veth", "peer", "name", "kr"+tag+"r")
	runCmd(t, "ip", "link", "set", "kr"+tag+"s", "netns", server.name)
	runCmd(t, "ip", "link", "set", "kr"+tag+"r", "netns", router.name)
	runCmd(t, "ip", "link", "add", "kr"+tag+"d", "type", "veth", "peer", "name", "kr"+tag+"c")
	runCmd(t, "ip", "link", "set", "kr"+tag+"d", "netns", router.name)
	runCmd(t, "ip", "link", "set", "kr"+tag+"c", "netns", client.name)
	server.run(t, "ip", "link", "add", "br0", "type", "bridge")
	server.run(t, "ip", "link", "set", "kr"+tag+"s", "master", "br0")
	runCmd(t, "ip", "link", "add", "kr"+tag+"l", "type", "veth", "peer", "name", "kr"+tag+"m")
	runCmd(t, "ip", "link", "set", "kr"+tag+"l", "netns", server.name)
	runCmd(t, "ip", "link", "set", "kr"+tag+"m", "netns", local.name)
	server.run(t, "ip", "link", "set", "kr"+tag+"l", "master", "br0")
	for _, c := range []struct {
		ns         *netns
		link, name string
		addr       string
	}{
		{server, "br0", "br0", "10.217.0.1/24"},
		{server, "kr" + tag + "s", "kr" + tag + "s", ""},
		{server, "kr" + tag + "l", "kr" + tag + "l", ""},
		{router, "kr" + tag + "r", "up0", "10.217.0.2/24"},
		{router, "kr" + tag + "d", "down0", "10.218.0.1/24"},
		{client, "kr" + tag + "c", "cl0", "10.218.0.9/24"},
		{local, "kr" + tag + "m", "cl0", "10.217.0.9/24"},
	} {
		if c.name != c.link {
			c.ns.run(t, "ip", "link", "set", c.link, "name", c.name)
		}
		if c.addr != "" {
			c.ns.run(t, "ip", "addr", "add", c.addr, "dev", c.name)
		}
		c.ns.run(t, "ip", "link", "set", c.name, "up")
	}
	server.run(t, "ip", "route", "add", "10.218.0.0/24", "via", "10.217.0.2")
	router.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	relay := startDaemon(t, router, filepath.Join(logs, "dnsmasq.log"), "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--user=root", "--pid-file="+filepath.Join(logs, "dnsmasq.pid"), "--log-dhcp",
		"--dhcp-relay=10.218.0.1,10.217.0.1")
	serve := startDaemon(t, server, filepath.Join(logs, "kickstand.log"), bin, "serve", "--data-dir", dataDir,
		"--interface", "br0", "--dhcp", "full", "--dhcp-range", "10.217.0.100-10.217.0.150",
		"--dhcp-subnet", "10.218.0.0/24,range=10.218.0.100-10.218.0.150,router=10.218.0.1,dns=10.218.0.53",
		"--http-port", "8080", "--tftp-port", "1069", "--ftp-port", "0")
	dumpOnFailure(t, map[string]string{"kickstand serve": serve.log, "dnsmasq relay": relay.log})

	c := newDORAClient(t, client, "cl0")
	defer c.close()
	c.server = netip.MustParseAddr("10.217.0.1")
	c.waitForServer(t, serve)
	mac := net.HardwareAddr{0x02, 0x4b, 0x53, 0x00, 0x0e, 0x01}
	offer, err := c.exchange(c.packet(dhcpv4.MessageTypeDiscover, mac, netip.Addr{}), dhcpv4.MessageTypeOffer, 5*time.Second)
	if err != nil {
		t.Fatalf("through the relay: %v", err)
	}
	ip, _ := netip.AddrFromSlice(offer.YourIPAddr.To4())
	if !netip.MustParsePrefix("10.218.0.0/24").Contains(ip) || ip.Less(netip.MustParseAddr("10.218.0.100")) {
		t.Fatalf("offered %s through the relay, want one of the relayed pool 10.218.0.100-150", ip)
	}
	if r := net.IP(offer.Options.Get(dhcpv4.OptionRouter)); !r.Equal(net.ParseIP("10.218.0.1")) {
		t.Errorf("router %v, want the relayed network's 10.218.0.1", r)
	}
	if d := net.IP(offer.Options.Get(dhcpv4.OptionDomainNameServer)); !d.Equal(net.ParseIP("10.218.0.53")) {
		t.Errorf("DNS %v, want 10.218.0.53", d)
	}
	if m := net.IP(offer.Options.Get(dhcpv4.OptionSubnetMask)).String(); m != "255.255.255.0" {
		t.Errorf("mask %s, want 255.255.255.0", m)
	}
	ack, err := c.exchange(c.packet(dhcpv4.MessageTypeRequest, mac, ip), dhcpv4.MessageTypeAck, 5*time.Second)
	if err != nil {
		t.Fatalf("REQUEST through the relay: %v", err)
	}
	if got, _ := netip.AddrFromSlice(ack.YourIPAddr.To4()); got != ip {
		t.Fatalf("ACK of %s, offered %s", got, ip)
	}
	// The lease reaches the store (the journal moves it within 100 ms).
	if err := waitFor(5*time.Second, 100*time.Millisecond, func() error {
		if got := storedLeases(t, dataDir)[mac.String()]; got != ip {
			return fmt.Errorf("the store has %v for %s, want %s", got, mac, ip)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s got %s through the relay at 10.218.0.1", mac, ip)

	// The own LAN keeps its own pool.
	lc := newDORAClient(t, local, "cl0")
	defer lc.close()
	lc.server = netip.MustParseAddr("10.217.0.1")
	got, ok := lc.dora(net.HardwareAddr{0x02, 0x4b, 0x53, 0x00, 0x0e, 0x02}, 5*time.Second)
	if !ok || !netip.MustParsePrefix("10.217.0.0/24").Contains(got) {
		t.Fatalf("a client on kickstand's own LAN got %v (%v), want an address of 10.217.0.100-150", got, ok)
	}
}

// TestBIOSInstallThroughRelay installs a BIOS machine that sits on a
// network of its own (10.219.0.0/24) behind a router, which relays DHCP
// (dnsmasq --dhcp-relay) and routes TFTP and HTTP to kickstand's LAN:
//   - full: kickstand gives the address, from the relayed network's pool
//     (--dhcp-subnet);
//   - proxy: the address comes from the site's DHCP server on kickstand's
//     LAN (dnsmasq, serving the relayed network), and kickstand answers
//     the relayed PXE request with boot information only; the router
//     relays to both.
func TestBIOSInstallThroughRelay(t *testing.T) {
	for _, mode := range []string{"full", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			requireHost(t, "curl", "dnsmasq")
			fx := buildFixture(t)
			cli := &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()}
			l := newLAN(t, "10.213.9")
			mac := randomMAC(t)
			cli.run(t, "distro", "import", "rocky9", fx.iso)
			cli.run(t, "profile", "add", "rocky9", "--distro", "rocky9", "--kernel-args", "console=ttyS0")
			cli.run(t, "machine", "add", mac, "--profile", "rocky9", "--hostname", "far1")

			// The router: lan0 on kickstand's LAN, br1 with the machine's tap
			// on the far network.
			router, _ := l.addPeer(t, l.prefix+".2")
			router.run(t, "ip", "link", "add", "br1", "type", "bridge", "forward_delay", "0", "stp_state", "0")
			router.run(t, "ip", "addr", "add", "10.219.0.1/24", "dev", "br1")
			router.run(t, "ip", "tuntap", "add", "dev", "tap1", "mode", "tap")
			router.run(t, "ip", "link", "set", "tap1", "master", "br1")
			router.run(t, "ip", "link", "set", "tap1", "up")
			router.run(t, "ip", "link", "set", "br1", "up")
			router.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
			l.ns.run(t, "ip", "route", "add", "10.219.0.0/24", "via", l.prefix+".2")

			logs := t.TempDir()
			relayArgs := []string{"dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
				"--pid-file=" + filepath.Join(logs, "relay.pid"), "--log-dhcp", "--dhcp-relay=10.219.0.1," + l.serverIP}
			extra := map[string]string{"dnsmasq relay": filepath.Join(logs, "relay.log")}
			var serveArgs []string
			var siteLeases string
			if mode == "full" {
				serveArgs = []string{"--dhcp", "full", "--dhcp-range", l.prefix + ".100-" + l.prefix + ".150",
					"--dhcp-subnet", "10.219.0.0/24,range=10.219.0.100-10.219.0.150,router=10.219.0.1"}
			} else {
				// The site's DHCP server, on kickstand's LAN, gives addresses on
				// the far network; the router relays to it and to kickstand.
				site, iface := l.addPeer(t, l.prefix+".3")
				site.run(t, "ip", "route", "add", "10.219.0.0/24", "via", l.prefix+".2")
				dir := t.TempDir()
				siteLeases = dir + "/leases"
				startDaemon(t, site, filepath.Join(logs, "site-dhcp.log"), "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
					"--port=0", "--interface="+iface, "--user=root", "--dhcp-range=10.219.0.50,10.219.0.99,255.255.255.0,12h",
					"--dhcp-option=3,10.219.0.1", "--dhcp-leasefile="+dir+"/leases", "--pid-file="+dir+"/dnsmasq.pid", "--log-dhcp")
				extra["site DHCP (dnsmasq)"] = filepath.Join(logs, "site-dhcp.log")
				relayArgs = append(relayArgs, "--dhcp-relay=10.219.0.1,"+l.prefix+".3")
				serveArgs = []string{"--dhcp", "proxy"}
			}
			startDaemon(t, router, filepath.Join(logs, "relay.log"), relayArgs...)
			server := startServe(t, l, cli, extra, serveArgs...)

			console := runQEMU(t, router, server.console(), qemuTimeout(t, 6*time.Minute), pxeBootArgs("tap1", mac)...)
			got := checkInstallerRun(t, console, fx.stage2SHA)
			t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
			wantBootIF(t, got, mac)
			m := cli.machine(t, mac)
			if err := waitFor(15*time.Second, 500*time.Millisecond, func() error {
				if m = cli.machine(t, mac); m.State != "installed" {
					return fmt.Errorf("machine %s state %q, want installed", mac, m.State)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			for _, kind := range []string{"dhcp", "tftp", "kickstart"} {
				if !m.hasEventKind(kind) {
					t.Errorf("machine %s has no event whose kind contains %q", mac, kind)
				}
			}
			// The machine was on the far network all along: its address came
			// from the relayed network's pool.
			if mode == "full" {
				if ip := storedLeases(t, cli.dataDir)[strings.ToLower(mac)]; !netip.MustParsePrefix("10.219.0.0/24").Contains(ip) {
					t.Errorf("kickstand's lease of %s is %v, want one of the relayed network 10.219.0.0/24", mac, ip)
				}
			} else if leases, err := os.ReadFile(siteLeases); err != nil || !regexp.MustCompile(`(?i)`+regexp.QuoteMeta(mac)+` 10\.219\.0\.`).Match(leases) {
				t.Errorf("the site's DHCP server gave %s no address of 10.219.0.0/24 (%v):\n%s", mac, err, leases)
			}
		})
	}
}
