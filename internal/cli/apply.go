package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"kickstand/internal/app"
	"kickstand/internal/kickstart"
	"kickstand/internal/store"
)

// applyFile is the declarative form `kickstand apply -f` reads. Profiles and
// machines in it are created or brought to what it says; what it does not
// name is left alone.
type applyFile struct {
	Profiles []applyProfile `yaml:"profiles"`
	Machines []applyMachine `yaml:"machines"`
}

type applyProfile struct {
	Name         string            `yaml:"name"`
	Distro       string            `yaml:"distro"`
	Kickstart    string            `yaml:"kickstart"` // template file, relative to the YAML file; "" built-in
	KernelArgs   string            `yaml:"kernel-args"`
	RepoProtocol string            `yaml:"repo-protocol"`
	Vars         map[string]string `yaml:"vars"`
	Passwords    string            `yaml:"password-policy"`        // warn, refuse; "" the server's
	Plaintext    bool              `yaml:"allow-plaintext-rootpw"` // deprecated: password-policy warn
}

type applyMachine struct {
	MAC      string            `yaml:"mac"`
	Profile  string            `yaml:"profile"`
	Hostname string            `yaml:"hostname"`
	IP       string            `yaml:"ip"`
	UUID     string            `yaml:"uuid"`
	Network  applyNetwork      `yaml:"network"`
	Vars     map[string]string `yaml:"vars"`
}

type applyNetwork struct {
	Address string   `yaml:"address"`
	Gateway string   `yaml:"gateway"`
	DNS     []string `yaml:"dns"`
	Device  string   `yaml:"device"`
}

func (e *env) applyCmd() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE.yaml [--dry-run]",
		Short: "Create or update the profiles and machines a YAML file lists (idempotent)",
		Long: `apply reads profiles and machines from FILE.yaml (- for standard input), checks all
of them (names, distros, addresses, and each kickstart against anaconda's syntax)
and only then writes: profiles first, then machines. A file with an error in it
writes nothing; a failure while writing (the disk, say) stops there and says so.
Running it again changes nothing. Profiles and machines the file does not name are
left alone; a machine's state and kickstart URL are kept (use machine reinstall to
install it again).`,
		Args: cobra.NoArgs,
		RunE: e.withStore(func(ctx context.Context, s store.Store, _ []string) error {
			return e.apply(ctx, s, file, dryRun)
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML file with profiles: and machines: (- for stdin)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes, write nothing")
	cmd.MarkFlagRequired("file")
	return cmd
}

// change is one line of apply's plan.
type change struct {
	op, what, detail string // op: create, update, unchanged
	write            func(context.Context, store.Store) error
}

func (e *env) apply(ctx context.Context, s store.Store, file string, dryRun bool) error {
	doc, dir, err := readApplyFile(file)
	if err != nil {
		return err
	}
	plan, err := e.planProfiles(ctx, s, doc.Profiles, dir)
	if err != nil {
		return err
	}
	// Machines are checked against the profiles as they will be.
	profiles := map[string]store.Profile{}
	for _, c := range plan {
		profiles[c.profile.Name] = c.profile
	}
	mplan, err := e.planMachines(ctx, withProfiles{s, profiles}, doc.Machines)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, c := range append(changes(plan), mplan...) {
		counts[c.op]++
		fmt.Fprintf(e.stdout, "%-9s %s%s\n", c.op, c.what, c.detail)
		if dryRun || c.op == "unchanged" {
			continue
		}
		if err := c.write(ctx, s); err != nil {
			return fmt.Errorf("%s: %w (the changes above it are written)", c.what, err)
		}
	}
	verb := "applied"
	if dryRun {
		verb = "dry run, nothing written"
	}
	fmt.Fprintf(e.stdout, "%s: %d to create, %d to update, %d unchanged\n", verb, counts["create"], counts["update"], counts["unchanged"])
	return nil
}

func readApplyFile(file string) (applyFile, string, error) {
	var doc applyFile
	var b []byte
	var err error
	dir := "."
	if file == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(file)
		dir = filepath.Dir(file)
	}
	if err != nil {
		return doc, dir, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return doc, dir, fmt.Errorf("%s: %w", file, err)
	}
	return doc, dir, nil
}

type profileChange struct {
	change
	profile store.Profile
}

