package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"kickstand/internal/dhcp"
	"kickstand/internal/events"
	"kickstand/internal/ftp"
	"kickstand/internal/httpd"
	"kickstand/internal/inventory"
	"kickstand/internal/metrics"
	"kickstand/internal/store"
	"kickstand/internal/tftp"
	"kickstand/internal/treepath"
)

// onDHCP publishes what the DHCP server did; a PXE client's DHCP is the
// first sign that a machine is booting. An acknowledged address (a lease,
// or the ciaddr of a proxy REQUEST) is learned as the client's.
func (a *App) onDHCP(e dhcp.Event) {
	if e.Kind == events.DHCPAck || e.Kind == events.ProxyAck || e.Kind == events.DHCPRequest {
		a.peers.learn(e.IP, e.MAC)
	}
	ev := events.Event{MAC: e.MAC, IP: e.IP, Kind: e.Kind, Detail: e.Detail, Fields: e.Fields}
	if e.Fields.PXE {
		ev.Step, ev.Discover = string(store.StateBooting), true
	}
	a.bus.Publish(ev)
}

func (a *App) onTFTP(t tftp.Transfer) {
	a.metrics.Transfer(metrics.TFTP, tftpOutcome(t), t.Bytes, t.Duration)
	ip := addrOf(t.Client)
	name := strings.TrimPrefix(t.Name, "/") // GRUB asks for /path, the rest for path
	detail := fmt.Sprintf("%s %d bytes in %s", name, t.Bytes, t.Duration.Round(time.Millisecond))
	f := transferFields(name, t.Bytes, t.Duration, t.Err)
	switch {
	case t.SizeProbe():
		detail, f.SizeProbe, f.Error = name+": size query (tsize), no data asked", true, ""
	case errors.Is(t.Err, fs.ErrNotExist):
		// Boot programs probe for optional files (shim's revocation lists,
		// GRUB's module lists): worth a line, not an error message.
		detail, f.NotFound, f.Error = name+": not found", true, ""
	case t.Err != nil:
		detail += ": " + t.Err.Error()
	}
	if !f.NotFound {
		a.markLoaderSource(&detail, &f, name)
	}
	mac, _ := a.peers.lookup(ip)
	a.bus.Publish(events.Event{MAC: mac, IP: ip, Kind: events.TFTP, Detail: detail, Fields: f, Step: string(store.StateBooting)})
	a.onStage2(mac, ip, "TFTP", name, t.Bytes, t.Duration, t.Err == nil && !t.SizeProbe())
}

func (a *App) onHTTP(t httpd.Transfer) {
	if t.Head {
		// A question about a file, not a download of it: the timeline and
		// the transfer counts show the GET that follows.
		return
	}
	a.metrics.Transfer(metrics.HTTP, httpOutcome(t.Status), t.Bytes, t.Duration)
	mac, _ := a.peers.lookup(t.Client)
	f := transferFields(t.Name, t.Bytes, t.Duration, nil)
	f.Status, f.NotFound = t.Status, t.Status == http.StatusNotFound
	detail := fmt.Sprintf("%s %d: %d bytes in %s", t.Name, t.Status, t.Bytes, t.Duration.Round(time.Millisecond))
	if !f.NotFound {
		a.markLoaderSource(&detail, &f, t.Name)
	}
	a.bus.Publish(events.Event{MAC: mac, IP: t.Client, Kind: events.HTTP, Fields: f, Detail: detail})
	a.onStage2(mac, t.Client, "HTTP", t.Name, t.Bytes, t.Duration, t.Status == 200 && t.Bytes > 0)
}

// recordEvent writes a wire event into the machine's timeline. A PXE
// client never seen before becomes a discovered machine (bounded in number
// and rate); the events of other MACs that are no machine (laptops in full
// mode, clients we never saw on DHCP) are dropped quietly.
func (a *App) recordEvent(e events.Event) {
	if len(e.MAC) == 0 {
		a.log.Debug("event without machine", "ip", e.IP, "kind", e.Kind, "detail", e.Detail)
		return
	}
	if !a.machines.wireEvents.allow(e.MAC.String(), time.Now()) {
		a.machines.unrecorded.Add(1)
		a.machines.quiet.log(a.log, slog.LevelWarn, "events "+e.MAC.String(), "not recording all events of a MAC: more than the rate",
			"mac", e.MAC.String(), "rate", eventRate)
		return
	}
	ctx := context.Background()
	ev := store.Event{MAC: e.MAC, Time: e.Time, Kind: e.Kind, Detail: e.Detail, Fields: e.Fields}
	err := a.machines.recordErr(ctx, ev, store.State(e.Step))
	if errors.Is(err, store.ErrNotFound) && e.Discover && a.machines.discover(ctx, e.MAC, e.Time) {
		err = a.machines.recordErr(ctx, ev, store.State(e.Step))
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.machines.unrecorded.Add(1)
	case err != nil:
		a.machines.quiet.log(a.log, slog.LevelError, "store-record", "record event", "mac", e.MAC.String(), "kind", e.Kind, "err", err)
	}
}

