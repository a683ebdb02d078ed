package distro

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureTime is every fixture file's modification time, to check that
// ModTime comes out of the image.
var fixtureTime = time.Date(2025, 5, 20, 13, 14, 15, 0, time.UTC)

// longName is a Rock Ridge name long enough to need a continuation area.
var longName = "perl-" + strings.Repeat("Very-Long-Module-Name-", 10) + "1.23-4.el9.noarch.rpm"

// deepPath is nested deeper than ISO9660's 8 levels.
const deepPath = "deep/1/2/3/4/5/6/7/8/9/10/deep.txt"

const repomd = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1748000000</revision></repomd>
`

// requireXorriso skips the test when xorriso is missing, unless CI=true.
func requireXorriso(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("xorriso"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("xorriso is needed to build fixture ISOs: %v", err)
		}
		t.Skipf("xorriso not installed: %v", err)
	}
}

// writeTree creates files (relative path → content) under a new directory.
func writeTree(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, fixtureTime, fixtureTime); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// rockyFiles is a small Rocky 9 DVD: the same layout and metadata, with
// random bytes standing in for kernels and images.
func rockyFiles() map[string][]byte {
	return map[string][]byte{
		".treeinfo":                     []byte(rocky9),
		".discinfo":                     []byte("1748000000.123456\n9.6\nx86_64\nALL\n"),
		"media.repo":                    []byte("[InstallMedia]\nname=Rocky Linux 9.6\nmediaid=None\n"),
		"LICENSE":                       []byte("BSD-3-Clause\n"),
		"images/pxeboot/vmlinuz":        randomBytes(1, 700<<10),
		"images/pxeboot/initrd.img":     randomBytes(2, 1<<20+123),
		"images/install.img":            randomBytes(3, 3<<20+17),
		"images/efiboot.img":            randomBytes(4, 64<<10),
		"images/empty.img":              {},
		"isolinux/isolinux.cfg":         []byte("default vesamenu.c32\ntimeout 600\n"),
		"isolinux/vmlinuz":              randomBytes(5, 4097),
		"isolinux/initrd.img":           randomBytes(6, 2048),
		"EFI/BOOT/BOOTX64.EFI":          randomBytes(7, 90<<10),
		"EFI/BOOT/grubx64.efi":          randomBytes(8, 80<<10),
		"EFI/BOOT/grub.cfg":             []byte("set default=\"1\"\n"),
		"BaseOS/repodata/repomd.xml":    []byte(repomd),
		"AppStream/repodata/repomd.xml": []byte(repomd),
		"BaseOS/Packages/b/bash-5.1.8-9.el9.x86_64.rpm": randomBytes(9, 5000),
		"AppStream/Packages/" + longName:                randomBytes(10, 3000),
		deepPath:                                        []byte("deep\n"),
	}
}

// makeISO builds an image of dir with xorriso's mkisofs emulation; args
// choose the name extensions (-R, -J) and volume ID.
func makeISO(t testing.TB, dir string, args ...string) string {
	t.Helper()
	requireXorriso(t)
	out := filepath.Join(t.TempDir(), "out.iso")
	cmd := exec.Command("xorriso", append(append([]string{"-as", "mkisofs"}, args...), "-o", out, dir)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	return out
}

// makeISONative builds an image of dir with xorriso's own commands, for
// settings its mkisofs emulation does not offer.
func makeISONative(t testing.TB, dir string, args ...string) string {
	t.Helper()
	requireXorriso(t)
	out := filepath.Join(t.TempDir(), "out.iso")
	cmd := exec.Command("xorriso", append(args, "-outdev", out, "-map", dir, "/")...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	return out
}

// rockyISO builds the Rocky-like fixture image with Rock Ridge and Joliet,
// as `xorriso -as mkisofs -R -J -V Rocky-9-6-x86_64-dvd` does.
func rockyISO(t testing.TB) (iso string, files map[string][]byte) {
	files = rockyFiles()
	return makeISO(t, writeTree(t, files), "-R", "-J", "-V", "Rocky-9-6-x86_64-dvd"), files
}

// manyFiles is a tree of n small files spread like a DVD's Packages
// directories, for timing OpenISO.
func manyFiles(n int) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		dir := fmt.Sprintf("AppStream/Packages/%c", 'a'+i%26)
		files[fmt.Sprintf("%s/package-%05d-1.2.3-4.el9.x86_64.rpm", dir, i)] = []byte{byte(i)}
	}
	return files
}