func changes(ps []profileChange) []change {
	out := make([]change, len(ps))
	for i, p := range ps {
		out[i] = p.change
	}
	return out
}

func toProfile(p applyProfile, template []byte) store.Profile {
	proto := p.RepoProtocol
	if proto == "" {
		proto = store.RepoHTTP
	}
	vars := p.Vars
	if vars == nil {
		vars = map[string]string{}
	}
	policy := p.Passwords
	if policy == "" && p.Plaintext {
		policy = "warn"
	}
	return store.Profile{Name: p.Name, Distro: p.Distro, Kickstart: string(template), KernelArgs: p.KernelArgs,
		RepoProtocol: proto, Vars: vars, PasswordPolicy: policy}
}

func (e *env) planProfiles(ctx context.Context, s store.Store, ps []applyProfile, dir string) ([]profileChange, error) {
	var plan []profileChange
	seen := map[string]bool{}
	for i, ap := range ps {
		where := fmt.Sprintf("profiles[%d]", i)
		if err := checkName("profile", ap.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seen[ap.Name] {
			return nil, fmt.Errorf("%s: profile %s is listed twice", where, ap.Name)
		}
		seen[ap.Name] = true
		var template []byte
		if ap.Kickstart != "" {
			path := ap.Kickstart
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			var err error
			if template, err = os.ReadFile(path); err != nil {
				return nil, fmt.Errorf("profile %s: kickstart: %w", ap.Name, err)
			}
			if err := kickstart.Parse(path, string(template), nil); err != nil {
				return nil, fmt.Errorf("profile %s: %w", ap.Name, err)
			}
		}
		p := toProfile(ap, template)
		if p.RepoProtocol != store.RepoHTTP && p.RepoProtocol != store.RepoFTP {
			return nil, fmt.Errorf("profile %s: repo-protocol %q: want http or ftp", p.Name, p.RepoProtocol)
		}
		for k := range p.Vars {
			if !varKeyRE.MatchString(k) {
				return nil, fmt.Errorf("profile %s: variable %q: use letters, digits and '_'", p.Name, k)
			}
		}
		if _, err := s.Distro(ctx, p.Distro); errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("profile %s: distro %q does not exist: import it with kickstand distro import", p.Name, p.Distro)
		} else if err != nil {
			return nil, err
		}
		if err := checkPasswordPolicy(p.PasswordPolicy); err != nil {
			return nil, fmt.Errorf("profile %s: password-policy: %w", p.Name, err)
		}
		warnings, err := app.CheckProfile(ctx, s, p, e.site())
		if err != nil {
			return nil, err
		}
		e.printWarnings("profile "+p.Name, warnings)
		old, err := s.Profile(ctx, p.Name)
		c := profileChange{profile: p, change: change{what: "profile " + p.Name,
			write: func(ctx context.Context, s store.Store) error { return s.PutProfile(ctx, p) }}}
		switch {
		case errors.Is(err, store.ErrNotFound):
			c.op = "create"
		case err != nil:
			return nil, err
		default:
			p.Created = old.Created
			c.op, c.detail = "update", profileDiff(old, p)
			if c.detail == "" {
				c.op = "unchanged"
			}
		}
		plan = append(plan, c)
	}
	return plan, nil
}

// diff lists what differs between a stored record and the file's.
type diff []string

// field notes a changed value, old → new (text quoted).
func (d *diff) field(name string, old, new any) {
	if old == new {
		return
	}
	verb := "%s %v → %v"
	if _, text := old.(string); text {
		verb = "%s %q → %q"
	}
	*d = append(*d, fmt.Sprintf(verb, name, old, new))
}

// changed notes a change too long to print.
func (d *diff) changed(name string, differs bool) {
	if differs {
		*d = append(*d, name)
	}
}

// String is ": what, what" for the plan's line, or "" when nothing differs.
func (d diff) String() string {
	if len(d) == 0 {
		return ""
	}
	return ": " + strings.Join(d, ", ")
}

func profileDiff(a, b store.Profile) string {
	var d diff
	d.field("distro", a.Distro, b.Distro)
	d.field("kernel-args", a.KernelArgs, b.KernelArgs)
	d.field("repo-protocol", a.RepoProtocol, b.RepoProtocol)
	d.changed("kickstart template", a.Kickstart != b.Kickstart)
	d.changed("vars", !maps.Equal(a.Vars, b.Vars))
	d.field("password-policy", a.PasswordPolicy, b.PasswordPolicy)
	return d.String()
}

