package loaders

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kickstand/internal/bootfs"
	"kickstand/internal/store"
)

// buildRPM makes a noarch package name-1.0-1 holding files (path →
// content) with rpmbuild, into dst. Without rpmbuild the test is skipped,
// except in CI, which installs it (scripts/deps.sh).
func buildRPM(t *testing.T, dst, name string, files map[string]string) {
	t.Helper()
	rpmbuild, err := exec.LookPath("rpmbuild")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rpmbuild not installed: scripts/deps.sh installs the rpm package")
		}
		t.Skip("rpmbuild not installed (apt-get install rpm)")
	}
	work := t.TempDir()
	var install, list strings.Builder
	for p, content := range files {
		src := filepath.Join(work, "src", strings.ReplaceAll(p, "/", "_"))
		os.MkdirAll(filepath.Dir(src), 0o755)
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&install, "mkdir -p %%{buildroot}%s && cp %s %%{buildroot}%s\n", filepath.Dir(p), src, p)
		fmt.Fprintln(&list, p)
	}
	spec := filepath.Join(work, name+".spec")
	os.WriteFile(spec, fmt.Appendf(nil, "Name: %s\nVersion: 1.0\nRelease: 1\nSummary: t\nLicense: GPL\nBuildArch: noarch\n%%description\nt\n%%install\n%s%%files\n%s",
		name, install.String(), list.String()), 0o644)
	out, err := exec.Command(rpmbuild, "-bb", "--define", "_topdir "+filepath.Join(work, "top"), "--define", "_binary_payload w19.zstdio", spec).CombinedOutput()
	if err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	os.MkdirAll(dst, 0o755)
	if err := os.Rename(filepath.Join(work, "top/RPMS/noarch", name+"-1.0-1.noarch.rpm"), filepath.Join(dst, name+"-1.0-1.noarch.rpm")); err != nil {
		t.Fatal(err)
	}
}

// rhel9Media is a media tree laid out like a RHEL 9 DVD, with the two
// loader packages.
func rhel9Media(t *testing.T) string {
	media := t.TempDir()
	sys := map[string]string{"/tftpboot/memdisk": "memdisk"}
	for _, n := range bootfs.LoaderFiles {
		sys["/tftpboot/"+n] = "media " + n
	}
	buildRPM(t, filepath.Join(media, "BaseOS/Packages/s"), "syslinux-tftpboot", sys)
	buildRPM(t, filepath.Join(media, "AppStream/Packages/i"), "ipxe-bootimgs-x86", map[string]string{
		"/usr/share/ipxe/undionly.kpxe":           "media undionly.kpxe",
		"/usr/share/ipxe/ipxe-x86_64.efi":         "media ipxe.efi",
		"/usr/share/ipxe/ipxe-snponly-x86_64.efi": "media snponly.efi",
		"/usr/share/ipxe/ipxe.lkrn":               "not served",
	})
	return media
}

