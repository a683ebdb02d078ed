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

// bootUEFI powers on a q35 machine with OVMF and the given NIC device options
// (and further QEMU arguments), and asserts that the fixture installer ran
// with the right stage2 over the NIC it booted from (mac= of nic).
func bootUEFI(t *testing.T, l *lan, s *served, fx fixture, nic string, extra ...string) []string {
	t.Helper()
	return bootFirmware(t, l, s, fx, ovmf{code: ovmfCode, vars: ovmfVars}, nic, extra...)
}

// ovmf is an OVMF build: its code, the variables a machine starts from, and
// whether it is the Secure Boot build (SMM, flash writable only from SMM).
type ovmf struct {
	code, vars string
	secure     bool
}

// bootFirmware is bootUEFI with the given OVMF.
func bootFirmware(t *testing.T, l *lan, s *served, fx fixture, fw ovmf, nic string, extra ...string) []string {
	t.Helper()
	console := runQEMU(t, l.ns, s.console(), qemuTimeout(t, 8*time.Minute), firmwareArgs(t, l, fw, nic, extra...)...)
	got := checkInstallerRun(t, console, fx.stage2SHA)
	t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
	if _, mac, ok := strings.Cut(nic, "mac="); ok {
		mac, _, _ = strings.Cut(mac, ",")
		wantBootIF(t, got, mac)
	} else {
		t.Fatalf("NIC %q has no mac=: the boot NIC can not be checked", nic)
	}
	return got
}

// firmwareArgs are QEMU's arguments for a q35 machine with OVMF fw (a fresh copy of
// its variables), the NIC device nic on the LAN's tap and nothing to boot but the
// network, and extra.
func firmwareArgs(t *testing.T, l *lan, fw ovmf, nic string, extra ...string) []string {
	t.Helper()
	vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	copyFile(t, fw.vars, vars) // a fresh copy: the firmware writes its variables
	machine := []string{"-M", "q35"}
	if fw.secure {
		machine = []string{"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"}
	}
	return append(append(machine, "-m", "1024", "-display", "none", "-no-reboot", "-boot", "n",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+fw.code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", l.tap),
		"-device", nic), extra...)
}

// checkGRUBPath asserts that the firmware booted the distro's shim and GRUB
// out of the ISO, that GRUB read its per-machine config and loaded kernel and
// initrd over the protocol its GRUB has (kernelOver: "http" or "tftp"), and
// that, installed, that config now exits to the firmware's next boot entry.
func checkGRUBPath(t *testing.T, l *lan, u setup, kernelOver string) {
	t.Helper()
	cfg := "grub.cfg-01-" + strings.ReplaceAll(strings.ToLower(u.mac), ":", "-")
	kernel := kernelOver + " distros/" + u.distro + "/images/pxeboot/vmlinuz "
	want := map[string]bool{"tftp BOOTX64.EFI ": false, "tftp grubx64.efi ": false, "boot-config " + cfg: false, kernel: false}
	for _, e := range u.cli.machine(t, u.mac).Events {
		for w := range want {
			if strings.HasPrefix(e.Kind+" "+e.Detail, w) {
				want[w] = true
			}
		}
	}
	for w, seen := range want {
		if !seen {
			t.Errorf("timeline of %s has no %q event: not the shim → GRUB path, or the kernel not over %s", u.mac, w, kernelOver)
		}
	}
	after := l.asMachine(t, u.mac).run(t, "curl", "-sS", "--max-time", "20", "tftp://"+l.serverIP+"/"+cfg)
	if !strings.Contains(after, "\texit\n") || strings.Contains(after, "linux") {
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
	after := l.asMachine(t, mac).run(t, "curl", "-sS", "--fail", "--max-time", "20", "http://"+l.serverIP+":"+httpPort+"/"+script)
	if !strings.HasPrefix(after, "#!ipxe") || !strings.Contains(after, "\nexit\n") {
		t.Errorf("after the install, %s is:\n%s\nwant an iPXE script that exits to the next boot entry", script, after)
	}
}

// setup is one install scenario: the fixture, a CLI on a fresh data
// directory, a LAN and a machine registered to install distro.
type setup struct {
	fx     fixture
	cli    *kickstand
	l      *lan
	mac    string
	distro string
}

// newSetup checks the host's tools, imports one of the fixture's ISOs as
// distro, adds a profile of that name and registers one machine to it.
func newSetup(t *testing.T, distro string, iso func(fixture) string, tools ...string) setup {
	t.Helper()
	requireHost(t, tools...)
	u := setup{fx: buildFixture(t), cli: &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()},
		l: newLAN(t, "10.213.7"), mac: randomMAC(t), distro: distro}
	u.cli.run(t, "distro", "import", distro, iso(u.fx))
	u.cli.run(t, "profile", "add", distro, "--distro", distro, "--kernel-args", "console=ttyS0")
	u.cli.run(t, "machine", "add", u.mac, "--profile", distro, "--hostname", "node1")
	return u
}

func rocky9ISO(fx fixture) string { return fx.iso }
func rocky8ISO(fx fixture) string { return fx.iso8 }

// newUEFISetup is newSetup with the Rocky 9 ISO, on a host with OVMF.
func newUEFISetup(t *testing.T, tools ...string) setup {
	t.Helper()
	return newUEFISetupISO(t, "rocky9", rocky9ISO, tools...)
}

