package bootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoaderFiles are the syslinux files kickstand serves at the tree's root.
var LoaderFiles = []string{"lpxelinux.0", "pxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32"}

// LoaderSearchPath is where distributions install syslinux's network boot
// files: Debian/Ubuntu (pxelinux, syslinux-common), RHEL/Fedora (syslinux,
// syslinux-tftpboot).
var LoaderSearchPath = []string{
	"/usr/lib/PXELINUX",
	"/usr/lib/syslinux/modules/bios",
	"/usr/share/syslinux",
	"/tftpboot",
	"/usr/lib/syslinux",
}

// FindLoaders locates every file in LoaderFiles: in dir alone when dir is
// given, else in the first directory of LoaderSearchPath that has it.
func FindLoaders(dir string) (map[string]string, error) {
	search := LoaderSearchPath
	if dir != "" {
		search = []string{dir}
	}
	found := map[string]string{}
	var missing []string
	for _, name := range LoaderFiles {
		for _, d := range search {
			p := filepath.Join(d, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				found[name] = p
				break
			}
		}
		if found[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		where := strings.Join(search, ", ")
		if dir != "" {
			return nil, fmt.Errorf("boot loaders: %s not found in --bootloader-dir %s", strings.Join(missing, ", "), dir)
		}
		return nil, fmt.Errorf("boot loaders: %s not found in %s: install them (Debian/Ubuntu: apt-get install pxelinux syslinux-common; RHEL/Fedora: dnf install syslinux-tftpboot) or point --bootloader-dir at a directory that has them",
			strings.Join(missing, ", "), where)
	}
	return found, nil
}

// IPXEFiles are iPXE's network boot programs, served at the tree's root
// when the host has them: UEFI firmware that is not iPXE is chained into
// snponly.efi, which then fetches its per-machine script over HTTP.
var IPXEFiles = map[string][]string{
	// served name: host file names, tried in order in each directory
	"snponly.efi":   {"snponly.efi", "ipxe-snponly-x86_64.efi"},
	"ipxe.efi":      {"ipxe.efi", "ipxe-x86_64.efi"},
	"undionly.kpxe": {"undionly.kpxe"},
}

// IPXESearchPath is where distributions install iPXE's binaries: Debian and
// Ubuntu (ipxe), RHEL and Fedora (ipxe-bootimgs-x86).
var IPXESearchPath = []string{"/usr/lib/ipxe", "/usr/share/ipxe"}

// FindIPXE returns the iPXE binaries found (served name → host path), looking
// in dir first when it is given. Missing ones are simply absent: iPXE is
// optional, and the caller says what a client misses without it.
func FindIPXE(dir string) map[string]string {
	search := IPXESearchPath
	if dir != "" {
		search = append([]string{dir}, search...)
	}
	found := map[string]string{}
	for served, names := range IPXEFiles {
	search:
		for _, d := range search {
			for _, n := range names {
				p := filepath.Join(d, n)
				if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
					found[served] = p
					break search
				}
			}
		}
	}
	return found
}
