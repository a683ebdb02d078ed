package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"kickstand/internal/boot"
	"kickstand/internal/bootfs"
	"kickstand/internal/inventory"
	"kickstand/internal/loaders"
	"kickstand/internal/store"
	"kickstand/internal/treepath"
)

// lowFreeSpace is the free space under which the data directory warns.
const lowFreeSpace = 1 << 30

// loaderPackages says which package installs a boot loader file.
var loaderPackages = map[string]struct{ debian, rhel string }{
	"lpxelinux.0":   {"pxelinux", "syslinux-tftpboot"},
	"pxelinux.0":    {"pxelinux", "syslinux-tftpboot"},
	"ldlinux.c32":   {"syslinux-common", "syslinux-tftpboot"},
	"menu.c32":      {"syslinux-common", "syslinux-tftpboot"},
	"libutil.c32":   {"syslinux-common", "syslinux-tftpboot"},
	"libcom32.c32":  {"syslinux-common", "syslinux-tftpboot"},
	"snponly.efi":   {"ipxe", "ipxe-bootimgs-x86"},
	"undionly.kpxe": {"ipxe", "ipxe-bootimgs-x86"},
}

// checkLoaders checks the boot programs kickstand serves, found where
// serve finds them (--bootloaders): syslinux for BIOS (serve does not
// start without it) and iPXE for UEFI (and for BIOS with --ipxe), each on
// the host or in an RPM on an imported distro's media. It says where each
// comes from.
func (d *Doctor) checkLoaders(ctx context.Context) []Check {
	dir := d.Config.BootloaderDir
	mode, err := loaders.ParseMode(d.Config.Bootloaders)
	if err != nil {
		return []Check{{Name: "loader", Status: Fail, Text: err.Error()}}
	}
	var media []loaders.MediaTree
	if d.Catalog != nil && mode != loaders.Host {
		if ds, err := d.Catalog.Distros(ctx); err == nil {
			var closeMedia func()
			media, closeMedia = loaders.OpenMedia(ds)
			defer closeMedia()
		}
	}
	res := loaders.Finder{Mode: mode, Dir: dir, Media: media, CacheDir: loaders.CacheDir(d.Config.DataDir)}.Find()
	var checks []Check
	if len(res.Missing) == 0 {
		var parts []string
		for _, l := range loaders.Summary(res, bootfs.LoaderFiles...) {
			parts = append(parts, l.Files+" from "+l.Source)
		}
		checks = append(checks, Check{Name: "loader", Status: Pass, Text: "BIOS: " + strings.Join(parts, "; ")})
	} else {
		where := "in " + strings.Join(hostSearch(dir), ", ")
		switch mode {
		case loaders.Media:
			where = "in any imported distro's media"
		case loaders.Auto:
			where += " nor in any imported distro's media"
		}
		checks = append(checks, Check{Name: "loader", Status: Fail, Text: fmt.Sprintf("BIOS: %s not found %s (kickstand serve does not start without them): %s",
			strings.Join(res.Missing, ", "), where, missingAdvice(mode, res.Missing, dir))})
	}
	for _, p := range res.Problems {
		checks = append(checks, Check{Name: "loader", Status: Warn, Text: "boot loader package refused: " + p})
	}
	uses := map[string]string{
		boot.IPXEEFI:  "UEFI x64 PXE in --dhcp proxy for media whose GRUB does not take proxy offers, and distros without shim",
		boot.IPXEBIOS: "BIOS with --ipxe",
	}
	for _, name := range []string{boot.IPXEEFI, boot.IPXEBIOS} {
		if l, ok := res.Loaders[name]; ok {
			checks = append(checks, Check{Name: "loader", Status: Pass, Text: fmt.Sprintf("%s: %s from %s", uefiOrBIOS(name), name, l.Source())})
			continue
		}
		st := Warn
		switch {
		case name == boot.IPXEBIOS && !d.Config.IPXE:
			continue // not used without --ipxe
		case name == boot.IPXEBIOS:
			st = Fail // every BIOS client is sent to it
		}
		checks = append(checks, Check{Name: "loader", Status: st, Text: fmt.Sprintf("%s: %s not found in %s (needed for %s; those machines get no boot answer): %s",
			uefiOrBIOS(name), name, strings.Join(ipxeSearch(dir), ", "), uses[name], missingAdvice(mode, []string{name}, dir))})
	}
	return checks
}

func hostSearch(dir string) []string {
	if dir != "" {
		return []string{dir}
	}
	return bootfs.LoaderSearchPath
}

