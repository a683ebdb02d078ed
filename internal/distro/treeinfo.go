// Package distro recognises RHEL-family install trees: it reads .treeinfo
// (productmd 1.x and the older format) and finds the installer kernel,
// initrd and stage2 image.
package distro

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Info is what a tree says about itself.
type Info struct {
	Family  string // e.g. "Rocky Linux"
	Short   string // e.g. "Rocky"
	Version string // e.g. "9.6"
	Arch    string // e.g. "x86_64"
	Kernel  string // relative path of the installer kernel
	Initrd  string // relative path of the installer initrd
	Stage2  string // relative path of stage2 (install.img), "" if none
}

// ini is a parsed INI file: section → key → value.
type ini map[string]map[string]string

// maxTreeinfo bounds how much of a .treeinfo is read; real ones are a few KiB.
const maxTreeinfo = 1 << 20

func parseINI(r io.Reader) (ini, error) {
	out := ini{}
	section := ""
	sc := bufio.NewScanner(io.LimitReader(r, maxTreeinfo))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: unterminated section header %q", n, line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if out[section] == nil {
				out[section] = map[string]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: want key = value inside a [section], got %q", n, line)
			}
			out[section][strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out, sc.Err()
}

func (f ini) get(section, key string) string { return f[section][key] }

// ParseTreeinfo reads a .treeinfo file in productmd 1.x or the older format.
func ParseTreeinfo(r io.Reader) (Info, error) {
	f, err := parseINI(r)
	if err != nil {
		return Info{}, fmt.Errorf("treeinfo: %w", err)
	}
	var in Info
	if _, ok := f["header"]; ok { // productmd 1.x
		in.Family = first(f.get("release", "name"), f.get("general", "family"))
		in.Short = f.get("release", "short")
		in.Version = first(f.get("release", "version"), f.get("general", "version"))
		in.Arch = first(f.get("tree", "arch"), f.get("general", "arch"))
	} else { // the older anaconda format: everything in [general]
		in.Family = f.get("general", "family")
		in.Version = f.get("general", "version")
		in.Arch = f.get("general", "arch")
	}
	if in.Arch == "" {
		return Info{}, fmt.Errorf("treeinfo: no architecture in [tree] or [general]")
	}
	images := "images-" + in.Arch
	in.Kernel = first(f.get(images, "kernel"), f.get("images-xen", "kernel"))
	in.Initrd = first(f.get(images, "initrd"), f.get("images-xen", "initrd"))
	in.Stage2 = first(f.get("stage2", "mainimage"), f.get(images, "mainimage"))
	return in, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
