package distro

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Byte offsets in the primary volume descriptor and in a directory record.
const (
	pvdOffset    = firstDescriptor * sectorSize
	pvdRootLBA   = pvdOffset + 156 + 2
	pvdVolBlocks = pvdOffset + 80
	recLBA       = 2
	recLength    = 10
	recFlags     = 25
)

// putBoth writes v in ECMA-119's both-byte-order form (LE then BE) at off.
func putBoth(img []byte, off int, v uint32) {
	binary.LittleEndian.PutUint32(img[off:], v)
	binary.BigEndian.PutUint32(img[off+4:], v)
}

// findRecord returns the offset of the directory record whose ISO9660
// identifier is ident, found by searching for the name bytes and checking
// that a record plausibly starts 33 bytes before them.
func findRecord(t *testing.T, img []byte, ident string) int {
	t.Helper()
	pattern := append([]byte{byte(len(ident))}, ident...)
	for from := 0; ; {
		i := bytes.Index(img[from:], pattern)
		if i < 0 {
			t.Fatalf("no directory record named %q", ident)
		}
		start := from + i - 32
		if start >= 0 && int(img[start]) >= 33+len(ident) &&
			binary.LittleEndian.Uint32(img[start+recLBA:]) == binary.BigEndian.Uint32(img[start+recLBA+4:]) {
			return start
		}
		from += i + 1
	}
}

// replaceOnce replaces the only occurrence of old in img.
func replaceOnce(t *testing.T, img []byte, old, new string) {
	t.Helper()
	if n := bytes.Count(img, []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times in the image, want once", old, n)
	}
	copy(img[bytes.Index(img, []byte(old)):], new)
}

// openBytes writes img to a file and opens it.
func openBytes(t *testing.T, img []byte) (*ISO, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bad.iso")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	iso, err := OpenISO(p)
	if err == nil {
		iso.Close()
	}
	return iso, err
}

func readImage(t *testing.T, p string) []byte {
	t.Helper()
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type badCase struct {
	name  string
	img   []byte
	is    error
	wants string // a phrase the message must contain
}

func checkBad(t *testing.T, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		_, err := openBytes(t, c.img)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%s: OpenISO error = %v; want %v containing %q", c.name, err, c.is, c.wants)
		}
	}
}

