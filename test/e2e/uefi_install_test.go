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

// Firmware files from Debian's ovmf and ipxe-qemu packages.
const (
	ovmfCodeFile = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVarsFile = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ipxeEFIROM   = "/usr/lib/ipxe/qemu/efi-e1000.rom"
)

// TestUEFIiPXEInstallFullDHCP installs a UEFI machine (OVMF, q35) whose e1000 runs
// iPXE's EFI driver: kickstand recognises iPXE (option 77/175, arch 7) and hands it
// a per-machine iPXE script over HTTP, which loads kernel and initrd over HTTP.
func TestUEFIiPXEInstallFullDHCP(t *testing.T) {
	requireHost(t, "curl")
	for _, f := range []string{ovmfCodeFile, ovmfVarsFile, ipxeEFIROM} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (Debian packages ovmf, ipxe-qemu): %v", f, err)
			}
			t.Skipf("%s missing: %v", f, err)
		}
	}
	fx := buildFixture(t)
	cli := &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()}
	l := newLAN(t, "10.213.7")
	mac := randomMAC(t)

	cli.run(t, "distro", "import", "rocky9", fx.iso)
	cli.run(t, "profile", "add", "rocky9", "--distro", "rocky9", "--kernel-args", "console=ttyS0")
	cli.run(t, "machine", "add", mac, "--profile", "rocky9", "--hostname", "uefi1")
	server := startServe(t, l, cli, nil, "--dhcp", "full", "--dhcp-range", l.prefix+".100-"+l.prefix+".150")

	vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	copyFile(t, ovmfVarsFile, vars)
	console := runQEMU(t, l.ns, server.console(), qemuTimeout(t, 8*time.Minute),
		"-M", "q35", "-m", "1024", "-display", "none", "-no-reboot", "-boot", "n",
		"-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCodeFile,
		"-drive", "if=pflash,format=raw,file="+vars,
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", l.tap),
		"-device", "e1000,netdev=n0,mac="+mac+",romfile="+ipxeEFIROM)
	got := checkInstallerRun(t, console, fx.stage2SHA)
	t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
	wantCmdlineRepo(t, l, got, "http://"+l.serverIP+":"+httpPort+"/distros/rocky9/")

	script := "ipxe/01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-") + ".ipxe"
	m := cli.machine(t, mac)
	servedScript := false
	for _, e := range m.Events {
		if e.Kind == "boot-config" && strings.HasPrefix(e.Detail, script) {
			servedScript = true
		}
	}
	if !servedScript {
		t.Errorf("timeline of %s has no boot-config event for %s: iPXE did not fetch its script", mac, script)
	}
	checkInstalled(t, l, cli, mac, "dhcp", "kickstart")
	after := l.ns.run(t, "curl", "-sS", "--max-time", "20", "http://"+l.serverIP+":"+httpPort+"/"+script)
	if !strings.HasPrefix(after, "#!ipxe") || !strings.Contains(after, "\nexit\n") {
		t.Errorf("after the install, %s is:\n%s\nwant an iPXE script that exits to the next boot entry", script, after)
	}
}
