package inventory

import (
	"context"
	"time"
)

// Service is the inventory as the command line and the REST API use it:
// every operation takes and returns the documented JSON forms, so that a
// client of the API (api.Client) is interchangeable with it.
type Service struct {
	Inv *Inventory
}

// Distros lists the distros.
func (s Service) Distros(ctx context.Context) ([]DistroJSON, error) {
	vs, err := s.Inv.Distros(ctx)
	out := make([]DistroJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, distroJSON(v))
	}
	return out, err
}

// Distro returns one distro.
func (s Service) Distro(ctx context.Context, name string) (DistroJSON, error) {
	v, err := s.Inv.Distro(ctx, name)
	return distroJSON(v), err
}

// ImportDistro imports the media at path on the server as distro name.
func (s Service) ImportDistro(ctx context.Context, name, path string) (DistroJSON, error) {
	d, err := s.Inv.ImportDistro(ctx, name, path)
	if err != nil {
		return DistroJSON{}, err
	}
	return distroJSON(DistroView{d, CheckSource(d)}), nil
}

// RemoveDistro forgets a distro.
func (s Service) RemoveDistro(ctx context.Context, name string) error {
	return s.Inv.RemoveDistro(ctx, name)
}

// Profiles lists the profiles (without rendering their kickstarts).
func (s Service) Profiles(ctx context.Context) ([]ProfileJSON, error) {
	ps, err := s.Inv.Profiles(ctx)
	out := make([]ProfileJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, profileJSON(p, nil))
	}
	return out, err
}

// Profile returns one profile with its kickstart's warnings.
func (s Service) Profile(ctx context.Context, name string) (ProfileJSON, error) {
	v, err := s.Inv.Profile(ctx, name)
	return profileJSON(v.Profile, v.Warnings), err
}

// AddProfile creates a profile.
func (s Service) AddProfile(ctx context.Context, spec ProfileSpec) (ProfileJSON, error) {
	v, err := s.Inv.AddProfile(ctx, spec)
	return profileJSON(v.Profile, v.Warnings), err
}

// UpdateProfile changes a profile.
func (s Service) UpdateProfile(ctx context.Context, name string, patch ProfilePatch) (ProfileJSON, error) {
	v, _, err := s.Inv.UpdateProfile(ctx, name, patch)
	return profileJSON(v.Profile, v.Warnings), err
}

// RemoveProfile deletes a profile no machine uses.
func (s Service) RemoveProfile(ctx context.Context, name string) error {
	return s.Inv.RemoveProfile(ctx, name)
}

// Machines lists the machines, each with its newest event (its time since
// power-on counted from the start of its boot).
func (s Service) Machines(ctx context.Context) ([]MachineJSON, error) {
	vs, err := s.Inv.Machines(ctx)
	out := make([]MachineJSON, 0, len(vs))
	for _, v := range vs {
		j := machineJSON(v.Machine, v.Events, nil)
		j.Events = nil
		out = append(out, j)
	}
	return out, err
}

// Machine returns one machine with its timeline.
func (s Service) Machine(ctx context.Context, mac string) (MachineJSON, error) {
	hw, err := ParseMAC(mac)
	if err != nil {
		return MachineJSON{}, err
	}
	v, err := s.Inv.Machine(ctx, hw)
	if err != nil {
		return MachineJSON{}, err
	}
	return machineJSON(v.Machine, v.Events, v.Warnings), nil
}

// Events returns a page of a machine's timeline: from since on, skipping
// offset events, at most limit (0: all).
func (s Service) Events(ctx context.Context, mac string, since time.Time, offset, limit int) ([]EventJSON, error) {
	hw, err := ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	v, err := s.Inv.Machine(ctx, hw)
	if err != nil {
		return nil, err
	}
	all := machineJSON(v.Machine, v.Events, nil).Events
	out := []EventJSON{}
	for _, e := range all {
		if !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	if offset >= len(out) {
		return []EventJSON{}, nil
	}
	out = out[offset:]
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return out, nil
}

func writeJSON(r Result, was string) WriteJSON {
	return WriteJSON{Machine: machineJSON(r.Machine, nil, nil), Warnings: r.Warnings.Strings(), Changes: r.Changes, Was: was}
}

// AddMachine registers a machine.
func (s Service) AddMachine(ctx context.Context, spec MachineSpec) (WriteJSON, error) {
	r, err := s.Inv.AddMachine(ctx, spec)
	return writeJSON(r, ""), err
}

// UpdateMachine changes a registered machine.
func (s Service) UpdateMachine(ctx context.Context, mac string, patch MachinePatch) (WriteJSON, error) {
	hw, err := ParseMAC(mac)
	if err != nil {
		return WriteJSON{}, err
	}
	r, err := s.Inv.UpdateMachine(ctx, hw, patch)
	return writeJSON(r, ""), err
}

// Reinstall sends a registered machine back to new.
func (s Service) Reinstall(ctx context.Context, mac string) (WriteJSON, error) {
	hw, err := ParseMAC(mac)
	if err != nil {
		return WriteJSON{}, err
	}
	m, was, err := s.Inv.Reinstall(ctx, hw)
	return writeJSON(Result{Machine: m}, string(was)), err
}

// RemoveMachine forgets a machine.
func (s Service) RemoveMachine(ctx context.Context, mac string) error {
	hw, err := ParseMAC(mac)
	if err != nil {
		return err
	}
	return s.Inv.RemoveMachine(ctx, hw)
}

// RenderOptions say how to render a kickstart for showing.
type RenderOptions struct {
	// Secrets shows passwords and hashes; they are masked otherwise.
	Secrets bool
	// BaseURL and FTPBase, when set, are the server's addresses in the
	// kickstart instead of the inventory's own (to see what a machine
	// reaching the server at another address gets).
	BaseURL, FTPBase string
}

// Kickstart renders the kickstart a machine gets now, or, for profile, a
// profile's for a sample machine; secrets masked unless asked for.
func (s Service) Kickstart(ctx context.Context, mac, profile string, opt RenderOptions) (KickstartJSON, error) {
	m := SampleMachine(profile)
	if mac != "" {
		hw, err := ParseMAC(mac)
		if err != nil {
			return KickstartJSON{}, err
		}
		if m, err = s.Inv.registered(ctx, hw); err != nil {
			return KickstartJSON{}, err
		}
	}
	site := s.Inv.site(ctx)
	if opt.BaseURL != "" {
		site.BaseURL, site.FTPBase = opt.BaseURL, opt.FTPBase
	}
	ks, w, err := s.Inv.Kickstart(ctx, m, site, opt.Secrets)
	j := KickstartJSON{Text: string(ks), Warnings: w.Strings()}
	if err != nil && ks != nil { // rendered, but anaconda would refuse it
		j.Error = err.Error()
		return j, nil
	}
	return j, err
}

// Apply brings the inventory to req (see Inventory.Apply).
func (s Service) Apply(ctx context.Context, req ApplyRequest, dryRun bool) (Plan, error) {
	return s.Inv.Apply(ctx, req, dryRun)
}

// Leases lists the DHCP server's leases.
func (s Service) Leases(ctx context.Context) ([]LeaseJSON, error) {
	ls, err := s.Inv.Store.Leases(ctx)
	out := make([]LeaseJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, LeaseJSON{MAC: l.MAC.String(), IP: l.IP.String(), Expires: l.Expires, Hostname: l.Hostname})
	}
	return out, err
}
