package distro

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const grubModDir = "/usr/lib/grub/x86_64-efi"

// mkGRUB builds a GRUB EFI image with grub-mkimage (Debian's grub-common and
// grub-efi-amd64-bin) holding the given modules and their dependencies.
func mkGRUB(t *testing.T, modules ...string) []byte {
	t.Helper()
	return mkGRUBPrefix(t, "", modules...)
}

// mkGRUBPrefix is mkGRUB with a built-in prefix (grub-mkimage -p).
func mkGRUBPrefix(t *testing.T, prefix string, modules ...string) []byte {
	t.Helper()
	return mkGRUBArgs(t, prefix, nil, modules...)
}

// mkGRUBArgs is mkGRUBPrefix with more grub-mkimage arguments (-c CONFIG,
// -m MEMDISK).
func mkGRUBArgs(t *testing.T, prefix string, more []string, modules ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("grub-mkimage"); err != nil || !fileExists(filepath.Join(grubModDir, "linux.mod")) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("grub-mkimage and %s are needed (Debian grub-common, grub-efi-amd64-bin): %v", grubModDir, err)
		}
		t.Skip("grub-mkimage or x86_64-efi modules not installed")
	}
	out := filepath.Join(t.TempDir(), "grubx64.efi")
	args := append(append([]string{"-O", "x86_64-efi", "-p", prefix, "-o", out}, more...), modules...)
	if b, err := exec.Command("grub-mkimage", args...).CombinedOutput(); err != nil {
		t.Fatalf("grub-mkimage %v: %v\n%s", modules, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestReadGRUB(t *testing.T) {
	rhel9 := mkGRUB(t, "normal", "configfile", "linux", "efinet", "tftp", "http")
	// Debian's linuxefi module depends on linux: both are in.
	rhel8 := mkGRUB(t, "normal", "configfile", "linuxefi", "efinet", "tftp")
	both := mkGRUB(t, "normal", "linux", "linuxefi", "efinet", "tftp", "http")
	for _, tc := range []struct {
		name           string
		image          []byte
		cfg            string
		linuxEFI, http bool
	}{
		{"linux and http, no config", rhel9, "", false, true},
		{"linuxefi without http, no config", rhel8, "", true, false},
		{"both kernel modules: linuxefi", both, "", true, true},
		{"the distro's config says linuxefi", both, "set default=0\nmenuentry 'Install' {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=x\n\tinitrdefi /images/pxeboot/initrd.img\n}\n", true, true},
		{"the distro's config says linux", both, "menuentry 'Install' {\n  linux /images/pxeboot/vmlinuz quiet\n  initrd /images/pxeboot/initrd.img\n}\n", false, true},
		{"a config without kernel lines decides nothing", rhel8, "set timeout=60\n", true, false},
		// A RHEL 8 grub.cfg beside a GRUB without linuxefi (Debian 13's
		// signed one has only linux): GRUB would not find the command.
		{"the config says linuxefi, the image has only linux", rhel9, "menuentry 'Install' {\n\tlinuxefi /images/pxeboot/vmlinuz\n\tinitrdefi /images/pxeboot/initrd.img\n}\n", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ReadGRUB(tc.image, []byte(tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if g.LinuxEFI != tc.linuxEFI || g.HTTP != tc.http {
				t.Errorf("LinuxEFI=%v HTTP=%v, want %v %v (modules %v)", g.LinuxEFI, g.HTTP, tc.linuxEFI, tc.http, g.Modules)
			}
		})
	}
	g, err := ReadGRUB(rhel9, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The listed modules and what grub-mkimage pulled in for them (net, ...).
	for _, m := range []string{"normal", "configfile", "linux", "efinet", "tftp", "http", "net"} {
		if !slices.Contains(g.Modules, m) {
			t.Errorf("modules %v lack %q", g.Modules, m)
		}
	}
}

// TestReadGRUBPrefix reads the built-in prefix: Debian's netboot GRUB has /grub
// and reads $prefix/grub.cfg from its server; distros' netboot GRUBs made with
// an empty -p have none and take the boot file's directory.
func TestReadGRUBPrefix(t *testing.T) {
	for _, prefix := range []string{"", "/grub", "/EFI/rocky", "(,gpt2)/boot/grub"} {
		g, err := ReadGRUB(mkGRUBPrefix(t, prefix, "normal", "linux", "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.Prefix != prefix {
			t.Errorf("prefix %q, want %q", g.Prefix, prefix)
		}
		if !slices.Contains(g.Modules, "http") {
			t.Errorf("with prefix %q the modules %v lack http", prefix, g.Modules)
		}
	}
}

// TestReadGRUBConfig reads the embedded config (grub-mkimage -c) and the
// config in the memdisk (-m, a squashfs) that it names, as Debian's signed
// images carry them, and the files under $prefix those configs source.
func TestReadGRUBConfig(t *testing.T) {
	const config = "normal (memdisk)/grub.cfg\n"
	const memdiskCfg = "if [ -e $prefix/x86_64-efi/grub.cfg ]; then\n\tsource $prefix/x86_64-efi/grub.cfg\nelse\n\tsource \"${prefix}/grub.cfg\"\nfi\n"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "embedded.cfg")
	memdisk := filepath.Join(dir, "memdisk")
	for path, content := range map[string]string{cfg: config, filepath.Join(memdisk, "grub.cfg"): memdiskCfg} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	squashfs := filepath.Join(dir, "memdisk.squashfs")
	if err := os.WriteFile(squashfs, mkSquashfs(t, memdisk, "-comp", "xz"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name               string
		args               []string
		config, memdiskCfg string
		prefixConfigs      []string
		prefix             string
	}{
		{"none", nil, "", "", nil, "/grub"},
		{"embedded config", []string{"-c", cfg}, config, "", nil, "/grub"},
		// Debian 12's grub-mkimage puts a memdisk image's prefix in it
		// (Debian's signed images keep /grub).
		{"embedded config and memdisk", []string{"-c", cfg, "-m", squashfs}, config, memdiskCfg, []string{"x86_64-efi/grub.cfg", "grub.cfg"}, "(memdisk)/boot/grub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ReadGRUB(mkGRUBArgs(t, "/grub", tc.args, "normal", "linux", "http", "memdisk", "squash4", "xzio"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if g.Config != tc.config || g.MemdiskConfig != tc.memdiskCfg || g.Prefix != tc.prefix {
				t.Errorf("config %q memdisk config %q prefix %q, want %q %q %q", g.Config, g.MemdiskConfig, g.Prefix, tc.config, tc.memdiskCfg, tc.prefix)
			}
			if !slices.Equal(g.PrefixConfigs, tc.prefixConfigs) {
				t.Errorf("configs under the prefix %q, want %q", g.PrefixConfigs, tc.prefixConfigs)
			}
		})
	}
}

// TestReadGRUBSignedDebian reads Debian 13's signed netboot GRUB, the one
// the Secure Boot fixture ISO carries, from the package the e2e fixture
// build downloads (make fixtures) into .cache/e2e/trixie: its prefix, its
// embedded config, the memdisk's config (a squashfs, xz) and the files
// under the prefix it sources, the commands it has — linux, not linuxefi,
// which a RHEL 8 grub.cfg beside it would name — and http.
func TestReadGRUBSignedDebian(t *testing.T) {
	image := signedDebianGRUB(t)
	rhel8Cfg := []byte("menuentry 'Install' {\n\tlinuxefi /images/pxeboot/vmlinuz\n\tinitrdefi /images/pxeboot/initrd.img\n}\n")
	g, err := ReadGRUB(image, rhel8Cfg)
	if err != nil {
		t.Fatal(err)
	}
	if g.Prefix != "/grub" || g.Config != "normal (memdisk)/grub.cfg\n" {
		t.Errorf("prefix %q config %q, want /grub and normal (memdisk)/grub.cfg", g.Prefix, g.Config)
	}
	if !g.HTTP || g.LinuxEFI {
		t.Errorf("HTTP=%v LinuxEFI=%v, want true false: the image has no linuxefi, whatever the config says", g.HTTP, g.LinuxEFI)
	}
	if !strings.Contains(g.MemdiskConfig, "source $prefix/grub.cfg") {
		t.Errorf("memdisk config %q, want one that sources $prefix/grub.cfg", g.MemdiskConfig)
	}
	if want := []string{"x86_64-efi/grub.cfg", "grub.cfg-default-amd64", "grub.cfg"}; !slices.Equal(g.PrefixConfigs, want) {
		t.Errorf("configs under the prefix %q, want %q", g.PrefixConfigs, want)
	}
	for _, m := range []string{"linux", "http", "efinet", "memdisk", "squash4"} {
		if !slices.Contains(g.Modules, m) {
			t.Errorf("modules %v lack %q", g.Modules, m)
		}
	}
}

// signedDebianGRUB is grubnetx64.efi.signed out of the grub-efi-amd64-signed
// package in the repository's .cache/e2e/trixie/debs, which the e2e
// fixture build downloads (scripts/test.sh runs it before the unit tests
// as root and in CI). It skips when the package is not there, but fails
// under CI=true.
func signedDebianGRUB(t *testing.T) []byte {
	t.Helper()
	debs, _ := filepath.Glob("../../.cache/e2e/trixie/debs/grub-efi-amd64-signed_*.deb")
	if len(debs) == 0 {
		msg := "no Debian 13 grub-efi-amd64-signed package in .cache/e2e/trixie/debs: make fixtures downloads it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: scripts/test.sh builds the fixture before the unit tests)")
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is needed to unpack the package")
	}
	dir := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "-x", debs[len(debs)-1], dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v\n%s", debs[len(debs)-1], err, b)
	}
	image, err := os.ReadFile(filepath.Join(dir, "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"))
	if err != nil {
		t.Fatal(err)
	}
	return image
}

func TestReadGRUBBad(t *testing.T) {
	image := mkGRUB(t, "normal", "linux", "http")
	start := findModInfo(t, image)
	size := binary.LittleEndian.Uint64(image[start+16:])

	oversized := slices.Clone(image) // the first module claims more than the area
	binary.LittleEndian.PutUint32(oversized[start+grubModInfoSize+4:], uint32(size)+1)
	notELF := slices.Clone(image) // the first module's ELF magic broken
	copy(notELF[start+grubModInfoSize+grubModHeaderSize:], "JUNK")

	for _, tc := range []struct {
		name, want string
		image      []byte
	}{
		{"empty", "no module area", nil},
		{"not GRUB", "no module area", []byte(strings.Repeat("MZ not grub ", 1000))},
		{"truncated before the module area ends", "no module area", image[:start+int(size)/2]},
		{"module larger than the area", "a module of", oversized},
		{"module not ELF", "GRUB module", notELF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadGRUB(tc.image, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// findModInfo returns the offset of the module area header, checking the
// layout the reader relies on independently of it.
func findModInfo(t *testing.T, image []byte) int {
	t.Helper()
	for i := 0; i+grubModInfoSize <= len(image); i++ {
		if string(image[i:i+4]) == grubModMagic && binary.LittleEndian.Uint64(image[i+8:]) == grubModInfoSize {
			return i
		}
	}
	t.Fatal("no module area in the grub-mkimage image")
	return 0
}
