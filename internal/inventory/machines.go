package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// MachineSpec is a machine as a request gives it.
type MachineSpec struct {
	MAC      string            `json:"mac"`
	Profile  string            `json:"profile"`
	Hostname string            `json:"hostname,omitempty"`
	IP       string            `json:"ip,omitempty"`   // reserved address in full DHCP mode
	UUID     string            `json:"uuid,omitempty"` // SMBIOS UUID, informational
	Network  NetworkSpec       `json:"network,omitzero"`
	Vars     map[string]string `json:"vars,omitempty"`
}

// NetworkSpec is a machine's static network settings; without an address,
// the installed system uses DHCP.
type NetworkSpec struct {
	Address string   `json:"address,omitempty"` // CIDR, e.g. 10.0.0.5/24
	Gateway string   `json:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty"`
	Device  string   `json:"device,omitempty"` // "" the NIC it booted from
}

// MachinePatch changes a registered machine: nil fields stay as they are.
// An empty Address goes back to DHCP (and drops gateway, DNS and device).
type MachinePatch struct {
	Profile   *string           `json:"profile,omitempty"`
	Hostname  *string           `json:"hostname,omitempty"`
	IP        *string           `json:"ip,omitempty"`
	UUID      *string           `json:"uuid,omitempty"`
	Address   *string           `json:"address,omitempty"`
	Gateway   *string           `json:"gateway,omitempty"`
	DNS       *[]string         `json:"dns,omitempty"`
	Device    *string           `json:"device,omitempty"`
	Vars      map[string]string `json:"vars,omitempty"`
	UnsetVars []string          `json:"unset_vars,omitempty"`
}

