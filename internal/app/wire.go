package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"time"

	"kickstand/internal/dhcp"
	"kickstand/internal/events"
	"kickstand/internal/ftp"
	"kickstand/internal/httpd"
	"kickstand/internal/store"
	"kickstand/internal/tftp"
)

// onDHCP publishes what the DHCP server did; an offer or ack to a PXE client
// is the first sign that a machine is booting.
func (a *App) onDHCP(e dhcp.Event) {
	a.peers.learn(e.IP, e.MAC)
	a.bus.Publish(events.Event{MAC: e.MAC, IP: e.IP, Kind: e.Kind, Detail: e.Detail, Step: string(store.StateBooting)})
}

func (a *App) onTFTP(t tftp.Transfer) {
	ip := addrOf(t.Client)
	name := strings.TrimPrefix(t.Name, "/") // GRUB asks for /path, the rest for path
	detail := fmt.Sprintf("%s %d bytes in %s", name, t.Bytes, t.Duration.Round(time.Millisecond))
	switch {
	case t.SizeProbe():
		detail = name + ": size query (tsize), no data asked"
	case errors.Is(t.Err, fs.ErrNotExist):
		// Boot programs probe for optional files (shim's revocation lists,
		// GRUB's module lists): worth a line, not an error message.
		detail = name + ": not found"
	case t.Err != nil:
		detail += ": " + t.Err.Error()
	}
	mac, _ := a.peers.lookup(ip)
	a.bus.Publish(events.Event{MAC: mac, IP: ip, Kind: "tftp", Detail: detail, Step: string(store.StateBooting)})
}

func (a *App) onHTTP(t httpd.Transfer) {
	mac, _ := a.peers.lookup(t.Client)
	a.bus.Publish(events.Event{MAC: mac, IP: t.Client, Kind: "http",
		Detail: fmt.Sprintf("%s %d: %d bytes in %s", t.Name, t.Status, t.Bytes, t.Duration.Round(time.Millisecond))})
}

// recordEvent writes a wire event into the machine's timeline. Events whose
// MAC is unknown (a client we never saw on DHCP) are only logged.
func (a *App) recordEvent(e events.Event) {
	if len(e.MAC) == 0 {
		a.log.Debug("event without machine", "ip", e.IP, "kind", e.Kind, "detail", e.Detail)
		return
	}
	if err := a.machines.recordErr(context.Background(), e.MAC, e.Kind, e.Detail, store.State(e.Step)); err != nil {
		a.log.Error("record event", "mac", e.MAC.String(), "kind", e.Kind, "err", err)
	}
}

// kickstart serves a machine's kickstart and marks it installing.
func (a *App) kickstart(ctx context.Context, token, profile string, client netip.Addr) ([]byte, error) {
	m, err := a.store.MachineByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		a.log.Warn("kickstart requested with an unknown token", "client", client)
		return nil, httpd.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	a.peers.learn(client, m.MAC)
	ks, p, err := renderKickstart(ctx, a.store, m, profile, a.machines.baseURL, a.machines.ftpBase, a.machines.pub(ctx))
	if err != nil {
		a.machines.record(ctx, m.MAC, "kickstart-error", err.Error(), "")
		return nil, err
	}
	if m.Profile == "" { // chosen from the menu: the machine now belongs to that profile
		m.Profile = p.Name
		if err := a.store.PutMachine(ctx, m); err != nil {
			return nil, err
		}
	}
	a.machines.record(ctx, m.MAC, "kickstart", fmt.Sprintf("profile %s, %d bytes to %s", p.Name, len(ks), client), store.StateInstalling)
	return ks, nil
}

// phoneHome records a machine's own report of its install.
func (a *App) phoneHome(ctx context.Context, token string, r httpd.Report) error {
	m, err := a.store.MachineByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		a.log.Warn("phone-home with an unknown token", "client", r.Client)
		return httpd.ErrNotFound
	}
	if err != nil {
		return err
	}
	detail := r.State
	if r.Message != "" {
		detail += ": " + r.Message
	}
	return a.machines.recordErr(ctx, m.MAC, "phone-home", detail, store.State(r.State))
}

// leaseStore adapts the store to the DHCP server's LeaseStore.
type leaseStore struct{ s store.Store }

func (l leaseStore) Leases(ctx context.Context) ([]dhcp.Lease, error) {
	ls, err := l.s.Leases(ctx)
	out := make([]dhcp.Lease, len(ls))
	for i, x := range ls {
		out[i] = dhcp.Lease(x)
	}
	return out, err
}

func (l leaseStore) PutLease(ctx context.Context, x dhcp.Lease) error {
	return l.s.PutLease(ctx, store.Lease(x))
}

func (l leaseStore) DeleteLease(ctx context.Context, mac net.HardwareAddr) error {
	return l.s.RemoveLease(ctx, mac)
}

func (a *App) onFTP(t ftp.Transfer) {
	mac, _ := a.peers.lookup(t.Client)
	detail := fmt.Sprintf("%s %d bytes in %s", t.Name, t.Bytes, t.Duration.Round(time.Millisecond))
	if t.Err != nil {
		detail += ": " + t.Err.Error()
	}
	a.bus.Publish(events.Event{MAC: mac, IP: t.Client, Kind: "ftp", Detail: detail})
}
