//go:build e2e

// What UEFI clients do on the wire — the spec for kickstand's UEFI support, as seen
// by TestFixtureUEFIClassicPXE (its timeline, logged with -v) with Debian 12's OVMF
// 2022.11, shim-signed 1.51+16.1, GRUB 2.06-13 (grub-mkimage -p ''), dnsmasq 2.90, QEMU
// 7.2 without KVM. Times are seconds after QEMU starts.
//
// OVMF's own PXE (virtio-net-pci,romfile=):
//   - DHCPDISCOVER at ~4.2 s: 60="PXEClient:Arch:00007:UNDI:003000", 93=0x0007,
//     94=01 03 00, 97=17 zero bytes (type 0 + nil GUID); 55 asks for 1-6 12 13 15 17 18
//     22 23 28 40-43 50 51 54 58-60 66 67 97 128-135. No option 77. (dnsmasq offered
//     ~3 s later — probably its ping check — and OVMF requested within 0.5 s.)
//   - Boot file from option 67 (dnsmasq sent it there, NUL-terminated, file field
//     empty) and the server from siaddr; OVMF took both.
//   - TFTP: "BOOTX64.EFI" twice — first tsize=0 blksize=1468 windowsize=4 (size only,
//     aborted after the OACK), then blksize=1468 windowsize=4. The name is exactly the
//     boot file's, no leading slash. dnsmasq ignores windowsize (OACK has none); fine.
// shim 16.1 (BOOTX64.EFI), each request blksize=512 windowsize=4, no tsize, bare names:
//   revocations_sku.efi, revocations_sbat.efi, shim_certificate_0.efi (all "not
//   found", harmless), then grubx64.efi — from the TFTP ROOT even when the boot file
//   was rocky9/BOOTX64.EFI: shim ignores its own directory. A missing grubx64.efi is
//   retried once after 2 s, then OVMF moves on to the next boot option.
// GRUB (grubx64.efi, -p ''), blksize=1024 tsize=0, no windowsize:
//   - prefix = cmdpath = the boot file's directory: "(tftp,SERVER)" for BOOTX64.EFI,
//     "(tftp,SERVER)rocky9" — no slash — for rocky9/BOOTX64.EFI. So names are asked
//     for as "/grub.cfg-…" in the first case and "rocky9/grub.cfg-…" in the second:
//     the TFTP server must treat a leading slash as nothing.
//   - Config search, stopping at the first that exists: grub.cfg-01-<mac, lower case,
//     dashes>, grub.cfg-<IP in upper hex, 8 digits>, then that name shortened one digit
//     at a time down to grub.cfg-0, then grub.cfg. Between finding the file and reading
//     it GRUB asks for x86_64-efi/command.lst, fs.lst, crypto.lst, terminal.lst under
//     the prefix (not found: harmless), then fetches the found config a second time.
//   - Variables: net_default_server = next_server = pxe_default_server = siaddr,
//     net_default_ip, net_default_mac, net_efinet0_boot_file = the DHCP boot file.
//   - `linux (tftp,IP)/path` and `(http,IP:PORT)/path` both work; with http GRUB GETs
//     vmlinuz then initrd.img. Debian's GRUB 2.06 has both `linux`/`initrd` and
//     `linuxefi`/`initrdefi` (linuxefi.mod; `linux` hands over to linuxefi under
//     Secure Boot), so configs may use either; plain `linux` is portable.
//   - Timing: GRUB starts ~0.5 s after shim's request for it and has read its config
//     within 0.2 s; kernel and initrd take a few seconds over TFTP (blksize 1024) or
//     HTTP; the installer's init runs at ~17 s and the whole boot is ~18 s.
// OVMF's fallback when PXEv4 fails (-boot n): PXEv4 gave up at 12 s; PXEv6 then waits
//   ~63 s for a DHCPv6 answer (PXE-E16); HTTPv4 sends DISCOVERs with
//   60="HTTPClient:Arch:00016:UNDI:003000", 93=0x0010 (retries at +4, +8, +16 s) and
//   gives up after ~60 s when offers carry no URL; HTTPv6 ~63 s more; then the EFI
//   shell, which waits forever: a failed UEFI boot takes ~200 s to reach the shell.
// iPXE's EFI driver (e1000,romfile=/usr/lib/ipxe/qemu/efi-e1000.rom, iPXE 2019):
//   - DISCOVER at ~6.3 s, retried at +1 and +3 s: 60="PXEClient:Arch:00007:UNDI:003010",
//     93=0x0007, 94=01 03 0a, 77="iPXE" (raw, not RFC 3004), 175 = encapsulated
//     b1:bus-id PCI 8086:100e, eb:version 1.0.0, one-byte flags 17 DNS, 24 EFI,
//     13 HTTP, 11 iSCSI, 27 menu, 29 NFS, 15 TFTP, 12 AoE; 55 adds 175 and 203.
//   - Given an http:// URL as boot file it GETs the script ~13 s after the ACK (the
//     dots of "Configuring (net0 …)"; probably IPv6 router discovery on a LAN without
//     routers — not verified), then kernel and initrd over the same connection, and
//     the EFI stub reports "Loaded initrd from command line option": the kernel line
//     carries initrd=initrd.img (without it, per the issue, no initrd; not tried here).

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OVMF from Debian's ovmf package: the code read-only, a copy of the variables per
// machine, as libvirt does.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// TestFixtureUEFIClassicPXE boots the fixture the UEFI way through the classic stack:
// OVMF's own PXE (no iPXE ROM) gets BOOTX64.EFI — the DVD's shim — from dnsmasq's
// DHCP and TFTP; shim fetches grubx64.efi, GRUB its config, and the config the kernel
// and initrd: over TFTP, over HTTP, and with the boot file in a directory. A fourth
// machine runs iPXE's EFI driver instead and gets an iPXE script's URL. Like
// TestFixtureInstallerClassicPXE it tells firmware and fixture trouble apart from
// kickstand's, and it records on the timeline what each stage asks for and when
// (the findings above).
func TestFixtureUEFIClassicPXE(t *testing.T) {
	requireHost(t, "dnsmasq", "xorriso")
	requireUEFI(t)
	fx := buildFixture(t)
	l := newLAN(t, "10.213.10")
	ws := startWireServer(t, l, fx.tree)

	tftpRoot := t.TempDir()
	extractFromISO(t, fx.iso, "/EFI/BOOT", tftpRoot)
	for _, f := range []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"} {
		copyFile(t, filepath.Join(fx.tree, f), filepath.Join(tftpRoot, f))
	}
	// One machine gets its boot file from a directory, as from a per-distro folder.
	inDirMAC := randomMAC(t)
	// One machine has iPXE's EFI driver: dnsmasq hands it an iPXE script's URL.
	ipxeMAC := randomMAC(t)
	mkdirCopy(t, tftpRoot, "rocky9", "BOOTX64.EFI", "grubx64.efi")
	dir := t.TempDir()
	dnsmasq := startDaemon(t, l.ns, dir+"/dnsmasq.log", "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--interface="+l.bridge, "--bind-interfaces", "--user=root",
		"--dhcp-range="+l.prefix+".100,"+l.prefix+".150,12h", "--dhcp-leasefile="+dir+"/leases",
		"--pid-file="+dir+"/dnsmasq.pid", "--log-dhcp", "--log-facility=-",
		"--enable-tftp", "--tftp-root="+tftpRoot,
		"--dhcp-match=set:efi64,option:client-arch,7", "--dhcp-userclass=set:ipxe,iPXE",
		"--dhcp-host="+inDirMAC+",set:indir",
		"--dhcp-boot=tag:efi64,tag:!indir,tag:!ipxe,BOOTX64.EFI",
		"--dhcp-boot=tag:efi64,tag:indir,tag:!ipxe,rocky9/BOOTX64.EFI",
		"--dhcp-boot=tag:ipxe,"+ws.base+"/ks/ipxe-script")
	dumpOnFailure(t, map[string]string{"dnsmasq": dnsmasq.log})

	// What GRUB knows about its netboot, for the record.
	const grubFacts = "echo \"KSGRUB: prefix=$prefix root=$root cmdpath=$cmdpath" +
		" server=$net_default_server ip=$net_default_ip mac=$net_default_mac\"\n" +
		"echo \"KSGRUB: boot_file=$net_efinet0_boot_file next_server=$net_efinet0_next_server" +
		" dhcp_server_name=$net_efinet0_dhcp_server_name pxe_default_server=$pxe_default_server\"\n"
	cmdline := func(name string) string {
		token := "tok-" + name
		ks := ws.setKickstart(name, sampleKickstart(ws.base+"/tree/", ws.base+"/phone-home/"+token, "true"))
		return "console=ttyS0 inst.ks=" + ks + " inst.repo=" + ws.base + "/tree/"
	}

	t.Run("grub.cfg and kernel over TFTP", func(t *testing.T) {
		// Only the last name GRUB tries exists, so that the log shows every one before.
		writeFile(t, filepath.Join(tftpRoot, "grub.cfg"), grubFacts+
			"echo KSGRUB: grub.cfg\n"+
			"linux (tftp,"+l.serverIP+")/images/pxeboot/vmlinuz "+cmdline("tftp")+"\n"+
			"initrd (tftp,"+l.serverIP+")/images/pxeboot/initrd.img\n"+
			"boot\n")
		defer os.Remove(filepath.Join(tftpRoot, "grub.cfg"))
		mac := randomMAC(t)
		tl, got := bootOVMF(t, l, fx, mac, "virtio-net-pci,romfile=")
		_, phones := ws.take()
		wantPhoneHomes(t, phones, "tok-tftp", "state=installing", "state=installed")
		wantInOrder(t, tl, "wire", "TFTP RRQ BOOTX64.EFI ", "TFTP RRQ grubx64.efi ",
			"TFTP RRQ /grub.cfg-01-"+strings.ReplaceAll(mac, ":", "-")+" ", "TFTP RRQ /grub.cfg ",
			"TFTP RRQ /images/pxeboot/vmlinuz ", "TFTP RRQ /images/pxeboot/initrd.img ")
		t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
		t.Logf("timeline:\n%s", tl)
	})

	t.Run("grub.cfg-01-MAC and kernel over HTTP", func(t *testing.T) {
		mac := randomMAC(t)
		perMAC := filepath.Join(tftpRoot, "grub.cfg-01-"+strings.ReplaceAll(mac, ":", "-"))
		writeFile(t, perMAC, grubFacts+
			"echo KSGRUB: grub.cfg-01-MAC\n"+
			"linux (http,"+l.serverIP+":8080)/tree/images/pxeboot/vmlinuz "+cmdline("http")+"\n"+
			"initrd (http,"+l.serverIP+":8080)/tree/images/pxeboot/initrd.img\n"+
			"boot\n")
		defer os.Remove(perMAC)
		tl, got := bootOVMF(t, l, fx, mac, "virtio-net-pci,romfile=")
		requests, phones := ws.take()
		wantRequests(t, requests, "GET /tree/images/pxeboot/vmlinuz 200", "GET /tree/images/pxeboot/initrd.img 200")
		wantPhoneHomes(t, phones, "tok-http", "state=installing", "state=installed")
		wantInOrder(t, tl, "wire", "TFTP RRQ grubx64.efi ", "TFTP RRQ /grub.cfg-01-",
			"HTTP GET /tree/images/pxeboot/vmlinuz ", "HTTP GET /tree/images/pxeboot/initrd.img ")
		t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
		t.Logf("timeline:\n%s", tl)
	})

	t.Run("boot file in a directory", func(t *testing.T) {
		// shim asks for grubx64.efi at the root, not in its own directory (see above).
		writeFile(t, filepath.Join(tftpRoot, "rocky9", "grub.cfg"), grubFacts+
			"echo KSGRUB: rocky9/grub.cfg\n"+
			"linux (http,"+l.serverIP+":8080)/tree/images/pxeboot/vmlinuz "+cmdline("indir")+"\n"+
			"initrd (http,"+l.serverIP+":8080)/tree/images/pxeboot/initrd.img\n"+
			"boot\n")
		writeFile(t, filepath.Join(tftpRoot, "grub.cfg"), "echo KSGRUB: root grub.cfg\n")
		defer os.Remove(filepath.Join(tftpRoot, "grub.cfg"))
		tl, got := bootOVMF(t, l, fx, inDirMAC, "virtio-net-pci,romfile=")
		_, phones := ws.take()
		wantPhoneHomes(t, phones, "tok-indir", "state=installing", "state=installed")
		wantInOrder(t, tl, "wire", "TFTP RRQ rocky9/BOOTX64.EFI ", "TFTP RRQ grubx64.efi ",
			"TFTP RRQ rocky9/grub.cfg-01-", "TFTP RRQ rocky9/grub.cfg ")
		t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
		t.Logf("timeline:\n%s", tl)
	})

	t.Run("iPXE EFI ROM and script over HTTP", func(t *testing.T) {
		const rom = "/usr/lib/ipxe/qemu/efi-e1000.rom"
		if _, err := os.Stat(rom); err != nil {
			t.Skipf("needs the ipxe-qemu package: %v", err)
		}
		// iPXE on EFI hands the kernel the initrd only if the command line names it.
		base := ws.base + "/tree/images/pxeboot/"
		ws.setKickstart("ipxe-script", "#!ipxe\n"+
			"echo KSIPXE: ${buildarch} ${platform} ${manufacturer} asset=${asset}\n"+
			"kernel "+base+"vmlinuz initrd=initrd.img "+cmdline("ipxe")+"\n"+
			"initrd "+base+"initrd.img\n"+
			"boot\n")
		tl, got := bootOVMF(t, l, fx, ipxeMAC, "e1000,romfile="+rom)
		requests, phones := ws.take()
		wantRequests(t, requests, "GET /ks/ipxe-script 200",
			"GET /tree/images/pxeboot/vmlinuz 200", "GET /tree/images/pxeboot/initrd.img 200")
		wantPhoneHomes(t, phones, "tok-ipxe", "state=installing", "state=installed")
		wantInOrder(t, tl, "wire", `77="iPXE"`, "HTTP GET /ks/ipxe-script ")
		t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
		t.Logf("timeline:\n%s", tl)
	})
}

