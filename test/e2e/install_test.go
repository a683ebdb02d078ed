//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const httpPort = "8080"

// TestBIOSInstallFullDHCP installs a BIOS machine with kickstand as the LAN's only
// DHCP server, from a distro imported from the DVD image (read in place, never
// extracted), the installer reaching the tree over HTTP.
func TestBIOSInstallFullDHCP(t *testing.T) {
	requireHost(t, "curl")
	fx := buildFixture(t)
	cli := &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()}
	l := newLAN(t, "10.213.7")
	mac := randomMAC(t)

	cli.run(t, "distro", "import", "rocky9", fx.iso)
	row := cli.wantDistro(t, "rocky9", "iso", "ok", 0)
	if row["SOURCE"] != fx.iso {
		t.Errorf("kickstand distro list: rocky9 has SOURCE %q, want %q", row["SOURCE"], fx.iso)
	}
	cli.run(t, "profile", "add", "rocky9", "--distro", "rocky9", "--kernel-args", "console=ttyS0")
	cli.run(t, "machine", "add", mac, "--profile", "rocky9", "--hostname", "node1")

	server := startServe(t, l, cli, nil, "--dhcp", "full", "--dhcp-range", l.prefix+".100-"+l.prefix+".150")
	got := bootAndInstall(t, l, server, mac, fx)
	wantCmdlineRepo(t, l, got, "http://"+l.serverIP+":"+httpPort+"/distros/rocky9/")
	checkInstalled(t, l, cli, mac, "dhcp", "tftp", "kickstart")
	checkMetrics(t, l, "rocky9")
}

// TestBIOSInstallIPXE installs a BIOS machine with --ipxe: QEMU's NIC ROM is
// iPXE, so kickstand hands it its iPXE script (kernel and initrd over HTTP)
// instead of pxelinux.
func TestBIOSInstallIPXE(t *testing.T) {
	u := newSetup(t, "rocky9", rocky9ISO, "curl")
	server := startServe(t, u.l, u.cli, nil, append(u.fullDHCP(), "--ipxe")...)
	got := bootAndInstall(t, u.l, server, u.mac, u.fx)
	wantCmdlineRepo(t, u.l, got, "http://"+u.l.serverIP+":"+httpPort+"/distros/rocky9/")
	checkInstalled(t, u.l, u.cli, u.mac, "dhcp", "kickstart")
	checkIPXEScript(t, u.l, u.cli, u.mac)
	for _, e := range u.cli.machine(t, u.mac).Events {
		if e.Kind == "tftp" {
			t.Errorf("with --ipxe an iPXE BIOS client still used TFTP: %s", e.Detail)
		}
	}
}

// TestBIOSInstallProxyDHCP installs a BIOS machine on a LAN whose addresses come from
// another DHCP server (dnsmasq, on another host of the LAN), kickstand answering as
// proxyDHCP with the boot information only. kickstand starts with one command on an
// empty data directory (serve --iso), the machine's profile is added while it runs,
// and the installer takes stage2 and the repository over FTP, out of the ISO.
func TestBIOSInstallProxyDHCP(t *testing.T) {
	requireHost(t, "curl", "dnsmasq")
	fx := buildFixture(t)
	cli := &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()}
	l := newLAN(t, "10.213.7")
	mac := randomMAC(t)

	peer, iface := l.addPeer(t, l.prefix+".2")
	dnsmasq := startDnsmasq(t, peer, iface, l.prefix+".50", l.prefix+".99")
	server := startServe(t, l, cli, map[string]string{"dnsmasq": dnsmasq.log},
		"--iso", fx.iso, "--dhcp", "proxy", "--ftp-port", "21")

	// serve --iso imports the media under its own name, with a profile of that name.
	const media = "rocky-9.6-x86_64"
	row := cli.wantDistro(t, media, "iso", "ok", 30*time.Second)
	if row["SOURCE"] != fx.iso {
		t.Errorf("kickstand distro list: %s has SOURCE %q, want %q", media, row["SOURCE"], fx.iso)
	}
	if p, err := cli.listRow("profile", media); err != nil {
		t.Errorf("serve --iso made no default profile: %v", err)
	} else if p["DISTRO"] != media {
		t.Errorf("kickstand profile list: %s has DISTRO %q, want %q", media, p["DISTRO"], media)
	}
	// The CLI works on the store while serve runs, and serve sees what it adds.
	cli.run(t, "profile", "add", "viaftp", "--distro", media, "--repo-protocol", "ftp", "--kernel-args", "console=ttyS0")
	cli.run(t, "machine", "add", mac, "--profile", "viaftp", "--hostname", "node1")

	got := bootAndInstall(t, l, server, mac, fx)
	pub := "ftp://" + l.serverIP + "/pub/"
	wantCmdlineRepo(t, l, got, pub)
	// The kickstart's "url --url" wins over inst.repo in the installer: it too must be FTP.
	for _, file := range []string{".treeinfo", "images/install.img", "BaseOS/repodata/repomd.xml"} {
		if want := "fetched " + pub + file; !slices.Contains(got, want) {
			t.Errorf("console lacks %q", markerPrefix+want)
		}
	}
	checkInstalled(t, l, cli, mac, "dhcp", "tftp", "kickstart", "ftp")
}

// served is a running `kickstand serve` and where its logs go.
type served struct {
	daemon *daemon
	logs   string // directory of kickstand.log and console.log
}

