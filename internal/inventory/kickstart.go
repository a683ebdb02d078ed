package inventory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"

	"kickstand/internal/boot"
	"kickstand/internal/kickstart"
	"kickstand/internal/kickstart/validate"
	"kickstand/internal/store"
)

// Site is what a machine's kickstart depends on besides the store: the
// server's addresses and where the snippets are.
type Site struct {
	BaseURL   string // e.g. http://10.0.0.1
	FTPBase   string // "" when FTP is off
	PubDistro string // the distro at pub/
	// SnippetsDir holds NAME.ks snippets beside the built-ins ("" for none).
	SnippetsDir string
	// PasswordPolicy is --password-policy: what a plaintext password is
	// for profiles that do not say ("": warn).
	PasswordPolicy string
}

// SnippetsDir is where a data directory keeps its kickstart snippets.
func SnippetsDir(dataDir string) string { return filepath.Join(dataDir, "snippets") }

// InvalidError is a rendered kickstart that anaconda would refuse.
type InvalidError struct {
	Profile  string
	Problems []validate.Problem // the errors
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("the kickstart of profile %s has %d error(s): %s", e.Profile, len(e.Problems), summary(e.Problems))
}

// summary lists the first problems, and says how to see them all.
func summary(problems []validate.Problem) string {
	var b strings.Builder
	for i, p := range problems {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more (kickstand kickstart render MAC | kickstand kickstart validate /dev/stdin)", len(problems)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Warnings is what anaconda would log about a kickstart and go on with.
type Warnings []validate.Problem

// String lists the first warnings on one line.
func (w Warnings) String() string { return summary(w) }

// ValidateOptions is how a profile's kickstart for distro d is checked:
// against d's release (from its .treeinfo), with the profile's password
// policy, else the site's.
func ValidateOptions(p store.Profile, d store.Distro, site Site) (validate.Options, error) {
	v, _ := validate.VersionFor(d.Family, d.Version)
	policy := p.PasswordPolicy
	if policy == "" {
		policy = site.PasswordPolicy
	}
	pp, err := validate.ParsePasswordPolicy(policy)
	return validate.Options{Version: v, Passwords: pp}, err
}

// RenderKickstart renders and validates the kickstart machine gets; profile,
// if set and the machine has none, is the profile chosen from the menu.
// Variables resolve machine > profile > server defaults. A kickstart with
// errors is returned with an *InvalidError; its warnings are returned
// either way.
func RenderKickstart(ctx context.Context, s store.Store, machine store.Machine, profile string, site Site) ([]byte, store.Profile, Warnings, error) {
	name := machine.Profile
	if name == "" {
		name = profile
	}
	if name == "" {
		return nil, store.Profile{}, nil, fmt.Errorf("machine %s has no profile: register it with kickstand machine add %s --profile NAME", machine.MAC, machine.MAC)
	}
	p, err := s.Profile(ctx, name)
	if err != nil {
		return nil, p, nil, err
	}
	d, err := s.Distro(ctx, p.Distro)
	if err != nil {
		return nil, p, nil, err
	}
	snippets, err := kickstart.LoadSnippets(site.SnippetsDir)
	if err != nil {
		return nil, p, nil, err
	}
	text := p.Kickstart
	if text == "" {
		text = kickstart.DefaultTemplate
	}
	data := kickstart.Data{
		MAC: machine.MAC.String(), UUID: machine.UUID, Hostname: machine.Hostname, Profile: p.Name, Distro: d.Name,
		Family: d.Family, Version: d.Version,
		RepoURL:      boot.RepoURL(site.BaseURL, site.FTPBase, site.PubDistro, p, d.Name),
		PhoneHomeURL: site.BaseURL + "/phone-home/" + machine.Token,
		Network:      templateNetwork(machine.Network),
		Vars:         kickstart.Resolve(kickstart.DefaultVars, p.Vars, machine.Vars),
	}
	ks, err := kickstart.Render("profile "+p.Name, text, data, snippets)
	if err != nil {
		return nil, p, nil, err
	}
	opt, err := ValidateOptions(p, d, site)
	if err != nil {
		return nil, p, nil, err
	}
	problems := validate.Check(string(ks), opt)
	warnings := Warnings(validate.Warnings(problems))
	if errs := validate.Errors(problems); errs != nil {
		return ks, p, warnings, &InvalidError{Profile: p.Name, Problems: errs}
	}
	return ks, p, warnings, nil
}

// CheckProfile renders profile p for a placeholder machine, as profile add
// and apply do before they write: template errors and kickstart errors
// refuse it, its warnings are returned. A template that needs a variable
// only machines set cannot be rendered yet: it is checked when such a
// machine is added.
func CheckProfile(ctx context.Context, s store.Store, p store.Profile, site Site) (Warnings, error) {
	w, err := CheckMachine(ctx, overlayProfile{s, p}, SampleMachine(p.Name), site)
	var missing *kickstart.MissingVarError
	if errors.As(err, &missing) {
		return nil, nil
	}
	return w, err
}

// CheckMachine renders and validates m's kickstart as the server would
// serve it (from a placeholder address), before m is written.
func CheckMachine(ctx context.Context, s store.Store, m store.Machine, site Site) (Warnings, error) {
	site.BaseURL, site.FTPBase = "http://SERVER", ""
	_, _, w, err := RenderKickstart(ctx, s, m, "", site)
	return w, err
}

// SampleMachine is a machine of profile with nothing of its own, for
// rendering a profile's kickstart.
func SampleMachine(profile string) store.Machine {
	return store.Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, Profile: profile, Hostname: "sample", Token: "TOKEN"}
}

// overlayProfile is a store in which one profile is as given, so that a
// profile can be checked before it is written.
type overlayProfile struct {
	store.Store
	p store.Profile
}

func (o overlayProfile) Profile(ctx context.Context, name string) (store.Profile, error) {
	if name == o.p.Name {
		return o.p, nil
	}
	return o.Store.Profile(ctx, name)
}

// templateNetwork is a machine's static settings as a template writes them.
func templateNetwork(n store.Network) kickstart.Network {
	if !n.Static() {
		return kickstart.Network{}
	}
	out := kickstart.Network{Static: true, Address: n.Address.Addr().String(), Device: n.Device,
		Netmask: netmask(n.Address)}
	if n.Gateway.IsValid() {
		out.Gateway = n.Gateway.String()
	}
	for _, d := range n.DNS {
		out.DNS = append(out.DNS, d.String())
	}
	return out
}

func netmask(p netip.Prefix) string {
	m := net.CIDRMask(p.Bits(), p.Addr().BitLen())
	return net.IP(m).String()
}

// secrets are the kickstart options whose values are secrets, and the
// commands whose last word is one (rootpw HASH, sshpw PASSWORD).
var (
	secretOptions = regexp.MustCompile(`(--(?:password|passphrase|reverse-password|activation-key|wepkey|wpakey|md5pass)(?:=|[ \t]+))("[^"]*"|'[^']*'|[^ \t]+)`)
	secretWord    = regexp.MustCompile(`(?m)^([ \t]*(?:rootpw|sshpw)\b[^\n]*[ \t])("[^"]*"|'[^']*'|[^ \t\n-][^ \t\n]*)([ \t]*)$`)
)

// masked stands for a secret that is not shown.
const masked = "********"

// Masked is a kickstart with its secrets (passwords, password hashes,
// passphrases, activation keys) replaced by ********, for showing.
func Masked(ks []byte) []byte {
	out := secretOptions.ReplaceAll(ks, []byte("${1}********"))
	return secretWord.ReplaceAll(out, []byte("${1}********${3}"))
}

// MaskedVars are template variables for showing: the value of each whose
// name says it is a secret (rootpw_hash, luks_passphrase, api_token, ...)
// replaced by ********.
func MaskedVars(vars map[string]string) map[string]string {
	out := make(map[string]string, len(vars))
	for k, v := range vars {
		if v != "" && secretVar(k) {
			v = masked
		}
		out[k] = v
	}
	return out
}

// secretVar reports whether a variable's name says it holds a secret: a
// part of it (between _ - .) is a password or passphrase, a hash, a key,
// a token, a secret or a credential.
func secretVar(name string) bool {
	parts := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	for _, p := range parts {
		switch {
		case strings.HasSuffix(p, "pw"), strings.Contains(p, "pass"), strings.HasPrefix(p, "secret"),
			strings.HasPrefix(p, "credential"), strings.HasPrefix(p, "token"),
			p == "hash", p == "key", p == "keys", p == "psk", p == "pin":
			return true
		}
	}
	return false
}

// Strings are the warnings as lines: "line N: warning: ...".
func (w Warnings) Strings() []string {
	var out []string
	for _, p := range w {
		out = append(out, problemText(p))
	}
	return out
}

// problemText is a problem as a line; one that is not about a line of the
// kickstart (it does not render) says "error:".
func problemText(p validate.Problem) string {
	if p.Line == 0 {
		return p.Severity.String() + ": " + p.Message
	}
	return p.String()
}

// errorProblem is an error that stopped a kickstart from rendering, as a
// problem to show beside its warnings.
func errorProblem(err error) validate.Problem {
	return validate.Problem{Severity: validate.Error, Message: err.Error()}
}
