package loaders

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"kickstand/internal/bootfs"
	"kickstand/internal/rpm"
)

// CacheDir is where boot loaders read out of media RPMs are kept, inside
// the data directory.
func CacheDir(dataDir string) string { return filepath.Join(dataDir, "loaders") }

// MediaTree is an imported distro's tree, whose packages may carry loaders.
type MediaTree struct {
	Distro string
	FS     fs.FS
}

// Finder finds the boot loaders.
type Finder struct {
	Mode Mode
	// Dir is --bootloader-dir: the host's loaders are looked for there
	// (syslinux's only there; iPXE's there first).
	Dir string
	// Media are the imported distros' trees, tried in order.
	Media []MediaTree
	// CacheDir is where media loaders are extracted to, one directory per
	// package, named by its digest.
	CacheDir string
	// Extract extracts media loaders not in the cache yet (serve); without
	// it they are only located (doctor, distro list).
	Extract bool
}

// Result is where every loader comes from.
type Result struct {
	// Loaders are the files found, by served name.
	Loaders map[string]Loader
	// Missing are the syslinux files found nowhere: BIOS machines cannot
	// boot without them.
	Missing []string
	// Problems are media packages that were refused (hostile, damaged,
	// not verified), or could not be read or cached.
	Problems []string
}

// Paths maps served names to the files to serve, for bootfs.Tree.Loaders.
func (r Result) Paths() map[string]string {
	m := map[string]string{}
	for name, l := range r.Loaders {
		if l.Path != "" {
			m[name] = l.Path
		}
	}
	return m
}

// Find looks for every loader as f.Mode says.
func (f Finder) Find() Result {
	res := Result{Loaders: map[string]Loader{}}
	f.findSyslinux(&res)
	f.findIPXE(&res)
	return res
}

// findSyslinux takes syslinux's files all from the host, or all from the
// first media package that has them all.
func (f Finder) findSyslinux(res *Result) {
	if f.Mode != Media {
		if found, err := bootfs.FindLoaders(f.Dir); err == nil {
			for name, p := range found {
				res.Loaders[name] = Loader{Name: name, Origin: FromHost, Path: p}
			}
			return
		}
	}
	if f.Mode != Host {
		complete := func(m map[string]Loader) string {
			if len(m) < len(syslinux.files) {
				return fmt.Sprintf("has only %d of %s", len(m), missingText(syslinux.served()))
			}
			return ""
		}
		if m := f.fromMedia(syslinux, res, complete); m != nil {
			maps.Copy(res.Loaders, m)
			return
		}
	}
	// Found nowhere: name those the host lacks, which are what to install.
	for _, name := range syslinux.served() {
		if f.Mode == Media || !hostHas(f.Dir, name) {
			res.Missing = append(res.Missing, name)
		}
	}
}

// findIPXE takes each iPXE file from the host, else from the first media
// package that has any.
func (f Finder) findIPXE(res *Result) {
	var host map[string]string
	if f.Mode != Media {
		host = bootfs.FindIPXE(f.Dir)
	}
	var media map[string]Loader
	looked := false
	for _, name := range ipxe.served() {
		if p, ok := host[name]; ok {
			res.Loaders[name] = Loader{Name: name, Origin: FromHost, Path: p}
			continue
		}
		if f.Mode == Host {
			continue
		}
		if !looked {
			media, looked = f.fromMedia(ipxe, res, func(map[string]Loader) string { return "" }), true
		}
		if l, ok := media[name]; ok {
			res.Loaders[name] = l
		}
	}
}

