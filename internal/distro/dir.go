package distro

import (
	"errors"
	"fmt"
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

// Detect recognises the install tree in fsys (an extracted DVD or a mirror)
// and checks that the files it names exist.
func Detect(fsys fs.FS) (Info, error) {
	var in Info
	f, err := fsys.Open(".treeinfo")
	switch {
	case err == nil:
		in, err = ParseTreeinfo(f)
		f.Close()
		if err != nil {
			return Info{}, err
		}
	case errors.Is(err, fs.ErrNotExist):
		// No .treeinfo: fall back to the pxeboot layout below.
	default:
		return Info{}, fmt.Errorf("read .treeinfo: %w", err)
	}
	in.Kernel = first(in.Kernel, pxeKernel)
	in.Initrd = first(in.Initrd, pxeInitrd)
	if in.Stage2 == "" && exists(fsys, stage2Path) {
		in.Stage2 = stage2Path
	}
	for _, p := range []*string{&in.Kernel, &in.Initrd, &in.Stage2} {
		if *p == "" {
			continue
		}
		clean := path.Clean(strings.TrimPrefix(*p, "/"))
		if !fs.ValidPath(clean) || strings.HasPrefix(clean, "..") {
			return Info{}, fmt.Errorf("tree names a file outside itself: %q", *p)
		}
		*p = clean
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

// DetectDir is Detect on a directory.
func DetectDir(dir string) (Info, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Info{}, err
	}
	if !st.IsDir() {
		return Info{}, fmt.Errorf("%s is not a directory (ISO files are not supported yet: extract the DVD)", dir)
	}
	return Detect(os.DirFS(dir))
}

func exists(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.Mode().IsRegular()
}
