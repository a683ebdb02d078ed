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
	// Config is the image's embedded config (grub-mkimage -c), "" for none:
	// "normal (memdisk)/grub.cfg" in Debian's signed images, whose memdisk
	// config then sources the config from $prefix.
	Config string
	// MemdiskConfig is the config file in the image's memdisk that its
	// embedded config names ("(memdisk)/grub.cfg"), "" for none or when the
	// memdisk cannot be read: in Debian's signed GRUB it sources
	// $prefix/x86_64-efi/grub.cfg, else $prefix/grub.cfg.
	MemdiskConfig string
	// PrefixConfigs are the files under $prefix that the embedded and
	// memdisk configs source, in their order ("x86_64-efi/grub.cfg",
	// "grub.cfg"): where this GRUB looks for its config on the server.
	PrefixConfigs []string
}

// maxMemdiskConfig bounds the memdisk config read out of an image.
const maxMemdiskConfig = 1 << 20

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
	grubObjMemdisk    = 1
	grubObjConfig     = 2
	grubObjPrefix     = 3
)

// ReadGRUB reads the module list, prefix, embedded config and memdisk
// config out of a GRUB EFI image (a memdisk it cannot read only leaves
// MemdiskConfig empty), and decides the kernel commands from the distro's own grub.cfg
// when there is one (what the distro boots its media with is what its GRUB
// understands), else from the modules: a GRUB with a linuxefi module is a
// RHEL 7/8 one (or Debian 12's, whose linuxefi works as well), where linux
// may not boot through the EFI stub. When the config names a command the
// image lacks — linuxefi in a GRUB with a linux module and no linuxefi
// module, as Debian 13's signed GRUB put on media whose grub.cfg is RHEL 8's
// — the image wins: GRUB would stop at "can't find command".
func ReadGRUB(image []byte, distroCfg []byte) (GRUB, error) {
	a, err := readModuleArea(image)
	if err != nil {
		return GRUB{}, err
	}
	g := GRUB{Modules: a.modules, HTTP: slices.Contains(a.modules, "http"), Prefix: a.prefix, Config: a.config}
	if name, ok := memdiskPath(a.config); ok && a.memdisk != nil {
		if b, err := squashfsFile(a.memdisk, name, maxMemdiskConfig); err == nil {
			g.MemdiskConfig = string(b)
		}
	}
	g.PrefixConfigs = prefixConfigs(g.Config + "\n" + g.MemdiskConfig)
	if cmd, ok := cfgKernelCommand(distroCfg); ok && !lacksCommand(a.modules, cmd) {
		g.LinuxEFI = cmd == "linuxefi"
	} else {
		g.LinuxEFI = slices.Contains(a.modules, "linuxefi")
	}
	return g, nil
}

// lacksCommand reports whether a GRUB with modules surely has no kernel
// command cmd (linux or linuxefi): the module of that name is missing and
// the other one is there. Without either (no image seen to have neither)
// the config is believed.
func lacksCommand(modules []string, cmd string) bool {
	other := "linuxefi"
	if cmd == "linuxefi" {
		other = "linux"
	}
	return !slices.Contains(modules, cmd) && slices.Contains(modules, other)
}

// moduleArea is what the module area of a GRUB image holds.
type moduleArea struct {
	modules []string // sorted
	prefix  string   // the built-in prefix, "" for none
	config  string   // the embedded config, "" for none
	memdisk []byte   // the memdisk image, nil for none
}

// readModuleArea finds the module area of a GRUB image and reads it.
func readModuleArea(image []byte) (moduleArea, error) {
	for off := 0; ; {
		i := bytes.Index(image[off:], []byte(grubModMagic))
		if i < 0 {
			return moduleArea{}, errors.New("not a GRUB EFI image: no module area")
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
		return readModuleObjects(image[start+grubModInfoSize : start+int(size)])
	}
}

// readModuleObjects reads the objects of a module area: the names of its
// ELF modules, its prefix and its config (NUL-terminated strings, padded),
// and its memdisk.
func readModuleObjects(area []byte) (moduleArea, error) {
	var a moduleArea
	for len(area) >= grubModHeaderSize {
		typ := binary.LittleEndian.Uint32(area)
		size := binary.LittleEndian.Uint32(area[4:])
		if size < grubModHeaderSize || uint64(size) > uint64(len(area)) {
			return moduleArea{}, fmt.Errorf("GRUB module area: a module of %d bytes in the %d left", size, len(area))
		}
		switch obj := area[grubModHeaderSize:size]; typ {
		case grubObjELF:
			name, err := elfModName(obj)
			if err != nil {
				return moduleArea{}, err
			}
			a.modules = append(a.modules, name)
		case grubObjPrefix:
			a.prefix = cString(obj)
		case grubObjConfig:
			a.config = cString(obj)
		case grubObjMemdisk:
			a.memdisk = obj
		}
		area = area[size:]
	}
	slices.Sort(a.modules)
	return a, nil
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	s, _, _ := bytes.Cut(b, []byte{0})
	return string(s)
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
	return cString(b), nil
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

// memdiskPath returns the path inside the memdisk that a config names
// ("(memdisk)/grub.cfg" gives "grub.cfg").
func memdiskPath(cfg string) (string, bool) {
	for _, word := range strings.Fields(cfg) {
		if p, ok := strings.CutPrefix(word, "(memdisk)/"); ok && p != "" {
			return strings.Trim(p, `"'`), true
		}
	}
	return "", false
}

// prefixConfigs returns the files under $prefix that the source and
// configfile commands of cfg read, in order, each once.
func prefixConfigs(cfg string) []string {
	var files []string
	sc := bufio.NewScanner(strings.NewReader(cfg))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "source" && f[0] != "configfile" {
			continue
		}
		arg := strings.Trim(f[1], `"'`)
		for _, p := range []string{"$prefix/", "${prefix}/"} {
			if name, ok := strings.CutPrefix(arg, p); ok && name != "" && !slices.Contains(files, name) {
				files = append(files, name)
			}
		}
	}
	return files
}