func (e *env) planMachines(ctx context.Context, s store.Store, ms []applyMachine) ([]change, error) {
	var plan []change
	seen := map[string]bool{}
	reserved := map[string]string{} // ip → MAC, stored and in the file
	stored, err := s.Machines(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range stored {
		if m.IP.IsValid() {
			reserved[m.IP.String()] = m.MAC.String()
		}
	}
	for i, am := range ms {
		where := fmt.Sprintf("machines[%d]", i)
		if am.Profile == "" {
			return nil, fmt.Errorf("%s (%s): profile is required", where, am.MAC)
		}
		var kvs []string
		for _, k := range slices.Sorted(maps.Keys(am.Vars)) {
			kvs = append(kvs, k+"="+am.Vars[k])
		}
		m, err := parseMachine(am.MAC, machineOpts{profile: am.Profile, hostname: am.Hostname, ip: am.IP, uuid: am.UUID,
			address: am.Network.Address, gateway: am.Network.Gateway, dns: am.Network.DNS, device: am.Network.Device, vars: kvs})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seen[m.MAC.String()] {
			return nil, fmt.Errorf("%s: machine %s is listed twice", where, m.MAC)
		}
		seen[m.MAC.String()] = true
		if m.IP.IsValid() {
			if other, ok := reserved[m.IP.String()]; ok && other != m.MAC.String() {
				return nil, fmt.Errorf("machine %s: ip %s is reserved for %s already", m.MAC, m.IP, other)
			}
			reserved[m.IP.String()] = m.MAC.String()
		}
		if _, err := s.Profile(ctx, m.Profile); errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("machine %s: profile %s is neither in the file nor in the store", m.MAC, m.Profile)
		} else if err != nil {
			return nil, err
		}
		old, err := s.Machine(ctx, m.MAC)
		c := change{what: "machine " + m.MAC.String()}
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && old.Profile == "":
			c.op = "create"
			m.Token = app.NewToken()
			if err == nil { // discovered on the wire: keep its timeline
				m.Created = old.Created
			}
		case err != nil:
			return nil, err
		default:
			m.State, m.Token, m.Created = old.State, old.Token, old.Created
			c.op, c.detail = "update", machineDiff(old, m)
			if c.detail == "" {
				c.op = "unchanged"
			} else if old.State == store.StateInstalled {
				c.detail += " (installed: kickstand machine reinstall to install it so)"
			}
		}
		if err := e.checkKickstart(ctx, s, m); err != nil {
			return nil, fmt.Errorf("machine %s: %w", m.MAC, err)
		}
		op := c.op
		c.write = func(ctx context.Context, s store.Store) error {
			if err := s.PutMachine(ctx, m); err != nil {
				return err
			}
			kind, detail := "edited", "by apply"+c.detail
			if op == "create" {
				kind, detail = "registered", "profile "+m.Profile+" (apply)"
			}
			_, err := s.Record(ctx, store.Event{MAC: m.MAC, Kind: kind, Detail: detail}, "")
			return err
		}
		plan = append(plan, c)
	}
	return plan, nil
}

func machineDiff(a, b store.Machine) string {
	var d diff
	d.field("profile", a.Profile, b.Profile)
	d.field("hostname", a.Hostname, b.Hostname)
	d.field("ip", ipText(a.IP), ipText(b.IP))
	d.field("uuid", a.UUID, b.UUID)
	d.changed("network", fmt.Sprint(a.Network) != fmt.Sprint(b.Network))
	d.changed("vars", !maps.Equal(a.Vars, b.Vars))
	return d.String()
}

// ipText is an address as the YAML file writes it: "" for none.
func ipText(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// withProfiles is a store in which the file's profiles are as they will be
// after apply, so that machines are checked against them before anything
// is written.
type withProfiles struct {
	store.Store
	profiles map[string]store.Profile
}

func (w withProfiles) Profile(ctx context.Context, name string) (store.Profile, error) {
	if p, ok := w.profiles[name]; ok {
		return p, nil
	}
	return w.Store.Profile(ctx, name)
}
