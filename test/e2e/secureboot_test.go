//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OVMF with Secure Boot, from Debian's ovmf package: the code that enforces it, and
// variables with Microsoft's and Debian's keys enrolled and Secure Boot on.
var ovmfSecureBoot = ovmf{
	code:   "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
	vars:   "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
	secure: true,
}

// secureBootOn is what Debian's kernel prints when the firmware booted it with
// Secure Boot enforcing.
const secureBootOn = "secureboot: Secure boot enabled"

// requireSecureBoot skips (fails in CI) without OVMF's Secure Boot build.
func requireSecureBoot(t *testing.T) {
	t.Helper()
	for _, f := range []string{ovmfSecureBoot.code, ovmfSecureBoot.vars} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (Debian package ovmf): %v", f, err)
			}
			t.Skipf("%s missing: %v", f, err)
		}
	}
}

func rockySBISO(fx fixture) string { return fx.isoSB }

// TestSecureBootInstall installs a machine whose firmware enforces Secure Boot
// (OVMF's secboot build, Microsoft's and Debian's keys enrolled) from media whose
// EFI/BOOT holds a real signed chain: Debian's shim (signed by Microsoft's UEFI CA),
// Debian's signed netboot GRUB (whose built-in prefix is /grub: it reads only
// $prefix/grub.cfg, which kickstand answers with the machine's own config by its
// address) and Debian's signed kernel. Each link verifies the next; the kernel says
// that Secure Boot is on, and the installer runs and phones home.
func TestSecureBootInstall(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		httpBoot   bool
	}{
		{"full", "full", false},
		// dnsmasq on another host lends the address; kickstand's proxy offer
		// names itself (siaddr) and BOOTX64.EFI (file): shim reads the offer,
		// and Debian 13's GRUB, which takes proxy offers, reads its config
		// from kickstand too.
		{"proxy", "proxy", false},
		// UEFI HTTP Boot (--uefi-boot http declines the firmware's PXE): the
		// shim's URL, grubx64.efi beside it, and GRUB's grub.cfg under its
		// prefix, over HTTP; as the LAN's DHCP and as proxyDHCP.
		{"HTTP Boot full", "full", true},
		{"HTTP Boot proxy", "proxy", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireSecureBoot(t)
			u := newUEFISetupISO(t, "rockysb", rockySBISO, "curl", "dnsmasq")
			fx, cli, l, mac := u.fx, u.cli, u.l, u.mac
			args, logs := u.dhcp(t, tc.mode)
			proto, extra := "tftp", []string(nil)
			if tc.httpBoot {
				proto = "http"
				args = append(args, "--uefi-boot", "http")
				// PXEv6 would wait a minute for DHCPv6 before HTTP Boot.
				extra = []string{"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no"}
			}
			server := startServe(t, l, cli, logs, args...)
			bootFirmware(t, l, server, fx, ovmfSecureBoot, "virtio-net-pci,netdev=n0,mac="+mac+",romfile=", extra...)
			if console := logFile(server.console()); !strings.Contains(console, secureBootOn) {
				t.Errorf("the kernel did not say %q: Secure Boot was not on", secureBootOn)
			}
			checkInstalled(t, l, cli, mac, "dhcp", "kickstart")
			wantEvents(t, cli, mac, proto+" BOOTX64.EFI ", proto+" grubx64.efi ", "boot-config grub/grub.cfg: registered",
				"http distros/rockysb/images/pxeboot/vmlinuz 200")
			checkShimCompanions(t, l, fx, mac)
		})
	}
}

