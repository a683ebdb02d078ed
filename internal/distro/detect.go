package distro

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Fallback paths used when .treeinfo does not name the boot images.
const (
	pxeKernel  = "images/pxeboot/vmlinuz"
	pxeInitrd  = "images/pxeboot/initrd.img"
	stage2Path = "images/install.img"
)

// ErrNoTree means the media has neither .treeinfo nor the pxeboot kernel:
// it is not a RHEL-family install tree at all.
var ErrNoTree = errors.New("not a RHEL-family install tree")

// Detect recognises the install tree in fsys (an extracted DVD, a mirror,
// or ISO.FS) and checks that the files it names exist.
func Detect(fsys fs.FS) (Info, error) {
	ti, haveTreeinfo, err := readOptional(fsys, ".treeinfo", parseINI)
	if err != nil {
		return Info{}, fmt.Errorf("treeinfo: %w", err)
	}
	// .discinfo only fills gaps, so a damaged one is as good as none.
	di, _, _ := readOptional(fsys, ".discinfo", ParseDiscinfo)
	in := treeinfo(ti, di.Arch)
	in.Family = first(in.Family, di.Family())
	in.Version = first(in.Version, di.Version())
	in.Timestamp = first(in.Timestamp, di.Timestamp)
	switch {
	case haveTreeinfo && in.Arch == "":
		return Info{}, errors.New("treeinfo: no architecture in [tree] or [general], and none in .discinfo")
	case !haveTreeinfo && !exists(fsys, pxeKernel):
		return Info{}, fmt.Errorf("no .treeinfo and no %s: %w", pxeKernel, ErrNoTree)
	}
	in.Kernel = first(in.Kernel, pxeKernel)
	in.Initrd = first(in.Initrd, pxeInitrd)
	if in.Stage2 == "" && exists(fsys, stage2Path) {
		in.Stage2 = stage2Path
	}
	if err := cleanPaths(&in); err != nil {
		return Info{}, err
	}
	var missing []string
	for _, p := range []string{in.Kernel, in.Initrd, in.Stage2} {
		if p != "" && !exists(fsys, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return Info{}, fmt.Errorf("not an installable tree: missing %s (want a RHEL-family DVD or mirror with .treeinfo or images/pxeboot/)", strings.Join(missing, ", "))
	}
	return in, nil
}

// cleanPaths makes every path the tree names relative and refuses any
// that would leave the tree.
func cleanPaths(in *Info) error {
	paths := []*string{&in.Kernel, &in.Initrd, &in.Stage2}
	for i := range in.Variants {
		paths = append(paths, &in.Variants[i].Repository, &in.Variants[i].Packages)
	}
	for _, p := range paths {
		if *p == "" {
			continue
		}
		clean := path.Clean(strings.TrimPrefix(*p, "/"))
		if !fs.ValidPath(clean) {
			return fmt.Errorf("tree names a file outside itself: %q", *p)
		}
		*p = clean
	}
	return nil
}

// readOptional parses the file name in fsys if it exists.
func readOptional[T any](fsys fs.FS, name string, parse func(io.Reader) (T, error)) (T, bool, error) {
	var zero T
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	defer f.Close()
	v, err := parse(f)
	return v, err == nil, err
}

// DetectDir is Detect on a directory.
func DetectDir(dir string) (Info, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Info{}, err
	}
	if !st.IsDir() {
		return Info{}, fmt.Errorf("%s is not a directory (for an ISO file use DetectISO)", dir)
	}
	return Detect(os.DirFS(dir))
}

// DetectISO opens the image at path and detects its install tree. The
// caller owns the returned ISO and closes it.
func DetectISO(path string) (Info, *ISO, error) {
	iso, err := OpenISO(path)
	if err != nil {
		return Info{}, nil, err
	}
	in, err := Detect(iso.FS())
	switch {
	case errors.Is(err, ErrNoTree):
		err = fmt.Errorf("%s is an ISO9660 image (volume %q) but has %w (top level: %s)", path, iso.VolumeID(), err, topLevel(iso))
	case err != nil:
		err = fmt.Errorf("%s (ISO9660 volume %q): %w", path, iso.VolumeID(), err)
	}
	if err != nil {
		iso.Close()
		return Info{}, nil, err
	}
	return in, iso, nil
}

// topLevel names the first entries of the image's root, to say what the
// media is when it is not an install tree.
func topLevel(iso *ISO) string {
	const show = 8
	root := iso.nodes["."].children
	if len(root) == 0 {
		return "nothing"
	}
	var names []string
	for _, n := range root[:min(len(root), show)] {
		if n.dir {
			names = append(names, n.name+"/")
		} else {
			names = append(names, n.name)
		}
	}
	if len(root) > show {
		names = append(names, fmt.Sprintf("and %d more", len(root)-show))
	}
	return strings.Join(names, ", ")
}

func exists(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.Mode().IsRegular()
}
