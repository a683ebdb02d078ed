// Package kickstart renders per-machine kickstart files from templates. It is
// pure: given a template and the machine's data it returns text, rendered
// into a buffer so that a client never receives half a file.
package kickstart

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// DefaultTemplate is the built-in template for the RHEL 8/9/10 family
// (Rocky, Alma, RHEL, CentOS Stream, Fedora).
//
//go:embed default.ks.tmpl
var DefaultTemplate string

//go:embed snippets/*.ks.tmpl
var builtinFS embed.FS

// Builtins are the snippets every template can include with
// {{ snippet "NAME" }}: network (DHCP, or the machine's static settings),
// partitioning (var "disk", autopart of var "autopart_type"), phone-home
// (%pre, %post and %onerror reporting to kickstand, with the installer's logs
// as var "send_logs" says) and send-logs (the shell lines that send them).
var Builtins = func() map[string]string {
	out := map[string]string{}
	entries, _ := fs.ReadDir(builtinFS, "snippets")
	for _, e := range entries {
		b, _ := fs.ReadFile(builtinFS, "snippets/"+e.Name())
		out[strings.TrimSuffix(e.Name(), ".ks.tmpl")] = string(b)
	}
	return out
}()

// DefaultVars are the server-wide defaults; profile and machine variables override them.
var DefaultVars = map[string]string{
	"lang":          "en_US.UTF-8",
	"keyboard":      "us",
	"timezone":      "UTC",
	"disk":          "sda",
	"autopart_type": "lvm",
	// rootpw_hash is a crypt(3) hash for `rootpw --iscrypted`; empty locks root.
	"rootpw_hash": "",
	// send_logs is when the installer's logs go to kickstand: "onerror"
	// (an install that fails), "always" (also one that succeeds) or "never".
	"send_logs": "onerror",
}

// VarChoices are the built-in variables that take one of a few values and
// whose other values a kickstart would not show: a profile or machine that
// sets another is refused when it is saved, rather than an install acting on
// a typo. (A variable that lands in a kickstart command, such as
// autopart_type, is checked with the rendered kickstart instead.)
var VarChoices = map[string][]string{
	"send_logs": {"onerror", "always", "never"},
}

// Data is what a template can use.
type Data struct {
	MAC          string
	UUID         string
	Hostname     string
	Profile      string
	Distro       string
	Family       string
	Version      string
	RepoURL      string // the install tree, for `url --url`
	PhoneHomeURL string // where %pre/%post/%onerror report progress
	Network      Network
	Vars         map[string]string
}

// Network is the machine's network as a template writes it.
type Network struct {
	Static  bool
	Address string   // e.g. 10.0.0.5
	Netmask string   // e.g. 255.255.255.0
	Gateway string   // "" for none
	DNS     []string // name servers
	Device  string   // "" is the NIC it booted from
}