func TestOpenISONotAnImage(t *testing.T) {
	image, _ := rockyISO(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(readImage(t, image))
	zw.Close()
	checkBad(t, []badCase{
		{"empty file", nil, ErrNotISO, "the file is empty"},
		{"short text", []byte("hello\n"), ErrNotISO, "has only 6 bytes"},
		{"random bytes", randomBytes(20, 1<<20), ErrNotISO, "no CD001 volume descriptor at sector 16"},
		{"gzip", gz.Bytes(), ErrNotISO, "no CD001 volume descriptor at sector 16"},
	})
	if _, err := OpenISO(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("OpenISO(directory) = %v", err)
	}
	if _, err := OpenISO(filepath.Join(t.TempDir(), "nope.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenISO(missing) = %v", err)
	}
}

func TestOpenISOTruncated(t *testing.T) {
	image, _ := rockyISO(t)
	img := readImage(t, image)
	iso := openISO(t, image)
	off, size, err := iso.Extent("images/install.img")
	if err != nil {
		t.Fatal(err)
	}
	rootDir := int(binary.LittleEndian.Uint32(img[pvdRootLBA:])) * sectorSize

	// Cut inside the directory area, then also make the volume descriptor
	// agree, so that the directory's own check has to catch it.
	inDirs := bytes.Clone(img[:rootDir+1000])
	putBoth(inDirs, pvdVolBlocks, uint32(len(inDirs)/sectorSize))
	checkBad(t, []badCase{
		{"cut in a file", img[:off+size/2], ErrTruncated, "extends past the end of the image: truncated download?"},
		{"cut in the directories", img[:rootDir+1000], ErrTruncated, "the volume (" + strconv.Itoa(len(img)/sectorSize) + " blocks of 2048 bytes) extends past the end"},
		{"cut in the directories, volume size patched", inDirs, ErrTruncated, "root directory"},
	})
}

func TestOpenISOCorrupt(t *testing.T) {
	image, _ := rockyISO(t)
	img := readImage(t, image)
	rootLBA := binary.LittleEndian.Uint32(img[pvdRootLBA:])
	patched := func(f func(img []byte)) []byte {
		c := bytes.Clone(img)
		f(c)
		return c
	}
	imagesRec := findRecord(t, img, "IMAGES")
	pxebootRec := findRecord(t, img, "PXEBOOT")
	installRec := findRecord(t, img, "INSTALL.IMG;1")
	checkBad(t, []badCase{
		{"directory pointing at the root", patched(func(c []byte) { putBoth(c, imagesRec+recLBA, rootLBA) }),
			ErrCorrupt, `directory "images" points back at directory "." (a loop)`},
		{"directory pointing at its parent", patched(func(c []byte) {
			putBoth(c, pxebootRec+recLBA, binary.LittleEndian.Uint32(c[imagesRec+recLBA:]))
		}), ErrCorrupt, "(a loop)"},
		{"file extent past EOF", patched(func(c []byte) { putBoth(c, installRec+recLBA, 0x00ffffff) }),
			ErrTruncated, `file "images/install.img" (bytes 34359736320 to`},
		{"file size past EOF", patched(func(c []byte) { putBoth(c, installRec+recLength, 0xfffffff0) }),
			ErrTruncated, `file "images/install.img"`},
		{"absurd directory size", patched(func(c []byte) { putBoth(c, imagesRec+recLength, 0xfffff800) }),
			ErrCorrupt, `directory "images" claims 4294965248 bytes`},
		{"record name longer than the record", patched(func(c []byte) { c[installRec+32] = 250 }),
			ErrCorrupt, "directory record name of 250 bytes"},
		{"lone multi-extent section", patched(func(c []byte) { c[installRec+recFlags] |= flagMultiExt }),
			ErrCorrupt, "is missing its last section"},
		{"block size", patched(func(c []byte) { binary.LittleEndian.PutUint16(c[pvdOffset+128:], 1000) }),
			ErrCorrupt, "logical block size 1000"},
		{"no primary descriptor", patched(func(c []byte) { c[pvdOffset] = 3 }), ErrNotISO, "no primary volume descriptor"},
	})
}

// TestOpenISOOverlappingDirs points directories at the zeroed system area,
// each a block further: all empty, none visited twice, but together larger
// than the image, which no real image does.
func TestOpenISOOverlappingDirs(t *testing.T) {
	files := map[string][]byte{}
	for i := range 6 {
		files[fmt.Sprintf("d%d/f", i)] = []byte("x")
	}
	img := readImage(t, makeISO(t, writeTree(t, files), "-R", "-no-pad"))
	for i := range 6 {
		rec := findRecord(t, img, fmt.Sprintf("D%d", i))
		putBoth(img, rec+recLBA, uint32(i))
		putBoth(img, rec+recLength, uint32(firstDescriptor-i)*sectorSize)
	}
	checkBad(t, []badCase{{"overlapping directories", img, ErrCorrupt, "directories add up to more than the image"}})
}

// TestOpenISOBadNames patches names that Rock Ridge or Joliet could carry
// but no path element may have.
func TestOpenISOBadNames(t *testing.T) {
	files := map[string][]byte{"zz": []byte("x"), "aa/bb": []byte("y")}
	rr := readImage(t, makeISO(t, writeTree(t, files), "-R"))
	nm := "NM\x07\x01\x00zz" // the Rock Ridge name entry of "zz"
	var cases []badCase
	for _, bad := range []string{"..", "z/", "z\x00", "z\\", "z\n"} { // FuzzOpenISO found a backslash
		c := bytes.Clone(rr)
		replaceOnce(t, c, nm, nm[:5]+bad)
		cases = append(cases, badCase{"Rock Ridge name " + bad, c, ErrCorrupt, "invalid Rock Ridge name"})
	}
	for flag, want := range map[byte]string{nmCurrent: `"."`, nmParent: `".."`} {
		c := bytes.Clone(rr)
		replaceOnce(t, c, nm, nm[:4]+string(flag)+"zz")
		cases = append(cases, badCase{"Rock Ridge NM flag " + want, c, ErrCorrupt, "invalid Rock Ridge name " + want})
	}
	joliet := readImage(t, makeISO(t, writeTree(t, files), "-J", "--norock"))
	for _, bad := range []string{"\x00.\x00.", "\x00z\x00/"} {
		c := bytes.Clone(joliet)
		replaceOnce(t, c, "\x00z\x00z", bad)
		cases = append(cases, badCase{"Joliet name", c, ErrCorrupt, "invalid Joliet name"})
	}
	checkBad(t, cases)
}

// TestISOLatin1Name reads a Rock Ridge name that is not UTF-8 (as older
// media wrote ISO-8859-1): fs.ValidPath would refuse it, leaving the file
// listed but unopenable.
func TestISOLatin1Name(t *testing.T) {
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{"zz": []byte("x")}), "-R"))
	replaceOnce(t, img, "NM\x07\x01\x00zz", "NM\x07\x01\x00z\xe9")
	p := filepath.Join(t.TempDir(), "latin1.iso")
	os.WriteFile(p, img, 0o644)
	iso := openISO(t, p)
	if b, err := fs.ReadFile(iso.FS(), "zé"); err != nil || string(b) != "x" {
		t.Errorf("ReadFile(zé) = %q, %v", b, err)
	}
}