// kickstart serves a machine's kickstart and marks it installing. The token
// is a registered machine's own (from its install config) or a menu
// entry's one-time offer; a discovered machine's own token installs nothing.
func (a *App) kickstart(ctx context.Context, token string, client netip.Addr) ([]byte, error) {
	m, chosen, err := a.kickstartMachine(ctx, token, client)
	if err != nil {
		return nil, err
	}
	a.peers.learn(client, m.MAC)
	ks, p, warnings, err := inventory.RenderKickstart(ctx, a.store, m, chosen, a.site(ctx))
	var invalid *inventory.InvalidError
	if errors.As(err, &invalid) {
		a.machines.record(ctx, store.Event{MAC: m.MAC, Kind: events.KickstartInvalid, Detail: err.Error()}, "")
		a.log.Error("kickstart not served: anaconda would refuse it", "mac", m.MAC.String(), "err", err)
		return nil, err
	}
	if err != nil {
		a.machines.record(ctx, store.Event{MAC: m.MAC, Kind: events.KickstartError, Detail: err.Error()}, "")
		return nil, err
	}
	how := ""
	if chosen != "" {
		how = " chosen at the menu"
	}
	if len(warnings) > 0 {
		a.machines.record(ctx, store.Event{MAC: m.MAC, Kind: events.KickstartWarnings,
			Detail: fmt.Sprintf("%d warning(s), anaconda goes on: %s", len(warnings), warnings)}, "")
	}
	a.machines.record(ctx, store.Event{MAC: m.MAC, Kind: events.Kickstart, Fields: events.Fields{Bytes: int64(len(ks))},
		Detail: fmt.Sprintf("profile %s%s, %d bytes to %s", p.Name, how, len(ks), client)}, store.StateInstalling)
	return ks, nil
}

// kickstartMachine returns the machine a kickstart token is for and, for a
// menu offer, the profile chosen. An offer is used up here, and the machine
// gets a fresh token for this install's reports.
func (a *App) kickstartMachine(ctx context.Context, token string, client netip.Addr) (store.Machine, string, error) {
	m, err := a.store.MachineByToken(ctx, token)
	if err == nil {
		if !m.Registered() {
			a.machines.refuse(ctx, m.MAC, client, events.Refused(events.Kickstart), "the token of a machine nobody registered installs nothing")
			return m, "", httpd.ErrNotFound
		}
		return m, "", a.checkToken(ctx, events.Kickstart, m, client)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return m, "", err
	}
	of, ok := a.machines.offers.take(token, func(of offer) bool {
		return of.client == client || a.sourceOf(ctx, of.mac, client) == nil
	})
	if !ok {
		a.unknownToken(ctx, "kickstart", client)
		return m, "", httpd.ErrNotFound
	}
	m, err = a.store.Machine(ctx, of.mac)
	if errors.Is(err, store.ErrNotFound) && a.machines.discover(ctx, of.mac, time.Now()) {
		m, err = a.store.Machine(ctx, of.mac)
	}
	if err != nil {
		return m, "", err
	}
	m.Token = inventory.NewToken()
	if err := a.store.SetToken(ctx, m.MAC, m.Token); err != nil {
		return m, "", err
	}
	return m, of.profile, nil
}

// site is the server's side of every kickstart.
func (a *App) site(ctx context.Context) inventory.Site {
	return inventory.Site{BaseURL: a.machines.baseURL, FTPBase: a.machines.ftpBase, PubDistro: a.machines.pub(ctx),
		SnippetsDir: inventory.SnippetsDir(a.cfg.DataDir), PasswordPolicy: a.cfg.PasswordPolicy}
}

