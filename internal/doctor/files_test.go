package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kickstand/internal/config"
	"kickstand/internal/store"
)

func writeFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckLoaders(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, "lpxelinux.0", "pxelinux.0", "ldlinux.c32")
	cfg := config.Default()
	cfg.BootloaderDir = dir
	checks := (&Doctor{Config: cfg}).checkLoaders(context.Background())
	bios := checks[0]
	if bios.Status != Fail || !strings.Contains(bios.Text, "menu.c32, libutil.c32, libcom32.c32 not found in "+dir) ||
		!strings.Contains(bios.Text, "apt-get install syslinux-common") || !strings.Contains(bios.Text, "dnf install syslinux-tftpboot") {
		t.Errorf("BIOS loaders missing: %+v", bios)
	}
	writeFiles(t, dir, "menu.c32", "libutil.c32", "libcom32.c32")
	if c := (&Doctor{Config: cfg}).checkLoaders(context.Background())[0]; c.Status != Pass || !strings.Contains(c.Text, "from host "+dir) {
		t.Errorf("all BIOS loaders present: %+v", c)
	}
}

func TestInstallHint(t *testing.T) {
	got := installHint([]string{"lpxelinux.0", "ldlinux.c32", "snponly.efi"}, "")
	want := "install them (Debian/Ubuntu: apt-get install pxelinux syslinux-common ipxe; RHEL/Fedora: dnf install syslinux-tftpboot ipxe-bootimgs-x86) or point --bootloader-dir at a directory that has them"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCheckDataDir(t *testing.T) {
	dir := t.TempDir()
	check := func(dataDir string) Check {
		cfg := config.Default()
		cfg.DataDir = dataDir
		return (&Doctor{Config: cfg}).checkDataDir()[0]
	}
	if c := check(dir); c.Status != Pass || !strings.Contains(c.Text, "is writable") || !strings.Contains(c.Text, "free") {
		t.Errorf("writable: %+v", c)
	}
	if c := check(filepath.Join(dir, "new", "data")); c.Status != Pass || !strings.Contains(c.Text, "does not exist yet") {
		t.Errorf("not there yet: %+v", c)
	}
	writeFiles(t, dir, "file")
	if c := check(filepath.Join(dir, "file")); c.Status != Fail || !strings.Contains(c.Text, "not a directory") {
		t.Errorf("a file: %+v", c)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if c := check(ro); c.Status != Fail || !strings.Contains(c.Text, "not writable") {
			t.Errorf("read-only: %+v", c)
		}
	}
}

type fakeCatalog struct {
	distros  []store.Distro
	profiles []store.Profile
}

func (f fakeCatalog) Distros(context.Context) ([]store.Distro, error)   { return f.distros, nil }
func (f fakeCatalog) Profiles(context.Context) ([]store.Profile, error) { return f.profiles, nil }

func TestCheckDistros(t *testing.T) {
	tree := t.TempDir()
	writeFiles(t, tree, "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi")
	bare := t.TempDir()
	writeFiles(t, bare, "images/pxeboot/vmlinuz")
	distro := func(name, dir string) store.Distro {
		return store.Distro{Name: name, Family: "Rocky Linux", Version: "9.6", Arch: "x86_64", Kind: store.SourceDir, Source: dir,
			Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img", Stage2: "images/install.img"}
	}
	cat := fakeCatalog{
		distros:  []store.Distro{distro("rocky9", tree), distro("gone", "/nonexistent/rocky.iso"), distro("bare", bare)},
		profiles: []store.Profile{{Name: "web", Distro: "gone"}},
	}
	cfg := config.Default()
	cfg.DHCP = "full"
	d := &Doctor{Config: cfg, Catalog: cat, SourceStatus: func(x store.Distro) string {
		if x.Name == "gone" {
			return "missing"
		}
		return "ok"
	}}
	distros, checks := d.checkDistros(context.Background())
	if len(distros) != 3 || len(checks) != 3 {
		t.Fatalf("%d distros, %d checks: %+v", len(distros), len(checks), checks)
	}
	for i, want := range []struct {
		status Status
		text   string
	}{
		{Pass, "distro rocky9 (Rocky Linux 9.6 x86_64): tree " + tree + " in place and unchanged since import; kernel, initrd and stage2 present; UEFI: shim and GRUB in EFI/BOOT (no mmx64.efi"},
		{Fail, "distro gone (Rocky Linux 9.6 x86_64): its tree /nonexistent/rocky.iso is gone (used by profile web): put it back, or re-import it: kickstand distro remove gone && kickstand distro import gone /nonexistent/rocky.iso"},
		{Warn, "lacks images/pxeboot/initrd.img, images/install.img"},
	} {
		if checks[i].Status != want.status || !strings.Contains(checks[i].Text, want.text) {
			t.Errorf("check %d: %+v\nwant %s with %q", i, checks[i], want.status, want.text)
		}
	}
	if _, c := (&Doctor{Config: cfg}).checkDistros(context.Background()); c[0].Status != Warn || !strings.Contains(c[0].Text, "no store in") {
		t.Errorf("no store: %+v", c)
	}
}
