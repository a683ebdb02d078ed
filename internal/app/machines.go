package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"kickstand/internal/boot"
	"kickstand/internal/events"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
)

// Bounds of the machines seen on the wire but never registered.
const (
	// DiscoveredMax is how many discovered machines are kept; past it, the
	// ones seen longest ago go, with their timelines.
	DiscoveredMax = 1024
	// DiscoveredRetention is how long a discovered machine is kept after it
	// was last seen.
	DiscoveredRetention = 7 * 24 * time.Hour
	// discoverRate and discoverBurst bound how fast new MACs become
	// discovered machines (a second, at once); the others are not recorded.
	discoverRate, discoverBurst = 20, 200
	// MaxEventsPerMachine is how many events a timeline keeps: an install
	// fetching every package over HTTP makes a few thousand.
	MaxEventsPerMachine = 5000
	// eventRate and eventBurst bound the wire events recorded per MAC (a
	// second, at once): DHCP packets naming any MAC are easy to send.
	eventRate, eventBurst = 50, 2000
)

// machines answers every question about a machine that the protocol servers
// ask, reading the store each time so that CLI changes apply at once.
type machines struct {
	store   store.Store
	unknown boot.Unknown
	baseURL string
	ftpBase string // "" when FTP is off
	// pubDistro returns the distro served at pub/ ("" for none).
	pubDistro func(context.Context) (string, error)
	// grub returns the dialect of the GRUB mac runs (nil: GRUB 2.06's).
	grub func(context.Context, net.HardwareAddr) boot.GRUBDialect
	// source says why client is not an address of mac (nil: it is, or
	// nobody checks); per-client configs go only to the machine's address.
	source func(ctx context.Context, mac net.HardwareAddr, client netip.Addr) error
	offers offers
	log    *slog.Logger
	quiet  quietLog
	// discoveries bounds how fast MACs seen on the wire are recorded.
	discoveries *rateLimit
	// wireEvents bounds how fast each MAC's wire events are recorded.
	wireEvents rateLimits
	// unrecorded counts events dropped because their MAC is no machine.
	unrecorded atomic.Int64
	// feed, if set, gets every event recorded, for the live views.
	feed *events.Feed
}

// pub returns the distro at pub/, or "" (also when pubDistro is unset).
func (m *machines) pub(ctx context.Context) string {
	if m.pubDistro == nil {
		return ""
	}
	name, err := m.pubDistro(ctx)
	if err != nil {
		m.log.Error("default distro", "err", err)
	}
	return name
}

// discover records mac, seen at t, as a discovered machine, so that it has
// a timeline, unless it is known; at most discoverRate a second, and at
// most DiscoveredMax of them. It reports whether mac is a machine now.
func (m *machines) discover(ctx context.Context, mac net.HardwareAddr, t time.Time) bool {
	if m.discoveries != nil && !m.discoveries.allow(time.Now()) {
		m.quiet.log(m.log, slog.LevelWarn, "discover-limited", "not recording new machines: more than the rate seen on the wire",
			"rate", discoverRate, "mac", mac.String())
		return false
	}
	added, err := m.store.Discover(ctx, store.Machine{MAC: mac, State: store.StateNew, Token: inventory.NewToken(), Seen: t}, DiscoveredMax)
	if err != nil {
		m.quiet.log(m.log, slog.LevelError, "store-discover", "record discovered machine", "mac", mac.String(), "err", err)
		return false
	}
	if added {
		m.quiet.log(m.log, slog.LevelInfo, "discovered", "discovered machine", "mac", mac.String())
	}
	return true
}

// trees returns every profile with its distro.
func trees(ctx context.Context, s store.Store) ([]boot.Tree, error) {
	profiles, err := s.Profiles(ctx)
	if err != nil {
		return nil, err
	}
	var out []boot.Tree
	for _, p := range profiles {
		d, err := s.Distro(ctx, p.Distro)
		if err != nil {
			return nil, err
		}
		out = append(out, boot.Tree{Profile: p, Distro: d})
	}
	return out, nil
}

// input is what a decision for mac depends on; a MAC the store does not
// know has no machine (nothing is written for it here).
func (m *machines) input(ctx context.Context, mac net.HardwareAddr) (boot.Input, error) {
	in := boot.Input{MAC: mac, Unknown: m.unknown, BaseURL: m.baseURL, FTPBase: m.ftpBase}
	machine, err := m.store.Machine(ctx, mac)
	switch {
	case err == nil:
		in.Machine = &machine
	case !errors.Is(err, store.ErrNotFound):
		return in, err
	}
	if in.Trees, err = trees(ctx, m.store); err != nil {
		return in, err
	}
	in.PubDistro = m.pub(ctx)
	return in, nil
}

// decide returns the boot decision for mac, without offers: what to
// answer, not the config text.
func (m *machines) decide(ctx context.Context, mac net.HardwareAddr) (boot.Decision, error) {
	in, err := m.input(ctx, mac)
	if err != nil {
		return boot.Decision{}, err
	}
	return boot.Decide(in), nil
}

