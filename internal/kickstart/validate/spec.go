package validate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// kind is what an option takes after it.
type kind int

const (
	flagKind   kind = iota // nothing: --encrypted
	textKind               // any value: --hostname=node1 or --hostname node1
	intKind                // a whole number: --size=512
	boolKind               // yes/no in any of the spellings anaconda accepts
	choiceKind             // one of a fixed set: --location=mbr
	maybeKind              // an optional value, taken from the next word too: mount --reformat [ext4]
)

// option describes one option of a command or section header.
type option struct {
	names   []string // the first is the one messages use; the rest are aliases
	kind    kind
	choices []string
	fold    bool              // choices compare case-insensitively, as anaconda does for them
	refuse  map[string]string // values anaconda rejects, with what to do instead
	removed string            // non-empty: removed in this version; says what to do instead
	// deprecated, when set, is a warning: anaconda accepts the option and
	// logs this (it may have no effect).
	deprecated string
	// open choices: a value not among them is a warning, not an error
	// (the list is what kickstand knows, not all the installer knows).
	open bool
}

func flag(names ...string) option    { return option{names: names, kind: flagKind} }
func text(names ...string) option    { return option{names: names, kind: textKind} }
func number(names ...string) option  { return option{names: names, kind: intKind} }
func boolean(names ...string) option { return option{names: names, kind: boolKind} }
func maybe(names ...string) option   { return option{names: names, kind: maybeKind} }

func oneOf(name string, choices ...string) option {
	return option{names: []string{name}, kind: choiceKind, choices: choices}
}

// gone is an option that the version removed; todo says what to do instead.
func gone(name, todo string) option {
	return option{names: []string{name}, kind: flagKind, removed: todo}
}

// folded makes the choices of o case-insensitive.
func (o option) folded() option {
	o.fold = true
	return o
}

// refusing makes value an error with message why.
func (o option) refusing(value, why string) option {
	m := map[string]string{}
	for v, w := range o.refuse {
		m[v] = w
	}
	m[value] = why
	o.refuse = m
	return o
}

// checkValue returns what is wrong with value for o, or "".
func (o option) checkValue(value string) string {
	key := value
	if o.fold {
		key = strings.ToLower(value)
	}
	if why, ok := o.refuse[key]; ok {
		return why
	}
	switch o.kind {
	case intKind:
		if _, err := strconv.Atoi(value); err != nil {
			return "is not a whole number: give a plain number"
		}
	case boolKind:
		switch strings.ToLower(value) {
		case "yes", "no", "on", "off", "true", "false", "1", "0":
		default:
			return "is not a yes/no value: use yes or no"
		}
	case choiceKind:
		if !slices.Contains(o.choices, key) {
			return "is not valid: use one of " + strings.Join(o.choices, ", ")
		}
	}
	return ""
}

// rule checks a whole parsed line and returns what is wrong with it.
type rule func(c *call, opt Options) []finding

// finding is one problem a rule sees in a line.
type finding struct {
	severity Severity
	msg      string
}

// errs makes each message an error finding.
func errs(msgs ...string) []finding {
	var out []finding
	for _, m := range msgs {
		out = append(out, finding{Error, m})
	}
	return out
}

// spec describes a command or a section header.
type spec struct {
	options  []option
	args     argRange
	repeats  bool // may appear more than once
	freeform bool // words are passed on to another tool; only rules check them
	rules    []rule
}

func (s *spec) option(name string) *option {
	for i := range s.options {
		if slices.Contains(s.options[i].names, name) {
			return &s.options[i]
		}
	}
	return nil
}

// match finds the option name means as Python's argparse does, which
// anaconda's parser is: the option of that exact name, else the one option
// name that starts with it (--disable for --disabled). Several such names
// make it ambiguous, even aliases of one option (as in the Python 3.9 of
// RHEL 9's anaconda): they are returned, and no option.
func (s *spec) match(name string) (o *option, spelled string, ambiguous []string) {
	if o := s.option(name); o != nil {
		return o, name, nil
	}
	if len(name) <= 2 {
		return nil, "", nil
	}
	var found *option
	for i := range s.options {
		if s.options[i].removed != "" {
			continue
		}
		for _, n := range s.options[i].names {
			if strings.HasPrefix(n, name) {
				ambiguous = append(ambiguous, n)
				found, spelled = &s.options[i], n
			}
		}
	}
	if len(ambiguous) > 1 {
		return nil, "", ambiguous
	}
	return found, spelled, nil
}

func (s *spec) optionNames() []string {
	var names []string
	for _, o := range s.options {
		if o.removed == "" {
			names = append(names, o.names...)
		}
	}
	return names
}

// argRange is how many positional arguments a command takes.
type argRange struct {
	min, max int    // max < 0 means no limit
	what     string // what they are, for messages: "a language, e.g. en_US.UTF-8"
}

func (r argRange) check(c *call) string {
	n := len(c.args)
	switch {
	case n < r.min:
		return fmt.Sprintf("%s needs %s", c.name, r.what)
	case r.max == 0 && n > 0:
		return fmt.Sprintf("%s takes no arguments: remove %s", c.name, quoteAll(c.args))
	case r.max > 0 && n > r.max:
		return fmt.Sprintf("%s takes only %s: remove %s, or quote a value that contains spaces", c.name, r.what, quoteAll(c.args[r.max:]))
	}
	return ""
}

func quoteAll(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = strconv.Quote(w)
	}
	return strings.Join(quoted, " ")
}