// startServe starts `kickstand serve` on the LAN's bridge, HTTP on httpPort, with
// args, and waits until it answers HTTP. On failure the test prints its log, the
// guest console and extraLogs (name → path).
func startServe(t *testing.T, l *lan, cli *kickstand, extraLogs map[string]string, args ...string) *served {
	t.Helper()
	s := &served{logs: t.TempDir()}
	serve := append([]string{cli.bin, "serve", "--data-dir", cli.dataDir, "--interface", l.bridge,
		"--http-port", httpPort}, args...)
	s.daemon = startDaemon(t, l.ns, filepath.Join(s.logs, "kickstand.log"), serve...)
	logs := map[string]string{"kickstand serve": s.daemon.log, "console": s.console()}
	for name, path := range extraLogs {
		logs[name] = path
	}
	dumpOnFailure(t, logs)
	waitForHTTP(t, l, s.daemon)
	return s
}

func (s *served) console() string { return filepath.Join(s.logs, "console.log") }

// bootAndInstall PXE boots a BIOS machine with mac, asserts that the fixture installer
// ran every step with the right stage2, and returns its markers.
func bootAndInstall(t *testing.T, l *lan, s *served, mac string, fx fixture) []string {
	t.Helper()
	console := runQEMU(t, l.ns, s.console(), qemuTimeout(t, 6*time.Minute), pxeBootArgs(l.tap, mac)...)
	got := checkInstallerRun(t, console, fx.stage2SHA)
	t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
	wantBootIF(t, got, mac)
	return got
}

// wantBootIF checks that the kernel command line named the NIC the machine
// booted from (BOOTIF=01-<mac>, from pxelinux, iPXE or GRUB alike) and that
// the installer found it.
func wantBootIF(t *testing.T, markers []string, mac string) {
	t.Helper()
	want := "bootif 01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-") + " iface "
	for _, m := range markers {
		if rest, ok := strings.CutPrefix(m, want); ok {
			if rest == "" {
				t.Errorf("installer marker %q: no NIC has that MAC", m)
			}
			return
		}
	}
	t.Errorf("console lacks %q...: the kernel command line named no boot NIC", markerPrefix+want)
}

// wantCmdlineRepo checks the installer's "cmdline ks=... repo=..." marker: the
// kickstart comes over kickstand's HTTP (always), the tree from inst.repo=repo.
func wantCmdlineRepo(t *testing.T, l *lan, markers []string, repo string) {
	t.Helper()
	httpBase := "http://" + l.serverIP + ":" + httpPort + "/"
	for _, m := range markers {
		if rest, ok := strings.CutPrefix(m, "cmdline ks="); ok {
			ksURL, gotRepo, _ := strings.Cut(rest, " repo=")
			if !strings.HasPrefix(ksURL, httpBase) {
				t.Errorf("installer cmdline has inst.ks=%s, want a URL under %s", ksURL, httpBase)
			}
			if gotRepo != repo {
				t.Errorf("installer cmdline has inst.repo=%s, want %s", gotRepo, repo)
			}
			return
		}
	}
	t.Errorf("console lacks %q", markerPrefix+"cmdline ks=... repo="+repo)
}

// checkInstalled asserts what follows a successful install: the machine is marked
// installed, its timeline has events of every kind in kinds (substrings), and its
// next PXE boot is answered with local boot.
func checkInstalled(t *testing.T, l *lan, cli *kickstand, mac string, kinds ...string) {
	t.Helper()
	// The %post phone-home marks the machine installed; allow the store a moment.
	var m machineRecord
	err := waitFor(15*time.Second, 500*time.Millisecond, func() error {
		m = cli.machine(t, mac)
		if m.State != "installed" {
			return fmt.Errorf("machine %s state %q, want %q", mac, m.State, "installed")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	t.Logf("kickstand machine show %s:\n%s", mac, cli.run(t, "machine", "show", mac))
	for _, kind := range kinds {
		if !m.hasEventKind(kind) {
			t.Errorf("machine %s has no event whose kind contains %q", mac, kind)
		}
	}

	// Installed machines boot from their disk from now on. The machine's
	// config goes only to its address: here a host with its MAC (the guest
	// is off), while the server's own address gets none. (Over HTTP: the
	// tests look for the machine's own TFTP transfers in its timeline.)
	cfgName := "pxelinux.cfg/01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-")
	cfgURL := "http://" + l.serverIP + ":" + httpPort + "/" + cfgName
	if out, err := l.ns.command(context.Background(), "curl", "-sS", "--fail", "--max-time", "20", cfgURL).CombinedOutput(); err == nil {
		t.Errorf("%s was served to an address that is not the machine's:\n%s", cfgName, out)
	}
	cfg := l.asMachine(t, mac).run(t, "curl", "-sS", "--fail", "--max-time", "20", cfgURL)
	if !strings.Contains(strings.ToUpper(cfg), "LOCALBOOT") {
		t.Errorf("after the install, %s is:\n%s\nwant a LOCALBOOT config", cfgName, cfg)
	}
}

// waitForHTTP waits until kickstand answers HTTP on the LAN, or fails the test if it
// exits or does not answer within 30 s.
func waitForHTTP(t *testing.T, l *lan, server *daemon) {
	t.Helper()
	url := "http://" + l.serverIP + ":" + httpPort + "/"
	err := waitFor(30*time.Second, 300*time.Millisecond, func() error {
		if ended, err := server.exited(); ended {
			return fmt.Errorf("kickstand serve exited: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		code, _ := l.ns.command(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
			"--max-time", "2", url).Output()
		if c := strings.TrimSpace(string(code)); c == "" || c == "000" {
			return fmt.Errorf("no HTTP answer from %s", url)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kickstand serve is not up: %v\n%s", err, logFile(server.log))
	}
}
