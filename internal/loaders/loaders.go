// Package loaders decides where each boot loader kickstand serves comes
// from: the host's packages (syslinux, iPXE), or the RPMs that a
// RHEL-family distro's media carries (syslinux-tftpboot,
// ipxe-bootimgs-x86), read out of the imported ISO or tree, checked
// against the digests the package records, and cached in the data
// directory. serve, doctor and distro list all ask it, so that they agree.
package loaders

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"kickstand/internal/bootfs"
)

// Mode is where boot loaders may come from (--bootloaders).
type Mode string

// Modes.
const (
	// Auto takes the host's files, and the media's where the host has none.
	Auto Mode = "auto"
	// Host takes the host's files only (--bootloader-dir, else the
	// distribution packages' directories).
	Host Mode = "host"
	// Media takes the media's RPMs only.
	Media Mode = "media"
)

// ParseMode checks a --bootloaders value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, Host, Media:
		return m, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("--bootloaders %q: want auto (the host's, else the media's), host or media", s)
}

// Origin says where a loader comes from.
type Origin string

// Origins.
const (
	FromHost  Origin = "host"
	FromMedia Origin = "media"
)

// Loader is one boot loader file and where it comes from.
type Loader struct {
	// Name is the file's name at the tree's root (lpxelinux.0, snponly.efi).
	Name   string
	Origin Origin
	// Path is the file served: on the host, or extracted into the cache;
	// "" for a media loader not extracted yet (doctor and distro list do
	// not extract).
	Path string
	// Media loaders: the distro whose media carries the package, the
	// package's file in it, its name-version-release.arch, and which of
	// its digests were checked ("" until extracted).
	Distro, RPM, Package, Verified string
}

// Source says where the loader comes from, for people and timelines:
// "host /usr/lib/PXELINUX/lpxelinux.0" or "media rocky: RPM
// syslinux-tftpboot-6.04-0.20.el9.noarch (BaseOS/Packages/s/...; payload
// sha256 verified)".
func (l Loader) Source() string {
	if l.Origin == FromHost {
		return "host " + l.Path
	}
	s := fmt.Sprintf("media %s: RPM %s (%s", l.Distro, l.Package, l.RPM)
	if l.Verified == "" {
		return s + "; checked and extracted when serve starts)"
	}
	return s + "; " + l.Verified + " verified)"
}

// group is the loaders one package provides.
type group struct {
	// what the files are for, in messages.
	what string
	// packages are the RPM names that carry them, in the order tried.
	packages []string
	// dirs are where those packages install them.
	dirs []string
	// files maps each served name to the names it has in those packages,
	// tried in order.
	files map[string][]string
	// whole: the files only work together (pxelinux.0 loads the
	// ldlinux.c32 of its own build), so all come from one place.
	whole bool
}

var syslinux = group{
	what:     "BIOS (syslinux)",
	packages: []string{"syslinux-tftpboot"},
	// /tftpboot in RHEL 8 and 9, /var/lib/tftpboot in RHEL 7.
	dirs:  []string{"/tftpboot", "/var/lib/tftpboot"},
	files: sameNames(bootfs.LoaderFiles),
	whole: true,
}

var ipxe = group{
	what:     "iPXE",
	packages: []string{"ipxe-bootimgs-x86", "ipxe-bootimgs"}, // RHEL 9; RHEL 8
	dirs:     []string{"/usr/share/ipxe"},
	files: map[string][]string{
		"snponly.efi":   {"ipxe-snponly-x86_64.efi", "ipxe-snponly-x64.efi", "snponly.efi"},
		"ipxe.efi":      {"ipxe-x86_64.efi", "ipxe.efi"},
		"undionly.kpxe": {"undionly.kpxe"},
	},
}

func sameNames(names []string) map[string][]string {
	m := map[string][]string{}
	for _, n := range names {
		m[n] = []string{n}
	}
	return m
}

// served returns the served names of the group's files, sorted.
func (g group) served() []string {
	if g.whole {
		return slices.Clone(bootfs.LoaderFiles) // their usual order, for messages
	}
	var names []string
	for n := range g.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// want reports whether a path in the package is one of the group's files,
// and which served name it is.
func (g group) want(p string) (served string, rank int, ok bool) {
	if !slices.Contains(g.dirs, path.Dir(p)) {
		return "", 0, false
	}
	base := path.Base(p)
	for served, names := range g.files {
		if i := slices.Index(names, base); i >= 0 {
			return served, i, true
		}
	}
	return "", 0, false
}

// repoDirs are where install media keep their packages: RHEL 8 and later
// in BaseOS and AppStream, older ones and Fedora's in Packages, each
// sometimes in a folder per first letter.
var repoDirs = []string{"BaseOS/Packages", "AppStream/Packages", "Packages"}

// candidates returns the group's package files on the media, preferred
// first (the highest version by name within a directory).
func (g group) candidates(fsys fs.FS) []string {
	var out []string
	for _, dir := range repoDirs {
		for _, pkg := range g.packages {
			for _, d := range []string{dir + "/" + pkg[:1], dir} {
				// "-[0-9]" after the name: ipxe-bootimgs is not ipxe-bootimgs-x86.
				matches, _ := fs.Glob(fsys, d+"/"+pkg+"-[0-9]*.rpm")
				slices.Reverse(matches)
				out = append(out, matches...)
			}
		}
	}
	return out
}

// missingText lists names.
func missingText(names []string) string { return strings.Join(names, ", ") }

// Advice says how to provide the syslinux files when none were found.
func Advice(mode Mode, dir string) string {
	host := "install them (Debian/Ubuntu: apt-get install pxelinux syslinux-common; RHEL/Fedora: dnf install syslinux-tftpboot)"
	if dir != "" {
		host += " and drop --bootloader-dir, or copy them into " + dir
	} else {
		host += " or point --bootloader-dir at a directory that has them"
	}
	media := "import RHEL-family install media (8 or later) whose BaseOS/Packages carries syslinux-tftpboot"
	switch mode {
	case Host:
		return host + "; or --bootloaders auto takes them from RHEL-family media"
	case Media:
		return media + "; or --bootloaders auto takes the host's"
	}
	return host + "; or " + media
}

// Line is the loaders that come from one place.
type Line struct {
	Files  string // "lpxelinux.0, pxelinux.0, ldlinux.c32"
	Source string // Loader.Source
}

// Names are every boot loader's served name, syslinux's first.
func Names() []string { return append(syslinux.served(), ipxe.served()...) }

// Summary groups the loaders found by where they come from, for logs and
// reports: those named, or all of them (syslinux's first).
func Summary(r Result, names ...string) []Line {
	if len(names) == 0 {
		names = Names()
	}
	var out []Line
	index := map[string]int{}
	for _, name := range names {
		l, ok := r.Loaders[name]
		if !ok {
			continue
		}
		src := l.Source()
		if l.Origin == FromHost {
			src = "host " + path.Dir(l.Path) // one line per directory
		}
		if i, ok := index[src]; ok {
			out[i].Files += ", " + name
			continue
		}
		index[src] = len(out)
		out = append(out, Line{Files: name, Source: src})
	}
	return out
}