// snippetName is what a snippet file may be called: NAME.ks or NAME.ks.tmpl.
var snippetName = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_-]*)\.ks(\.tmpl)?$`)

// LoadSnippets returns the built-in snippets with those in dir (NAME.ks or
// NAME.ks.tmpl) added, a file of a built-in's name replacing it. A missing
// dir is no error: it only has no snippets.
func LoadSnippets(dir string) (map[string]string, error) {
	out := maps.Clone(Builtins)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || dir == "" {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snippets: %w", err)
	}
	from := map[string]string{}
	for _, e := range entries {
		m := snippetName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() { // follows links
			continue
		}
		if other, ok := from[m[1]]; ok {
			return nil, fmt.Errorf("snippets: %s and %s are both snippet %q: remove one", other, e.Name(), m[1])
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("snippets: %w", err)
		}
		out[m[1]], from[m[1]] = string(b), e.Name()
	}
	return out, nil
}

// Resolve merges variable layers; later layers win (server, profile, machine).
func Resolve(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		maps.Copy(out, l)
	}
	return out
}

// Parse checks that text and the snippets (nil: the built-ins) are valid
// templates.
func Parse(name, text string, snippets map[string]string) error {
	_, err := parse(name, text, &Data{}, snippets)
	return err
}

// maxSnippetDepth bounds snippets including snippets.
const maxSnippetDepth = 8

func parse(name, text string, d *Data, snippets map[string]string) (*template.Template, error) {
	if snippets == nil {
		snippets = Builtins
	}
	var root *template.Template
	depth := 0
	fm := funcs(d.Vars)
	fm["snippet"] = func(sn string) (string, error) {
		t := root.Lookup("snippet " + sn)
		if t == nil {
			return "", fmt.Errorf("snippet %q does not exist (built-in: %s; add it as %s.ks to the snippets directory)",
				sn, strings.Join(slices.Sorted(maps.Keys(Builtins)), ", "), sn)
		}
		if depth >= maxSnippetDepth {
			return "", fmt.Errorf("snippet %q: snippets nest deeper than %d (a loop?)", sn, maxSnippetDepth)
		}
		depth++
		defer func() { depth-- }()
		var b bytes.Buffer
		if err := t.Execute(&b, *d); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
	root = template.New(name).Option("missingkey=error").Funcs(fm)
	if _, err := root.Parse(text); err != nil {
		return nil, fmt.Errorf("kickstart template %s: %w", name, err)
	}
	for _, sn := range slices.Sorted(maps.Keys(snippets)) {
		if _, err := root.New("snippet " + sn).Parse(snippets[sn]); err != nil {
			return nil, fmt.Errorf("kickstart snippet %s: %w", sn, err)
		}
	}
	return root, nil
}

// MissingVarError is a template's {{ var "KEY" }} that no layer sets.
type MissingVarError struct {
	Key   string
	Known []string
}

func (e *MissingVarError) Error() string {
	return fmt.Sprintf("variable %q is not set (set it with --var %s=VALUE; known: %s)", e.Key, e.Key, strings.Join(e.Known, ", "))
}

// Render renders text for d, with the snippets it includes (nil: the
// built-ins). A variable that no layer sets is an error that names it, so a
// kickstart is never served with a hole in it; so is a value with a line
// break, so that no value can add lines of its own.
func Render(name, text string, d Data, snippets map[string]string) ([]byte, error) {
	if err := checkOneLine(d); err != nil {
		return nil, fmt.Errorf("kickstart template %s: %w", name, err)
	}
	t, err := parse(name, text, &d, snippets)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("kickstart template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

func funcs(vars map[string]string) template.FuncMap {
	return template.FuncMap{
		"join": strings.Join,
		"var": func(key string) (string, error) {
			v, ok := vars[key]
			if !ok {
				return "", &MissingVarError{Key: key, Known: slices.Sorted(maps.Keys(vars))}
			}
			return v, nil
		},
	}
}

// lineBreaks end a line for anaconda, which splits a kickstart with
// Python's str.splitlines: not only LF and CR.
const lineBreaks = "\n\r\v\f\x1c\x1d\x1e\u0085\u2028\u2029"

// checkOneLine refuses data with a line break in a value. Every value a
// template writes stands in one line, and the rest of a value with a line
// break would be read as kickstart lines of their own: a command, a
// section, a %pre script.
func checkOneLine(d Data) error {
	values := [][2]string{{"MAC", d.MAC}, {"UUID", d.UUID}, {"hostname", d.Hostname}, {"profile", d.Profile},
		{"distro", d.Distro}, {"family", d.Family}, {"version", d.Version}, {"repository URL", d.RepoURL},
		{"phone-home URL", d.PhoneHomeURL}, {"address", d.Network.Address}, {"netmask", d.Network.Netmask},
		{"gateway", d.Network.Gateway}, {"device", d.Network.Device}}
	for _, dns := range d.Network.DNS {
		values = append(values, [2]string{"name server", dns})
	}
	for _, k := range slices.Sorted(maps.Keys(d.Vars)) {
		values = append(values, [2]string{"variable name", k}, [2]string{fmt.Sprintf("variable %q", k), d.Vars[k]})
	}
	for _, v := range values {
		if strings.ContainsAny(v[1], lineBreaks) {
			return fmt.Errorf("%s %q has a line break: a kickstart value must be one line (put multi-line text in a snippet)", v[0], v[1])
		}
	}
	return nil
}
