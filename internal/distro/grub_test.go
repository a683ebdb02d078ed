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
	if _, err := exec.LookPath("grub-mkimage"); err != nil || !fileExists(filepath.Join(grubModDir, "linux.mod")) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("grub-mkimage and %s are needed (Debian grub-common, grub-efi-amd64-bin): %v", grubModDir, err)
		}
		t.Skip("grub-mkimage or x86_64-efi modules not installed")
	}
	out := filepath.Join(t.TempDir(), "grubx64.efi")
	args := append([]string{"-O", "x86_64-efi", "-p", prefix, "-o", out}, modules...)
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
