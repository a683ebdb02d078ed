package distro

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzReadGRUB feeds arbitrary GRUB images (grubx64.efi comes off the
// install media) and grub.cfg files to ReadGRUB. An image it accepts must
// give a sorted module list of names without NUL, no more modules than the
// image has room for, and HTTP and LinuxEFI decided as documented.
func FuzzReadGRUB(f *testing.F) {
	rhel9Cfg := []byte("set default=0\nmenuentry 'Install' {\n\tlinux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=x quiet\n\tinitrd /images/pxeboot/initrd.img\n}\n")
	rhel8Cfg := []byte("menuentry 'Install' {\n\tlinuxefi /images/pxeboot/vmlinuz\n\tinitrdefi /images/pxeboot/initrd.img\n}\n")
	for _, seed := range grubFuzzSeeds(f) {
		for _, cfg := range [][]byte{nil, rhel9Cfg, rhel8Cfg} {
			f.Add(seed, cfg)
		}
	}
	f.Add([]byte("mimg"), []byte("linux"))
	f.Fuzz(func(t *testing.T, image, cfg []byte) {
		start := time.Now()
		g, err := ReadGRUB(image, cfg)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("reading a %d-byte image took %v", len(image), took)
		}
		if err != nil {
			return
		}
		if !slices.IsSorted(g.Modules) || len(g.Modules) > len(image)/grubModHeaderSize {
			t.Fatalf("%d modules out of %d bytes, sorted %v", len(g.Modules), len(image), slices.IsSorted(g.Modules))
		}
		for _, m := range g.Modules {
			if strings.IndexByte(m, 0) >= 0 {
				t.Fatalf("module name %q has a NUL", m)
			}
		}
		if strings.IndexByte(g.Prefix, 0) >= 0 || len(g.Prefix) > len(image) {
			t.Fatalf("prefix %q out of a %d-byte image", g.Prefix, len(image))
		}
		if strings.IndexByte(g.Config, 0) >= 0 || len(g.Config) > len(image) {
			t.Fatalf("config %q out of a %d-byte image", g.Config, len(image))
		}
		if len(g.MemdiskConfig) > maxMemdiskConfig {
			t.Fatalf("a memdisk config of %d bytes", len(g.MemdiskConfig))
		}
		if g.HTTP != slices.Contains(g.Modules, "http") {
			t.Fatalf("HTTP = %v with modules %q", g.HTTP, g.Modules)
		}
		// The config decides unless the image has the other kernel module
		// and not the one of the command the config names.
		hasLinux, hasLinuxEFI := slices.Contains(g.Modules, "linux"), slices.Contains(g.Modules, "linuxefi")
		wantEFI := hasLinuxEFI
		if cmd, ok := cfgKernelCommand(cfg); ok && (cmd == "linux" && (hasLinux || !hasLinuxEFI) || cmd == "linuxefi" && (hasLinuxEFI || !hasLinux)) {
			wantEFI = cmd == "linuxefi"
		}
		if g.LinuxEFI != wantEFI {
			t.Fatalf("LinuxEFI = %v with modules %q and config %q", g.LinuxEFI, g.Modules, cfg)
		}
	})
}

