//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTwoNICInstall installs a BIOS machine with two NICs: the first on a
// network where nothing answers (a tap of its own, on no bridge), the second
// on kickstand's LAN and first in the boot order. The kernel command line
// must name the second (BOOTIF) and the installer must install over it: the
// fixture installer, like anaconda, would otherwise take the first NIC and
// never get an address. The second machine has a static address in the
// inventory: the installer must configure it from ip= on that NIC, not ask
// DHCP. Both through pxelinux (IPAPPEND 2) and through iPXE (--ipxe: its
// ${netX/mac}, the NIC it booted from).
func TestTwoNICInstall(t *testing.T) {
	for _, loader := range []struct {
		name  string
		args  []string
		kinds []string // the machine's timeline after an install
		tftp  bool     // whether the boot used TFTP
	}{
		{"pxelinux", nil, []string{"dhcp", "tftp", "kickstart"}, true},
		{"ipxe", []string{"--ipxe"}, []string{"dhcp", "kickstart"}, false}, // its script over HTTP
	} {
		t.Run(loader.name, func(t *testing.T) {
			u := newSetup(t, "rocky9", rocky9ISO, "curl")
			const dead = "tap1"
			u.l.ns.run(t, "ip", "tuntap", "add", "dev", dead, "mode", "tap")
			u.l.ns.run(t, "ip", "link", "set", dead, "up")
			server := startServe(t, u.l, u.cli, nil, append(u.fullDHCP(), loader.args...)...)

			t.Run("dhcp", func(t *testing.T) {
				got := bootTwoNICs(t, u, server, dead, u.mac)
				if iface := wantNetwork(t, got, u.l.prefix); iface != "eth1" {
					t.Errorf("the installer used %s, want eth1 (the second NIC, which booted)", iface)
				}
				checkInstalled(t, u.l, u.cli, u.mac, loader.kinds...)
				wantTFTP(t, u.cli, u.mac, loader.tftp)
			})

			t.Run("static", func(t *testing.T) {
				mac := randomMAC(t)
				static := u.l.prefix + ".60" // outside kickstand's DHCP range
				u.cli.run(t, "machine", "add", mac, "--profile", u.distro, "--hostname", "node2",
					"--address", static+"/24", "--gateway", u.l.serverIP)
				got := bootTwoNICs(t, u, server, dead, mac)
				want := fmt.Sprintf("static ip %s netmask 255.255.255.0 gateway %s iface eth1", static, u.l.serverIP)
				if !slices.Contains(got, want) {
					t.Errorf("console lacks %q: the installer did not take its address from ip=", markerPrefix+want)
				}
				if iface := wantNetwork(t, got, u.l.prefix); iface != "eth1" {
					t.Errorf("the installer used %s, want eth1", iface)
				}
				if want := "network eth1 " + static + "/24"; !slices.Contains(got, want) {
					t.Errorf("console lacks %q", markerPrefix+want)
				}
				checkInstalled(t, u.l, u.cli, mac, loader.kinds...)
				wantTFTP(t, u.cli, mac, loader.tftp)
			})
		})
	}
}

// bootTwoNICs PXE boots a BIOS machine whose first NIC (e1000, a random
// MAC) is on tap dead and whose second (e1000, mac) is on the LAN and boots
// first (bootindex); it checks the install like bootAndInstall, BOOTIF
// naming mac, and returns the installer's markers.
func bootTwoNICs(t *testing.T, u setup, s *served, dead, mac string) []string {
	t.Helper()
	args := []string{"-M", "pc", "-m", "512", "-display", "none", "-no-reboot",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", dead),
		"-device", "e1000,netdev=n0,addr=0x5,mac=" + randomMAC(t),
		"-netdev", fmt.Sprintf("tap,id=n1,ifname=%s,script=no,downscript=no", u.l.tap),
		"-device", "e1000,netdev=n1,addr=0x6,bootindex=1,mac=" + mac,
	}
	console := runQEMU(t, u.l.ns, s.console(), qemuTimeout(t, 6*time.Minute), args...)
	got := checkInstallerRun(t, console, u.fx.stage2SHA)
	t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
	wantBootIF(t, got, mac)
	return got
}

// wantNetwork returns the interface of the installer's "network IFACE
// ADDR/LEN" marker, checking that it is the one BOOTIF named and that its
// address is on the LAN (prefix, its /24).
func wantNetwork(t *testing.T, markers []string, prefix string) string {
	t.Helper()
	var bootif, iface, addr string
	for _, m := range markers {
		if rest, ok := strings.CutPrefix(m, "bootif "); ok {
			_, bootif, _ = strings.Cut(rest, " iface ")
		}
		if rest, ok := strings.CutPrefix(m, "network "); ok {
			iface, addr, _ = strings.Cut(rest, " ")
		}
	}
	if iface == "" || iface != bootif {
		t.Errorf("the installer configured %q, BOOTIF named %q", iface, bootif)
	}
	if !strings.HasPrefix(addr, prefix+".") {
		t.Errorf("the installer's address on %s is %q, want one in %s.0/24", iface, addr, prefix)
	}
	return iface
}

// wantTFTP checks whether the machine's timeline has TFTP events: with
// --ipxe the iPXE ROM fetches its script over HTTP, so a TFTP event means
// pxelinux booted instead.
func wantTFTP(t *testing.T, cli *kickstand, mac string, want bool) {
	t.Helper()
	if got := cli.machine(t, mac).hasEventKind("tftp"); got != want {
		t.Errorf("machine %s has TFTP events: %v, want %v", mac, got, want)
	}
}