// hostHas reports whether the host has the syslinux file where
// bootfs.FindLoaders looks for it.
func hostHas(dir, name string) bool {
	search := bootfs.LoaderSearchPath
	if dir != "" {
		search = []string{dir}
	}
	for _, d := range search {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// fromMedia returns the group's files in the first package on the media
// that reads and verifies and that accept takes ("" for yes, else why
// not), trying the media in order, the highest version first.
func (f Finder) fromMedia(g group, res *Result, accept func(map[string]Loader) string) map[string]Loader {
	for _, m := range f.Media {
		for _, file := range g.candidates(m.FS) {
			loaders, err := f.open(g, m, file)
			if err == nil {
				if why := accept(loaders); why != "" {
					err = errors.New(why)
				}
			}
			if err != nil {
				res.Problems = append(res.Problems, fmt.Sprintf("media %s: %s: %v", m.Distro, file, err))
				continue
			}
			return loaders
		}
	}
	return nil
}

// record is what the cache keeps beside a package's extracted files.
type record struct {
	Package  string            `json:"package"`
	Verified string            `json:"verified"`
	Files    map[string]string `json:"files"` // served name → path in the package
}

// open reads one package's files: from the cache when it has extracted
// this package (same digest) before, else out of the package itself.
func (f Finder) open(g group, m MediaTree, file string) (map[string]Loader, error) {
	fh, err := m.FS.Open(file)
	if err != nil {
		return nil, err
	}
	info, err := rpm.Identify(fh, rpm.Limits{})
	fh.Close()
	if err != nil {
		return nil, err
	}
	if base := path.Base(file); !slices.Contains(g.packages, info.Name) || !strings.HasPrefix(base, info.Name+"-"+info.Version+"-") {
		return nil, fmt.Errorf("is package %s, not what its name says", info.NEVRA())
	}
	loader := func(name, p string, rec record) Loader {
		return Loader{Name: name, Origin: FromMedia, Path: p, Distro: m.Distro, RPM: file, Package: info.NEVRA(), Verified: rec.Verified}
	}
	out := map[string]Loader{}
	dir := filepath.Join(f.CacheDir, cacheKey(info.Digest))
	rec, err := readRecord(dir)
	switch {
	case err == nil:
	case !f.Extract || f.CacheDir == "":
		// Located only: say what it would serve, without a path.
		for _, name := range g.served() {
			out[name] = loader(name, "", record{})
		}
		return out, nil
	default:
		if rec, err = f.extract(g, m, file, dir); err != nil {
			return nil, err
		}
	}
	for name := range rec.Files {
		out[name] = loader(name, filepath.Join(dir, name), rec)
	}
	return out, nil
}

// cacheKey turns a package digest into a directory name.
func cacheKey(digest string) string {
	return strings.NewReplacer(":", "-", "/", "_").Replace(digest)
}

func readRecord(dir string) (record, error) {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return record{}, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return record{}, err
	}
	for name := range rec.Files {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.Mode().IsRegular() {
			return record{}, fmt.Errorf("cache %s: %s is missing", dir, name)
		}
	}
	return rec, nil
}

// extract reads the group's files out of the package, verified, and
// caches them in dir, made whole before it is renamed into place.
func (f Finder) extract(g group, m MediaTree, file, dir string) (record, error) {
	fh, err := m.FS.Open(file)
	if err != nil {
		return record{}, err
	}
	defer fh.Close()
	pkg, err := rpm.Extract(fh, func(p string) bool { _, _, ok := g.want(p); return ok }, rpm.Limits{})
	if err != nil {
		return record{}, err
	}
	rec := record{Package: pkg.NEVRA(), Verified: pkg.Verified, Files: map[string]string{}}
	ranks := map[string]int{}
	for p := range pkg.Files {
		served, rank, _ := g.want(p)
		if old, ok := ranks[served]; !ok || rank < old {
			rec.Files[served], ranks[served] = p, rank
		}
	}
	if len(rec.Files) == 0 {
		return record{}, fmt.Errorf("package %s has none of %s", pkg.NEVRA(), missingText(g.served()))
	}
	if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
		return record{}, fmt.Errorf("boot loader cache: %w", err)
	}
	tmp, err := os.MkdirTemp(f.CacheDir, ".extract-")
	if err != nil {
		return record{}, fmt.Errorf("boot loader cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	for served, p := range rec.Files {
		if err := os.WriteFile(filepath.Join(tmp, served), pkg.Files[p], 0o644); err != nil {
			return record{}, fmt.Errorf("boot loader cache: %w", err)
		}
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), b, 0o644); err != nil {
		return record{}, fmt.Errorf("boot loader cache: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return record{}, err
	}
	// Another kickstand may have cached it meanwhile: theirs is as good.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, syscall.EEXIST) && !errors.Is(err, syscall.ENOTEMPTY) {
		return record{}, fmt.Errorf("boot loader cache: %w", err)
	}
	return readRecord(dir)
}
