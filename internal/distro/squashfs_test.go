package distro

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mkSquashfs builds a squashfs image of dir with mksquashfs (Debian's
// squashfs-tools) and options.
func mkSquashfs(t testing.TB, dir string, options ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mksquashfs is needed (Debian squashfs-tools): %v", err)
		}
		t.Skip("mksquashfs not installed (Debian squashfs-tools)")
	}
	out := filepath.Join(t.TempDir(), "memdisk.squashfs")
	args := append([]string{dir, out, "-noappend", "-quiet", "-no-progress", "-all-root"}, options...)
	if b, err := exec.Command("mksquashfs", args...).CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs %v: %v\n%s", options, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memdiskTree writes a tree like a GRUB memdisk's, with a file bigger than
// a block (blocks and a tail in a fragment) and directories of many entries
// around the ones looked up.
func memdiskTree(t testing.TB) (dir string, files map[string][]byte) {
	t.Helper()
	dir = t.TempDir()
	files = map[string][]byte{
		"grub.cfg":               []byte("if [ -e $prefix/x86_64-efi/grub.cfg ]; then\n\tsource $prefix/x86_64-efi/grub.cfg\nelse\n\tsource $prefix/grub.cfg\nfi\n"),
		"boot/grub/grub.cfg":     []byte("configfile ${prefix}/grub.cfg\n"),
		"fonts/unicode.pf2":      bytes.Repeat([]byte("font data that compresses, and does not fill whole blocks. "), 5000),
		"empty":                  nil,
		"boot/grub/x86_64-efi/a": []byte("a"),
	}
	for i := range 300 {
		files[filepath.Join("many", strings.Repeat("n", i%40)+string(rune('a'+i%26))+string(rune('a'+i/26)))] = []byte{byte(i)}
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func TestSquashfsFile(t *testing.T) {
	dir, files := memdiskTree(t)
	for _, options := range [][]string{
		{"-comp", "xz"}, // Debian's signed GRUB memdisk
		{"-comp", "gzip"},
		{"-comp", "zstd"},
		{"-comp", "xz", "-no-fragments"},
		{"-comp", "gzip", "-noI", "-noD", "-noF"}, // nothing compressed
		{"-comp", "gzip", "-b", "4096"},
	} {
		t.Run(strings.Join(options, " "), func(t *testing.T) {
			image := mkSquashfs(t, dir, options...)
			for name, want := range files {
				got, err := squashfsFile(image, name, 1<<20)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: %d bytes, want %d", name, len(got), len(want))
				}
			}
			for _, name := range []string{"missing", "boot/missing", "grub.cfg/x", "many"} {
				if b, err := squashfsFile(image, name, 1<<20); err == nil {
					t.Errorf("%s: read %d bytes, want an error", name, len(b))
				}
			}
			if _, err := squashfsFile(image, "fonts/unicode.pf2", 1000); err == nil || !strings.Contains(err.Error(), "more than 1000") {
				t.Errorf("a file over the limit: err = %v", err)
			}
		})
	}
}

// FuzzSquashfsFile reads files out of arbitrary squashfs images (the
// memdisk comes out of a GRUB image off the install media): whatever the
// bytes, it returns no more than the limit, quickly, and never panics. The
// seeds are small images (the fuzzer slows to a crawl on large ones): a
// config, one in a subdirectory, and a file of two 4 KiB blocks and a tail
// in a fragment.
func FuzzSquashfsFile(f *testing.F) {
	dir := f.TempDir()
	for name, b := range map[string][]byte{
		"grub.cfg":           []byte("source $prefix/grub.cfg\n"),
		"boot/grub/grub.cfg": []byte("configfile ${prefix}/grub.cfg\n"),
		"fonts/font.pf2":     bytes.Repeat([]byte("0123456789abcdef"), 600),
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for _, options := range [][]string{{"-comp", "xz"}, {"-comp", "gzip", "-noI", "-noD", "-noF"}, {"-comp", "zstd"}} {
		image := mkSquashfs(f, dir, append(options, "-b", "4096")...)
		for _, name := range []string{"grub.cfg", "boot/grub/grub.cfg", "fonts/font.pf2"} {
			f.Add(image, name)
		}
	}
	f.Add([]byte("hsqs"), "grub.cfg")
	f.Fuzz(func(t *testing.T, image []byte, name string) {
		const limit = 64 << 10
		start := time.Now()
		b, err := squashfsFile(image, name, limit)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("reading %q out of a %d-byte image took %v", name, len(image), took)
		}
		if err == nil && len(b) > limit {
			t.Fatalf("read %d bytes, over the limit %d", len(b), limit)
		}
	})
}