// checkShimCompanions asserts that MokManager and the fallback loader are served
// beside the shim, over TFTP and HTTP, as the media has them, so that a machine can
// enrol a key.
func checkShimCompanions(t *testing.T, l *lan, fx fixture, mac string) {
	t.Helper()
	media := t.TempDir()
	extractFromISO(t, fx.isoSB, "/EFI/BOOT", media)
	for _, name := range []string{"mmx64.efi", "fbx64.efi"} {
		want, err := os.ReadFile(filepath.Join(media, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, url := range []string{"tftp://" + l.serverIP + "/" + name, "http://" + l.serverIP + ":" + httpPort + "/" + name} {
			got := l.asMachine(t, mac).run(t, "sh", "-c", "curl -sS --fail --max-time 20 "+url+" | sha256sum")
			if sum := fmt.Sprintf("%x", sha256.Sum256(want)); !strings.HasPrefix(got, sum) {
				t.Errorf("%s: sha256 %s, want the media's %s", url, strings.Fields(got + " ?")[0], sum)
			}
		}
	}
}

// wantEvents fails the test unless mac's timeline has, for each of prefixes, an
// event whose kind and detail ("kind detail") start with it.
func wantEvents(t *testing.T, cli *kickstand, mac string, prefixes ...string) {
	t.Helper()
	events := cli.machine(t, mac).Events
	for _, p := range prefixes {
		found := false
		for _, e := range events {
			found = found || strings.HasPrefix(e.Kind+" "+e.Detail, p)
		}
		if !found {
			t.Errorf("timeline of %s has no event %q", mac, p)
		}
	}
	if t.Failed() {
		for _, e := range events {
			t.Logf("  %s %s", e.Kind, e.Detail)
		}
	}
}

// TestSecureBootRefusesUnsignedKernel is the negative of TestSecureBootInstall: the
// same signed shim and GRUB, but a kernel whose signature was stripped. GRUB asks
// shim to verify it, shim refuses, and the machine never reaches the installer;
// kickstand's timeline shows the chain stopping after the kernel was fetched.
func TestSecureBootRefusesUnsignedKernel(t *testing.T) {
	requireSecureBoot(t)
	unsigned := func(fx fixture) string {
		tree := filepath.Join(t.TempDir(), "tree")
		if out, err := exec.Command("cp", "-a", fx.tree, tree).CombinedOutput(); err != nil {
			t.Fatalf("cp -a %s: %v\n%s", fx.tree, err, out)
		}
		_ = os.Chmod(filepath.Join(tree, "EFI", "BOOT"), 0o755)
		extractFromISO(t, fx.isoSB, "/EFI/BOOT", filepath.Join(tree, "EFI", "BOOT"))
		kernel := filepath.Join(tree, "images", "pxeboot", "vmlinuz")
		signed, err := os.ReadFile(kernel)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, kernel, string(stripSignature(t, signed)))
		return tree
	}
	u := newUEFISetupISO(t, "unsigned", unsigned, "curl")
	cli, l, mac := u.cli, u.l, u.mac
	server := startServe(t, l, cli, nil, u.fullDHCP()...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, stop := startQEMU(t, ctx, l.ns, server.console(), firmwareArgs(t, l, ovmfSecureBoot, "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")...)
	defer stop()
	// The kernel is fetched within ~15 s; then GRUB reports the refusal.
	err := waitFor(qemuTimeout(t, 3*time.Minute), time.Second, func() error {
		if c := logFile(server.console()); !strings.Contains(c, refusedKernel) {
			return fmt.Errorf("the console does not show %q", refusedKernel)
		}
		return nil
	})
	stop()
	console := logFile(server.console())
	if err != nil {
		t.Errorf("%v:\n%s", err, console)
	}
	if strings.Contains(console, markerPrefix) || strings.Contains(console, secureBootOn) {
		t.Errorf("the unsigned kernel ran:\n%s", console)
	}
	for _, line := range strings.Split(console, "\n") {
		if strings.Contains(line, refusedKernel) {
			t.Logf("console: %s", strings.TrimSpace(line))
		}
	}
	m := cli.machine(t, mac)
	wantEvents(t, cli, mac, "tftp grubx64.efi ", "boot-config grub/grub.cfg: registered", "http distros/unsigned/images/pxeboot/vmlinuz 200")
	for _, e := range m.Events {
		if e.Kind == "kickstart" || e.Kind == "phone-home" {
			t.Errorf("the machine got as far as %s %s with an unsigned kernel", e.Kind, e.Detail)
		}
	}
	if m.State != "booting" {
		t.Errorf("state %q, want booting: the chain stopped at the kernel", m.State)
	}
}

// refusedKernel is what GRUB prints when shim refuses the kernel's signature.
const refusedKernel = "bad shim signature"

// stripSignature returns a PE image without its Authenticode signature (the
// certificate table that the security data directory points at), as sbattach
// --remove makes it: what an unsigned build of the same kernel is to shim.
func stripSignature(t *testing.T, image []byte) []byte {
	t.Helper()
	le := binary.LittleEndian
	if len(image) < 0x40 || string(image[:2]) != "MZ" {
		t.Fatal("not a PE image")
	}
	opt := int(le.Uint32(image[0x3c:])) + 24 // after "PE\0\0" and the COFF header
	if le.Uint16(image[opt:]) != 0x20b {
		t.Fatal("not a PE32+ image")
	}
	security := opt + 112 + 4*8 // PE32+ data directories start at 112; the security one is the fifth
	at, size := le.Uint32(image[security:]), le.Uint32(image[security+4:])
	if size == 0 || int(at)+int(size) != len(image) {
		t.Fatalf("no certificate table at the image's end (at %d, %d bytes, image %d bytes)", at, size, len(image))
	}
	out := append([]byte(nil), image[:at]...)
	le.PutUint64(out[security:], 0)
	return out
}
