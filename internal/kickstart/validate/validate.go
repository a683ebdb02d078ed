// Package validate checks rendered kickstart files against the syntax that
// anaconda accepts (pykickstart's handler for the release: RHEL 8, 9, 10 or
// Fedora), so that a kickstart anaconda would stop on is caught when it is
// rendered rather than minutes into an install on a machine at the far end
// of a network boot.
//
// A problem is an error when anaconda stops on it (an unknown command or
// option, a bad value, a missing %end, autopart with part) and a warning
// when anaconda logs it and goes on (a deprecated option, a command given
// twice, a plaintext password). Only errors make a kickstart unusable.
//
// It checks syntax: commands, their options and arguments, sections and
// %include. A command that is missing is never a problem, because anaconda
// asks for it or has a default.
package validate

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxIncludeDepth bounds %include nesting; anything deeper is almost
// certainly a loop through differently spelled paths.
const maxIncludeDepth = 8

// maxIncludes bounds the files read for one Check, so that includes that
// fan out cannot make it take exponential time.
const maxIncludes = 100

// Severity says whether anaconda stops on a problem.
type Severity int

// The severities.
const (
	// Error is what anaconda stops on: the kickstart cannot be used.
	Error Severity = iota
	// Warning is what anaconda logs and goes on with.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Problem is one error or warning in a kickstart, with its 1-based line
// number.
type Problem struct {
	Line     int
	Severity Severity
	Message  string
}

// String formats p as "line N: message", "line N: warning: message" for a
// warning.
func (p Problem) String() string {
	if p.Severity == Warning {
		return fmt.Sprintf("line %d: warning: %s", p.Line, p.Message)
	}
	return fmt.Sprintf("line %d: %s", p.Line, p.Message)
}

// Errors returns the problems that are errors.
func Errors(problems []Problem) []Problem { return bySeverity(problems, Error) }

// Warnings returns the problems that are warnings.
func Warnings(problems []Problem) []Problem { return bySeverity(problems, Warning) }

func bySeverity(problems []Problem, s Severity) []Problem {
	var out []Problem
	for _, p := range problems {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// PasswordPolicy says what a plaintext password in a kickstart is.
type PasswordPolicy int

// The policies for plaintext passwords.
const (
	// PasswordsWarn makes a plaintext password a warning (anaconda takes it).
	PasswordsWarn PasswordPolicy = iota
	// PasswordsRefuse makes it an error: the site wants only hashes.
	PasswordsRefuse
)

// ParsePasswordPolicy returns the policy named s: warn or refuse.
func ParsePasswordPolicy(s string) (PasswordPolicy, error) {
	switch s {
	case "warn", "":
		return PasswordsWarn, nil
	case "refuse":
		return PasswordsRefuse, nil
	}
	return PasswordsWarn, fmt.Errorf("unknown password policy %q: want warn or refuse", s)
}

func (p PasswordPolicy) String() string {
	if p == PasswordsRefuse {
		return "refuse"
	}
	return "warn"
}

// Options change what is accepted.
type Options struct {
	// Version is the syntax to check against (zero: RHEL9).
	Version Version
	// Passwords is what a plaintext rootpw, user or sshpw password is (zero:
	// a warning).
	Passwords PasswordPolicy
	// Include reads %include and %ksappend files (and URLs) by path, which
	// are checked too. A relative path is resolved first against the
	// directory of the file that includes it (see Path). A file it cannot
	// read is a warning: %pre may write it, or the installer may reach it.
	// nil: includes are neither followed nor reported.
	Include func(path string) (string, error)
	// Path is where the text was read from, for resolving relative
	// includes ("": the working directory).
	Path string
}

// Check returns every problem in text (nil when none), in line order.
func Check(text string, opt Options) []Problem {
	k := &checker{
		opt:     opt,
		table:   tableFor(opt.Version),
		frames:  []frame{{path: opt.Path}},
		first:   map[string]*call{},
		group:   map[int]*call{},
		defined: map[string]*call{},
	}
	k.read(text)
	if k.section != nil {
		k.report(k.section.at, fmt.Sprintf("%s has no %%end: add %%end after its last line", k.section.name))
	}
	k.checkPartitioning()
	if len(k.problems) == 0 {
		return nil
	}
	sort.SliceStable(k.problems, func(i, j int) bool { return k.problems[i].Line < k.problems[j].Line })
	return k.problems
}

// frame is one text being read: the kickstart itself, or an included file.
type frame struct {
	path string // empty for the kickstart itself
	line int    // the line being read
}

// place is where something was written: a line of the kickstart, and for
// included text the chain of includes that led to it.
type place struct {
	top   int     // line in the kickstart given to Check
	chain []frame // included files, outermost first; empty at top level
}

// prefix leads a message about something inside included text.
func (p place) prefix() string {
	var b strings.Builder
	for _, f := range p.chain {
		fmt.Fprintf(&b, "in %s line %d: ", f.path, f.line)
	}
	return b.String()
}

// String names p for a message about something elsewhere.
func (p place) String() string {
	if len(p.chain) == 0 {
		return fmt.Sprintf("line %d", p.top)
	}
	in := p.chain[len(p.chain)-1]
	return fmt.Sprintf("line %d of %s (included on line %d)", in.line, in.path, p.top)
}

// openSection is a %section whose %end has not been seen yet.
type openSection struct {
	name string
	at   place
}

type checker struct {
	opt      Options
	table    *table
	problems []Problem
	frames   []frame
	section  *openSection
	included int              // files read through Options.Include
	calls    []*call          // every command, in the order read
	first    map[string]*call // first use of each command
	group    map[int]*call    // first member seen of each exclusiveGroups entry
	defined  map[string]*call // first definition of each duplicateKeys key
}

func (k *checker) version() Version { return k.table.version }

// report adds an error.
func (k *checker) report(at place, msg string) {
	k.problems = append(k.problems, Problem{Line: at.top, Severity: Error, Message: at.prefix() + msg})
}

// warn adds a warning.
func (k *checker) warn(at place, msg string) {
	k.problems = append(k.problems, Problem{Line: at.top, Severity: Warning, Message: at.prefix() + msg})
}

// here is the place of the line being read.
func (k *checker) here() place {
	p := place{top: k.frames[0].line}
	if len(k.frames) > 1 {
		p.chain = append([]frame(nil), k.frames[1:]...)
	}
	return p
}

// read checks text line by line; included text is read through the same
// state, as anaconda does, so an include may continue an open section.
func (k *checker) read(text string) {
	current := len(k.frames) - 1
	for i, line := range splitLines(text) {
		k.frames[current].line = i + 1
		k.line(line)
	}
}

// splitLines splits text into lines where anaconda does: pykickstart reads
// a kickstart with Python's str.splitlines, which ends a line at CR LF, LF,
// CR, VT, FF, FS, GS, RS, NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR. Like
// strings.Split, it keeps the empty line after a final line break.
func splitLines(text string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch r {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			lines = append(lines, text[start:i])
			if r == '\r' && strings.HasPrefix(text[i+size:], "\n") {
				size++
			}
			start = i + size
		}
		i += size
	}
	return append(lines, text[start:])
}

func (k *checker) line(line string) {
	at := k.here()
	if k.section != nil {
		k.sectionLine(at, line)
		return
	}
	words, midComment, err := split(line, true)
	if err != nil {
		k.report(at, err.Error())
		return
	}
	if midComment {
		k.report(at, `"#" inside a word starts a comment, so anaconda ignores the rest of the line: quote the value that contains it`)
	}
	if len(words) == 0 {
		return
	}
	switch first := words[0]; {
	case first == "%include" || first == "%ksappend":
		k.include(at, words)
	case first == "%end":
		k.report(at, "%end without an open section: remove it, or add the section header it closes")
	case strings.HasPrefix(first, "%"):
		k.open(at, words)
	default:
		k.command(at, words)
	}
}

// sectionLine handles a line inside a section. Bodies are not parsed, but
// like anaconda a line starting with a known section header ends the
// section early, and %include is followed.
func (k *checker) sectionLine(at place, line string) {
	trimmed := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(trimmed, "%") {
		return
	}
	switch first := strings.Fields(trimmed)[0]; {
	case first == "%end":
		k.section = nil
	case first == "%include" || first == "%ksappend":
		words, _, err := split(line, false)
		if err != nil {
			k.report(at, err.Error())
			return
		}
		k.include(at, words)
	case k.table.sections[first] != nil:
		k.report(at, fmt.Sprintf("%s starts inside %s opened on %s: end %s with %%end first",
			first, k.section.name, k.section.at, k.section.name))
		k.section = nil
		words, _, err := split(line, true)
		if err != nil {
			k.report(at, err.Error())
			return
		}
		k.open(at, words)
	}
}

// open starts a section from its header line.
func (k *checker) open(at place, words []string) {
	name := words[0]
	k.section = &openSection{name: name, at: at}
	spec := k.table.sections[name]
	if spec == nil {
		msg := "unknown section " + name
		if hint := closest(name, k.table.sectionNames()); hint != "" {
			k.report(at, msg+": did you mean "+hint+"?")
			return
		}
		k.report(at, msg+" in "+k.version().title()+": use "+orList(k.table.sectionNames()))
		return
	}
	if why, ok := k.table.sectionDeprecated[name]; ok {
		k.warn(at, name+" "+why)
	}
	c := k.parse(at, name, spec, words[1:])
	k.apply(c, spec)
}

// include follows %include (and %ksappend) through Options.Include.
func (k *checker) include(at place, words []string) {
	keyword := words[0]
	if len(words) < 2 || words[1] == "" {
		k.report(at, keyword+" needs a file path: write "+keyword+" /tmp/part-include")
		return
	}
	file := words[1]
	if len(k.frames) > maxIncludeDepth {
		k.report(at, fmt.Sprintf("%s %s is nested more than %d deep: flatten the includes", keyword, file, maxIncludeDepth))
		return
	}
	target := k.resolve(file)
	for _, f := range k.frames[1:] {
		if f.path == target {
			k.report(at, fmt.Sprintf("%s %s includes itself through a loop: remove it", keyword, file))
			return
		}
	}
	// Without a resolver there is no way to know what the installer will
	// have (anaconda fetches URLs; %pre writes files): not checked.
	if k.opt.Include == nil {
		return
	}
	clean := path.Clean(file)
	if strings.HasPrefix(clean, "/tmp/") || strings.HasPrefix(clean, "/run/") {
		return // written by %pre at install time
	}
	if k.included == maxIncludes {
		k.report(at, fmt.Sprintf("%s %s is one include too many (the limit is %d): flatten the includes", keyword, file, maxIncludes))
		return
	}
	k.included++
	text, err := k.opt.Include(target)
	if err != nil {
		k.warn(at, fmt.Sprintf("%s %s is not checked: %v; the installer must be able to read it", keyword, file, err))
		return
	}
	k.frames = append(k.frames, frame{path: target})
	k.read(text)
	k.frames = k.frames[:len(k.frames)-1]
}

// resolve returns the path of an included file: a relative path is read
// from the directory of the file that includes it, as anaconda does; URLs
// and absolute paths are as written.
func (k *checker) resolve(file string) string {
	if strings.Contains(file, "://") || path.IsAbs(file) {
		return file
	}
	from := k.frames[len(k.frames)-1].path
	if from == "" || strings.Contains(from, "://") {
		return file
	}
	return path.Join(path.Dir(from), file)
}

// command checks one command line and remembers it for the checks that
// span commands.
func (k *checker) command(at place, words []string) {
	name := words[0]
	if why, ok := k.table.removed[name]; ok {
		k.report(at, name+" "+why)
		return
	}
	if why, ok := k.table.deprecated[name]; ok {
		// anaconda ignores the line, whatever its options.
		k.warn(at, fmt.Sprintf("%s %s", name, why))
		return
	}
	spec := k.table.commands[name]
	if spec == nil {
		k.report(at, k.unknownCommand(name))
		return
	}
	c := k.parse(at, name, spec, words[1:])
	k.apply(c, spec)
	k.remember(c, spec)
}

// apply runs the checks of spec that look at a whole parsed line.
func (k *checker) apply(c *call, spec *spec) {
	if msg := spec.args.check(c); msg != "" && !spec.freeform {
		k.report(c.at, msg)
	}
	for _, r := range spec.rules {
		for _, f := range r(c, k.opt) {
			if f.severity == Warning {
				k.warn(c.at, f.msg)
			} else {
				k.report(c.at, f.msg)
			}
		}
	}
}

func (k *checker) unknownCommand(name string) string {
	msg := "unknown command " + name
	switch {
	case strings.HasPrefix(name, "--"):
		return msg + ": options belong on the same line as their command"
	case strings.HasPrefix(name, "@") || strings.HasPrefix(name, "-"):
		return msg + ": package and group lines belong between %packages and %end"
	}
	if hint := closest(name, k.table.commandNames()); hint != "" {
		return msg + ": did you mean " + hint + "?"
	}
	return msg + " in " + k.version().title() + ": check the spelling against its kickstart reference, or move a package name between %packages and %end"
}