// wantInOrder fails the test unless source's timeline entries contain each of
// substrs, each in an entry after the one the previous matched.
func wantInOrder(t *testing.T, tl *timeline, source string, substrs ...string) {
	t.Helper()
	texts := tl.matching(source, "")
	i := 0
	for _, text := range texts {
		if i < len(substrs) && strings.Contains(text, substrs[i]) {
			i++
		}
	}
	if i < len(substrs) {
		t.Errorf("%s timeline lacks %q (after %q)", source, substrs[i], substrs[:i])
	}
}

// mkdirCopy copies the named files of dir into dir/sub.
func mkdirCopy(t *testing.T, dir, sub string, names ...string) {
	t.Helper()
	for _, name := range names {
		copyFile(t, filepath.Join(dir, name), filepath.Join(dir, sub, name))
	}
}

// bootOVMF boots a q35 machine with OVMF and a NIC of the given -device (without its
// netdev and mac) on the LAN's tap, with nothing to boot but the network, and asserts
// that the fixture installer ran. It returns the boot's timeline and the installer's
// markers.
func bootOVMF(t *testing.T, l *lan, fx fixture, mac, nic string) (*timeline, []string) {
	t.Helper()
	// QEMU's option syntax splits on commas: none may be in a path (subtest names
	// are, in t.TempDir).
	if strings.Contains(t.Name(), ",") {
		t.Fatalf("test name %q has a comma, which breaks QEMU's options", t.Name())
	}
	dir := t.TempDir()
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	copyFile(t, ovmfVars, vars)
	consolePath := filepath.Join(dir, "console.log")
	tl := newTimeline(t)
	tl.sniff(t, l.ns, l.bridge)
	tl.follow(consolePath)
	dumpOnFailure(t, map[string]string{"console": consolePath})
	// A good boot takes ~20-35 s; a failed one reaches OVMF's shell after ~200 s.
	console := runQEMU(t, l.ns, consolePath, qemuTimeout(t, 4*time.Minute),
		"-M", "q35", "-m", "1024", "-display", "none", "-no-reboot", "-boot", "n",
		"-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,file="+vars,
		"-netdev", "tap,id=n0,ifname="+l.tap+",script=no,downscript=no",
		"-device", nic+",netdev=n0,mac="+mac)
	tl.close()
	got := checkInstallerRun(t, console, fx.stage2SHA)
	if t.Failed() {
		t.Logf("timeline:\n%s", tl)
	}
	return tl, got
}

// extractFromISO copies the directory isoDir of an ISO image into dir, with xorriso.
func extractFromISO(t *testing.T, iso, isoDir, dir string) {
	t.Helper()
	out, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", isoDir, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso -extract %s from %s: %v\n%s", isoDir, iso, err, out)
	}
	// xorriso keeps the ISO's read-only modes; the test must be able to clean up.
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil {
			_ = os.Chmod(path, info.Mode()|0o200)
		}
		return nil
	})
}