// TestISOModTimeFromTF checks that Rock Ridge's TF time wins over the
// directory record's date.
func TestISOModTimeFromTF(t *testing.T) {
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{"zz": []byte("x")}), "-R"))
	copy(img[findRecord(t, img, "ZZ.;1")+18:], []byte{90, 1, 2, 3, 4, 5, 0}) // 1990-01-02 03:04:05
	p := filepath.Join(t.TempDir(), "tf.iso")
	os.WriteFile(p, img, 0o644)
	st, err := fs.Stat(openISO(t, p).FS(), "zz")
	if err != nil || !st.ModTime().Equal(fixtureTime) {
		t.Errorf("ModTime = %v, %v; want the TF time %v", st.ModTime(), err, fixtureTime)
	}
}

// TestISOAssociatedFile hides a record flagged "associated file" (an old
// Mac resource fork), which would otherwise collide with its data file.
func TestISOAssociatedFile(t *testing.T) {
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{"zz": {1}, "zy": {2}}), "-R"))
	img[findRecord(t, img, "ZZ.;1")+recFlags] |= flagAssociated
	p := filepath.Join(t.TempDir(), "assoc.iso")
	os.WriteFile(p, img, 0o644)
	names, _ := fs.Glob(openISO(t, p).FS(), "*")
	if len(names) != 1 || names[0] != "zy" {
		t.Errorf("listed %q, want only zy", names)
	}
}

func TestDetectISONoTree(t *testing.T) {
	files := map[string][]byte{"README.txt": []byte("debian\n"), "dists/bookworm/Release": []byte("x"), "pool/main/x.deb": []byte("x")}
	image := makeISO(t, writeTree(t, files), "-R", "-J", "-V", "DEBIAN_12")
	_, iso, err := DetectISO(image)
	want := image + ` is an ISO9660 image (volume "DEBIAN_12") but has no .treeinfo and no images/pxeboot/vmlinuz: not a RHEL-family install tree (top level: README.txt, dists/, pool/)`
	if !errors.Is(err, ErrNoTree) || err.Error() != want || iso != nil {
		t.Errorf("DetectISO(debian) = %v, %v\nwant %s", iso, err, want)
	}

	broken := rockyFiles()
	delete(broken, "images/pxeboot/initrd.img")
	_, _, err = DetectISO(makeISO(t, writeTree(t, broken), "-R", "-V", "Rocky-9-6-x86_64-dvd"))
	if err == nil || !strings.Contains(err.Error(), `(ISO9660 volume "Rocky-9-6-x86_64-dvd"): not an installable tree: missing images/pxeboot/initrd.img`) {
		t.Errorf("DetectISO(no initrd) = %v", err)
	}
	if _, _, err := DetectISO(filepath.Join(t.TempDir(), "missing.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DetectISO(missing) = %v", err)
	}
}
