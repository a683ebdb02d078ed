//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ipxeEFIROM is iPXE's EFI driver for QEMU's e1000, from Debian's ipxe-qemu.
const ipxeEFIROM = "/usr/lib/ipxe/qemu/efi-e1000.rom"

// requireUEFI skips (fails in CI) without OVMF and iPXE's EFI ROM.
func requireUEFI(t *testing.T) {
	t.Helper()
	for _, f := range []string{ovmfCode, ovmfVars, ipxeEFIROM} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (Debian packages ovmf, ipxe-qemu): %v", f, err)
			}
			t.Skipf("%s missing: %v", f, err)
		}
	}
}

// bootUEFI powers on a q35 machine with OVMF and the given NIC device options,
// and asserts that the fixture installer ran with the right stage2.
func bootUEFI(t *testing.T, l *lan, s *served, fx fixture, nic string) []string {
	t.Helper()
	vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	copyFile(t, ovmfVars, vars)
	console := runQEMU(t, l.ns, s.console(), qemuTimeout(t, 8*time.Minute),
		"-M", "q35", "-m", "1024", "-display", "none", "-no-reboot", "-boot", "n",
		"-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,file="+vars,
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", l.tap),
		"-device", nic)
	got := checkInstallerRun(t, console, fx.stage2SHA)
	t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
	return got
}

// checkGRUBPath asserts that the firmware booted the distro's shim and GRUB
// out of the ISO, that GRUB read its per-machine config, and that, installed,
// that config now exits to the firmware's next boot entry.
func checkGRUBPath(t *testing.T, l *lan, cli *kickstand, mac string) {
	t.Helper()
	cfg := "grub.cfg-01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-")
	want := map[string]bool{"tftp BOOTX64.EFI ": false, "tftp grubx64.efi ": false, "boot-config " + cfg: false}
	for _, e := range cli.machine(t, mac).Events {
		for w := range want {
			if strings.HasPrefix(e.Kind+" "+e.Detail, w) {
				want[w] = true
			}
		}
	}
	for w, seen := range want {
		if !seen {
			t.Errorf("timeline of %s has no %q event: not the shim → GRUB path", mac, w)
		}
	}
	after := l.ns.run(t, "curl", "-sS", "--max-time", "20", "tftp://"+l.serverIP+"/"+cfg)
	if !strings.Contains(after, "\texit\n") || strings.Contains(after, "linux ") {
		t.Errorf("after the install, %s is:\n%s\nwant a GRUB config that exits to the next boot entry", cfg, after)
	}
}

// checkIPXEScript asserts that the machine fetched its iPXE script and that,
// installed, the script now exits to the firmware's next boot entry.
func checkIPXEScript(t *testing.T, l *lan, cli *kickstand, mac string) {
	t.Helper()
	script := "ipxe/01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-") + ".ipxe"
	served := false
	for _, e := range cli.machine(t, mac).Events {
		if e.Kind == "boot-config" && strings.HasPrefix(e.Detail, script) {
			served = true
		}
	}
	if !served {
		t.Errorf("timeline of %s has no boot-config event for %s: iPXE did not fetch its script", mac, script)
	}
	after := l.ns.run(t, "curl", "-sS", "--max-time", "20", "http://"+l.serverIP+":"+httpPort+"/"+script)
	if !strings.HasPrefix(after, "#!ipxe") || !strings.Contains(after, "\nexit\n") {
		t.Errorf("after the install, %s is:\n%s\nwant an iPXE script that exits to the next boot entry", script, after)
	}
}

// uefiSetup is one UEFI install scenario: the fixture, a CLI on a fresh data
// directory, a LAN and a registered machine.
type uefiSetup struct {
	fx  fixture
	cli *kickstand
	l   *lan
	mac string
}

// newUEFISetup checks the host (tools and firmware), imports the fixture ISO
// and registers one machine.
func newUEFISetup(t *testing.T, tools ...string) uefiSetup {
	t.Helper()
	requireHost(t, tools...)
	requireUEFI(t)
	u := uefiSetup{fx: buildFixture(t), cli: &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()},
		l: newLAN(t, "10.213.7"), mac: randomMAC(t)}
	setupUEFI(t, u.cli, u.fx, u.mac)
	return u
}

// fullDHCP is kickstand's serve arguments for full DHCP on the LAN.
func (u uefiSetup) fullDHCP() []string {
	return []string{"--dhcp", "full", "--dhcp-range", u.l.prefix + ".100-" + u.l.prefix + ".150"}
}

