package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"kickstand/internal/boot"
	"kickstand/internal/store"
)

// NewToken returns a random, URL-safe machine token.
func NewToken() string {
	b := make([]byte, 20)
	rand.Read(b) // crypto/rand.Read never fails on Linux
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

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
	log  *slog.Logger
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

// lookup returns the machine with mac; a MAC never seen before is recorded
// as a discovered machine so that it has a token and a timeline.
func (m *machines) lookup(ctx context.Context, mac net.HardwareAddr) (store.Machine, error) {
	got, err := m.store.Machine(ctx, mac)
	if !errors.Is(err, store.ErrNotFound) {
		return got, err
	}
	fresh := store.Machine{MAC: mac, State: store.StateNew, Token: NewToken()}
	if err := m.store.PutMachine(ctx, fresh); err != nil {
		return store.Machine{}, err
	}
	m.log.Info("discovered machine", "mac", mac.String())
	return m.store.Machine(ctx, mac)
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

// decide returns the boot decision for mac.
func (m *machines) decide(ctx context.Context, mac net.HardwareAddr) (boot.Decision, error) {
	machine, err := m.lookup(ctx, mac)
	if err != nil {
		return boot.Decision{}, err
	}
	ts, err := trees(ctx, m.store)
	if err != nil {
		return boot.Decision{}, err
	}
	return boot.Decide(boot.Input{MAC: mac, Machine: &machine, Trees: ts, Unknown: m.unknown,
		BaseURL: m.baseURL, FTPBase: m.ftpBase, PubDistro: m.pub(ctx)}), nil
}

// generate makes the per-client boot files of the tree.
func (m *machines) generate(ctx context.Context, name string, _ netip.Addr) ([]byte, bool, error) {
	// Every client gets its own file first; one that falls through to the
	// shared default is one we cannot tell apart, so it boots locally.
	fallthroughLocal := boot.Decision{Action: boot.ActionLocal, Reason: "no per-machine config: boot from local disk"}
	switch name {
	case "pxelinux.cfg/default":
		return boot.RenderPXELinux(fallthroughLocal, "kickstand"), true, nil
	case "grub.cfg":
		return boot.RenderGRUB(fallthroughLocal, "kickstand"), true, nil
	}
	var mac net.HardwareAddr
	var kind *configKind
	for i, c := range configKinds {
		if m, ok := c.parse(name); ok {
			mac, kind = m, &configKinds[i]
			break
		}
	}
	if kind == nil {
		return nil, false, nil
	}
	d, err := m.decide(ctx, mac)
	if err != nil {
		return nil, false, err
	}
	if kind.grub && m.grub != nil {
		d.GRUB = m.grub(ctx, mac)
	}
	m.record(ctx, mac, "boot-config", fmt.Sprintf("%s: %s", name, d.Reason), "")
	return kind.render(d, "kickstand: "+mac.String()), true, nil
}

// record appends an event to mac's timeline and advances its state toward
// step (if not empty). Failures are logged: a lost event must not fail a boot.
func (m *machines) record(ctx context.Context, mac net.HardwareAddr, kind, detail string, step store.State) {
	if err := m.recordErr(ctx, mac, kind, detail, step); err != nil {
		m.log.Error("record event", "mac", mac.String(), "kind", kind, "err", err)
	}
}

func (m *machines) recordErr(ctx context.Context, mac net.HardwareAddr, kind, detail string, step store.State) error {
	return m.recordAt(ctx, store.Event{MAC: mac, Kind: kind, Detail: detail}, step)
}

// recordAt is recordErr for an event that already has its time (zero: now).
func (m *machines) recordAt(ctx context.Context, ev store.Event, step store.State) error {
	mac, kind := ev.MAC, ev.Kind
	before, _ := m.store.Machine(ctx, mac) // only for the log line
	after, err := m.store.Record(ctx, ev, step)
	if err == nil && after != before.State && after != "" {
		m.log.Info("machine state", "mac", mac.String(), "state", after, "after", kind)
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
	{boot.ParseGRUBConfigName, boot.RenderGRUB, true},
}
