package distro

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func openISO(t testing.TB, p string) *ISO {
	t.Helper()
	iso, err := OpenISO(p)
	if err != nil {
		t.Fatalf("OpenISO: %v", err)
	}
	t.Cleanup(func() { iso.Close() })
	return iso
}

// checkFiles compares every file of the image with its source, through FS
// and through the raw byte range Extent gives.
func checkFiles(t *testing.T, imagePath string, iso *ISO, files map[string][]byte) {
	t.Helper()
	raw, err := os.Open(imagePath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for name, want := range files {
		got, err := fs.ReadFile(iso.FS(), name)
		if err != nil || sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("ReadFile(%q): %d bytes, %v; want %d bytes with the source's sha256", name, len(got), err, len(want))
			continue
		}
		offset, size, err := iso.Extent(name)
		if err != nil || size != int64(len(want)) {
			t.Errorf("Extent(%q) = %d, %d, %v; want size %d", name, offset, size, err, len(want))
			continue
		}
		buf := make([]byte, size)
		if _, err := raw.ReadAt(buf, offset); err != nil || !bytes.Equal(buf, want) {
			t.Errorf("ISO bytes %d+%d are not %q: %v", offset, size, name, err)
		}
		checkOpen(t, iso, name, offset, want)
	}
}

// checkOpen checks the file handle: type, Extent, Stat, Seek and ReadAt.
func checkOpen(t *testing.T, iso *ISO, name string, offset int64, want []byte) {
	t.Helper()
	f, err := iso.FS().Open(name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer f.Close()
	file, ok := f.(*File)
	if !ok {
		t.Fatalf("Open(%q) is a %T, want *File", name, f)
	}
	if o, s := file.Extent(); o != offset || s != int64(len(want)) {
		t.Errorf("%q: File.Extent() = %d, %d; ISO.Extent gave %d, %d", name, o, s, offset, len(want))
	}
	st, _ := file.Stat()
	if st.Size() != int64(len(want)) || st.Mode() != 0o444 || !st.ModTime().Equal(fixtureTime) || st.Name() != path.Base(name) {
		t.Errorf("Stat(%q) = %v %v %d %v", name, st.Name(), st.Mode(), st.Size(), st.ModTime())
	}
	if len(want) > 10 {
		if pos, err := file.Seek(-10, io.SeekEnd); err != nil || pos != int64(len(want)-10) {
			t.Errorf("%q: Seek(-10, end) = %d, %v", name, pos, err)
		}
		tail, err := io.ReadAll(file)
		if err != nil || !bytes.Equal(tail, want[len(want)-10:]) {
			t.Errorf("%q: read after Seek = %x, %v", name, tail, err)
		}
		mid := make([]byte, 5)
		if n, err := file.ReadAt(mid, 3); n != 5 || err != nil || !bytes.Equal(mid, want[3:8]) {
			t.Errorf("%q: ReadAt(5, 3) = %d, %v", name, n, err)
		}
	}
}

// listFiles walks fsys and returns its regular files and its directories.
func listFiles(t *testing.T, fsys fs.FS) (files, dirs []string) {
	t.Helper()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			dirs = append(dirs, p)
		default:
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WalkDir: %v", err)
	}
	return files, dirs
}

func sourceLists(files map[string][]byte) (names, dirs []string) {
	seen := map[string]bool{".": true}
	for name := range files {
		names = append(names, name)
		for d := path.Dir(name); !seen[d]; d = path.Dir(d) {
			seen[d] = true
		}
	}
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(names)
	sort.Strings(dirs)
	return names, dirs
}

