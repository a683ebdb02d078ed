package web

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"kickstand/internal/inventory"
)

// status is where a machine is, as the list and its page show it.
type status struct {
	MAC, Hostname, Profile, State, IP string
	// The newest event, its kind and detail the machine's current step.
	Last *inventory.EventJSON
	// LastReported is the state the newest event reports (a phone-home):
	// the script needs it to tell the next power-on.
	LastReported string
	PowerOn      time.Time // of the current boot; zero: none known
	// Elapsed is the time since power-on: until now while the machine
	// boots or installs, until its newest event after; shown unless it
	// is new (waiting for its next boot).
	Elapsed     time.Duration
	ShowElapsed bool
	Mark        string // failed, stuck or ""
	MarkText    string
}

// LastTime is the time of the newest event (zero: none).
func (st status) LastTime() time.Time {
	if st.Last == nil {
		return time.Time{}
	}
	return st.Last.Time
}

// moving reports whether a machine in state should keep sending events.
func moving(state string) bool { return state == "booting" || state == "installing" }

func (s *Server) status(m inventory.MachineJSON, now time.Time) status {
	st := status{MAC: m.MAC, Hostname: m.Hostname, Profile: m.Profile, State: m.State, IP: m.IP, Last: m.LastEvent}
	if e := m.LastEvent; e != nil {
		st.PowerOn = e.Time.Add(-time.Duration(e.SincePowerOn * float64(time.Second)))
		st.LastReported = e.Fields.State
		if e.Kind == "phone-home" && st.LastReported == "" {
			st.LastReported, _, _ = strings.Cut(e.Detail, ":")
		}
		st.Elapsed, st.ShowElapsed = e.Time.Sub(st.PowerOn), m.State != "new"
		if moving(m.State) {
			st.Elapsed = now.Sub(st.PowerOn)
		}
		if quiet := now.Sub(e.Time); moving(m.State) && quiet >= s.stuckAfter() {
			st.Mark, st.MarkText = "stuck", "stuck: no event for "+duration(quiet)
		}
	}
	if m.State == "failed" {
		st.Mark, st.MarkText = "failed", "failed"
	}
	return st
}

// machines is the list of machines, the dashboard's home.
func (s *Server) machines(w http.ResponseWriter, r *http.Request, v view) {
	ms, err := s.Service.Machines(r.Context())
	if err != nil {
		s.fail(w, v, err)
		return
	}
	rows := make([]status, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, s.status(m, v.Now))
	}
	v.Nav, v.Title, v.Data = "machines", "Machines", rows
	s.render(w, http.StatusOK, "machines", v)
}

// timelineRow is one event of a machine's page, as `machine show` prints it.
type timelineRow struct {
	inventory.EventJSON
	Since time.Duration
	// NewBoot marks a power-on after the first event.
	NewBoot bool
	// Bad is an event that says something went wrong.
	Bad bool
}

// badEvent reports whether an event says that something went wrong.
func badEvent(e inventory.EventJSON) bool {
	switch {
	case e.Fields.Error != "", e.Fields.NotFound, strings.HasSuffix(e.Kind, "-refused"):
		return true
	case e.Kind == "kickstart-invalid", e.Kind == "kickstart-error", e.Kind == "dhcp-nak", e.Kind == "dhcp-decline":
		return true
	case e.Kind == "phone-home":
		return e.Fields.State == "failed" || strings.HasPrefix(e.Detail, "failed")
	}
	return false
}

// machinePage is a machine's page.
type machinePage struct {
	Machine   inventory.MachineJSON
	Status    status
	Timeline  []timelineRow
	Kickstart inventory.KickstartJSON
	// KickstartErr is why there is no kickstart to show.
	KickstartErr string
	// BootConfig is the newest boot config the machine fetched.
	BootConfig *inventory.EventJSON
	Profiles   []string
	Vars       [][2]string
	// Logs are what the newest install that sent logs sent.
	Logs []inventory.InstallLogJSON
}

