//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"
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
	}{
		{"full", "full"},
		// dnsmasq on another host lends the address; kickstand's proxy offer
		// names itself (siaddr) and BOOTX64.EFI (file): shim reads the offer,
		// and Debian 13's GRUB, which takes proxy offers, reads its config
		// from kickstand too.
		{"proxy", "proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireSecureBoot(t)
			u := newUEFISetupISO(t, "rockysb", rockySBISO, "curl", "dnsmasq")
			fx, cli, l, mac := u.fx, u.cli, u.l, u.mac
			args, logs := u.dhcp(t, tc.mode)
			server := startServe(t, l, cli, logs, args...)
			bootFirmware(t, l, server, fx, ovmfSecureBoot, "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")
			if console := logFile(server.console()); !strings.Contains(console, secureBootOn) {
				t.Errorf("the kernel did not say %q: Secure Boot was not on", secureBootOn)
			}
			checkInstalled(t, l, cli, mac, "dhcp", "tftp", "kickstart")
			wantEvents(t, cli, mac, "tftp BOOTX64.EFI ", "tftp grubx64.efi ", "boot-config grub/grub.cfg: registered",
				"http distros/rockysb/images/pxeboot/vmlinuz 200")
		})
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
