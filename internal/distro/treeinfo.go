// Package distro recognises RHEL-family install media: it reads ISO9660
// images in place (Rock Ridge, Joliet) into an indexed file tree whose
// files know their byte range inside the ISO, and it reads .treeinfo
// (productmd 1.x and the older format) and .discinfo to find the installer
// kernel, initrd, stage2 image and repositories.
package distro

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Info is what a tree says about itself.
type Info struct {
	Family    string    // e.g. "Rocky Linux"
	Short     string    // e.g. "Rocky"
	Version   string    // e.g. "9.6"
	Arch      string    // e.g. "x86_64"
	Timestamp string    // build time in Unix seconds as written, "" if unknown
	Kernel    string    // relative path of the installer kernel
	Initrd    string    // relative path of the installer initrd
	Stage2    string    // relative path of stage2 (install.img), "" if none
	Variants  []Variant // repositories of the tree; none means the tree root is the repository
}

// Variant is one repository of a tree, from a productmd [variant-*]
// section or the older format's [general] variants.
type Variant struct {
	ID         string // e.g. "BaseOS"
	Name       string // e.g. "BaseOS"
	Type       string // "variant", "addon", "optional", …
	Repository string // relative path of the directory holding repodata/, e.g. "BaseOS"
	Packages   string // relative path of the packages, e.g. "BaseOS/Packages"
}

// maxName is the longest distro name the CLI takes.
const maxName = 63

// Name is kickstand's default name for the distro: lower-case
// <short>-<version>-<arch>, e.g. "rocky-9.6-x86_64". Without a short name
// the first word of the family is used; empty parts are left out. Like a
// name given on the command line, it starts with a letter or digit and has
// at most 63 characters, so that the media can not name itself "..".
func (in Info) Name() string {
	short := in.Short
	if short == "" {
		short, _, _ = strings.Cut(strings.TrimSpace(in.Family), " ")
	}
	var parts []string
	for _, p := range []string{short, in.Version, in.Arch} {
		if p = nameSafe(p); p != "" {
			parts = append(parts, p)
		}
	}
	name := strings.TrimLeft(strings.Join(parts, "-"), "._-")
	return name[:min(len(name), maxName)]
}

// nameSafe lower-cases s and keeps only [a-z0-9._-].
func nameSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
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
			if err := checkText(n, section); err != nil {
				return nil, err
			}
			if out[section] == nil {
				out[section] = map[string]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: want key = value inside a [section], got %q", n, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			for _, text := range []string{k, v} {
				if err := checkText(n, text); err != nil {
					return nil, err
				}
			}
			out[section][k] = v
		}
	}
	return out, sc.Err()
}

// checkText refuses control characters in what a line of a .treeinfo or
// .discinfo says. None belongs there, and the values end up in kickstarts,
// boot configs and terminals: Python's str.splitlines, with which anaconda
// reads a kickstart, ends a line at \x1c-\x1e, \x85, U+2028 and U+2029 too; a
// tab or CR splits an iPXE argument; ESC starts a terminal escape sequence.
func checkText(line int, s string) error {
	if i := strings.IndexFunc(s, isControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("line %d: control character %U in %q", line, r, s)
	}
	return nil
}

// isControl reports whether r is a control character (C0, DEL, C1) or a
// Unicode line or paragraph separator.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

func (f ini) get(section, key string) string { return f[section][key] }

// ParseTreeinfo reads a .treeinfo file in productmd 1.x or the older format.
func ParseTreeinfo(r io.Reader) (Info, error) {
	f, err := parseINI(r)
	if err != nil {
		return Info{}, fmt.Errorf("treeinfo: %w", err)
	}
	in := treeinfo(f, "")
	if in.Arch == "" {
		return Info{}, fmt.Errorf("treeinfo: no architecture in [tree] or [general]")
	}
	return in, nil
}

// treeinfo reads a parsed .treeinfo; arch is used when the file names none
// (.discinfo carries it too). A nil f gives an Info with only Arch set.
func treeinfo(f ini, arch string) Info {
	var in Info
	if _, ok := f["header"]; ok { // productmd 1.x
		in.Family = first(f.get("release", "name"), f.get("general", "family"))
		in.Short = f.get("release", "short")
		in.Version = first(f.get("release", "version"), f.get("general", "version"))
		in.Arch = first(f.get("tree", "arch"), f.get("general", "arch"), arch)
		in.Timestamp = first(f.get("tree", "build_timestamp"), f.get("general", "timestamp"))
		in.Variants = productmdVariants(f)
	} else { // the older anaconda format: everything in [general]
		in.Family = f.get("general", "family")
		in.Version = f.get("general", "version")
		in.Arch = first(f.get("general", "arch"), arch)
		in.Timestamp = f.get("general", "timestamp")
		in.Variants = legacyVariants(f)
	}
	images := "images-" + in.Arch
	in.Kernel = first(f.get(images, "kernel"), f.get("images-xen", "kernel"))
	in.Initrd = first(f.get(images, "initrd"), f.get("images-xen", "initrd"))
	in.Stage2 = first(f.get("stage2", "mainimage"), f.get(images, "mainimage"))
	return in
}

// productmdVariants lists [variant-UID] sections in the order [tree]
// variants gives (each followed by its nested variants, e.g. addons), then
// any others by name.
func productmdVariants(f ini) []Variant {
	var out []Variant
	seen := map[string]bool{}
	var add func(uid string)
	add = func(uid string) {
		section := "variant-" + uid
		if uid == "" || seen[uid] || f[section] == nil {
			return
		}
		seen[uid] = true
		id := first(f.get(section, "id"), uid)
		out = append(out, Variant{
			ID:         id,
			Name:       first(f.get(section, "name"), id),
			Type:       first(f.get(section, "type"), "variant"),
			Repository: f.get(section, "repository"),
			Packages:   f.get(section, "packages"),
		})
		for _, child := range splitList(f.get(section, "variants")) {
			add(child)
		}
	}
	for _, uid := range splitList(f.get("tree", "variants")) {
		add(uid)
	}
	var rest []string
	for section := range f {
		if uid, ok := strings.CutPrefix(section, "variant-"); ok {
			rest = append(rest, uid)
		}
	}
	slices.Sort(rest)
	for _, uid := range rest {
		add(uid)
	}
	return out
}

// legacyVariants reads the older format: [general] variants (or variant)
// names them, [variant-X] or [general] says where their repositories are.
func legacyVariants(f ini) []Variant {
	ids := splitList(first(f.get("general", "variants"), f.get("general", "variant")))
	if len(ids) == 0 && f.get("general", "repository") != "" {
		repo := f.get("general", "repository")
		ids = []string{repo[strings.LastIndexByte(repo, '/')+1:]}
	}
	var out []Variant
	for _, id := range ids {
		section := "variant-" + id
		out = append(out, Variant{
			ID:         id,
			Name:       first(f.get(section, "name"), id),
			Type:       first(f.get(section, "type"), "variant"),
			Repository: first(f.get(section, "repository"), f.get("general", "repository")),
			Packages:   first(f.get(section, "packages"), f.get(section, "packagedir"), f.get("general", "packagedir")),
		})
	}
	return out
}

// splitList splits a comma-separated value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
