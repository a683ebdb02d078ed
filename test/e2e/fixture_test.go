//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFixtureInstallerDirectBoot proves the fixture installer without kickstand: QEMU
// boots its kernel and initrd directly on a LAN whose DHCP is dnsmasq and whose HTTP
// and FTP are wireServer and ftpWireServer, and the installer must do on the wire what
// anaconda does.
func TestFixtureInstallerDirectBoot(t *testing.T) {
	requireHost(t, "dnsmasq")
	fx := buildFixture(t)
	t.Log(fx.buildOutput)
	l := newLAN(t, "10.213.9")
	ws := startWireServer(t, l, fx.tree)
	fws := startFTPWireServer(t, l, fx.tree)
	dnsmasq := startDnsmasq(t, l.ns, l.bridge, l.prefix+".100", l.prefix+".150")
	dumpOnFailure(t, map[string]string{"dnsmasq": dnsmasq.log})

	t.Run("install", func(t *testing.T) {
		token := "tok-install"
		ks := ws.setKickstart("install", sampleKickstart(ws.base+"/mirror/", ws.base+"/phone-home/"+token, "true"))
		cmdline := "console=ttyS0 inst.ks=" + ks + " inst.repo=" + ws.base + "/tree/"
		console := bootDirect(t, l, fx, cmdline)

		got := checkInstallerRun(t, console, fx.stage2SHA)
		t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
		requests, phones := ws.take()
		wantRequests(t, requests,
			"GET /ks/install 200",
			"GET /tree/.treeinfo 200",
			"GET /tree/images/install.img 200",
			"GET /mirror/BaseOS/repodata/repomd.xml 200", // url --url overrides inst.repo
		)
		wantPhoneHomes(t, phones, token, "state=installing", "state=installed")
		if len(phones) == 2 && phones[1].Header != "post" {
			t.Errorf("%%post phone-home header X-Kickstand-Test = %q, want %q", phones[1].Header, "post")
		}
	})

	t.Run("install over FTP", func(t *testing.T) {
		token := "tok-ftp"
		pub := fws.base + "/pub/"
		ks := ws.setKickstart("ftp", sampleKickstart(pub, ws.base+"/phone-home/"+token, "true"))
		console := bootDirect(t, l, fx, "console=ttyS0 inst.ks="+ks+" inst.repo="+pub)

		got := checkInstallerRun(t, console, fx.stage2SHA)
		t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
		for _, file := range []string{".treeinfo", "images/install.img", "BaseOS/repodata/repomd.xml"} {
			if want := "fetched " + pub + file; !slices.Contains(got, want) {
				t.Errorf("console lacks %q", markerPrefix+want)
			}
		}
		requests, phones := ws.take()
		wantRequests(t, requests, "GET /ks/ftp 200")
		wantRequests(t, fws.take(),
			"RETR /pub/.treeinfo 226",
			"RETR /pub/images/install.img 226",
			"RETR /pub/BaseOS/repodata/repomd.xml 226",
		)
		wantPhoneHomes(t, phones, token, "state=installing", "state=installed")
	})

	t.Run("post fails", func(t *testing.T) {
		token := "tok-fail"
		ks := ws.setKickstart("fail", sampleKickstart(ws.base+"/tree/", ws.base+"/phone-home/"+token,
			"curl -fsS "+ws.base+"/no/such/file || exit 3"))
		cmdline := "console=ttyS0 inst.ks=" + ks + " inst.repo=" + ws.base + "/tree/ inst.stage2=" + ws.base + "/stage2/"
		console := bootDirect(t, l, fx, cmdline)

		got := markers(console)
		t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
		for _, want := range []string{"stage2 sha256 " + fx.stage2SHA, "pre ok", "repo ok", "FAILED post", "done"} {
			if !slices.Contains(got, want) {
				t.Errorf("console lacks %q", markerPrefix+want)
			}
		}
		if slices.Contains(got, "post ok") {
			t.Errorf("console has %q although %%post failed", markerPrefix+"post ok")
		}
		requests, phones := ws.take()
		wantRequests(t, requests,
			"GET /stage2/.treeinfo 200", // inst.stage2 wins over inst.repo for stage2
			"GET /stage2/images/install.img 200",
			"GET /tree/BaseOS/repodata/repomd.xml 200",
			"GET /no/such/file 404",
		)
		wantPhoneHomes(t, phones, token, "state=installing", "state=failed")
	})
}