func TestISORockRidge(t *testing.T) {
	image, files := rockyISO(t)
	iso := openISO(t, image)
	if iso.VolumeID() != "Rocky-9-6-x86_64-dvd" || iso.Naming() != "Rock Ridge" || iso.Path() != image {
		t.Errorf("VolumeID, Naming, Path = %q, %q, %q", iso.VolumeID(), iso.Naming(), iso.Path())
	}
	checkFiles(t, image, iso, files)

	gotFiles, gotDirs := listFiles(t, iso.FS())
	wantFiles, wantDirs := sourceLists(files)
	if !slices.Equal(gotFiles, wantFiles) || !slices.Equal(gotDirs, wantDirs) {
		t.Errorf("image holds files %q\ndirs %q\nwant %q\n%q", gotFiles, gotDirs, wantFiles, wantDirs)
	}
	entries, err := fs.ReadDir(iso.FS(), ".")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{".discinfo", ".treeinfo", "AppStream", "BaseOS", "EFI", "LICENSE", "deep", "images", "isolinux", "media.repo"}
	if err != nil || !slices.Equal(names, want) {
		t.Errorf("ReadDir(.) = %q, %v; want %q", names, err, want)
	}
}

// TestISOTestFS runs the standard library's file system checks on the
// Rocky layout; files are cut short because fstest reads them byte by byte.
func TestISOTestFS(t *testing.T) {
	files := rockyFiles()
	for name, data := range files {
		files[name] = data[:min(len(data), 3000)]
	}
	iso := openISO(t, makeISO(t, writeTree(t, files), "-R", "-J"))
	names, _ := sourceLists(files)
	if err := fstest.TestFS(iso.FS(), names...); err != nil {
		t.Error(err)
	}
}

// TestISORelocatedDirs reads a tree whose deep directories Rock Ridge
// moved to rr_moved (RE) and left a link to (CL), as mkisofs does by default.
// The test must see the relocation happen: "7" is a CL placeholder file.
func TestISORelocatedDirs(t *testing.T) {
	files := map[string][]byte{deepPath: []byte("deep\n"), "deep/1/2/3/4/5/6/7/8/9/sibling": []byte("s")}
	image := makeISONative(t, writeTree(t, files), "-compliance", "deep_paths_off", "-rr_reloc_dir", "rr_moved")
	iso := openISO(t, image)
	checkFiles(t, image, iso, files)
	gotFiles, gotDirs := listFiles(t, iso.FS())
	wantFiles, wantDirs := sourceLists(files)
	if !slices.Equal(gotFiles, wantFiles) || !slices.Equal(gotDirs, wantDirs) {
		t.Errorf("files = %q\ndirs = %q\nwant %q\n%q (xorriso marks rr_moved itself relocated, hiding it)", gotFiles, gotDirs, wantFiles, wantDirs)
	}
}

func TestISOJolietOnly(t *testing.T) {
	files := map[string][]byte{
		"Mixed Case Name.txt":        []byte("joliet keeps case and spaces\n"),
		"BaseOS/repodata/repomd.xml": []byte(repomd),
		"images/pxeboot/vmlinuz":     randomBytes(11, 10000),
		"images/pxeboot/initrd.img":  randomBytes(12, 20000),
		"lower.with.dots.tar.gz":     randomBytes(13, 100),
		"EFI/BOOT/grubx64.efi":       randomBytes(14, 3000),
		"EFI/BOOT/Ünïcödé-ファイル.txt":  []byte("utf-16\n"),
	}
	image := makeISO(t, writeTree(t, files), "-J", "--norock", "-V", "JOLIET")
	iso := openISO(t, image)
	if iso.Naming() != "Joliet" {
		t.Fatalf("Naming() = %q, want Joliet", iso.Naming())
	}
	checkFiles(t, image, iso, files)
	gotFiles, _ := listFiles(t, iso.FS())
	wantFiles, _ := sourceLists(files)
	if !slices.Equal(gotFiles, wantFiles) {
		t.Errorf("image holds %q, want %q", gotFiles, wantFiles)
	}
	if err := fstest.TestFS(iso.FS(), wantFiles...); err != nil {
		t.Error(err)
	}
}

func TestISOPlainNames(t *testing.T) {
	files := map[string][]byte{"readme.txt": []byte("plain\n"), "images/noext": []byte("x")}
	iso := openISO(t, makeISO(t, writeTree(t, files), "--norock", "-V", "PLAIN"))
	if iso.Naming() != "ISO9660" {
		t.Fatalf("Naming() = %q, want ISO9660", iso.Naming())
	}
	gotFiles, _ := listFiles(t, iso.FS())
	if want := []string{"IMAGES/NOEXT", "README.TXT"}; !slices.Equal(gotFiles, want) {
		t.Errorf("plain ISO9660 names = %q, want %q (version and trailing dot stripped)", gotFiles, want)
	}
	if b, err := fs.ReadFile(iso.FS(), "README.TXT"); err != nil || string(b) != "plain\n" {
		t.Errorf("README.TXT = %q, %v", b, err)
	}
}