func (s *Server) machine(w http.ResponseWriter, r *http.Request, v view) {
	m, err := s.Service.Machine(r.Context(), r.PathValue("mac"))
	if err != nil {
		s.fail(w, v, err)
		return
	}
	p := machinePage{Machine: m, Status: s.status(m, v.Now)}
	for i, e := range m.Events {
		p.Timeline = append(p.Timeline, timelineRow{EventJSON: e, Since: seconds(e.SincePowerOn),
			NewBoot: i > 0 && e.PowerOn, Bad: badEvent(e)})
		if e.Kind == "boot-config" {
			p.BootConfig = &m.Events[i]
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Vars)) {
		p.Vars = append(p.Vars, [2]string{k, m.Vars[k]})
	}
	if p.Logs, err = s.Service.InstallLogs(r.Context(), m.MAC, inventory.LogQuery{}); err != nil {
		s.fail(w, v, err)
		return
	}
	if m.Profile == "" {
		p.KickstartErr = "none: a discovered machine installs nothing until it is given a profile"
	} else if p.Kickstart, err = s.Service.Kickstart(r.Context(), m.MAC, "", inventory.RenderOptions{}); err != nil {
		p.KickstartErr = err.Error()
	}
	if !v.Session.ReadOnly {
		profiles, err := s.Service.Profiles(r.Context())
		if err != nil {
			s.fail(w, v, err)
			return
		}
		for _, pr := range profiles {
			p.Profiles = append(p.Profiles, pr.Name)
		}
	}
	v.Nav, v.Title, v.Data = "machine", "Machine "+m.MAC, p
	s.render(w, http.StatusOK, "machine", v)
}

func (s *Server) distros(w http.ResponseWriter, r *http.Request, v view) {
	ds, err := s.Service.Distros(r.Context())
	if err != nil {
		s.fail(w, v, err)
		return
	}
	v.Nav, v.Title, v.Data = "distros", "Distros", ds
	s.render(w, http.StatusOK, "distros", v)
}

// profileRow is a profile with its variables in order.
type profileRow struct {
	inventory.ProfileJSON
	Vars [][2]string
}

func (s *Server) profiles(w http.ResponseWriter, r *http.Request, v view) {
	ps, err := s.Service.Profiles(r.Context())
	if err != nil {
		s.fail(w, v, err)
		return
	}
	rows := make([]profileRow, 0, len(ps))
	for _, p := range ps {
		row := profileRow{ProfileJSON: p}
		for _, k := range slices.Sorted(maps.Keys(p.Vars)) {
			row.Vars = append(row.Vars, [2]string{k, p.Vars[k]})
		}
		rows = append(rows, row)
	}
	v.Nav, v.Title, v.Data = "profiles", "Profiles", rows
	s.render(w, http.StatusOK, "profiles", v)
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request, v view) {
	ls, err := s.Service.Leases(r.Context())
	if err != nil {
		s.fail(w, v, err)
		return
	}
	slices.SortFunc(ls, func(a, b inventory.LeaseJSON) int { return cmp.Compare(a.IP, b.IP) })
	v.Nav, v.Title, v.Data = "leases", "Leases", ls
	s.render(w, http.StatusOK, "leases", v)
}

// server is the server's page: its script asks the API what the server is
// (GET /api/v1/server) and what it is sending (GET /api/v1/transfers).
func (s *Server) server(w http.ResponseWriter, _ *http.Request, v view) {
	v.Nav, v.Title = "server", "Server"
	s.render(w, http.StatusOK, "server", v)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// The templates' formatting.

// clock is an event's time of day, as `machine show` prints it.
func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }

// stamp is a date and time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// rfc3339 is a time for the script ("" for none).
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// duration is a rough length of time: 42s, 3m05s, 2h07m.
func duration(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// size is a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i-1])
}