func bootDirect(t *testing.T, l *lan, fx fixture, cmdline string) string {
	t.Helper()
	consolePath := filepath.Join(t.TempDir(), "console.log")
	dumpOnFailure(t, map[string]string{"console": consolePath})
	return runQEMU(t, l.ns, consolePath, qemuTimeout(t, 4*time.Minute),
		directBootArgs(fx, l.tap, randomMAC(t), cmdline)...)
}

// TestFixtureInstallerClassicPXE boots the fixture the way kickstand must, but through
// the classic stack — dnsmasq's DHCP and TFTP handing out the host's lpxelinux.0,
// which loads kernel and initrd over HTTP — so that a failure of the kickstand tests
// that this one does not share points at kickstand, not at firmware or fixture.
func TestFixtureInstallerClassicPXE(t *testing.T) {
	requireHost(t, "dnsmasq")
	const bootloaders = "/usr/lib/PXELINUX/lpxelinux.0"
	const ldlinux = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	for _, f := range []string{bootloaders, ldlinux} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("needs the pxelinux and syslinux-common packages: %v", err)
		}
	}
	fx := buildFixture(t)
	l := newLAN(t, "10.213.8")
	ws := startWireServer(t, l, fx.tree)
	token := "tok-pxe"
	ks := ws.setKickstart("pxe", sampleKickstart(ws.base+"/tree/", ws.base+"/phone-home/"+token, "true"))

	tftpRoot := t.TempDir()
	copyFile(t, bootloaders, filepath.Join(tftpRoot, "lpxelinux.0"))
	copyFile(t, ldlinux, filepath.Join(tftpRoot, "ldlinux.c32"))
	writeFile(t, filepath.Join(tftpRoot, "pxelinux.cfg", "default"), "DEFAULT install\n"+
		"LABEL install\n"+
		"  KERNEL "+ws.base+"/tree/images/pxeboot/vmlinuz\n"+
		"  APPEND initrd="+ws.base+"/tree/images/pxeboot/initrd.img console=ttyS0 inst.ks="+ks+
		" inst.repo="+ws.base+"/tree/\n")
	dir := t.TempDir()
	dnsmasq := startDaemon(t, l.ns, dir+"/dnsmasq.log", "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--interface="+l.bridge, "--bind-interfaces", "--user=root",
		"--dhcp-range="+l.prefix+".100,"+l.prefix+".150,12h", "--dhcp-leasefile="+dir+"/leases",
		"--pid-file="+dir+"/dnsmasq.pid", "--log-dhcp",
		"--enable-tftp", "--tftp-root="+tftpRoot, "--dhcp-boot=lpxelinux.0")
	consolePath := filepath.Join(dir, "console.log")
	dumpOnFailure(t, map[string]string{"dnsmasq": dnsmasq.log, "console": consolePath})

	console := runQEMU(t, l.ns, consolePath, qemuTimeout(t, 6*time.Minute), pxeBootArgs(l.tap, randomMAC(t))...)
	got := checkInstallerRun(t, console, fx.stage2SHA)
	t.Logf("markers:\n  %s", strings.Join(got, "\n  "))
	requests, phones := ws.take()
	wantRequests(t, requests, "GET /tree/images/pxeboot/vmlinuz 200", "GET /tree/images/pxeboot/initrd.img 200")
	wantPhoneHomes(t, phones, token, "state=installing", "state=installed")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