// grubFuzzSeeds are module areas (the "mimg" header and the modules after
// it, not the rest of the EFI image, to keep seeds small): the real area of
// a grub-mkimage image holding only setjmp, the prefix /grub and an
// embedded config, the ELF objects of Debian's own http, linuxefi and tftp
// modules in a header built here, and the same layout with tiny hand-made
// ELF objects, behind a false "mimg" as GRUB's code contains one.
func grubFuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	tiny := grubModuleArea(tinyModule("http"), tinyModule("linuxefi"), tinyModule("normal"))
	seeds = append(seeds, tiny, append([]byte("xxmimg\x00\x01\x02\x03"), tiny...))
	if _, err := exec.LookPath("grub-mkimage"); err != nil || !fileExists(filepath.Join(grubModDir, "setjmp.mod")) {
		if os.Getenv("CI") == "true" {
			f.Fatalf("grub-mkimage and %s are needed for the fuzz seeds (Debian grub-common, grub-efi-amd64-bin): %v", grubModDir, err)
		}
		return seeds
	}
	out := filepath.Join(f.TempDir(), "grubx64.efi")
	// With a prefix and an embedded config (Debian's netboot GRUB's), so
	// that the area holds a prefix and a config object too.
	cfg := filepath.Join(f.TempDir(), "embedded.cfg")
	if err := os.WriteFile(cfg, []byte("normal (memdisk)/grub.cfg\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	if b, err := exec.Command("grub-mkimage", "-O", "x86_64-efi", "-p", "/grub", "-c", cfg, "-o", out, "setjmp").CombinedOutput(); err != nil {
		f.Fatalf("grub-mkimage: %v\n%s", err, b)
	}
	image, err := os.ReadFile(out)
	if err != nil {
		f.Fatal(err)
	}
	start := bytes.Index(image, []byte(grubModMagic))
	for start >= 0 && binary.LittleEndian.Uint64(image[start+8:]) != grubModInfoSize {
		next := bytes.Index(image[start+1:], []byte(grubModMagic))
		if next < 0 {
			f.Fatal("no module area in grub-mkimage's image")
		}
		start += 1 + next
	}
	seeds = append(seeds, image[start:start+int(binary.LittleEndian.Uint64(image[start+16:]))])
	var objects [][]byte
	for _, name := range []string{"http", "linuxefi", "tftp"} {
		obj, err := os.ReadFile(filepath.Join(grubModDir, name+".mod"))
		if err != nil {
			f.Fatal(err)
		}
		objects = append(objects, obj)
	}
	return append(seeds, grubModuleArea(objects...))
}

// grubModuleArea lays ELF objects out as grub-mkimage does: the 24-byte
// header, then each object behind its {type 0, size} header.
func grubModuleArea(objects ...[]byte) []byte {
	size := grubModInfoSize
	for _, o := range objects {
		size += grubModHeaderSize + len(o)
	}
	b := []byte(grubModMagic + "\x00\x00\x00\x00")
	b = binary.LittleEndian.AppendUint64(b, grubModInfoSize)
	b = binary.LittleEndian.AppendUint64(b, uint64(size))
	for _, o := range objects {
		b = binary.LittleEndian.AppendUint32(b, grubObjELF)
		b = binary.LittleEndian.AppendUint32(b, uint32(grubModHeaderSize+len(o)))
		b = append(b, o...)
	}
	return b
}

// tinyModule is the smallest ELF object ReadGRUB takes for a module: an
// x86-64 relocatable file with a .modname section and a section name table.
func tinyModule(name string) []byte {
	const ehdr, shdr = 64, 64
	modname := name + "\x00"
	shstrtab := "\x00.modname\x00.shstrtab\x00"
	shoff := ehdr + len(modname) + len(shstrtab)
	le := binary.LittleEndian
	b := []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = le.AppendUint16(b, 1)  // ET_REL
	b = le.AppendUint16(b, 62) // EM_X86_64
	b = le.AppendUint32(b, 1)  // EV_CURRENT
	b = le.AppendUint64(b, 0)  // entry
	b = le.AppendUint64(b, 0)  // phoff
	b = le.AppendUint64(b, uint64(shoff))
	b = le.AppendUint32(b, 0) // flags
	b = le.AppendUint16(b, ehdr)
	b = le.AppendUint16(b, 0) // phentsize
	b = le.AppendUint16(b, 0) // phnum
	b = le.AppendUint16(b, shdr)
	b = le.AppendUint16(b, 3) // shnum
	b = le.AppendUint16(b, 2) // shstrndx
	b = append(b, modname...)
	b = append(b, shstrtab...)
	section := func(name, typ uint32, off, size int) {
		b = le.AppendUint32(b, name)
		b = le.AppendUint32(b, typ)
		b = le.AppendUint64(b, 0) // flags
		b = le.AppendUint64(b, 0) // addr
		b = le.AppendUint64(b, uint64(off))
		b = le.AppendUint64(b, uint64(size))
		b = le.AppendUint32(b, 0) // link
		b = le.AppendUint32(b, 0) // info
		b = le.AppendUint64(b, 1) // addralign
		b = le.AppendUint64(b, 0) // entsize
	}
	section(0, 0, 0, 0)
	section(1, 1, ehdr, len(modname))                // .modname, PROGBITS
	section(10, 3, ehdr+len(modname), len(shstrtab)) // .shstrtab, STRTAB
	return b
}
