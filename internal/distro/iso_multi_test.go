package distro

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// TestISOMultiExtent serves a file recorded as two sections, as images
// store files over 4 GiB. The image is small: two files' records are
// patched into one file's two sections (same name, multi-extent flag on
// the first).
func TestISOMultiExtent(t *testing.T) {
	first, second := randomBytes(30, 5000), randomBytes(31, 3000)
	files := map[string][]byte{"multi/part1.bin": first, "multi/part2.bin": second, "other.txt": []byte("o")}
	img := readImage(t, makeISO(t, writeTree(t, files), "-R", "-J"))
	rec1, rec2 := findRecord(t, img, "PART1.BIN;1"), findRecord(t, img, "PART2.BIN;1")
	img[rec1+recFlags] |= flagMultiExt
	copy(img[rec2+33:], "PART1.BIN;1")
	image := filepath.Join(t.TempDir(), "multi.iso")
	if err := os.WriteFile(image, img, 0o644); err != nil {
		t.Fatal(err)
	}
	iso := openISO(t, image)
	want := append(bytes.Clone(first), second...)

	if got, err := fs.ReadFile(iso.FS(), "multi/part1.bin"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadFile(multi-extent) = %d bytes, %v; want both sections, %d bytes", len(got), err, len(want))
	}
	if _, _, err := iso.Extent("multi/part1.bin"); !errors.Is(err, ErrMultiExtent) {
		t.Errorf("Extent(multi-extent) error = %v, want ErrMultiExtent", err)
	}
	f, err := iso.FS().Open("multi/part1.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(interface{ Extent() (int64, int64) }); ok {
		t.Error("a multi-extent file has an Extent method: callers would serve only its first section")
	}
	across := make([]byte, 20)
	if n, err := f.(io.ReaderAt).ReadAt(across, 4990); n != 20 || err != nil || !bytes.Equal(across, want[4990:5010]) {
		t.Errorf("ReadAt across the sections = %d, %v", n, err)
	}
	if _, err := f.(io.Seeker).Seek(4999, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(f); err != nil || !bytes.Equal(rest, want[4999:]) {
		t.Errorf("Read after Seek into the first section = %d bytes, %v", len(rest), err)
	}
	if err := fstest.TestFS(iso.FS(), "multi/part1.bin", "other.txt"); err != nil {
		t.Error(err)
	}
	if _, err := fs.Stat(iso.FS(), "multi/part2.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the second section is listed as a file of its own: %v", err)
	}
}

func TestOpenISOMultiExtentDirectory(t *testing.T) {
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{"d1/x": {1}, "d2/y": {2}}), "-R"))
	d1, d2 := findRecord(t, img, "D1"), findRecord(t, img, "D2")
	img[d1+recFlags] |= flagMultiExt
	copy(img[d2+33:], "D1")
	checkBad(t, []badCase{{"directory in two sections", img, ErrCorrupt, `directory "d1" has the multi-extent flag`}})
}

// TestISOOver4GiB reads a real 4.1 GiB file that xorriso stores in two
// sections. It writes a 4.1 GiB image, so it runs only when asked:
// KICKSTAND_TEST_4GIB=1 go test -run Over4GiB ./internal/distro/
func TestISOOver4GiB(t *testing.T) {
	if os.Getenv("KICKSTAND_TEST_4GIB") != "1" {
		t.Skip("set KICKSTAND_TEST_4GIB=1 to write a 4.1 GiB image")
	}
	const size = 4<<30 + 100<<20 + 12345
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	marks := []int64{0, 4<<30 - 2048 - 20, 4<<30 - 7, 4<<30 + 50, size - 16}
	for _, off := range marks {
		f.WriteAt(markAt(off), off)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	iso := openISO(t, makeISO(t, dir, "-R", "-iso-level", "3"))
	st, err := fs.Stat(iso.FS(), "big.img")
	if err != nil || st.Size() != size {
		t.Fatalf("Stat(big.img) = %v, %v; want %d bytes", st, err, int64(size))
	}
	if _, _, err := iso.Extent("big.img"); !errors.Is(err, ErrMultiExtent) {
		t.Errorf("Extent = %v, want ErrMultiExtent", err)
	}
	big, _ := iso.FS().Open("big.img")
	defer big.Close()
	for _, off := range marks {
		got := make([]byte, 16)
		if _, err := big.(io.ReaderAt).ReadAt(got, off); err != nil || !bytes.Equal(got, markAt(off)) {
			t.Errorf("ReadAt(16, %d) = %q, %v", off, got, err)
		}
	}
}

func markAt(off int64) []byte {
	b := []byte("MARK............")
	for i := 15; i >= 4; i-- {
		b[i] = byte('0' + off%10)
		off /= 10
	}
	return b
}
