package boot

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// The values in a boot config come from the store and the install media:
// profile and distro names, kernel arguments (a YAML block scalar gives
// them newlines), paths off a .treeinfo. pxelinux and iPXE have no quoting
// at all, so each value is made to fit the one place it goes, and none can
// end a line, start a command or add a menu entry. FuzzRender reads the
// configs back the way each loader does and checks that.

// isControl reports whether r is an ASCII control character: LF and CR end
// a line for every loader, NUL ends it early for their C code, and the
// others are blanks to syslinux.
func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// oneLine is s as text for the rest of a line (a comment, a title, a menu
// label): every control character becomes a space, and final backslashes,
// with which iPXE (and GRUB before 2.02) join the next line, go, with the
// spaces between them (iPXE's words drop the spaces after a backslash).
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimRight(s, `\ `)
}

// cmdlineArgs are the kernel arguments of a command line: its words between
// spaces and control characters, which the loaders and the kernel take for
// blanks anyway.
func cmdlineArgs(cmdline string) []string {
	return strings.FieldsFunc(cmdline, func(r rune) bool { return r == ' ' || isControl(r) })
}

// hasArg reports whether a kernel command line sets name (name=...).
func hasArg(args []string, name string) bool {
	for _, arg := range args {
		if key, _, _ := strings.Cut(arg, "="); key == name {
			return true
		}
	}
	return false
}

// maxLabel bounds a label: a longer one (never a name the CLI accepts) is
// cut and told apart by a hash, so that a pxelinux LABEL line stays short.
const maxLabel = 80

// label is the menu label (pxelinux LABEL, iPXE item and label, GRUB --id)
// for a name: one word of letters, digits, '.', '_' and '-', any other byte
// as %XX, so that distinct names keep distinct labels.
func label(name string) string {
	l := escapeBytes(name, func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	})
	if len(l) > maxLabel {
		h := fnv.New64a()
		h.Write([]byte(name))
		l = fmt.Sprintf("%s-%016x", l[:maxLabel-17], h.Sum64())
	}
	return l
}

// loaderURL is u as one word that every loader takes literally: blanks,
// control characters, non-ASCII bytes and the characters a loader gives a
// meaning (quotes, backslash, '$', braces, '#', '&', ';', '|' and the like)
// as %XX, which the HTTP server decodes back. A URL already escaped, as
// every URL kickstand makes of a plain path is, stays as it is.
func loaderURL(u string) string {
	return escapeBytes(u, func(c byte) bool {
		return c > ' ' && c < 0x7f && !strings.ContainsRune("\"#$&';<>\\^`{|}", rune(c))
	})
}

// escapeBytes writes each byte of s that keep refuses as %XX.
func escapeBytes(s string, keep func(byte) bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; keep(c) {
			b.WriteByte(c)
		} else {
			b.Write([]byte{'%', hex[c>>4], hex[c&15]})
		}
	}
	return b.String()
}
