//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	loaderISOOnce sync.Once
	loaderISO     string
	loaderISOErr  error
)

// buildLoaderISO runs fixtures/loader-rpms.sh once per test binary: the
// fixture's Rocky 9 DVD with syslinux-tftpboot and ipxe-bootimgs-x86 RPMs
// in its repositories, built from Debian's loader files.
func buildLoaderISO(t *testing.T, fx fixture) string {
	t.Helper()
	loaderISOOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			loaderISOErr = err
			return
		}
		script := filepath.Join(root, "test", "e2e", "fixtures", "loader-rpms.sh")
		if out, err := exec.Command("sh", script, fx.cache).CombinedOutput(); err != nil {
			loaderISOErr = fmt.Errorf("%s %s: %w\n%s", script, fx.cache, err, out)
			return
		}
		loaderISO = filepath.Join(fx.cache, "rocky-loaders.iso")
	})
	if loaderISOErr != nil {
		t.Fatalf("loader fixture build: %v", loaderISOErr)
	}
	return loaderISO
}

// TestBIOSInstallLoadersFromMedia installs a BIOS machine on a host whose
// --bootloader-dir is empty: serve (--bootloaders auto, the default) takes
// pxelinux and its modules out of the syslinux-tftpboot RPM on the imported
// DVD, checks its digests, caches the files in the data directory, and the
// machine's timeline says where the loaders it loaded came from. Before
// serve, distro list says where they will come from, and doctor with
// --bootloaders media says iPXE's would come from ipxe-bootimgs-x86.
func TestBIOSInstallLoadersFromMedia(t *testing.T) {
	requireHost(t, "curl", "rpmbuild")
	fx := buildFixture(t)
	iso := buildLoaderISO(t, fx)
	cli := &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()}
	l := newLAN(t, "10.213.7")
	mac := randomMAC(t)
	empty := t.TempDir()

	cli.run(t, "distro", "import", "rocky9", iso)
	cli.run(t, "profile", "add", "rocky9", "--distro", "rocky9", "--kernel-args", "console=ttyS0")
	cli.run(t, "machine", "add", mac, "--profile", "rocky9", "--hostname", "node1")

	const syslinuxRPM = "syslinux-tftpboot-6.04-0.kickstand.noarch"
	fromMedia := "media rocky9: RPM " + syslinuxRPM + " (BaseOS/Packages/s/" + syslinuxRPM + ".rpm"
	// Before serve: where they will come from, nothing extracted yet.
	list := cli.run(t, "distro", "list", "--loaders", "--bootloader-dir", empty)
	for _, name := range []string{"lpxelinux.0", "ldlinux.c32", "menu.c32"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` +` + regexp.QuoteMeta(fromMedia+"; checked and extracted when serve starts)") + `$`).MatchString(list) {
			t.Errorf("kickstand distro list --loaders does not say %s comes from %s:\n%s", name, fromMedia, list)
		}
	}
	doctor := func() string {
		out, _ := l.ns.command(context.Background(), cli.bin, "doctor", "--data-dir", cli.dataDir, "--interface", l.bridge,
			"--http-port", httpPort, "--dhcp", "full", "--dhcp-wait", "0", "--bootloader-dir", empty, "--bootloaders", "media").CombinedOutput()
		return string(out)
	}
	if out := doctor(); !strings.Contains(out, "PASS  loader: BIOS: lpxelinux.0, pxelinux.0, ldlinux.c32, menu.c32, libutil.c32, libcom32.c32 from "+fromMedia+"; checked and extracted when serve starts)") ||
		!strings.Contains(out, "PASS  loader: UEFI: snponly.efi from media rocky9: RPM ipxe-bootimgs-x86-1.0.0-0.kickstand.noarch") {
		t.Errorf("kickstand doctor does not say the loaders come from the media:\n%s", out)
	}

	server := startServe(t, l, cli, nil, "--dhcp", "full", "--dhcp-range", l.prefix+".100-"+l.prefix+".150",
		"--bootloader-dir", empty)
	bootAndInstall(t, l, server, mac, fx)
	checkInstalled(t, l, cli, mac, "dhcp", "tftp", "kickstart")

	// The timeline says where the loaders the machine loaded came from,
	// with the digests checked.
	verified := "; header sha256, payload sha256, file digests sha256 verified)"
	events := machineEvents(t, cli, mac)
	for _, name := range []string{"lpxelinux.0", "ldlinux.c32"} {
		found := false
		for _, e := range events {
			if e.Kind == "tftp" && e.Fields.File == name && !e.Fields.SizeProbe {
				found = true
				if e.Fields.Source != fromMedia+verified || !strings.HasSuffix(e.Detail, "(from "+fromMedia+verified+")") {
					t.Errorf("timeline: %s came from %q (%s), want %q", name, e.Fields.Source, e.Detail, fromMedia+verified)
				}
			}
		}
		if !found {
			t.Errorf("timeline has no TFTP transfer of %s", name)
		}
	}
	// The server log says it, and what it serves is Debian's file, byte for byte.
	log, _ := os.ReadFile(server.daemon.log)
	if !bytes.Contains(log, []byte("from=\""+fromMedia+verified)) {
		t.Errorf("kickstand serve's log does not say where the BIOS loaders came from:\n%s", log)
	}
	served := l.ns.command(context.Background(), "curl", "-sS", "--fail", "--max-time", "20", "http://"+l.serverIP+":"+httpPort+"/lpxelinux.0")
	got, err := served.Output()
	want, _ := os.ReadFile("/usr/lib/PXELINUX/lpxelinux.0")
	if err != nil || len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("lpxelinux.0 served (%d bytes, %v) is not Debian's /usr/lib/PXELINUX/lpxelinux.0 (%d bytes) packaged in the media's syslinux-tftpboot", len(got), err, len(want))
	}
	// Extracted once, into the data directory, named by the package's digest.
	cached, _ := filepath.Glob(filepath.Join(cli.dataDir, "loaders", "payload-*", "lpxelinux.0"))
	if len(cached) != 1 {
		t.Errorf("cached lpxelinux.0: %v, want one under %s/loaders/payload-<digest>/", cached, cli.dataDir)
	}
}

// loaderEvent is a timeline event with the fields this test reads.
type loaderEvent struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Fields struct {
		File      string `json:"file"`
		Source    string `json:"source"`
		SizeProbe bool   `json:"size_probe"`
	} `json:"fields"`
}

func machineEvents(t *testing.T, cli *kickstand, mac string) []loaderEvent {
	t.Helper()
	var m struct {
		Events []loaderEvent `json:"events"`
	}
	out, err := exec.Command(cli.bin, "machine", "show", mac, "-o", "json", "--data-dir", cli.dataDir).Output()
	if err == nil {
		err = json.Unmarshal(out, &m)
	}
	if err != nil {
		t.Fatalf("kickstand machine show %s -o json: %v\n%s", mac, err, stderrOf(err))
	}
	return m.Events
}
