package distro

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// fuzzSeeds builds small images (no padding) covering Rock Ridge with a
// continuation area, Joliet-only and relocated directories.
func fuzzSeeds(f *testing.F) [][]byte {
	if _, err := exec.LookPath("xorriso"); err != nil {
		if os.Getenv("CI") == "true" {
			f.Fatalf("xorriso is needed for the fuzz seeds: %v", err)
		}
		return nil
	}
	files := map[string][]byte{
		".treeinfo":                      []byte(rocky9),
		".discinfo":                      []byte("1748000000\n9.6\nx86_64\n"),
		pxeKernel:                        []byte("kernel"),
		pxeInitrd:                        []byte("initrd"),
		stage2Path:                       randomBytes(40, 3000),
		"AppStream/Packages/" + longName: []byte("rpm"),
		"deep/1/2/3/4/5/6/7/8/x":         []byte("deep"),
		"empty":                          nil,
	}
	dir := writeTree(f, files)
	var seeds [][]byte
	for _, image := range []string{
		makeISO(f, dir, "-R", "-J", "-no-pad", "-V", "SEED"),
		makeISO(f, dir, "-J", "--norock", "-no-pad"),
		makeISONative(f, dir, "-compliance", "deep_paths_off", "-padding", "0"),
	} {
		b, err := os.ReadFile(image)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzOpenISO feeds arbitrary images to the indexer behind OpenISO. Any
// image it accepts must keep the index's promises: every listed file reads
// in full, its extent lies inside the image and holds those bytes, and the
// tree passes fstest.TestFS.
func FuzzOpenISO(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Add(make([]byte, 40<<10))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		iso, err := readISO(bytes.NewReader(data), int64(len(data)), "fuzz.iso")
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("indexing a %d-byte image took %v", len(data), took)
		}
		if err != nil {
			return
		}
		budget := 16 << 20 // bytes read per input: hostile images may list one extent many times
		var names []string // what TestFS must find: an empty list would mean an empty tree
		err = fs.WalkDir(iso.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && p != "." {
				names = append(names, p)
			}
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil || budget < 0 {
				return err
			}
			budget -= int(info.Size())
			b, err := fs.ReadFile(iso.FS(), p)
			if err != nil || int64(len(b)) != info.Size() {
				t.Fatalf("ReadFile(%q) = %d bytes, %v; Stat says %d", p, len(b), err, info.Size())
			}
			off, size, err := iso.Extent(p)
			if err == nil && (off < 0 || off+size > int64(len(data)) || !bytes.Equal(data[off:off+size], b)) {
				t.Fatalf("Extent(%q) = %d, %d: not the file's bytes inside a %d-byte image", p, off, size, len(data))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walking an accepted image: %v", err)
		}
		// What a server does with the tree: the whole fs.FS contract
		// (directory listings, Open, Stat, Read, ReadAt and Seek agreeing),
		// for images whose files are small enough to read several times.
		// Not with glob metacharacters in a name: TestFS globs through
		// fs.Sub, whose Glob puts the directory into the pattern unescaped.
		if budget >= 15<<20 && !slices.ContainsFunc(names, func(n string) bool { return strings.ContainsAny(n, "*?[]") }) {
			if err := fstest.TestFS(iso.FS(), names...); err != nil {
				t.Fatalf("the tree of an accepted image breaks the fs.FS contract: %v", err)
			}
		}
		_, _ = Detect(iso.FS())
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("checking an accepted %d-byte image with %d names took %v", len(data), len(names), took)
		}
	})
}