// missingAdvice says how to provide missing loaders under mode.
func missingAdvice(mode loaders.Mode, missing []string, dir string) string {
	media := "import RHEL-family media (8 or later) that carry " + rhelPackages(missing)
	switch mode {
	case loaders.Media:
		return media + ", or use --bootloaders auto to take the host's"
	case loaders.Host:
		return installHint(missing, dir) + "; or --bootloaders auto takes them from RHEL-family media"
	}
	return installHint(missing, dir) + "; or " + media
}

func rhelPackages(missing []string) string {
	var rhel []string
	for _, name := range missing {
		if p := loaderPackages[name].rhel; p != "" && !slices.Contains(rhel, p) {
			rhel = append(rhel, p)
		}
	}
	return strings.Join(rhel, " and ")
}

func uefiOrBIOS(name string) string {
	if strings.HasSuffix(name, ".efi") {
		return "UEFI"
	}
	return "BIOS"
}

func ipxeSearch(dir string) []string {
	if dir == "" {
		return bootfs.IPXESearchPath
	}
	return append([]string{dir}, bootfs.IPXESearchPath...)
}

// installHint says which packages provide the missing files.
func installHint(missing []string, dir string) string {
	var debian, rhel []string
	for _, name := range missing {
		p := loaderPackages[name]
		if p.debian != "" && !slices.Contains(debian, p.debian) {
			debian = append(debian, p.debian)
		}
		if p.rhel != "" && !slices.Contains(rhel, p.rhel) {
			rhel = append(rhel, p.rhel)
		}
	}
	hint := fmt.Sprintf("install them (Debian/Ubuntu: apt-get install %s; RHEL/Fedora: dnf install %s)", strings.Join(debian, " "), strings.Join(rhel, " "))
	if dir != "" {
		return hint + " and drop --bootloader-dir, or copy them into " + dir
	}
	return hint + " or point --bootloader-dir at a directory that has them"
}

// checkDistros checks each distro's media: in place and unchanged since
// import, with the kernel, initrd and stage2 it was imported with, and the
// shim and GRUB that UEFI machines load in --dhcp full. It returns the
// distros for the SELinux check.
func (d *Doctor) checkDistros(ctx context.Context) ([]store.Distro, []Check) {
	if d.Catalog == nil {
		return nil, []Check{{Name: "distro", Status: Warn, Text: fmt.Sprintf("distros not checked: no store in %s yet (kickstand serve --iso FILE imports one on first use)", d.Config.DataDir)}}
	}
	distros, err := d.Catalog.Distros(ctx)
	if err != nil {
		return nil, []Check{{Name: "distro", Status: Warn, Text: "distros not checked: " + err.Error()}}
	}
	if len(distros) == 0 {
		return nil, []Check{{Name: "distro", Status: Warn, Text: "no distro imported: kickstand serve --iso FILE, or kickstand distro import NAME FILE"}}
	}
	used := map[string][]string{}
	if profiles, err := d.Catalog.Profiles(ctx); err == nil {
		for _, p := range profiles {
			used[p.Distro] = append(used[p.Distro], p.Name)
		}
	}
	tree := &bootfs.Tree{Distro: func(_ context.Context, name string) (bootfs.Source, error) {
		for _, x := range distros {
			if x.Name == name {
				return bootfs.Source{ISO: x.Kind == store.SourceISO, Path: x.Source, Size: x.Size, ModTime: x.ModTime}, nil
			}
		}
		return bootfs.Source{}, fs.ErrNotExist
	}}
	var checks []Check
	for _, x := range distros {
		checks = append(checks, d.distroCheck(ctx, tree, x, used[x.Name]))
	}
	return distros, checks
}