func TestFindFromMedia(t *testing.T) {
	media := rhel9Media(t)
	cache := filepath.Join(t.TempDir(), "loaders")
	f := Finder{Mode: Media, Media: []MediaTree{{Distro: "rocky", FS: os.DirFS(media)}}, CacheDir: cache, Extract: true}
	res := f.Find()
	if len(res.Missing) > 0 || len(res.Problems) > 0 {
		t.Fatalf("missing %v, problems %v", res.Missing, res.Problems)
	}
	want := slices.Concat(bootfs.LoaderFiles, []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"})
	for _, name := range want {
		l, ok := res.Loaders[name]
		if !ok {
			t.Errorf("%s not found", name)
			continue
		}
		b, err := os.ReadFile(l.Path)
		if err != nil || string(b) != "media "+name || l.Origin != FromMedia || l.Distro != "rocky" {
			t.Errorf("%s: %+v: %q %v", name, l, b, err)
		}
		if !strings.HasPrefix(l.Path, cache+"/payload-") {
			t.Errorf("%s cached at %s, not under %s keyed by its payload digest", name, l.Path, cache)
		}
	}
	src := res.Loaders["pxelinux.0"].Source()
	if want := "media rocky: RPM syslinux-tftpboot-1.0-1.noarch (BaseOS/Packages/s/syslinux-tftpboot-1.0-1.noarch.rpm; header sha256, payload sha256, file digests sha256 verified)"; src != want {
		t.Errorf("source %q, want %q", src, want)
	}
	if len(res.Loaders) != len(want) {
		t.Errorf("%d loaders, want %d", len(res.Loaders), len(want))
	}

	// Again: from the cache, not extracted anew.
	st, _ := os.Stat(res.Loaders["ldlinux.c32"].Path)
	again := f.Find()
	st2, err := os.Stat(again.Loaders["ldlinux.c32"].Path)
	if err != nil || !st.ModTime().Equal(st2.ModTime()) || again.Loaders["ldlinux.c32"].Verified == "" {
		t.Errorf("second find: %+v, %v", again.Loaders["ldlinux.c32"], err)
	}

	// Located only (doctor): nothing extracted into a new cache.
	f.CacheDir, f.Extract = t.TempDir(), false
	located := f.Find()
	if l := located.Loaders["lpxelinux.0"]; l.Origin != FromMedia || l.Path != "" || len(located.Missing) > 0 {
		t.Errorf("located: %+v, missing %v", l, located.Missing)
	}
	if entries, _ := os.ReadDir(f.CacheDir); len(entries) > 0 {
		t.Errorf("locating extracted %d entries", len(entries))
	}
}

func TestFindModes(t *testing.T) {
	media := rhel9Media(t)
	empty := t.TempDir()
	base := Finder{Dir: empty, Media: []MediaTree{{Distro: "rocky", FS: os.DirFS(media)}}, CacheDir: t.TempDir(), Extract: true}

	// auto, with a --bootloader-dir lacking them: the media's.
	auto := base
	auto.Mode = Auto
	if res := auto.Find(); res.Loaders["lpxelinux.0"].Origin != FromMedia || len(res.Missing) > 0 {
		t.Errorf("auto: lpxelinux.0 %+v, missing %v", res.Loaders["lpxelinux.0"], res.Missing)
	}
	// host only: none.
	host := base
	host.Mode = Host
	if res := host.Find(); !slices.Equal(res.Missing, bootfs.LoaderFiles) {
		t.Errorf("host: missing %v, want all", res.Missing)
	}
	// auto with the host's: the host's, the whole set.
	hostDir := t.TempDir()
	for _, n := range bootfs.LoaderFiles {
		os.WriteFile(filepath.Join(hostDir, n), []byte("host"), 0o644)
	}
	auto.Dir = hostDir
	res := auto.Find()
	for _, n := range bootfs.LoaderFiles {
		if l := res.Loaders[n]; l.Origin != FromHost || l.Source() != "host "+filepath.Join(hostDir, n) {
			t.Errorf("auto with host files: %s from %s", n, l.Source())
		}
	}
}

// TestFindRefusesBadPackages: a damaged or disguised package is a problem
// reported, not a crash, and serves nothing.
func TestFindRefusesBadPackages(t *testing.T) {
	media := t.TempDir()
	dir := filepath.Join(media, "BaseOS/Packages/s")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "syslinux-tftpboot-6.04-1.noarch.rpm"), []byte("not an rpm"), 0o644)
	buildRPM(t, dir, "syslinux-tftpboot", map[string]string{"/tftpboot/pxelinux.0": "x"}) // not all of them
	buildRPM(t, filepath.Join(media, "Packages"), "syslinux", map[string]string{"/tftpboot/pxelinux.0": "x"})
	os.Rename(filepath.Join(media, "Packages/syslinux-1.0-1.noarch.rpm"), filepath.Join(media, "Packages/syslinux-tftpboot-1.0-1.noarch.rpm"))
	f := Finder{Mode: Media, Media: []MediaTree{{Distro: "bad", FS: os.DirFS(media)}}, CacheDir: t.TempDir(), Extract: true}
	res := f.Find()
	if len(res.Loaders) != 0 || !slices.Equal(res.Missing, bootfs.LoaderFiles) || len(res.Problems) != 3 {
		t.Fatalf("loaders %v, missing %v, problems %q", res.Loaders, res.Missing, res.Problems)
	}
	if !strings.Contains(res.Problems[0], "not an RPM package") ||
		!strings.Contains(res.Problems[1], "syslinux-tftpboot-1.0-1.noarch.rpm: has only 1 of lpxelinux.0") ||
		!strings.Contains(res.Problems[2], "is package syslinux-1.0-1.noarch") {
		t.Errorf("problems %q", res.Problems)
	}
}

// TestOpenMedia reads loaders out of an imported tree, and leaves the
// media unopened when the host has every loader.
func TestOpenMedia(t *testing.T) {
	media := rhel9Media(t)
	st, err := os.Stat(media)
	if err != nil {
		t.Fatal(err)
	}
	ds := []store.Distro{
		{Name: "gone", Kind: store.SourceISO, Source: filepath.Join(media, "missing.iso")},
		{Name: "rocky", Kind: store.SourceDir, Source: media, ModTime: st.ModTime()},
	}
	trees, closeMedia := OpenMedia(ds)
	defer closeMedia()
	if len(trees) != 1 || trees[0].Distro != "rocky" {
		t.Fatalf("trees %+v, want rocky's only", trees)
	}
	res := Finder{Mode: Media, Media: trees, CacheDir: t.TempDir(), Extract: true}.Find()
	if l := res.Loaders["undionly.kpxe"]; l.Origin != FromMedia || l.Distro != "rocky" || len(res.Missing) > 0 {
		t.Errorf("undionly.kpxe %+v, missing %v", l, res.Missing)
	}

	hostDir := t.TempDir()
	for _, n := range append(slices.Clone(bootfs.LoaderFiles), "undionly.kpxe", "ipxe.efi", "snponly.efi") {
		os.WriteFile(filepath.Join(hostDir, n), []byte("host"), 0o644)
	}
	trees, closeAgain := OpenMedia(ds)
	defer closeAgain()
	res = Finder{Mode: Auto, Dir: hostDir, Media: trees, CacheDir: t.TempDir(), Extract: true}.Find()
	if len(res.Loaders) != 9 || res.Loaders["snponly.efi"].Origin != FromHost {
		t.Errorf("with the host's loaders: %+v", res.Loaders)
	}
	if l := trees[0].FS.(*lazyFS); l.fsys != nil || l.err != nil {
		t.Error("the media were opened although the host has every loader")
	}
}
