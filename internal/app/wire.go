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
	a.onStage2(mac, ip, "TFTP", name, t.Bytes, t.Duration, t.Err == nil && !t.SizeProbe())
}

func (a *App) onHTTP(t httpd.Transfer) {
	mac, _ := a.peers.lookup(t.Client)
	a.bus.Publish(events.Event{MAC: mac, IP: t.Client, Kind: "http",
		Detail: fmt.Sprintf("%s %d: %d bytes in %s", t.Name, t.Status, t.Bytes, t.Duration.Round(time.Millisecond))})
	a.onStage2(mac, t.Client, "HTTP", t.Name, t.Bytes, t.Duration, t.Status == 200 && t.Bytes > 0)
}

// recordEvent writes a wire event into the machine's timeline. Events whose
// MAC is unknown (a client we never saw on DHCP) are only logged.
func (a *App) recordEvent(e events.Event) {
	if len(e.MAC) == 0 {
		a.log.Debug("event without machine", "ip", e.IP, "kind", e.Kind, "detail", e.Detail)
		return
	}
	ev := store.Event{MAC: e.MAC, Time: e.Time, Kind: e.Kind, Detail: e.Detail}
	if err := a.machines.recordAt(context.Background(), ev, store.State(e.Step)); err != nil {
		a.log.Error("record event", "mac", e.MAC.String(), "kind", e.Kind, "err", err)
	}
}

// kickstart serves a machine's kickstart and marks it installing.
func (a *App) kickstart(ctx context.Context, token, profile string, client netip.Addr) ([]byte, error) {
	m, err := a.machineForToken(ctx, "kickstart", token, client)
	if err != nil {
		return nil, err
	}
	a.peers.learn(client, m.MAC)
	ks, p, err := RenderKickstart(ctx, a.store, m, profile, a.site(ctx))
	var invalid *InvalidError
	if errors.As(err, &invalid) {
		a.machines.record(ctx, m.MAC, "kickstart-invalid", err.Error(), "")
		a.log.Error("kickstart not served: anaconda would refuse it", "mac", m.MAC.String(), "err", err)
		return nil, err
	}
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

// site is the server's side of every kickstart.
func (a *App) site(ctx context.Context) Site {
	return Site{BaseURL: a.machines.baseURL, FTPBase: a.machines.ftpBase, PubDistro: a.machines.pub(ctx),
		SnippetsDir: SnippetsDir(a.cfg.DataDir)}
}

// machineForToken returns the machine a kickstart or phone-home token
// belongs to. An unknown token is refused (httpd.ErrNotFound, a 404 that
// tells nothing) and recorded on the machine at that address. A kickstart
// (not a report: refusing "installed" would install the machine again) is
// also refused when the kernel's neighbour table says the address is held
// now by another registered machine, and, with --ks-source-check, when it is
// not known to be the machine's own.
func (a *App) machineForToken(ctx context.Context, what, token string, client netip.Addr) (store.Machine, error) {
	m, err := a.store.MachineByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		a.log.Warn(what+" refused: unknown token", "client", client)
		if from, ok := a.peers.lookup(client); ok {
			a.machines.record(ctx, from, what+"-refused", "unknown token from "+client.String(), "")
		}
		return m, httpd.ErrNotFound
	}
	if err != nil || what != "kickstart" {
		return m, err
	}
	// The neighbour table answers for the address now; the addresses learned
	// from DHCP and earlier requests may be stale (a reused lease).
	holder, held := a.peers.current(client)
	switch {
	case held && holder.String() == m.MAC.String():
		return m, nil
	case held && a.registered(ctx, holder):
		detail := fmt.Sprintf("token of %s used from %s, held by %s", m.MAC, client, holder)
		a.log.Warn(what+" refused: another machine's token", "client", client, "owner", m.MAC.String(), "holder", holder.String())
		a.machines.record(ctx, m.MAC, what+"-refused", detail, "")
		a.machines.record(ctx, holder, what+"-refused", detail, "")
		return m, httpd.ErrNotFound
	case !a.cfg.KSSourceCheck:
		return m, nil // an address we cannot tie to another machine: the token decides
	}
	if learned, ok := a.peers.lookup(client); !held && ok && learned.String() == m.MAC.String() {
		return m, nil // not in the neighbour table (yet), but DHCP gave it this address
	}
	detail := fmt.Sprintf("--ks-source-check: %s is not known as the address of %s", client, m.MAC)
	a.log.Warn(what+" refused: "+detail, "client", client)
	a.machines.record(ctx, m.MAC, what+"-refused", detail, "")
	return m, httpd.ErrNotFound
}

// registered reports whether mac is a machine with a profile.
func (a *App) registered(ctx context.Context, mac net.HardwareAddr) bool {
	m, err := a.store.Machine(ctx, mac)
	return err == nil && m.Profile != ""
}

// phoneHome records a machine's own report of its install.
func (a *App) phoneHome(ctx context.Context, token string, r httpd.Report) error {
	m, err := a.machineForToken(ctx, "phone-home", token, r.Client)
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
	a.onStage2(mac, t.Client, "FTP", t.Name, t.Bytes, t.Duration, t.Err == nil)
}

// onStage2 adds stage2 events when a transfer was a distro's stage2 image
// (install.img): when its download started (the transfer's end less its
// duration) and when it ended — then the installer starts its second stage.
func (a *App) onStage2(mac net.HardwareAddr, client netip.Addr, proto, name string, n int64, d time.Duration, ok bool) {
	if !ok || !strings.HasSuffix(name, ".img") {
		return
	}
	ctx := context.Background()
	distro, rest, found := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	switch {
	case distro == "pub":
		distro = a.machines.pub(ctx)
	case distro == "distros" && found:
		distro, rest, found = strings.Cut(rest, "/")
	default:
		return
	}
	if d2, err := a.store.Distro(ctx, distro); !found || err != nil || d2.Stage2 == "" || d2.Stage2 != rest {
		return
	}
	end := time.Now()
	a.bus.Publish(events.Event{Time: end.Add(-d), MAC: mac, IP: client, Kind: "stage2",
		Detail: fmt.Sprintf("%s download started over %s", rest, proto)})
	a.bus.Publish(events.Event{Time: end, MAC: mac, IP: client, Kind: "stage2", Step: string(store.StateInstalling),
		Detail: fmt.Sprintf("%s fetched over %s (%d bytes in %s): the installer starts its second stage", rest, proto, n, d.Round(time.Millisecond))})
}
