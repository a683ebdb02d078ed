// Package treepath owns the layout of the tree kickstand serves over TFTP,
// HTTP and FTP: every distro's media under distros/NAME/, the default distro
// also at pub/ (where the classic vsftpd setup put it), and the UEFI loaders
// in a distro's EFI/BOOT/. Paths are built and parsed only here.
package treepath

import "strings"

// The tree's top directories, and the loaders' directory in a distro.
const (
	Distros = "distros"
	Pub     = "pub"
	EFIBoot = "EFI/BOOT"
)

// Distro is the tree path of file in distro name ("." or "" for its root).
func Distro(name, file string) string {
	if file == "" || file == "." {
		return Distros + "/" + name
	}
	return Distros + "/" + name + "/" + file
}

// EFI is the tree path of a UEFI loader (shim, GRUB, MokManager, grub.cfg)
// in distro name.
func EFI(name, file string) string { return Distro(name, EFIBoot+"/"+file) }

// EFIFile is a loader's path inside a distro's media.
func EFIFile(file string) string { return EFIBoot + "/" + file }

// DistroURL is where distro name's tree is served under base (an http:// or
// ftp:// server address without a trailing slash).
func DistroURL(base, name string) string { return base + "/" + Distros + "/" + name + "/" }

// PubURL is where the default distro is served under base.
func PubURL(base string) string { return base + "/" + Pub + "/" }

// Path is a parsed tree path inside a distro.
type Path struct {
	Distro string // "" when Pub: the default distro, whichever it is
	Pub    bool
	File   string // the path inside the distro's media; "." for its root
}

// Parse splits a tree path (with or without a leading slash) into the
// distro it is in and the file inside it; false when it is in no distro
// (a boot loader or config at the root, or distros/ itself).
func Parse(name string) (Path, bool) {
	first, rest, _ := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if rest == "" {
		rest = "."
	}
	switch first {
	case Distros:
		d, file, _ := strings.Cut(rest, "/")
		if d == "." || d == "" || d == ".." {
			return Path{}, false
		}
		if file == "" {
			file = "."
		}
		return Path{Distro: d, File: file}, true
	case Pub:
		return Path{Pub: true, File: rest}, true
	}
	return Path{}, false
}

// InDistro reports whether name is a path inside some distro's tree.
func InDistro(name string) bool {
	_, ok := Parse(name)
	return ok
}