// generate makes the per-client boot files of the tree. A per-client file
// goes only to the address of its machine: to anyone else it does not exist.
func (m *machines) generate(ctx context.Context, name string, client netip.Addr) ([]byte, bool, error) {
	// Every client gets its own file first; one that falls through to the
	// shared default is one we cannot tell apart, so it boots locally.
	fallthroughLocal := boot.Decision{Action: boot.ActionLocal, Reason: "no per-machine config: boot from local disk"}
	switch name {
	case "pxelinux.cfg/default":
		return boot.RenderPXELinux(fallthroughLocal, "kickstand"), true, nil
	case "grub.cfg":
		return boot.RenderGRUB(fallthroughLocal, "kickstand"), true, nil
	}
	for i, c := range configKinds {
		if mac, ok := c.parse(name); ok {
			return m.render(ctx, name, mac, &configKinds[i], client)
		}
	}
	return nil, false, nil
}

// grubByAddress makes mac's GRUB config under a name that does not carry
// its MAC (a GRUB that reads only $prefix/grub.cfg, or the grub.cfg beside
// an HTTP Boot shim): the caller found mac from the client's address.
func (m *machines) grubByAddress(ctx context.Context, name string, mac net.HardwareAddr, client netip.Addr) ([]byte, bool, error) {
	return m.render(ctx, name, mac, &configKinds[grubConfigKind], client)
}

// render makes mac's config of kind, asked for by client as name.
func (m *machines) render(ctx context.Context, name string, mac net.HardwareAddr, kind *configKind, client netip.Addr) ([]byte, bool, error) {
	if m.source != nil {
		if err := m.source(ctx, mac, client); err != nil {
			m.refuse(ctx, mac, client, events.Refused(events.BootConfig), name+": "+err.Error())
			return nil, false, nil
		}
	}
	in, err := m.input(ctx, mac)
	if err != nil {
		return nil, false, err
	}
	d := boot.Decide(in)
	if d.Offered {
		in.Offers = m.offers.mint(mac, client, d.Profiles())
		d = boot.Decide(in)
	}
	if kind.grub && m.grub != nil {
		d.GRUB = m.grub(ctx, mac)
	}
	m.record(ctx, store.Event{MAC: mac, Kind: events.BootConfig, Detail: fmt.Sprintf("%s: %s", name, d.Reason),
		Fields: events.Fields{File: name, Action: d.Action.String()}}, "")
	return kind.render(d, "kickstand: "+mac.String()), true, nil
}

// refuse logs (quietly) and records on mac's timeline, if it has one, a
// request refused for client.
func (m *machines) refuse(ctx context.Context, mac net.HardwareAddr, client netip.Addr, kind events.Kind, detail string) {
	m.quiet.log(m.log, slog.LevelWarn, client.String()+" "+string(kind), "request refused", "kind", kind, "detail", detail,
		"client", client, "mac", mac.String())
	m.record(ctx, store.Event{MAC: mac, Kind: kind, Detail: detail}, "")
}

// record appends an event to mac's timeline and advances its state toward
// step (if not empty). Failures are logged: a lost event must not fail a
// boot. A MAC that is no machine has no timeline: its event is dropped.
func (m *machines) record(ctx context.Context, ev store.Event, step store.State) {
	err := m.recordErr(ctx, ev, step)
	switch {
	case errors.Is(err, store.ErrNotFound):
		m.unrecorded.Add(1)
	case err != nil:
		m.quiet.log(m.log, slog.LevelError, "store-record", "record event", "mac", ev.MAC.String(), "kind", ev.Kind, "err", err)
	}
}

// stream sends a recorded event, and the machine's state after it, to the
// live event stream.
func (m *machines) stream(ev store.Event, state store.State) {
	if m.feed != nil {
		m.feed.Send(events.Event{Time: ev.Time, MAC: ev.MAC, Kind: ev.Kind, Detail: ev.Detail, Fields: ev.Fields, Step: string(state)})
	}
}

// recordErr is record returning the error; ev.Time zero is now.
func (m *machines) recordErr(ctx context.Context, ev store.Event, step store.State) error {
	mac, kind := ev.MAC, ev.Kind
	before, err := m.store.Machine(ctx, mac)
	if errors.Is(err, store.ErrNotFound) {
		// Record would say so too, after taking the database's write lock:
		// full-mode DHCP of every laptop on the LAN comes here, several
		// events per lease, and the DHCP server's lease writes need that
		// lock.
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	after, err := m.store.Record(ctx, ev, step)
	if err == nil {
		m.stream(ev, after)
	}
	if err == nil && after != before.State && after != "" {
		level := slog.LevelInfo
		if !before.Registered() { // a discovered machine: anything on the LAN makes these
			level = slog.LevelDebug
		}
		m.log.Log(ctx, level, "machine state", "mac", mac.String(), "state", after, "after", kind)
	}
	return err
}

// configKind is one kind of per-client boot config.
type configKind struct {
	parse  func(string) (net.HardwareAddr, bool)
	render func(boot.Decision, string) []byte
	grub   bool // rendered in the dialect of the client's GRUB
}

// configKinds are the per-client boot configs: pxelinux, iPXE and GRUB.
var configKinds = []configKind{
	{boot.ParsePXELinuxConfigName, boot.RenderPXELinux, false},
	{boot.ParseIPXEScriptName, boot.RenderIPXE, false},
	grubConfigKind: {boot.ParseGRUBConfigName, boot.RenderGRUB, true},
}

// grubConfigKind is the GRUB config's index in configKinds.
const grubConfigKind = 2