// setupUEFI imports the fixture ISO and registers one machine.
func setupUEFI(t *testing.T, cli *kickstand, fx fixture, mac string) {
	t.Helper()
	cli.run(t, "distro", "import", "rocky9", fx.iso)
	cli.run(t, "profile", "add", "rocky9", "--distro", "rocky9", "--kernel-args", "console=ttyS0")
	cli.run(t, "machine", "add", mac, "--profile", "rocky9", "--hostname", "uefi1")
}

// TestUEFIiPXEInstallFullDHCP installs a UEFI machine (OVMF, q35) whose e1000 runs
// iPXE's EFI driver: kickstand recognises iPXE (option 77/175, arch 7) and hands it
// a per-machine iPXE script over HTTP, which loads kernel and initrd over HTTP.
func TestUEFIiPXEInstallFullDHCP(t *testing.T) {
	u := newUEFISetup(t, "curl")
	fx, cli, l, mac := u.fx, u.cli, u.l, u.mac
	server := startServe(t, l, cli, nil, u.fullDHCP()...)
	got := bootUEFI(t, l, server, fx, "e1000,netdev=n0,mac="+mac+",romfile="+ipxeEFIROM)
	wantCmdlineRepo(t, l, got, "http://"+l.serverIP+":"+httpPort+"/distros/rocky9/")
	checkInstalled(t, l, cli, mac, "dhcp", "kickstart")
	checkIPXEScript(t, l, cli, mac)
}

// TestUEFIFirmwarePXEInstall installs a UEFI machine through OVMF's own PXE stack
// (virtio-net without an option ROM). In full mode kickstand hands it the distro's
// signed shim from the ISO, shim loads the ISO's GRUB from the TFTP root, and GRUB
// reads its per-machine config (kernel over GRUB's http). In proxy mode the LAN's
// DHCP is dnsmasq on another host — GRUB would only see that server's answer — so
// kickstand hands the firmware iPXE (snponly.efi), which asks again as iPXE and
// gets its script.
func TestUEFIFirmwarePXEInstall(t *testing.T) {
	for _, mode := range []string{"full", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			u := newUEFISetup(t, "curl", "dnsmasq")
			fx, cli, l, mac := u.fx, u.cli, u.l, u.mac
			args := u.fullDHCP()
			var logs map[string]string
			if mode == "proxy" {
				peer, iface := l.addPeer(t, l.prefix+".2")
				logs = map[string]string{"dnsmasq": startDnsmasq(t, peer, iface, l.prefix+".50", l.prefix+".99").log}
				args = []string{"--dhcp", "proxy"}
			}
			server := startServe(t, l, cli, logs, args...)
			bootUEFI(t, l, server, fx, "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")
			checkInstalled(t, l, cli, mac, "dhcp", "tftp", "kickstart")
			if mode == "full" {
				checkGRUBPath(t, l, cli, mac)
			} else {
				checkIPXEScript(t, l, cli, mac)
			}
		})
	}
}

// TestUEFIHTTPBootInstall installs a UEFI machine by UEFI HTTP Boot. With
// --uefi-boot http kickstand declines the firmware's PXE, so OVMF moves on
// (PXEv4, then PXEv6 which waits about a minute for DHCPv6, then HTTPv4);
// its HTTPClient request gets the URL of iPXE, which fetches its script.
func TestUEFIHTTPBootInstall(t *testing.T) {
	u := newUEFISetup(t, "curl")
	fx, cli, l, mac := u.fx, u.cli, u.l, u.mac
	server := startServe(t, l, cli, nil, append(u.fullDHCP(), "--uefi-boot", "http")...)
	bootUEFI(t, l, server, fx, "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")
	checkInstalled(t, l, cli, mac, "dhcp", "kickstart")
	httpBoot := false
	for _, e := range cli.machine(t, mac).Events {
		if e.Kind == "http" && strings.HasPrefix(e.Detail, "snponly.efi 200") {
			httpBoot = true
		}
		if e.Kind == "tftp" {
			t.Errorf("with --uefi-boot http the machine still used TFTP: %s", e.Detail)
		}
	}
	if !httpBoot {
		t.Error("the firmware did not fetch snponly.efi over HTTP: no UEFI HTTP Boot")
	}
	checkIPXEScript(t, l, cli, mac)
}
