package distro

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzDetect runs Detect on a tree whose .treeinfo and .discinfo are
// arbitrary (they come off install media anyone can make) and which holds
// the files they name. A tree Detect accepts must name its boot files and
// repositories by clean paths inside itself, and (with a .treeinfo) its
// architecture; the boot files must exist, no field may carry a control
// character (they end up in kickstarts, boot configs and terminals), and
// its default name must be safe.
func FuzzDetect(f *testing.F) {
	// The .treeinfo files of treeinfo_test.go, in the layouts of the Rocky
	// 9.6, AlmaLinux 9.4, CentOS 7, RHEL 6 and Fedora 41 media, with the
	// .discinfo of a Rocky 9 and a RHEL 6.5 DVD.
	for _, ti := range []string{rocky9, alma9, legacy, rhel6, fedora, fedoraServer, ""} {
		for _, di := range []string{"", "1716911843.418489\n9.6\nx86_64\nALL\n", "1380159378.77\nRed Hat Enterprise Linux 6.5\nx86_64\n1\n"} {
			f.Add(ti, di, byte(0xff))
		}
	}
	f.Add("[general]\narch = x86_64\n[images-x86_64]\nkernel = /images/../../etc/passwd\n", "", byte(0))
	f.Add("[general]\narch = x86_64\nfamily = Rocky\x1c%pre\n", "", byte(3))
	f.Fuzz(func(t *testing.T, treeinfoText, discinfoText string, files byte) {
		fsys := fuzzTree(treeinfoText, discinfoText, files)
		in, err := Detect(fsys)
		if err != nil {
			return
		}
		if in.Kernel == "" || in.Initrd == "" || (in.Arch == "" && fsys[".treeinfo"] != nil) {
			t.Fatalf("Detect = %+v: no kernel or initrd, or a .treeinfo without arch", in)
		}
		for _, p := range []string{in.Kernel, in.Initrd, in.Stage2} {
			if p != "" && !exists(fsys, p) {
				t.Fatalf("Detect = %+v: %q is not a file of the tree", in, p)
			}
		}
		paths := []string{in.Kernel, in.Initrd, in.Stage2}
		text := []string{in.Family, in.Short, in.Version, in.Arch, in.Timestamp}
		for _, v := range in.Variants {
			paths = append(paths, v.Repository, v.Packages)
			text = append(text, v.ID, v.Name, v.Type)
		}
		for _, p := range paths {
			if p != "" && (!fs.ValidPath(p) || p != path.Clean(p)) {
				t.Fatalf("Detect = %+v: path %q leaves the tree or is not clean", in, p)
			}
			text = append(text, p)
		}
		for _, s := range text {
			if strings.IndexFunc(s, isControl) >= 0 {
				t.Fatalf("Detect = %+v: %q has a control character", in, s)
			}
		}
		if name := in.Name(); !safeName.MatchString(name) {
			t.Fatalf("Name() = %q", name)
		}
	})
}

// safeName is what the CLI takes for a distro name (internal/cli's
// checkName), lower-case, or nothing.
var safeName = regexp.MustCompile(`^([a-z0-9][a-z0-9._-]{0,62})?$`)

// fuzzTree is a tree with the given .treeinfo and .discinfo (none when
// empty), the fallback boot files selected by the bits of files, and every
// file the .treeinfo names, where a tree could hold it.
func fuzzTree(treeinfoText, discinfoText string, files byte) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i, p := range []string{pxeKernel, pxeInitrd, stage2Path} {
		if files&(1<<i) != 0 {
			fsys[p] = &fstest.MapFile{Data: []byte("x")}
		}
	}
	if treeinfoText != "" {
		fsys[".treeinfo"] = &fstest.MapFile{Data: []byte(treeinfoText)}
	}
	if discinfoText != "" {
		fsys[".discinfo"] = &fstest.MapFile{Data: []byte(discinfoText)}
	}
	if files&(1<<3) != 0 {
		return fsys // only the fallbacks
	}
	parsed, err := parseINI(strings.NewReader(treeinfoText))
	if err != nil {
		return fsys
	}
	for _, section := range parsed {
		for _, v := range section {
			if p := path.Clean(strings.TrimPrefix(v, "/")); fs.ValidPath(p) && p != "." && fsys[p] == nil {
				fsys[p] = &fstest.MapFile{Data: []byte("x")}
			}
		}
	}
	return fsys
}