// newUEFISetupISO is newSetup on a host with OVMF.
func newUEFISetupISO(t *testing.T, distro string, iso func(fixture) string, tools ...string) setup {
	t.Helper()
	requireUEFI(t)
	return newSetup(t, distro, iso, tools...)
}

// fullDHCP is kickstand's serve arguments for full DHCP on the LAN.
func (u setup) fullDHCP() []string {
	return []string{"--dhcp", "full", "--dhcp-range", u.l.prefix + ".100-" + u.l.prefix + ".150"}
}

// dhcp returns kickstand's serve arguments for mode: "full", or "proxy" with
// dnsmasq started on another host of the LAN as its DHCP server (and its log
// to show on failure).
func (u setup) dhcp(t *testing.T, mode string) ([]string, map[string]string) {
	t.Helper()
	if mode != "proxy" {
		return u.fullDHCP(), nil
	}
	peer, iface := u.l.addPeer(t, u.l.prefix+".2")
	dnsmasq := startDnsmasq(t, peer, iface, u.l.prefix+".50", u.l.prefix+".99")
	return []string{"--dhcp", "proxy"}, map[string]string{"dnsmasq": dnsmasq.log}
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
// reads its per-machine config: kernel over GRUB's http with linux/initrd from the
// Rocky 9 media, over TFTP with linuxefi/initrdefi from the Rocky 8 media (whose
// GRUB has no http). In proxy mode the LAN's DHCP is dnsmasq on another host, and
// the fixture's GRUB (upstream's) would only see that server's answer: with
// --proxy-shim off kickstand hands the firmware iPXE (snponly.efi), which asks
// again as iPXE and gets its script. (A GRUB that takes proxy offers gets shim in
// proxy mode: TestSecureBootInstall.)
func TestUEFIFirmwarePXEInstall(t *testing.T) {
	for _, tc := range []struct {
		name, mode, distro string
		iso                func(fixture) string
		kernelOver         string
	}{
		{"full", "full", "rocky9", rocky9ISO, "http"},
		{"full RHEL 8 GRUB", "full", "rocky8", rocky8ISO, "tftp"},
		{"proxy", "proxy", "rocky9", rocky9ISO, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUEFISetupISO(t, tc.distro, tc.iso, "curl", "dnsmasq")
			fx, cli, l, mac := u.fx, u.cli, u.l, u.mac
			args, logs := u.dhcp(t, tc.mode)
			if tc.mode == "proxy" {
				args = append(args, "--proxy-shim", "off")
			}
			server := startServe(t, l, cli, logs, args...)
			bootUEFI(t, l, server, fx, "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")
			checkInstalled(t, l, cli, mac, "dhcp", "tftp", "kickstart")
			if tc.mode == "full" {
				checkGRUBPath(t, l, u, tc.kernelOver)
			} else {
				checkIPXEScript(t, l, cli, mac)
			}
		})
	}
}

// TestUEFIHTTPBootInstall installs a UEFI machine by UEFI HTTP Boot through iPXE
// (--ipxe; without it the media's shim is chosen: TestSecureBootInstall), with kickstand
// as the LAN's DHCP server and as proxyDHCP beside dnsmasq. With --uefi-boot http
// kickstand declines the firmware's PXE with a boot file that TFTP does not have,
// which fails it at once, so OVMF moves on to HTTPv4 (PXEv6, which
// would wait about a minute for DHCPv6 in between, is switched off through fw_cfg:
// it only slows the test); its HTTPClient request gets the URL of iPXE, which
// fetches its script.
func TestUEFIHTTPBootInstall(t *testing.T) {
	for _, mode := range []string{"full", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			u := newUEFISetup(t, "curl", "dnsmasq")
			fx, cli, l, mac := u.fx, u.cli, u.l, u.mac
			args, logs := u.dhcp(t, mode)
			server := startServe(t, l, cli, logs, append(args, "--uefi-boot", "http", "--ipxe")...)
			bootUEFI(t, l, server, fx, "virtio-net-pci,netdev=n0,mac="+mac+",romfile=",
				"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no")
			checkInstalled(t, l, cli, mac, "dhcp", "kickstart")
			httpBoot, pxeDiscovers := false, 0
			for _, e := range cli.machine(t, mac).Events {
				switch {
				case e.Kind == "http" && strings.HasPrefix(e.Detail, "snponly.efi 200"):
					httpBoot = true
				case e.Kind == "dhcp-discover" && strings.Contains(e.Detail, "PXEClient:Arch:00007") && !httpBoot:
					pxeDiscovers++
				case e.Kind == "tftp" && !strings.HasPrefix(e.Detail, "uefi-pxe-declined"):
					t.Errorf("with --uefi-boot http the machine still used TFTP: %s", e.Detail)
				}
			}
			// Declined fast: the firmware's PXE gives up after one exchange,
			// not after a minute of repeated discovers.
			if pxeDiscovers > 2 {
				t.Errorf("the firmware's PXE sent %d discovers before HTTP Boot: --uefi-boot http did not decline it fast", pxeDiscovers)
			}
			if !httpBoot {
				t.Error("the firmware did not fetch snponly.efi over HTTP: no UEFI HTTP Boot")
			}
			checkIPXEScript(t, l, cli, mac)
		})
	}
}