// unknownToken refuses a token that is nobody's: a 404 that tells nothing,
// an event on the machine at that address (if it is one) and a quiet log.
func (a *App) unknownToken(ctx context.Context, what events.Kind, client netip.Addr) {
	a.machines.quiet.log(a.log, slog.LevelWarn, client.String()+" "+string(what)+"-token", string(what)+" refused: unknown token", "client", client)
	if from, ok := a.peers.lookup(client); ok {
		a.machines.record(ctx, store.Event{MAC: from, Kind: events.Refused(what), Detail: "unknown token from " + client.String()}, "")
	}
}

// checkToken refuses (httpd.ErrNotFound, recorded) the kickstart of m to
// an address that is not m's (see sourceOf).
func (a *App) checkToken(ctx context.Context, what events.Kind, m store.Machine, client netip.Addr) error {
	err := a.sourceOf(ctx, m.MAC, client)
	if err == nil {
		return nil
	}
	var other *heldByOther
	if errors.As(err, &other) {
		a.machines.record(ctx, store.Event{MAC: other.holder, Kind: events.Refused(what), Detail: err.Error()}, "")
	}
	a.machines.refuse(ctx, m.MAC, client, events.Refused(what), err.Error())
	return httpd.ErrNotFound
}

// heldByOther is an address the kernel's neighbour table gives another
// registered machine.
type heldByOther struct {
	mac, holder net.HardwareAddr
	client      netip.Addr
}

func (e *heldByOther) Error() string {
	return fmt.Sprintf("request for %s from %s, held by %s", e.mac, e.client, e.holder)
}

// sourceOf returns nil when client is an address of mac: the kernel's
// neighbour table says so, or it has no entry for client (an address behind
// a relay, or not yet resolved) and DHCP gave it to mac (a lease, the
// ciaddr of its proxy REQUEST). A learned address is not trusted against
// the neighbour table: it may be stale (a reused lease). With
// --ks-source-check=false, any address that is not another registered
// machine's is mac's.
func (a *App) sourceOf(ctx context.Context, mac net.HardwareAddr, client netip.Addr) error {
	holder, held := a.peers.current(client)
	switch {
	case held && holder.String() == mac.String():
		return nil
	case held && a.registered(ctx, holder):
		return &heldByOther{mac: mac, holder: holder, client: client}
	case !a.cfg.KSSourceCheck:
		return nil
	}
	if learned, ok := a.peers.learned(client); !held && ok && learned.String() == mac.String() {
		return nil
	}
	return fmt.Errorf("%s is not known as an address of %s (neighbour table, DHCP); --ks-source-check=false turns this check off", client, mac)
}

// registered reports whether mac is a machine with a profile.
func (a *App) registered(ctx context.Context, mac net.HardwareAddr) bool {
	m, err := a.store.Machine(ctx, mac)
	return err == nil && m.Registered()
}

// phoneHome records a machine's own report of its install. Reports are
// taken on the token alone, from any address: refusing "installed" would
// install the machine again. The token ends with the install: installed or
// failed, the machine gets a new one.
func (a *App) phoneHome(ctx context.Context, token string, r httpd.Report) error {
	m, err := a.store.MachineByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		a.unknownToken(ctx, events.PhoneHome, r.Client)
		return httpd.ErrNotFound
	}
	if err != nil {
		return err
	}
	detail := r.State
	if r.Message != "" {
		detail += ": " + r.Message
	}
	ev := store.Event{MAC: m.MAC, Kind: events.PhoneHome, Detail: detail, Fields: events.Fields{State: r.State}}
	if err := a.machines.recordErr(ctx, ev, store.State(r.State)); err != nil {
		return err
	}
	a.countInstall(ctx, m, store.State(r.State))
	if st := store.State(r.State); st == store.StateInstalled || st == store.StateFailed {
		return a.store.SetToken(ctx, m.MAC, inventory.NewToken())
	}
	return nil
}

// KeptInstalls is how many installs of a machine keep their logs: the
// newest, and what the ones before showed.
const KeptInstalls = 3

