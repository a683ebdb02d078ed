// Package kickstart renders per-machine kickstart files from templates. It is
// pure: given a template and the machine's data it returns text, rendered
// into a buffer so that a client never receives half a file.
package kickstart

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
)

// DefaultTemplate is the built-in template for the RHEL 8/9/10 family
// (Rocky, Alma, RHEL, CentOS Stream, Fedora).
//
//go:embed default.ks.tmpl
var DefaultTemplate string

// DefaultVars are the server-wide defaults; profile and machine variables override them.
var DefaultVars = map[string]string{
	"lang":     "en_US.UTF-8",
	"keyboard": "us",
	"timezone": "UTC",
	"disk":     "sda",
	// rootpw_hash is a crypt(3) hash for `rootpw --iscrypted`; empty locks root.
	"rootpw_hash": "",
}

// Data is what a template can use.
type Data struct {
	MAC          string
	Hostname     string
	Profile      string
	Distro       string
	Family       string
	Version      string
	RepoURL      string // the install tree, for `url --url`
	PhoneHomeURL string // where %pre/%post/%onerror report progress
	Vars         map[string]string
}

// Resolve merges variable layers; later layers win (server, profile, machine).
func Resolve(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		maps.Copy(out, l)
	}
	return out
}

// Parse checks that text is a valid template.
func Parse(name, text string) error {
	_, err := parse(name, text, nil)
	return err
}

func parse(name, text string, vars map[string]string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs(vars)).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("kickstart template %s: %w", name, err)
	}
	return t, nil
}

// Render renders text for d. A variable that no layer sets is an error that
// names it, so a kickstart is never served with a hole in it.
func Render(name, text string, d Data) ([]byte, error) {
	t, err := parse(name, text, d.Vars)
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
		"var": func(key string) (string, error) {
			v, ok := vars[key]
			if !ok {
				known := slices.Sorted(maps.Keys(vars))
				return "", fmt.Errorf("variable %q is not set (set it with --var %s=VALUE; known: %s)", key, key, strings.Join(known, ", "))
			}
			return v, nil
		},
	}
}
