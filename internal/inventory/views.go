package inventory

import (
	"strings"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// The documented JSON forms of the inventory, which the REST API answers
// with and the command line prints (-o json) and formats as text, locally
// and through the API alike.

// MachineJSON is a machine.
type MachineJSON struct {
	MAC       string            `json:"mac"`
	Profile   string            `json:"profile"`
	Hostname  string            `json:"hostname"`
	IP        string            `json:"ip,omitempty"`
	UUID      string            `json:"uuid,omitempty"`
	Network   *store.Network    `json:"network,omitempty"` // static settings; absent: DHCP
	State     string            `json:"state"`
	Vars      map[string]string `json:"vars"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	LastEvent *EventJSON        `json:"last_event,omitempty"`
	// Warnings are what anaconda would log about the machine's kickstart.
	Warnings []string    `json:"warnings,omitempty"`
	Events   []EventJSON `json:"events,omitempty"`
}

// EventJSON is one step of a timeline.
type EventJSON struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
	// Fields are its facts, typed: which are set depends on the kind.
	Fields events.Fields `json:"fields"`
	// SincePowerOn is the seconds since the boot this event belongs to began.
	SincePowerOn float64 `json:"since_power_on"`
	// PowerOn marks the event that began a boot.
	PowerOn bool `json:"power_on,omitempty"`
}

// ProfileJSON is a profile.
type ProfileJSON struct {
	Name           string            `json:"name"`
	Distro         string            `json:"distro"`
	KernelArgs     string            `json:"kernel_args"`
	RepoProtocol   string            `json:"repo_protocol"`
	Vars           map[string]string `json:"vars"`
	PasswordPolicy string            `json:"password_policy"` // "" is the server's
	Kickstart      string            `json:"kickstart"`       // the template; "" is the built-in one
	// Warnings are what anaconda would log about its kickstart, rendered
	// for a sample machine.
	Warnings []string  `json:"warnings"`
	Created  time.Time `json:"created"`
}

// DistroJSON is a distro and the status of its media.
type DistroJSON struct {
	Name    string    `json:"name"`
	Family  string    `json:"family"`
	Version string    `json:"version"`
	Arch    string    `json:"arch"`
	Kind    string    `json:"kind"` // iso or dir
	Source  string    `json:"source"`
	Size    int64     `json:"size"`
	Status  string    `json:"status"` // ok, missing or changed (re-import it)
	Kernel  string    `json:"kernel"`
	Initrd  string    `json:"initrd"`
	Stage2  string    `json:"stage2,omitempty"`
	Created time.Time `json:"created"`
}

// LeaseJSON is an address the DHCP server lent.
type LeaseJSON struct {
	MAC      string    `json:"mac"`
	IP       string    `json:"ip"`
	Expires  time.Time `json:"expires"`
	Hostname string    `json:"hostname,omitempty"`
}

// WriteJSON is what a machine write did.
type WriteJSON struct {
	Machine  MachineJSON `json:"machine"`
	Warnings []string    `json:"warnings,omitempty"`
	Changes  []string    `json:"changes,omitempty"`
	// Was is the state the machine left (a reinstall).
	Was string `json:"was,omitempty"`
}

// KickstartJSON is a rendered kickstart.
type KickstartJSON struct {
	Text     string   `json:"text"`
	Warnings []string `json:"warnings,omitempty"`
	// Error is set when anaconda would refuse it; Text is what rendered.
	Error string `json:"error,omitempty"`
}

// machineJSON is the JSON form of m with events evs.
func machineJSON(m store.Machine, evs []store.Event, warnings Warnings) MachineJSON {
	j := MachineJSON{MAC: m.MAC.String(), Profile: m.Profile, Hostname: m.Hostname, State: string(m.State),
		Vars: MaskedVars(m.Vars), Created: m.Created, Updated: m.Updated, UUID: m.UUID, Warnings: warnings.Strings()}
	if m.IP.IsValid() {
		j.IP = m.IP.String()
	}
	if m.Network.Static() {
		n := m.Network
		j.Network = &n
	}
	for i, e := range evs {
		j.Events = append(j.Events, EventJSON{Time: e.Time, Kind: string(e.Kind), Detail: e.Detail, Fields: e.Fields,
			SincePowerOn: SincePowerOn(evs, i).Seconds(), PowerOn: PowerOn(evs, i)})
	}
	if n := len(j.Events); n > 0 {
		j.LastEvent = &j.Events[n-1]
	}
	return j
}

func profileJSON(p store.Profile, warnings Warnings) ProfileJSON {
	j := ProfileJSON{Name: p.Name, Distro: p.Distro, KernelArgs: p.KernelArgs, RepoProtocol: p.RepoProtocol,
		Vars: MaskedVars(p.Vars), PasswordPolicy: p.PasswordPolicy, Kickstart: p.Kickstart, Created: p.Created,
		Warnings: warnings.Strings()}
	if j.Warnings == nil {
		j.Warnings = []string{}
	}
	return j
}

func distroJSON(v DistroView) DistroJSON {
	d := v.Distro
	return DistroJSON{Name: d.Name, Family: d.Family, Version: d.Version, Arch: d.Arch, Kind: string(d.Kind),
		Source: d.Source, Size: d.Size, Status: v.Status, Kernel: d.Kernel, Initrd: d.Initrd, Stage2: d.Stage2, Created: d.Created}
}

// PowerOn reports whether evs[i] starts a boot: a firmware's DHCP
// discover (PXEClient or HTTPClient) after the machine was registered,
// edited, sent to reinstall or reported its install's end, or after ten
// quiet minutes. A boot's own later discovers (iPXE, the installer) do not.
func PowerOn(evs []store.Event, i int) bool {
	ev := evs[i]
	if ev.Kind != events.DHCPDiscover || !pxeClient(ev) {
		return false
	}
	if i == 0 {
		return true
	}
	prev := evs[i-1]
	switch {
	case ev.Time.Sub(prev.Time) > 10*time.Minute:
		return true
	case prev.Kind == events.Registered, prev.Kind == events.Edited, prev.Kind == events.Reinstall:
		return true
	case prev.Kind == events.PhoneHome && reported(prev) != string(store.StateInstalling):
		return true
	}
	return false
}

// pxeClient reports whether a DHCP event is a PXE or HTTP Boot client's;
// events recorded before they had fields say it in their detail only.
func pxeClient(ev store.Event) bool {
	if ev.Fields != (events.Fields{}) {
		return ev.Fields.PXE
	}
	return strings.Contains(ev.Detail, "PXEClient") || strings.Contains(ev.Detail, "HTTPClient")
}

// reported is the state a phone-home event reports.
func reported(ev store.Event) string {
	if ev.Fields.State != "" {
		return ev.Fields.State
	}
	state, _, _ := strings.Cut(ev.Detail, ":")
	return state
}

// SincePowerOn is the time from the start of the boot evs[i] belongs to.
func SincePowerOn(evs []store.Event, i int) time.Duration {
	start := evs[0].Time
	for j := i; j > 0; j-- {
		if PowerOn(evs, j) {
			start = evs[j].Time
			break
		}
	}
	return evs[i].Time.Sub(start)
}