var (
	hostnameRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	deviceRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`) // eno1, ens3f0, bond0.100
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// ParseMAC parses a machine's MAC address as a request gives it.
func ParseMAC(s string) (net.HardwareAddr, error) {
	mac, err := store.ParseMAC(s)
	if err != nil {
		return nil, &Error{Kind: Invalid, Field: "mac", Msg: err.Error(), Err: err}
	}
	return mac, nil
}

// machine turns a spec into the machine it describes, checked on its own.
func (spec MachineSpec) machine() (store.Machine, error) {
	mac, err := ParseMAC(spec.MAC)
	if err != nil {
		return store.Machine{}, err
	}
	m := store.Machine{MAC: mac, Profile: spec.Profile, Hostname: spec.Hostname, State: store.StateNew, Vars: map[string]string{}}
	if spec.Profile == "" {
		return m, invalid("profile", "machine %s needs a profile", mac)
	}
	if spec.Hostname != "" && (len(spec.Hostname) > 253 || !hostnameRE.MatchString(spec.Hostname)) {
		return m, invalid("hostname", "hostname %q: use letters, digits and '-' in dot-separated labels", spec.Hostname)
	}
	if spec.IP != "" {
		if m.IP, err = netip.ParseAddr(spec.IP); err != nil || !m.IP.Is4() {
			return m, invalid("ip", "ip %q: want an IPv4 address", spec.IP)
		}
	}
	if err := checkVars(spec.Vars); err != nil {
		return m, err
	}
	for k, v := range spec.Vars {
		m.Vars[k] = v
	}
	if spec.UUID != "" && !uuidRE.MatchString(spec.UUID) {
		return m, invalid("uuid", "uuid %q: want 8-4-4-4-12 hex digits", spec.UUID)
	}
	m.UUID = strings.ToLower(spec.UUID)
	m.Network, err = spec.Network.network()
	return m, err
}

// network checks static network settings: all need an address.
func (n NetworkSpec) network() (store.Network, error) {
	var out store.Network
	if n.Address == "" {
		if n.Gateway != "" || len(n.DNS) > 0 || n.Device != "" {
			return out, invalid("network.address", "a gateway, DNS servers and a device set a static network: give its address too")
		}
		return out, nil
	}
	var err error
	if out.Address, err = netip.ParsePrefix(n.Address); err != nil || !out.Address.Addr().Is4() || out.Address.Bits() == 32 {
		return out, invalid("network.address", "address %q: want an IPv4 address with its prefix length, like 10.0.0.5/24", n.Address)
	}
	if n.Gateway != "" {
		if out.Gateway, err = netip.ParseAddr(n.Gateway); err != nil || !out.Address.Contains(out.Gateway) {
			return out, invalid("network.gateway", "gateway %q: want an address inside %s", n.Gateway, out.Address.Masked())
		}
	}
	for _, d := range n.DNS {
		a, err := netip.ParseAddr(strings.TrimSpace(d))
		if err != nil {
			return out, invalid("network.dns", "dns %q: want IP addresses", d)
		}
		out.DNS = append(out.DNS, a)
	}
	if n.Device != "" && !deviceRE.MatchString(n.Device) {
		return out, invalid("network.device", "device %q: want an interface name like eno1 or ens3", n.Device)
	}
	out.Device = n.Device
	return out, nil
}

// Spec is m as a request gives it.
func Spec(m store.Machine) MachineSpec {
	spec := MachineSpec{MAC: m.MAC.String(), Profile: m.Profile, Hostname: m.Hostname, UUID: m.UUID, Vars: m.Vars}
	if m.IP.IsValid() {
		spec.IP = m.IP.String()
	}
	if m.Network.Static() {
		spec.Network.Address = m.Network.Address.String()
		spec.Network.Device = m.Network.Device
		if m.Network.Gateway.IsValid() {
			spec.Network.Gateway = m.Network.Gateway.String()
		}
		for _, d := range m.Network.DNS {
			spec.Network.DNS = append(spec.Network.DNS, d.String())
		}
	}
	return spec
}

// Result is what a write did: the machine as written, the kickstart's
// warnings, and what changed.
type Result struct {
	Machine  store.Machine
	Warnings Warnings
	Changes  []string
}

// checkMachine checks m against the store s: its profile exists, its
// reserved address is nobody else's, and its kickstart renders without
// errors. It returns the kickstart's warnings.
func (inv *Inventory) checkMachine(ctx context.Context, s store.Store, m store.Machine) (Warnings, error) {
	if _, err := s.Profile(ctx, m.Profile); errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Kind: Invalid, Field: "profile", Err: err,
			Msg: fmt.Sprintf("profile %s does not exist: add it with kickstand profile add %s --distro NAME", m.Profile, m.Profile)}
	} else if err != nil {
		return nil, err
	}
	if m.IP.IsValid() {
		other, err := s.MachineByIP(ctx, m.IP)
		switch {
		case err == nil && other.MAC.String() != m.MAC.String():
			return nil, &Error{Kind: Conflict, Field: "ip", Msg: fmt.Sprintf("ip %s is reserved for %s already", m.IP, other.MAC)}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	w, err := CheckMachine(ctx, s, m, inv.site(ctx))
	if err != nil {
		return nil, inField("kickstart", kickstartError(fmt.Errorf("not written: %w", err)))
	}
	return w, nil
}

// AddMachine registers a machine: its next network boot installs its
// profile. A machine discovered on the wire keeps its timeline.
func (inv *Inventory) AddMachine(ctx context.Context, spec MachineSpec) (Result, error) {
	m, err := spec.machine()
	if err != nil {
		return Result{}, err
	}
	old, err := inv.Store.Machine(ctx, m.MAC)
	switch {
	case err == nil && old.Registered():
		return Result{}, conflict("machine %s is already registered (profile %s): remove it first with kickstand machine remove %s",
			m.MAC, old.Profile, m.MAC)
	case err == nil:
		m.Created = old.Created
	case !errors.Is(err, store.ErrNotFound):
		return Result{}, err
	}
	m.Token = NewToken()
	w, err := inv.checkMachine(ctx, inv.Store, m)
	if err != nil {
		return Result{}, err
	}
	if m, err = inv.putMachine(ctx, m); err != nil {
		return Result{}, err
	}
	err = inv.record(ctx, store.Event{MAC: m.MAC, Kind: events.Registered, Detail: "profile " + m.Profile})
	return Result{Machine: m, Warnings: w}, err
}

// registered returns the machine with mac, which must be registered.
func (inv *Inventory) registered(ctx context.Context, mac net.HardwareAddr) (store.Machine, error) {
	m, err := inv.Store.Machine(ctx, mac)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && !m.Registered():
		return m, notFound("machine %s is not registered: kickstand machine add %s --profile NAME", mac, mac)
	}
	return m, err
}

// patched returns the spec of m changed by patch, and what changed.
func (patch MachinePatch) patched(m store.Machine) (MachineSpec, []string, error) {
	spec := Spec(m)
	var changes []string
	set := func(name string, field *string, v *string) {
		if v != nil && *v != *field {
			*field = *v
			changes = append(changes, name)
		}
	}
	set("profile", &spec.Profile, patch.Profile)
	set("hostname", &spec.Hostname, patch.Hostname)
	set("ip", &spec.IP, patch.IP)
	set("uuid", &spec.UUID, patch.UUID)
	if patch.Profile != nil && *patch.Profile == "" {
		return spec, nil, invalid("profile", "a registered machine needs a profile; kickstand machine remove %s forgets it", m.MAC)
	}
	if patch.Address != nil && *patch.Address == "" { // back to DHCP
		if patch.Gateway != nil || patch.DNS != nil || patch.Device != nil {
			return spec, nil, invalid("network.address", `an empty address goes back to DHCP: leave out the gateway, DNS and device`)
		}
		if m.Network.Static() {
			changes = append(changes, "address")
		}
		spec.Network = NetworkSpec{}
	} else {
		set("address", &spec.Network.Address, patch.Address)
		set("gateway", &spec.Network.Gateway, patch.Gateway)
		set("device", &spec.Network.Device, patch.Device)
		if patch.DNS != nil && !slices.Equal(*patch.DNS, spec.Network.DNS) {
			spec.Network.DNS = *patch.DNS
			changes = append(changes, "dns")
		}
	}
	vars, changed, err := patchVars(m.Vars, patch.Vars, patch.UnsetVars)
	if err != nil {
		return spec, nil, err
	}
	if changed {
		spec.Vars = vars
		changes = append(changes, "vars")
	}
	slices.Sort(changes)
	return spec, changes, nil
}

// UpdateMachine changes a registered machine, checked as a whole; what it
// installs next follows. Its state and token stay.
func (inv *Inventory) UpdateMachine(ctx context.Context, mac net.HardwareAddr, patch MachinePatch) (Result, error) {
	m, err := inv.registered(ctx, mac)
	if err != nil {
		return Result{}, err
	}
	spec, changes, err := patch.patched(m)
	if err != nil {
		return Result{}, err
	}
	next, err := spec.machine()
	if err != nil {
		return Result{}, err
	}
	next.State, next.Token, next.Created = m.State, m.Token, m.Created
	w, err := inv.checkMachine(ctx, inv.Store, next)
	if err != nil || len(changes) == 0 {
		return Result{Machine: m, Warnings: w}, err
	}
	if next, err = inv.putMachine(ctx, next); err != nil {
		return Result{}, err
	}
	err = inv.record(ctx, store.Event{MAC: mac, Kind: events.Edited, Detail: strings.Join(changes, ", ")})
	return Result{Machine: next, Warnings: w, Changes: changes}, err
}

// Reinstall sends a registered machine back to new with a fresh token: its
// next network boot installs, and its old kickstart URL stops working. It
// returns the machine and the state it was in.
func (inv *Inventory) Reinstall(ctx context.Context, mac net.HardwareAddr) (store.Machine, store.State, error) {
	m, err := inv.registered(ctx, mac)
	if err != nil {
		return m, "", err
	}
	prev := m.State
	m.State, m.Token = store.StateNew, NewToken()
	if m, err = inv.putMachine(ctx, m); err != nil {
		return m, prev, err
	}
	err = inv.record(ctx, store.Event{MAC: mac, Kind: events.Reinstall, Detail: "was " + string(prev) + "; new kickstart URL"})
	return m, prev, err
}

// RemoveMachine forgets a machine, its timeline and its lease.
func (inv *Inventory) RemoveMachine(ctx context.Context, mac net.HardwareAddr) error {
	if err := inv.Store.RemoveMachine(ctx, mac); errors.Is(err, store.ErrNotFound) {
		return notFound("machine %s is not registered (see kickstand machine list)", mac)
	} else if err != nil {
		return err
	}
	return nil
}

// MachineView is a machine with its timeline and its kickstart's warnings.
type MachineView struct {
	store.Machine
	Events   []store.Event
	Warnings Warnings
}

// Machine returns the machine with mac (registered or discovered), its
// timeline and, registered, its kickstart's warnings.
func (inv *Inventory) Machine(ctx context.Context, mac net.HardwareAddr) (MachineView, error) {
	m, err := inv.Store.Machine(ctx, mac)
	if errors.Is(err, store.ErrNotFound) {
		return MachineView{}, notFound("machine %s is not known: register it with kickstand machine add %s --profile NAME", mac, mac)
	} else if err != nil {
		return MachineView{}, err
	}
	evs, err := inv.Store.Events(ctx, mac)
	if err != nil {
		return MachineView{}, err
	}
	v := MachineView{Machine: m, Events: evs}
	if m.Registered() {
		w, err := CheckMachine(ctx, inv.Store, m, inv.site(ctx))
		if err != nil {
			w = append(w, errorProblem(err))
		}
		v.Warnings = w
	}
	return v, nil
}

// Machines returns every machine with the events of its current boot: from
// the power-on that began it (the whole timeline when none did) to its
// newest event, which is all that the newest's time since power-on needs.
func (inv *Inventory) Machines(ctx context.Context) ([]MachineView, error) {
	ms, err := inv.Store.Machines(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MachineView, 0, len(ms))
	for _, m := range ms {
		evs, err := inv.Store.Events(ctx, m.MAC)
		if err != nil {
			return nil, err
		}
		out = append(out, MachineView{Machine: m, Events: evs[bootStart(evs):]})
	}
	return out, nil
}

// bootStart is the index of the power-on that began the boot of evs's
// newest event, 0 when none did.
func bootStart(evs []store.Event) int {
	for i := len(evs) - 1; i > 0; i-- {
		if PowerOn(evs, i) {
			return i
		}
	}
	return 0
}

// Events returns the part of mac's timeline from since on (zero: from the
// start), skipping offset events and at most limit (0: all).
func (inv *Inventory) Events(ctx context.Context, mac net.HardwareAddr, since time.Time, offset, limit int) ([]store.Event, error) {
	if _, err := inv.Machine(ctx, mac); err != nil {
		return nil, err
	}
	all, err := inv.Store.Events(ctx, mac)
	if err != nil {
		return nil, err
	}
	out := []store.Event{}
	for _, e := range all {
		if !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	if offset >= len(out) {
		return []store.Event{}, nil
	}
	out = out[offset:]
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return out, nil
}

// Kickstart renders the kickstart a registered machine gets now, with its
// warnings; secrets masked unless asked for.
func (inv *Inventory) Kickstart(ctx context.Context, m store.Machine, site Site, secrets bool) ([]byte, Warnings, error) {
	if _, err := inv.Store.Profile(ctx, m.Profile); errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound("profile %s does not exist (see kickstand profile list)", m.Profile)
	}
	ks, _, w, err := RenderKickstart(ctx, inv.Store, m, "", site)
	if !secrets && ks != nil {
		// The machine's token is a secret too: its kickstart and
		// phone-home URLs carry it, and a report on it changes the
		// machine's state.
		ks = Masked(ks)
		if m.Token != "" {
			ks = bytes.ReplaceAll(ks, []byte(m.Token), []byte(masked))
		}
	}
	return ks, w, kickstartError(err)
}
