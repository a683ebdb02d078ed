package distro

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// GRUB is what a distro's network GRUB image understands, as far as the
// configs kickstand writes for it depend on it.
type GRUB struct {
	// Modules are the modules built into the image, sorted.
	Modules []string
	// LinuxEFI: the image boots kernels with linuxefi/initrdefi (RHEL 7 and
	// 8), not linux/initrd.
	LinuxEFI bool
	// HTTP: the image can load files over HTTP; without it kernel and
	// initrd must come over TFTP.
	HTTP bool
	// Prefix is the image's built-in prefix (grub-mkimage -p), "" for none:
	// "/grub" in Debian's netboot GRUB, whose embedded config then reads
	// $prefix/grub.cfg from the server it booted from, not a per-MAC config
	// from the boot file's directory.
	Prefix string
}

// BadGRUBError is a GRUB image that ReadGRUB cannot make sense of.
type BadGRUBError struct {
	Name string
	Err  error
}

func (e *BadGRUBError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *BadGRUBError) Unwrap() error { return e.Err }

// An EFI GRUB image (grub-mkimage) carries its modules in a section that
// starts with this header: magic "mimg", padding, then the offset of the
// first module and the size of the whole area, both from the header's start.
// Each module is a {type, size} header (size includes it) and its object;
// type 0 is an ELF module, whose .modname section is its name.
const (
	grubModMagic      = "mimg"
	grubModInfoSize   = 24
	grubModHeaderSize = 8
	grubObjELF        = 0
	grubObjPrefix     = 3
)

// ReadGRUB reads the module list out of a GRUB EFI image, and decides the
// kernel commands from the distro's own grub.cfg when there is one (what the
// distro boots its media with is what its GRUB understands), else from the
// modules: a GRUB with a linuxefi module is a RHEL 7/8 one (or Debian's,
// whose linuxefi works as well), where linux may not boot through the EFI
// stub.
func ReadGRUB(image []byte, distroCfg []byte) (GRUB, error) {
	mods, prefix, err := grubModules(image)
	if err != nil {
		return GRUB{}, err
	}
	g := GRUB{Modules: mods, HTTP: slices.Contains(mods, "http"), Prefix: prefix}
	if cmd, ok := cfgKernelCommand(distroCfg); ok {
		g.LinuxEFI = cmd == "linuxefi"
	} else {
		g.LinuxEFI = slices.Contains(mods, "linuxefi")
	}
	return g, nil
}

// grubModules returns the names of the modules in a GRUB image, and its
// built-in prefix.
func grubModules(image []byte) ([]string, string, error) {
	for off := 0; ; {
		i := bytes.Index(image[off:], []byte(grubModMagic))
		if i < 0 {
			return nil, "", errors.New("not a GRUB EFI image: no module area")
		}
		start := off + i
		off = start + 1
		if len(image)-start < grubModInfoSize {
			continue
		}
		first := binary.LittleEndian.Uint64(image[start+8:])
		size := binary.LittleEndian.Uint64(image[start+16:])
		if first != grubModInfoSize || size < first || size > uint64(len(image)-start) {
			continue // the magic inside GRUB's code, not the header
		}
		return grubModuleNames(image[start+grubModInfoSize : start+int(size)])
	}
}

// grubModuleNames reads the objects of a module area: the names of its ELF
// modules, and its prefix (a NUL-terminated string, padded).
func grubModuleNames(area []byte) ([]string, string, error) {
	var names []string
	var prefix string
	for len(area) >= grubModHeaderSize {
		typ := binary.LittleEndian.Uint32(area)
		size := binary.LittleEndian.Uint32(area[4:])
		if size < grubModHeaderSize || uint64(size) > uint64(len(area)) {
			return nil, "", fmt.Errorf("GRUB module area: a module of %d bytes in the %d left", size, len(area))
		}
		switch obj := area[grubModHeaderSize:size]; typ {
		case grubObjELF:
			name, err := elfModName(obj)
			if err != nil {
				return nil, "", err
			}
			names = append(names, name)
		case grubObjPrefix:
			p, _, _ := bytes.Cut(obj, []byte{0})
			prefix = string(p)
		}
		area = area[size:]
	}
	slices.Sort(names)
	return names, prefix, nil
}

func elfModName(obj []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		return "", fmt.Errorf("GRUB module: %w", err)
	}
	defer f.Close()
	s := f.Section(".modname")
	if s == nil {
		return "", errors.New("GRUB module without a .modname section")
	}
	b, err := s.Data()
	if err != nil {
		return "", fmt.Errorf("GRUB module name: %w", err)
	}
	name, _, _ := bytes.Cut(b, []byte{0})
	return string(name), nil
}

// cfgKernelCommand returns the command the first kernel line of a grub.cfg
// uses: linux or linuxefi.
func cfgKernelCommand(cfg []byte) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(cfg))
	for sc.Scan() {
		switch f := strings.Fields(sc.Text()); {
		case len(f) == 0:
		case f[0] == "linux", f[0] == "linuxefi":
			return f[0], true
		}
	}
	return "", false
}