// installLog keeps a log the installer sent, under the install of its token.
// Like reports, logs are taken on the token alone, from any address: a
// failing install must get its logs home. Their size and names are
// bounded by httpd, their number by the token (a new install, a new token)
// and KeptInstalls.
func (a *App) installLog(ctx context.Context, token string, l httpd.Log) error {
	m, err := a.store.MachineByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		a.unknownToken(ctx, events.PhoneHome, l.Client)
		return httpd.ErrNotFound
	}
	if err != nil {
		return err
	}
	err = a.store.AddInstallLog(ctx, store.InstallLog{MAC: m.MAC, Install: installKey(token), Name: l.Name, Body: l.Body}, KeptInstalls)
	if errors.Is(err, store.ErrNotFound) { // removed meanwhile
		return httpd.ErrNotFound
	}
	return err
}

// installKey names the install a token is for, without the token (which
// stays secret while the install runs).
func installKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
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

func (l leaseStore) SaveLeases(ctx context.Context, put []dhcp.Lease, remove []net.HardwareAddr) error {
	ls := make([]store.Lease, len(put))
	for i, x := range put {
		ls[i] = store.Lease(x)
	}
	return l.s.SaveLeases(ctx, ls, remove)
}

// leaseClaimer is a store that several servers share (PostgreSQL):
// a lease of an address another MAC holds is not stored.
type leaseClaimer interface {
	ClaimLeases(ctx context.Context, put []store.Lease, remove []net.HardwareAddr, now time.Time) ([]store.Lease, error)
}

// sharedLeaseStore is leaseStore on a shared store: the DHCP server claims
// its leases (dhcp.LeaseClaimer), so that servers on one pool never give
// one address to two machines.
type sharedLeaseStore struct {
	leaseStore
	c leaseClaimer
}

func (l sharedLeaseStore) ClaimLeases(ctx context.Context, put []dhcp.Lease, remove []net.HardwareAddr, now time.Time) ([]dhcp.Lease, error) {
	ls := make([]store.Lease, len(put))
	for i, x := range put {
		ls[i] = store.Lease(x)
	}
	held, err := l.c.ClaimLeases(ctx, ls, remove, now)
	out := make([]dhcp.Lease, len(held))
	for i, x := range held {
		out[i] = dhcp.Lease(x)
	}
	return out, err
}

// leasesOf is the DHCP server's lease store on s.
func leasesOf(s store.Store) dhcp.LeaseStore {
	inner := s
	if a, ok := s.(*absentStore); ok {
		inner = a.Store
	}
	if c, ok := inner.(leaseClaimer); ok {
		return sharedLeaseStore{leaseStore{s}, c}
	}
	return leaseStore{s}
}

func (a *App) onFTP(t ftp.Transfer) {
	a.metrics.Transfer(metrics.FTP, ftpOutcome(t.Err), t.Bytes, t.Duration)
	mac, _ := a.peers.lookup(t.Client)
	detail := fmt.Sprintf("%s %d bytes in %s", t.Name, t.Bytes, t.Duration.Round(time.Millisecond))
	if t.Err != nil {
		detail += ": " + t.Err.Error()
	}
	a.bus.Publish(events.Event{MAC: mac, IP: t.Client, Kind: events.FTP, Detail: detail,
		Fields: transferFields(t.Name, t.Bytes, t.Duration, t.Err)})
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
	p, ok := treepath.Parse(name)
	if !ok {
		return
	}
	distro, rest := p.Distro, p.File
	if p.Pub {
		distro = a.machines.pub(ctx)
	}
	if d2, err := a.store.Distro(ctx, distro); err != nil || d2.Stage2 == "" || d2.Stage2 != rest {
		return
	}
	end := time.Now()
	a.bus.Publish(events.Event{Time: end.Add(-d), MAC: mac, IP: client, Kind: events.Stage2, Fields: events.Fields{File: rest},
		Detail: fmt.Sprintf("%s download started over %s", rest, proto)})
	a.bus.Publish(events.Event{Time: end, MAC: mac, IP: client, Kind: events.Stage2, Step: string(store.StateInstalling),
		Fields: transferFields(rest, n, d, nil),
		Detail: fmt.Sprintf("%s fetched over %s (%d bytes in %s): the installer starts its second stage", rest, proto, n, d.Round(time.Millisecond))})
}

// transferFields are the fields of a file transfer: the file as asked for
// (without a leading "/"), its size, its duration and, if it ended early,
// why.
func transferFields(name string, n int64, d time.Duration, err error) events.Fields {
	f := events.Fields{File: strings.TrimPrefix(name, "/"), Bytes: n, Seconds: d.Round(time.Millisecond).Seconds()}
	if err != nil {
		f.Error = err.Error()
	}
	return f
}
