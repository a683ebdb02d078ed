package bootfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testTree(t *testing.T) *Tree {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "rocky", "images", "install.img"), "stage2")
	write(t, filepath.Join(dir, "secret"), "outside the tree")
	write(t, filepath.Join(dir, "loaders", "lpxelinux.0"), "pxe")
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(dir, "rocky", "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop", filepath.Join(dir, "rocky", "loop")); err != nil {
		t.Fatal(err)
	}
	return &Tree{
		Loaders: map[string]string{"lpxelinux.0": filepath.Join(dir, "loaders", "lpxelinux.0")},
		Distro: func(_ context.Context, name string) (Source, error) {
			if name != "rocky9" {
				return Source{}, fs.ErrNotExist
			}
			return Source{Path: filepath.Join(dir, "rocky")}, nil
		},
		Default: func(context.Context) (string, error) { return "rocky9", nil },
		Generate: func(_ context.Context, name string, client netip.Addr) ([]byte, bool, error) {
			if name == "pxelinux.cfg/default" {
				return []byte("DEFAULT local for " + client.String()), true, nil
			}
			return nil, false, nil
		},
	}
}

func read(t *testing.T, tr *Tree, name string) (string, error) {
	t.Helper()
	f, err := tr.Open(context.Background(), name, netip.MustParseAddr("10.0.0.9"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() != int64(len(b)) {
		t.Fatalf("%s: Stat size %v, %v; read %d bytes", name, st.Size(), err, len(b))
	}
	return string(b), nil
}

func TestOpen(t *testing.T) {
	tr := testTree(t)
	for name, want := range map[string]string{
		"distros/rocky9/images/install.img":   "stage2",
		"/distros/rocky9/images//install.img": "stage2",
		"pub/images/install.img":              "stage2",
		"lpxelinux.0":                         "pxe",
		"pxelinux.cfg/default":                "DEFAULT local for 10.0.0.9",
	} {
		got, err := read(t, tr, name)
		if err != nil || got != want {
			t.Errorf("Open(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

// refusedNames are names that must be "not found" (404 in HTTP, TFTP error
// 1, FTP 550), never a server error.
var refusedNames = []string{
	"distros/rocky9/../secret",
	"../secret",
	"distros/rocky9/escape",                             // a symlink out of the tree (os.Root refuses it)
	"distros/rocky9/escape/x",                           // and through it
	"distros/rocky9/loop",                               // a symlink to itself (ELOOP)
	"distros/rocky9/images",                             // a directory
	"distros/rocky9/images/install.img/x",               // through a file (ENOTDIR)
	"distros/rocky9/images/" + strings.Repeat("n", 300), // ENAMETOOLONG
	"distros/rocky9/images/install.img\x00",
	"distros/rocky9/\x00",
	"lpxelinux.0\x00",
	"distros/alma9/images/install.img",
	"distros/rocky9",
	"",
	"nothing",
}

func TestOpenRefusesEscapes(t *testing.T) {
	tr := testTree(t)
	for _, name := range refusedNames {
		if got, err := read(t, tr, name); err == nil {
			t.Errorf("Open(%q) = %q, want an error", name, got)
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) error %v is not ErrNotExist", name, err)
		}
	}
}

// TestFSRefusesEscapes is TestOpenRefusesEscapes through the FTP view.
func TestFSRefusesEscapes(t *testing.T) {
	fsys := testTree(t).FS()
	for _, name := range refusedNames {
		name := strings.TrimPrefix(name, "/")
		if !fs.ValidPath(name) || name == "" || name == "distros/rocky9" || name == "distros/rocky9/images" {
			continue // invalid for io/fs, or a directory, which the FTP view lists
		}
		f, err := fsys.Open(name)
		if err == nil {
			f.Close()
			if name == "nothing" || strings.HasPrefix(name, "lpxelinux.0") {
				t.Errorf("FS().Open(%q) succeeded", name)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("FS().Open(%q) error %v is not ErrNotExist", name, err)
		}
	}
}

// TestOpenKeepsServerErrors checks that what is wrong with the server, not
// with the name, stays an error that is not ErrNotExist.
func TestOpenKeepsServerErrors(t *testing.T) {
	tr := testTree(t)
	broken := errors.New("database is locked")
	tr.Distro = func(context.Context, string) (Source, error) { return Source{}, broken }
	if _, err := read(t, tr, "distros/rocky9/images/install.img"); !errors.Is(err, broken) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with a failing Distro: %v, want %v", err, broken)
	}
	iso := filepath.Join(t.TempDir(), "gone.iso")
	tr.Distro = func(context.Context, string) (Source, error) { return Source{ISO: true, Path: iso, Size: 1}, nil }
	if _, err := read(t, tr, "distros/rocky9/images/install.img"); !errors.Is(err, ErrStale) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with the ISO gone: %v, want ErrStale", err)
	}
}

func TestFindLoaders(t *testing.T) {
	dir := t.TempDir()
	for _, n := range LoaderFiles {
		write(t, filepath.Join(dir, n), n)
	}
	got, err := FindLoaders(dir)
	if err != nil || got["ldlinux.c32"] != filepath.Join(dir, "ldlinux.c32") {
		t.Fatalf("FindLoaders = %v, %v", got, err)
	}
	os.Remove(filepath.Join(dir, "menu.c32"))
	_, err = FindLoaders(dir)
	if err == nil || !strings.Contains(err.Error(), "menu.c32") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("FindLoaders with menu.c32 missing: %v", err)
	}
}

func TestFindIPXE(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "ipxe-snponly-x86_64.efi"), "snp")
	got := FindIPXE(dir)
	if got["snponly.efi"] != filepath.Join(dir, "ipxe-snponly-x86_64.efi") {
		t.Fatalf("FindIPXE = %v: want snponly.efi from the RHEL file name in %s", got, dir)
	}
	for served, p := range got {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("FindIPXE gave %s → %s, which does not exist", served, p)
		}
	}
}
