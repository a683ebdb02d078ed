//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestBootOnceAndReinstall follows one BIOS machine through its life: it
// installs, reports installed; powered on again it gets local boot (the
// served config says LOCALBOOT, and the firmware moves on to its disks);
// after kickstand machine reinstall its next power-on installs again, with a
// new kickstart URL.
func TestBootOnceAndReinstall(t *testing.T) {
	u := newSetup(t, "rocky9", rocky9ISO, "curl")
	server := startServe(t, u.l, u.cli, nil, u.fullDHCP()...)
	first := bootAndInstall(t, u.l, server, u.mac, u.fx)
	checkInstalled(t, u.l, u.cli, u.mac, "dhcp", "tftp", "kickstart", "stage2")

	// Powered on again: pxelinux gets LOCALBOOT and hands back to the BIOS,
	// which finds no disk in this VM and says so on its screen.
	screen := bootUntilScreen(t, u.l, server, u.mac, "No bootable device")
	t.Logf("second power-on, the firmware's screen:\n%s", screen)
	if m := u.cli.machine(t, u.mac); m.State != "installed" || !m.hasEvent("boot-config", "installed: boot from local disk") {
		t.Errorf("second power-on: state %s; want installed and a local-boot config in the timeline", m.State)
	}

	out := u.cli.run(t, "machine", "reinstall", u.mac)
	if !strings.Contains(out, "installs again") {
		t.Errorf("machine reinstall: %q", out)
	}
	if m := u.cli.machine(t, u.mac); m.State != "new" {
		t.Errorf("after reinstall: state %s, want new", m.State)
	}
	second := bootAndInstall(t, u.l, server, u.mac, u.fx)
	checkInstalled(t, u.l, u.cli, u.mac, "reinstall")
	if ksURL(first) == "" || ksURL(first) == ksURL(second) {
		t.Errorf("the kickstart URL did not change on reinstall: %q, then %q", ksURL(first), ksURL(second))
	}
}

// ksURL is the kickstart URL in the installer's cmdline marker.
func ksURL(markers []string) string {
	for _, m := range markers {
		if rest, ok := strings.CutPrefix(m, "cmdline ks="); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

// bootUntilScreen PXE boots a BIOS machine until its VGA screen shows want
// (bounded: three minutes), then powers it off, and returns the screen.
func bootUntilScreen(t *testing.T, l *lan, s *served, mac, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), qemuTimeout(t, 3*time.Minute))
	defer cancel()
	monitor, wait := startQEMU(t, ctx, l.ns, s.console(), pxeBootArgs(l.tap, mac)...)
	defer wait()
	for {
		screen, _ := vgaText(monitor)
		if strings.Contains(screen, want) {
			return screen
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %q on the screen in time; screen:\n%s", want, screen)
		case <-time.After(2 * time.Second):
		}
	}
}

// TestUnknownIgnoredInProxyMode powers on a machine kickstand does not know
// on a LAN whose DHCP is dnsmasq, with --unknown ignore: kickstand sees its
// discover but answers nothing, and the firmware, with an address from
// dnsmasq and no boot file, gives up on the network.
func TestUnknownIgnoredInProxyMode(t *testing.T) {
	u := newSetup(t, "rocky9", rocky9ISO, "curl", "dnsmasq")
	args, logs := u.dhcp(t, "proxy")
	server := startServe(t, u.l, u.cli, logs, append(args, "--unknown", "ignore")...)
	stranger := randomMAC(t)
	screen := bootUntilScreen(t, u.l, server, stranger, "No bootable device")
	t.Logf("the unknown machine's screen:\n%s", screen)
	m := u.cli.machine(t, stranger)
	if !m.hasEventKind("dhcp-discover") {
		t.Errorf("kickstand did not see the unknown machine's discover: %+v", m.Events)
	}
	for _, e := range m.Events {
		if strings.Contains(e.Kind, "offer") || strings.Contains(e.Kind, "ack") || e.Kind == "tftp" {
			t.Errorf("kickstand answered an unknown machine under --unknown ignore: %s %s", e.Kind, e.Detail)
		}
	}
	if !strings.Contains(screen, "10.213.7.") {
		t.Errorf("the firmware got no address from dnsmasq (the LAN's own DHCP): screen\n%s", screen)
	}
}

// TestMenuInstallAtConsole powers on a machine kickstand does not know,
// under the default --unknown menu: its screen shows the menu, local disk by
// default, and a person picks the install with the arrow keys. It installs
// through the menu entry's one-time kickstart URL and stays unregistered;
// nothing but the console could have started it: its config goes to no
// other address, and the URL it used is void afterwards.
func TestMenuInstallAtConsole(t *testing.T) {
	u := newSetup(t, "rocky9", rocky9ISO, "curl")
	server := startServe(t, u.l, u.cli, nil, u.fullDHCP()...)
	stranger := randomMAC(t)
	cfgURL := "tftp://" + u.l.serverIP + "/pxelinux.cfg/01-" + strings.ReplaceAll(stranger, ":", "-")
	if out, err := u.l.ns.command(context.Background(), "curl", "-sS", "--max-time", "20", cfgURL).CombinedOutput(); err == nil {
		t.Errorf("the unknown machine's menu was served to another address:\n%s", out)
	}

	var menu string
	pick := func(monitor string) error {
		var err error
		if menu, err = waitScreen(monitor, 3*time.Minute, "Boot from local disk", "Install rocky9"); err != nil {
			return err
		}
		return sendKeys(monitor, "down", "ret")
	}
	console := runQEMUDuring(t, u.l.ns, server.console(), qemuTimeout(t, 6*time.Minute), pick, pxeBootArgs(u.l.tap, stranger)...)
	t.Logf("the menu on the machine's screen:\n%s", menu)
	got := checkInstallerRun(t, console, u.fx.stage2SHA)
	offer := ksURL(got)
	if offer == "" {
		t.Fatalf("the installer's cmdline has no kickstart URL: %q", got)
	}
	m := u.cli.machine(t, stranger)
	if m.State != "installed" || m.Profile != "" || !m.hasEvent("kickstart", "profile rocky9 chosen at the menu") {
		t.Errorf("after the console's install: state %q, profile %q; want installed, unregistered, a kickstart chosen at the menu\n%+v",
			m.State, m.Profile, m.Events)
	}
	code, _ := u.l.ns.command(context.Background(), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", offer).Output()
	if string(code) != "404" {
		t.Errorf("the menu's kickstart URL %s answers %s after its install, want 404", offer, code)
	}
	// Installed from the menu: its next boot is from the local disk.
	if cfg := u.l.asMachine(t, stranger).run(t, "curl", "-sS", "--max-time", "20", cfgURL); !strings.Contains(cfg, "LOCALBOOT") {
		t.Errorf("the config of a machine installed from the menu:\n%s\nwant LOCALBOOT", cfg)
	}
}