// call is one parsed command or section header.
type call struct {
	name string
	at   place
	opts map[string][]string // values by the option's first name; "" for a flag
	args []string
}

func (c *call) has(name string) bool { _, ok := c.opts[name]; return ok }

// last is the value of the option's last use ("" if none): anaconda's.
func (c *call) last(name string) string {
	if v := c.opts[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

var negativeNumber = regexp.MustCompile(`^-\d+$|^-\d*\.\d+$`)

// isOption reports whether word is parsed as an option of s, as Python's
// argparse decides it: a name of s (exactly, before an "=", or by its
// beginning) is one; otherwise a negative number is a value, and so is a
// word with a space in it (--mkfsoptions "-m bigtime=0"); any other word
// starting with "-" is an option, unknown.
func (s *spec) isOption(word string) bool {
	if len(word) < 2 || word[0] != '-' {
		return false
	}
	name, _, _ := strings.Cut(word, "=")
	if o, _, ambiguous := s.match(name); o != nil || ambiguous != nil {
		return true
	}
	return !negativeNumber.MatchString(word) && !strings.ContainsAny(word, " \t")
}

// parse reads the options and arguments of a command or section header,
// reporting those that anaconda would refuse. Options are accepted as
// --opt=value and as --opt value, and by any unambiguous beginning of their
// name, as anaconda's argparse-based parser does; given twice, the last
// counts.
func (k *checker) parse(at place, name string, s *spec, words []string) *call {
	c := &call{name: name, at: at, opts: map[string][]string{}}
	if s.freeform {
		c.args = words
		return c
	}
	for i := 0; i < len(words); i++ {
		word := words[i]
		if word == "--" {
			c.args = append(c.args, words[i+1:]...)
			break
		}
		if !s.isOption(word) {
			c.args = append(c.args, word)
			continue
		}
		optName, value, attached := strings.Cut(word, "=")
		o, spelled, ambiguous := s.match(optName)
		switch {
		case ambiguous != nil:
			k.report(at, fmt.Sprintf("%s %s is ambiguous: it could be %s; write the option in full", name, optName, orList(ambiguous)))
			continue
		case o == nil:
			k.report(at, unknownOption(name, optName, s))
			continue
		case o.removed != "":
			k.report(at, fmt.Sprintf("%s %s was removed in %s: %s", name, optName, k.version().title(), o.removed))
			continue
		case o.kind == flagKind && attached:
			k.report(at, fmt.Sprintf("%s %s takes no value: write %s alone", name, optName, optName))
		case o.kind == flagKind:
			value = ""
		case !attached && (i+1 == len(words) || s.isOption(words[i+1])) && o.kind == maybeKind:
			value = ""
		case !attached && (i+1 == len(words) || s.isOption(words[i+1])):
			k.report(at, fmt.Sprintf("%s %s needs a value: write %s=VALUE", name, optName, optName))
			continue
		case !attached:
			i++
			value = words[i]
		}
		if o.deprecated != "" {
			k.warn(at, fmt.Sprintf("%s %s %s", name, spelled, o.deprecated))
		}
		if o.kind != flagKind {
			if why := o.checkValue(value); why != "" {
				msg := fmt.Sprintf("%s %s=%s %s", name, optName, value, why)
				if o.open && o.refuse[value] == "" {
					k.warn(at, msg+": anaconda stops if its storage library does not know it either")
				} else {
					k.report(at, msg)
				}
			}
		}
		c.opts[o.names[0]] = append(c.opts[o.names[0]], value)
	}
	return c
}

func unknownOption(command, name string, s *spec) string {
	msg := fmt.Sprintf("%s has no option %s", command, name)
	if hint := closest(name, s.optionNames()); hint != "" {
		return msg + ": did you mean " + hint + "?"
	}
	return msg + ": remove it"
}

// need requires every one of names.
func need(names ...string) rule {
	return func(c *call, _ Options) []finding {
		var out []finding
		for _, n := range names {
			if !c.has(n) {
				out = append(out, errs(fmt.Sprintf("%s needs %s", c.name, n))...)
			}
		}
		return out
	}
}

// exactlyOne requires one, and only one, of names.
func exactlyOne(names ...string) rule {
	return func(c *call, opt Options) []finding {
		if out := atLeastOne(names...)(c, opt); out != nil {
			return out
		}
		return atMostOne(names...)(c, opt)
	}
}

func atLeastOne(names ...string) rule {
	return func(c *call, _ Options) []finding {
		if len(given(c, names)) == 0 {
			return errs(fmt.Sprintf("%s needs %s", c.name, orList(names)))
		}
		return nil
	}
}

func atMostOne(names ...string) rule {
	return func(c *call, _ Options) []finding {
		if got := given(c, names); len(got) > 1 {
			return errs(fmt.Sprintf("%s takes only one of %s, got %s: keep one",
				c.name, orList(names), strings.Join(got, " and ")))
		}
		return nil
	}
}

// lastWins warns about more than one of names, which set one thing: anaconda
// takes the last.
func lastWins(names ...string) rule {
	return func(c *call, _ Options) []finding {
		if got := given(c, names); len(got) > 1 {
			return []finding{{Warning, fmt.Sprintf("%s takes one of %s, got %s: anaconda uses the last; keep one",
				c.name, orList(names), strings.Join(got, " and "))}}
		}
		return nil
	}
}

func given(c *call, names []string) []string {
	var got []string
	for _, n := range names {
		if c.has(n) {
			got = append(got, n)
		}
	}
	return got
}

// orList writes "a, b or c".
func orList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
