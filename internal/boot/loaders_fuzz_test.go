package boot

import (
	"bytes"
	"fmt"
	"strings"
)

// This file reads rendered configs back the way each boot loader does, so
// that the fuzz target can tell what the loader would execute. Each reader
// follows the loader's source, not its documentation.

// pxelinuxLine is one line as syslinux's parse_config_file
// (com32/elflink/ldlinux/readconfig.c) sees it: the keyword and the rest.
type pxelinuxLine struct {
	keyword string // upper-cased; "MENU X" for the menu keywords; "" for blank and comment lines
	rest    string // what follows the keyword, leading blanks skipped
	length  int    // read, with the newline
	cut     bool   // fgets stopped before the end of the line
}

// syslinuxMaxLine is readconfig.c's MAX_LINE: fgets reads at most 4095
// bytes, so a longer line goes on as a new line.
const syslinuxMaxLine = 4096

// readPXELinux splits cfg as fgets(line, MAX_LINE) does, cuts each piece at
// its first CR (strchr(line, '\r')) or NUL (C strings), and splits off the
// keyword. Comment lines ("#") and blank lines have no keyword.
func readPXELinux(cfg []byte) []pxelinuxLine {
	var out []pxelinuxLine
	for len(cfg) > 0 {
		n := bytes.IndexByte(cfg, '\n') + 1
		if n == 0 {
			n = len(cfg)
		}
		n = min(n, syslinuxMaxLine-1)
		piece := string(cfg[:n])
		cfg = cfg[n:]
		length, cut := len(piece), !strings.HasSuffix(piece, "\n") && len(cfg) > 0
		if i := strings.IndexAny(piece, "\r\n\x00"); i >= 0 {
			piece = piece[:i]
		}
		line := strings.TrimLeft(piece, syslinuxSpace)
		word, rest := cutWord(line, syslinuxSpace)
		kw := strings.ToUpper(word)
		if kw == "MENU" {
			var sub string
			sub, rest = cutWord(rest, syslinuxSpace)
			kw += " " + strings.ToUpper(sub)
		}
		if strings.HasPrefix(kw, "#") {
			kw, rest = "", ""
		}
		out = append(out, pxelinuxLine{keyword: kw, rest: rest, length: length, cut: cut})
	}
	return out
}

// syslinuxSpace is what syslinux's my_isspace and skipspace take for
// blanks: every byte up to and including space.
var syslinuxSpace = func() string {
	var b strings.Builder
	for c := byte(1); c <= ' '; c++ {
		b.WriteByte(c)
	}
	return b.String()
}()

// cutWord splits the first word (up to a byte of space) off s and skips the
// blanks after it.
func cutWord(s, space string) (word, rest string) {
	i := strings.IndexAny(s, space)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], space)
}

// ipxeLine is one script line as iPXE's process_script (src/image/script.c)
// and system (src/core/exec.c) run it: an optional label and the commands,
// each a list of tokens, that the line's "&&", "||" and ";" separate.
type ipxeLine struct {
	label    string
	hasLabel bool
	commands [][]string
}

// readIPXE splits script into lines at LF, strips one trailing CR, joins a
// line ending in a backslash with the next, ends each line at a NUL, takes
// a leading ":label", and tokenizes the rest at isspace, ending a command at
// a "&&", "||" or ";" token and the line at a token starting with "#".
func readIPXE(script []byte) []ipxeLine {
	var out []ipxeLine
	var joined string
	rest := string(script)
	for rest != "" {
		line, after, _ := strings.Cut(rest, "\n")
		rest = after
		line = strings.TrimSuffix(line, "\r")
		if strings.HasSuffix(line, `\`) {
			joined += strings.TrimSuffix(line, `\`)
			if rest != "" {
				continue
			}
			line = ""
		}
		line, joined = joined+line, ""
		if i := strings.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		var l ipxeLine
		command := strings.TrimLeft(line, ipxeSpace)
		if strings.HasPrefix(command, ":") {
			l.hasLabel = true
			l.label, command = cutWord(command[1:], ipxeSpace)
		}
		var cmd []string
		for _, tok := range strings.FieldsFunc(command, func(r rune) bool { return strings.ContainsRune(ipxeSpace, r) }) {
			if strings.HasPrefix(tok, "#") {
				break
			}
			if tok == "&&" || tok == "||" || tok == ";" {
				l.commands = append(l.commands, cmd)
				cmd = nil
				continue
			}
			cmd = append(cmd, tok)
		}
		if cmd != nil || l.commands != nil {
			l.commands = append(l.commands, cmd)
		}
		out = append(out, l)
	}
	return out
}

// ipxeSpace is iPXE's isspace (src/core/ctype.c).
const ipxeSpace = " \f\n\r\t\v"

// grubWord is one word of a GRUB script, quotes removed.
type grubWord struct {
	text     string
	unquoted string // the characters of the word that were outside quotes
}

// readGRUB reads cfg as GRUB does: grub_file_getline (grub-core/normal/main.c)
// drops every CR and ends a line at its first NUL (a C string); the lexer
// (grub-core/script/yylex.l) makes words of unquoted characters, '...' and
// "..." strings and backslash escapes, starts a comment at a word beginning
// with '#', and ends a command at a newline or ';' outside quotes. It
// returns the commands; an error is a character the renderers must never
// leave unquoted.
func readGRUB(cfg []byte) ([][]grubWord, error) {
	var text strings.Builder
	for i, line := range strings.Split(string(cfg), "\n") {
		line = strings.ReplaceAll(line, "\r", "")
		if j := strings.IndexByte(line, 0); j >= 0 {
			line = line[:j]
		}
		if i > 0 {
			text.WriteByte('\n')
		}
		text.WriteString(line)
	}
	s := text.String()
	var commands [][]grubWord
	var cmd []grubWord
	var w *grubWord
	endWord := func() {
		if w != nil {
			cmd = append(cmd, *w)
			w = nil
		}
	}
	endCommand := func() {
		endWord()
		if cmd != nil {
			commands = append(commands, cmd)
			cmd = nil
		}
	}
	word := func() *grubWord {
		if w == nil {
			w = &grubWord{}
		}
		return w
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
		case c == '\n' || c == ';':
			endCommand()
		case c == '#' && w == nil:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			endCommand()
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d", i)
			}
			word().text += s[i+1 : i+1+j]
			i += 1 + j
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("backslash at the end")
			}
			if s[i+1] != '\n' { // a backslash and a newline join lines
				word().text += s[i+1 : i+2]
			}
			i++
		case strings.IndexByte(grubPlain, c) >= 0:
			word().text += string(c)
			w.unquoted += string(c)
		default:
			return nil, fmt.Errorf("unquoted %q at byte %d", c, i)
		}
	}
	endCommand()
	return commands, nil
}

// grubPlain are the characters kickstand's GRUB configs may have outside
// quotes: none of them is special to GRUB's lexer ('$', '"', '|', '&', '<',
// '>' and the others are).
const grubPlain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=.,:/%{}"