func TestISODetect(t *testing.T) {
	image, _ := rockyISO(t)
	in, iso, err := DetectISO(image)
	if err != nil {
		t.Fatalf("DetectISO: %v", err)
	}
	defer iso.Close()
	want := Info{Family: "Rocky Linux", Short: "Rocky", Version: "9.6", Arch: "x86_64", Timestamp: "1748000000",
		Kernel: pxeKernel, Initrd: pxeInitrd, Stage2: stage2Path, Variants: rockyVariants}
	if !reflect.DeepEqual(in, want) || in.Name() != "rocky-9.6-x86_64" {
		t.Errorf("DetectISO = %+v (name %q)\nwant %+v", in, in.Name(), want)
	}
	for _, v := range in.Variants {
		if _, err := fs.Stat(iso.FS(), v.Repository+"/repodata/repomd.xml"); err != nil {
			t.Errorf("variant %s: %v", v.ID, err)
		}
	}
}

func TestISOFSErrors(t *testing.T) {
	image, _ := rockyISO(t)
	iso := openISO(t, image)
	fsys := iso.FS()
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"/images", fs.ErrInvalid}, {"images/../.treeinfo", fs.ErrInvalid}, {"nope", fs.ErrNotExist}, {"images/install.img/x", fs.ErrNotExist},
	} {
		if _, err := fsys.Open(tt.name); !errors.Is(err, tt.err) {
			t.Errorf("Open(%q) = %v, want %v", tt.name, err, tt.err)
		}
		if _, _, err := iso.Extent(tt.name); !errors.Is(err, tt.err) {
			t.Errorf("Extent(%q) = %v, want %v", tt.name, err, tt.err)
		}
	}
	if _, _, err := iso.Extent("images"); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Extent(dir) = %v", err)
	}
	d, _ := fsys.Open("images")
	if _, err := d.Read(make([]byte, 1)); err == nil {
		t.Error("Read on a directory succeeded")
	}
	f, _ := fsys.Open("images/install.img")
	f.Close()
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
}

func TestISOConcurrentReadAt(t *testing.T) {
	image, files := rockyISO(t)
	iso := openISO(t, image)
	want := files["images/install.img"]
	f, err := iso.FS().Open("images/install.img")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := f.(io.ReaderAt)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			buf := make([]byte, 4096+g)
			for off := int64(g * 1000); off+int64(len(buf)) <= int64(len(want)); off += 97 * 1024 {
				if n, err := r.ReadAt(buf, off); n != len(buf) || err != nil || !bytes.Equal(buf, want[off:off+int64(n)]) {
					t.Errorf("ReadAt(%d, %d) = %d, %v or wrong bytes", len(buf), off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestISOOpenTime measures indexing a DVD-sized tree (a Rocky DVD has
// about 7000 files).
func TestISOOpenTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 7000-file image")
	}
	image := makeISO(t, writeTree(t, manyFiles(7000)), "-R", "-J", "-V", "MANY")
	start := time.Now()
	iso := openISO(t, image)
	took := time.Since(start)
	files, _ := listFiles(t, iso.FS())
	t.Logf("OpenISO indexed %d files in %v", len(files), took)
	if len(files) != 7000 {
		t.Errorf("indexed %d files, want 7000", len(files))
	}
	if took > time.Second {
		t.Errorf("OpenISO took %v for 7000 files, want well under a second", took)
	}
}

func BenchmarkOpenISO7000(b *testing.B) {
	image := makeISO(b, writeTree(b, manyFiles(7000)), "-R", "-J", "-V", "MANY")
	for b.Loop() {
		iso, err := OpenISO(image)
		if err != nil {
			b.Fatal(err)
		}
		iso.Close()
	}
}