func (d *Doctor) distroCheck(ctx context.Context, tree *bootfs.Tree, x store.Distro, profiles []string) Check {
	name := "distro " + x.Name
	if desc := strings.TrimSpace(strings.Join([]string{x.Family, x.Version, x.Arch}, " ")); desc != "" {
		name += " (" + desc + ")"
	}
	what := "tree"
	if x.Kind == store.SourceISO {
		what = "ISO"
	}
	bad := Warn
	usedBy := ""
	if len(profiles) > 0 {
		bad = Fail // machines of these profiles cannot install
		usedBy = " (used by profile " + strings.Join(profiles, ", ") + ")"
	}
	status := "ok"
	if d.SourceStatus != nil {
		status = d.SourceStatus(x)
	}
	reimport := fmt.Sprintf("kickstand distro remove %s && kickstand distro import %s %s", x.Name, x.Name, x.Source)
	switch status {
	case "ok":
	case "missing":
		return Check{Name: "distro", Status: bad, Text: fmt.Sprintf("%s: its %s %s is gone%s: put it back, or re-import it: %s", name, what, x.Source, usedBy, reimport)}
	case "changed":
		return Check{Name: "distro", Status: bad, Text: fmt.Sprintf("%s: its %s %s changed since import (size or mtime)%s: it is not served until re-imported: %s",
			name, what, x.Source, usedBy, reimport)}
	default:
		return Check{Name: "distro", Status: bad, Text: fmt.Sprintf("%s: %s %s: %s%s", name, what, x.Source, status, usedBy)}
	}
	var missing []string
	for _, p := range []string{x.Kernel, x.Initrd, x.Stage2} {
		if p != "" && !treeHas(ctx, tree, x.Name, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return Check{Name: "distro", Status: bad, Text: fmt.Sprintf("%s: %s %s lacks %s%s: re-import it: %s",
			name, what, x.Source, strings.Join(missing, ", "), usedBy, reimport)}
	}
	text := fmt.Sprintf("%s: %s %s in place and unchanged since import; kernel, initrd and stage2 present", name, what, x.Source)
	st := Pass
	shim, grub, mm := boot.ShimX64, boot.GRUBX64, boot.MokManagerX64
	if x.Arch == "aarch64" {
		shim, grub, mm = boot.ShimARM64, boot.GRUBARM64, boot.MokManagerARM64
	}
	switch {
	case treeHas(ctx, tree, x.Name, treepath.EFIFile(shim)) && treeHas(ctx, tree, x.Name, treepath.EFIFile(grub)):
		text += "; UEFI: shim and GRUB in EFI/BOOT"
		if !treeHas(ctx, tree, x.Name, treepath.EFIFile(mm)) {
			text += " (no " + mm + ": shim cannot start MokManager when Secure Boot refuses GRUB)"
		}
	case d.Config.DHCP == "full":
		st = Warn
		text += fmt.Sprintf("; UEFI: no EFI/BOOT/%s and %s: UEFI machines get iPXE (%s) instead, which Secure Boot refuses", shim, grub, boot.IPXEEFI)
	}
	return Check{Name: "distro", Status: st, Text: text}
}

// treeHas reports whether the distro's tree has the file.
func treeHas(ctx context.Context, tree *bootfs.Tree, distro, name string) bool {
	f, err := tree.Open(ctx, treepath.Distro(distro, name), netip.Addr{})
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// checkDataDir checks that the data directory (the store, snippets) is
// writable and has room.
func (d *Doctor) checkDataDir() []Check {
	dir := d.Config.DataDir
	c := Check{Name: "data-dir"}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := existingParent(dir)
		if err := writable(parent); err != nil {
			c.Status, c.Text = Fail, fmt.Sprintf("%s does not exist and %s is not writable by this user (%v): run as root, or pass --data-dir", dir, parent, err)
		} else {
			c.Status, c.Text = Pass, fmt.Sprintf("%s does not exist yet: kickstand serve creates it", dir)
		}
		return []Check{c}
	case err != nil:
		c.Status, c.Text = Fail, fmt.Sprintf("%s: %v", dir, err)
		return []Check{c}
	case !st.IsDir():
		c.Status, c.Text = Fail, fmt.Sprintf("%s is not a directory: pass --data-dir with a directory", dir)
		return []Check{c}
	}
	if err := writable(dir); err != nil {
		c.Status, c.Text = Fail, fmt.Sprintf("%s is not writable by this user (%v): run as root, or fix its owner and mode", dir, err)
		return []Check{c}
	}
	free, err := freeSpace(dir)
	switch {
	case err != nil:
		c.Status, c.Text = Warn, fmt.Sprintf("%s is writable; free space unknown: %v", dir, err)
	case free < lowFreeSpace:
		c.Status, c.Text = Warn, fmt.Sprintf("%s is writable but has only %s free: the store and its timelines grow with every install; free some space", dir, inventory.Human(int64(free)))
	default:
		c.Status, c.Text = Pass, fmt.Sprintf("%s is writable, %s free", dir, inventory.Human(int64(free)))
	}
	return []Check{c}
}

// writable creates and removes a file in dir.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".kickstand-doctor-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func existingParent(dir string) string {
	for p := filepath.Dir(filepath.Clean(dir)); ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.IsDir() || p == filepath.Dir(p) {
			return p
		}
	}
}
