package inventory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// ApplyRequest is a whole site's profiles and machines, as apply brings the
// inventory to it: what is missing is created, what differs is updated,
// what it does not name is left alone.
type ApplyRequest struct {
	Profiles []ProfileSpec `json:"profiles,omitempty"`
	Machines []MachineSpec `json:"machines,omitempty"`
}

// Change is one line of a plan.
type Change struct {
	Op     string `json:"op"`     // create, update or unchanged
	What   string `json:"what"`   // "profile web", "machine 52:54:00:..."
	Detail string `json:"detail"` // what differs, for an update
	// Warnings are what anaconda would warn about in its kickstart.
	Warnings []string `json:"warnings,omitempty"`

	write func(context.Context, store.Store) error
}

// Plan is what apply does, in order: profiles first, then machines.
type Plan struct {
	Changes []Change `json:"changes"`
	// Written is false for a dry run.
	Written bool `json:"written"`
}

// Count returns how many changes have op.
func (p Plan) Count(op string) int {
	n := 0
	for _, c := range p.Changes {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Apply checks the whole request (names, distros, addresses, every
// kickstart) and only then, unless dryRun, writes it. A request with an
// error in it writes nothing; a failure while writing (the disk, say)
// stops there and says so. Applying it again changes nothing; a machine's
// state and token are kept.
func (inv *Inventory) Apply(ctx context.Context, req ApplyRequest, dryRun bool) (Plan, error) {
	profiles, err := inv.planProfiles(ctx, req.Profiles)
	if err != nil {
		return Plan{}, err
	}
	planned := map[string]store.Profile{}
	for _, c := range profiles {
		planned[c.profile.Name] = c.profile
	}
	machines, err := inv.planMachines(ctx, withProfiles{inv.Store, planned}, req.Machines)
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{Written: !dryRun}
	for _, c := range profiles {
		plan.Changes = append(plan.Changes, c.Change)
	}
	plan.Changes = append(plan.Changes, machines...)
	if dryRun {
		return plan, nil
	}
	written := newProgress(inv.Progress, "writing", len(plan.Changes))
	defer written.done()
	for i, c := range plan.Changes {
		if c.Op != "unchanged" {
			if err := c.write(ctx, inv.Store); err != nil {
				return plan, fmt.Errorf("%s: %w (the changes before it are written)", c.What, err)
			}
		}
		written.at(i + 1)
	}
	return plan, nil
}

type profileChange struct {
	Change
	profile store.Profile
}

func (inv *Inventory) planProfiles(ctx context.Context, specs []ProfileSpec) ([]profileChange, error) {
	var plan []profileChange
	seen := map[string]bool{}
	for i, spec := range specs {
		where := fmt.Sprintf("profiles[%d]", i)
		p, err := spec.profile()
		if err != nil {
			return nil, prefix(where+": ", err)
		}
		if seen[p.Name] {
			return nil, invalid("profiles", "%s: profile %s is listed twice", where, p.Name)
		}
		seen[p.Name] = true
		w, err := inv.checkProfile(ctx, inv.Store, p)
		if err != nil {
			return nil, prefix("profile "+p.Name+": ", err)
		}
		old, err := inv.Store.Profile(ctx, p.Name)
		c := profileChange{profile: p, Change: Change{What: "profile " + p.Name, Warnings: w.Strings(),
			write: func(ctx context.Context, s store.Store) error { return s.PutProfile(ctx, p) }}}
		switch {
		case errors.Is(err, store.ErrNotFound):
			c.Op = "create"
		case err != nil:
			return nil, err
		default:
			p.Created = old.Created
			c.Op, c.Detail = "update", profileDiff(old, p)
			if c.Detail == "" {
				c.Op = "unchanged"
			}
		}
		plan = append(plan, c)
	}
	return plan, nil
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

func (inv *Inventory) planMachines(ctx context.Context, s store.Store, specs []MachineSpec) ([]Change, error) {
	var plan []Change
	seen := map[string]bool{}
	reserved := map[string]string{} // ip → MAC, in the file
	checked := newProgress(inv.Progress, "checking machines", len(specs))
	defer checked.done()
	for i, spec := range specs {
		checked.at(i)
		where := fmt.Sprintf("machines[%d] (%s)", i, spec.MAC)
		m, err := spec.machine()
		if err != nil {
			return nil, prefix(where+": ", err)
		}
		if seen[m.MAC.String()] {
			return nil, invalid("machines", "%s: machine %s is listed twice", where, m.MAC)
		}
		seen[m.MAC.String()] = true
		if m.IP.IsValid() {
			if other, ok := reserved[m.IP.String()]; ok && other != m.MAC.String() {
				return nil, &Error{Kind: Conflict, Field: "ip", Msg: fmt.Sprintf("machine %s: ip %s is reserved for %s already", m.MAC, m.IP, other)}
			}
			reserved[m.IP.String()] = m.MAC.String()
		}
		old, err := s.Machine(ctx, m.MAC)
		c := Change{What: "machine " + m.MAC.String()}
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && !old.Registered():
			c.Op = "create"
			m.Token = NewToken()
			if err == nil { // discovered on the wire: keep its timeline
				m.Created = old.Created
			}
		case err != nil:
			return nil, err
		default:
			m.State, m.Token, m.Created = old.State, old.Token, old.Created
			c.Op, c.Detail = "update", machineDiff(old, m)
			if c.Detail == "" {
				c.Op = "unchanged"
			} else if old.State == store.StateInstalled {
				c.Detail += " (installed: kickstand machine reinstall to install it so)"
			}
		}
		w, err := inv.checkMachine(ctx, s, m)
		if err != nil {
			return nil, prefix("machine "+m.MAC.String()+": ", err)
		}
		c.Warnings = w.Strings()
		op, detail := c.Op, c.Detail
		c.write = func(ctx context.Context, s store.Store) error {
			if err := s.PutMachine(ctx, m); err != nil {
				return err
			}
			kind, what := events.Edited, "by apply"+detail
			if op == "create" {
				kind, what = events.Registered, "profile "+m.Profile+" (apply)"
			}
			return inv.record(ctx, store.Event{MAC: m.MAC, Kind: kind, Detail: what})
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

// prefix puts where in front of an *Error's message (or any error's).
func prefix(where string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		out := *e
		out.Msg = where + e.Msg
		return &out
	}
	return fmt.Errorf("%s%w", where, err)
}

// diff collects what changed, for a plan's line.
type diff []string

// field notes a changed value, old → new (quoted).
func (d *diff) field(name string, old, new string) {
	if old != new {
		*d = append(*d, fmt.Sprintf("%s %q → %q", name, old, new))
	}
}

// changed notes a change too long to print.
func (d *diff) changed(name string, differs bool) {
	if differs {
		*d = append(*d, name)
	}
}

// String is ": what, what", or "" when nothing differs.
func (d diff) String() string {
	if len(d) == 0 {
		return ""
	}
	return ": " + strings.Join(d, ", ")
}

// ipText is an address as a request writes it: "" for none.
func ipText(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// withProfiles is a store in which the request's profiles are as they
// will be after apply, so that machines are checked against them before
// anything is written.
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
