package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"kickstand/internal/boot"
	"kickstand/internal/bootfs"
	"kickstand/internal/events"
	"kickstand/internal/httpd"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// lanApp is an App on a fake LAN: arp is the kernel's neighbour table,
// logs what it logged.
type lanApp struct {
	*App
	db   *sqlite.DB
	arp  map[netip.Addr]net.HardwareAddr
	logs *bytes.Buffer
}

func newLANApp(t *testing.T, unknown boot.Unknown) *lanApp {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "images/pxeboot"), 0o755)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: tree, Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"}); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l := &lanApp{db: db, arp: map[netip.Addr]net.HardwareAddr{}, logs: logs}
	l.App = &App{log: log, store: db, bus: events.New(0), peers: newNeighbours(""),
		net: netif.Network{ServerIP: netip.MustParseAddr("10.0.0.1")}}
	l.cfg.KSSourceCheck = true
	l.peers.arpFn = func(ip netip.Addr) (net.HardwareAddr, bool) { mac, ok := l.arp[ip]; return mac, ok }
	l.machines = &machines{store: db, unknown: unknown, baseURL: "http://10.0.0.1", source: l.sourceOf, log: log,
		discoveries: newRateLimit(discoverRate, discoverBurst), wireEvents: rateLimits{rate: eventRate, burst: eventBurst, maxKeys: 8192}}
	l.tree = &bootfs.Tree{Loaders: map[string]string{}, Generate: l.machines.generate}
	return l
}

// config fetches a generated per-client file as client would; "" when it
// is not served to client.
func (l *lanApp) config(t *testing.T, name string, client netip.Addr) string {
	t.Helper()
	b, ok, err := l.machines.generate(context.Background(), name, client)
	if err != nil {
		t.Fatalf("generate %s for %s: %v", name, client, err)
	}
	if !ok {
		return ""
	}
	return string(b)
}

func (l *lanApp) kickstartFrom(t *testing.T, url string, client netip.Addr) (string, bool) {
	t.Helper()
	token := url[strings.LastIndex(url, "/")+1:]
	ks, err := l.kickstart(context.Background(), token, client)
	if err != nil && !errors.Is(err, httpd.ErrNotFound) {
		t.Fatalf("kickstart %s from %s: %v", url, client, err)
	}
	return string(ks), err == nil
}

var ksURLs = regexp.MustCompile(`inst\.ks=(\S+)`)

// Nobody can make a machine wipe its disk: a boot config never turns an
// unknown or failed machine into an install. Configs go only to the
// machine's address; menus carry one-time offers bound to the address that
// fetched them, never the machine's token; a menu choice installs once and
// leaves the machine unregistered, so its next boot is the menu again (or
// local disk once installed).
func TestNobodyMakesAMachineInstall(t *testing.T) {
	ctx := context.Background()
	l := newLANApp(t, boot.UnknownMenu)
	ip := netip.MustParseAddr
	victim, _ := store.ParseMAC("52:54:00:00:00:01")
	attacker, _ := store.ParseMAC("52:54:00:00:00:66")
	victimIP, attackerIP := ip("10.0.0.21"), ip("10.0.0.66")
	l.arp[victimIP], l.arp[attackerIP] = victim, attacker
	menuName := boot.PXELinuxConfigName(victim)

	// The attacker asks for the victim's menu: it does not exist for them,
	// and nothing is written about the victim.
	if got := l.config(t, menuName, attackerIP); got != "" {
		t.Fatalf("the victim's config was served to another address:\n%s", got)
	}
	if got := l.config(t, boot.IPXEScriptName(victim), ip("10.0.0.99")); got != "" {
		t.Fatalf("the victim's iPXE script was served to an address nobody holds:\n%s", got)
	}
	if _, err := l.db.Machine(ctx, victim); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused request created a machine record: %v", err)
	}

	// The victim at its console gets the menu: local disk by default, an
	// install whose kickstart URL is a one-time offer.
	l.db.Discover(ctx, store.Machine{MAC: victim, Token: "victims-own-token"}, DiscoveredMax)
	menu := l.config(t, menuName, victimIP)
	if !strings.Contains(menu, "DEFAULT local") || strings.Contains(menu, "victims-own-token") {
		t.Fatalf("unknown machine's menu:\n%s", menu)
	}
	offer := ksURLs.FindStringSubmatch(menu)
	if offer == nil {
		t.Fatalf("the menu offers no install:\n%s", menu)
	}
	// The machine's own token installs nothing.
	if _, ok := l.kickstartFrom(t, "/ks/victims-own-token", victimIP); ok {
		t.Fatal("a discovered machine's own token was served a kickstart")
	}
	// The offer is bound to the address the menu went to.
	if _, ok := l.kickstartFrom(t, offer[1], attackerIP); ok {
		t.Fatal("a menu offer was served to another address")
	}
	// Chosen at the console: served once, the machine installs now...
	ks, ok := l.kickstartFrom(t, offer[1], victimIP)
	if !ok || !strings.Contains(ks, "url --url=http://10.0.0.1/distros/rocky9/") {
		t.Fatalf("the console's choice was refused: %v\n%s", ok, ks)
	}
	if _, again := l.kickstartFrom(t, offer[1], victimIP); again {
		t.Fatal("a menu offer was served twice")
	}
	m, _ := l.db.Machine(ctx, victim)
	if m.State != store.StateInstalling || m.Registered() || m.Token == "victims-own-token" {
		t.Fatalf("after the menu choice: %+v; want installing, unregistered, a new token", m)
	}
	if !strings.Contains(ks, "/phone-home/"+m.Token) {
		t.Fatalf("the kickstart does not report with the machine's new token:\n%s", ks)
	}
	// ...but its next boot (the install was cut short) is the menu again,
	// not an unattended install; in DHCP too.
	if next := l.config(t, menuName, victimIP); !strings.Contains(next, "DEFAULT local") {
		t.Fatalf("after an interrupted menu install the next boot is:\n%s", next)
	}
	if d, err := l.machines.decide(ctx, victim); err != nil || d.Action != boot.ActionMenu {
		t.Fatalf("DHCP decision after the menu choice: %v %v, want menu", d.Action, err)
	}
	// Installed from the menu: local disk from then on, and its token ends.
	if err := l.phoneHome(ctx, m.Token, httpd.Report{State: "installed", Client: victimIP}); err != nil {
		t.Fatal(err)
	}
	if next := l.config(t, menuName, victimIP); !strings.Contains(next, "LOCALBOOT 0") {
		t.Fatalf("installed from the menu, the next boot is:\n%s", next)
	}
	if err := l.phoneHome(ctx, m.Token, httpd.Report{State: "installing", Client: victimIP}); !errors.Is(err, httpd.ErrNotFound) {
		t.Fatalf("the token of a finished install still takes reports: %v", err)
	}

	// An offer expires.
	l.machines.offers.now = func() time.Time { return time.Now().Add(-OfferLifetime - time.Minute) }
	other, _ := store.ParseMAC("52:54:00:00:00:02")
	otherIP := ip("10.0.0.22")
	l.arp[otherIP] = other
	stale := ksURLs.FindStringSubmatch(l.config(t, boot.PXELinuxConfigName(other), otherIP))
	l.machines.offers.now = nil
	if _, ok := l.kickstartFrom(t, stale[1], otherIP); ok {
		t.Fatal("an expired offer was served")
	}
}

// A failed registered machine gets the menu of its own profile, with an
// offer rather than its token; a person's choice there installs it again.
func TestFailedMachineNeedsAPerson(t *testing.T) {
	ctx := context.Background()
	l := newLANApp(t, boot.UnknownMenu)
	mac, _ := store.ParseMAC("52:54:00:00:00:03")
	addr := netip.MustParseAddr("10.0.0.23")
	l.arp[addr] = mac
	l.db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "web", State: store.StateInstalling, Token: "tok-3"})
	if err := l.phoneHome(ctx, "tok-3", httpd.Report{State: "failed", Client: addr}); err != nil {
		t.Fatal(err)
	}
	m, _ := l.db.Machine(ctx, mac)
	if m.State != store.StateFailed || m.Token == "tok-3" {
		t.Fatalf("after failed: %+v; want failed with a new token", m)
	}
	menu := l.config(t, boot.PXELinuxConfigName(mac), addr)
	if !strings.Contains(menu, "DEFAULT local") || strings.Contains(menu, m.Token) {
		t.Fatalf("failed machine's config:\n%s", menu)
	}
	offer := ksURLs.FindStringSubmatch(l.config(t, boot.PXELinuxConfigName(mac), addr))
	if offer == nil {
		t.Fatal("the failed machine's menu offers no install")
	}
	if _, ok := l.kickstartFrom(t, offer[1], addr); !ok {
		t.Fatal("choosing the install at the failed machine's console was refused")
	}
	if m, _ := l.db.Machine(ctx, mac); m.State != store.StateInstalling {
		t.Fatalf("after the console's choice: %s, want installing", m.State)
	}
}

// A registered machine's install config, which carries its token, goes only
// to its address; a refusal is an event and a quiet log line.
func TestConfigsOnlyToTheirMachine(t *testing.T) {
	ctx := context.Background()
	l := newLANApp(t, boot.UnknownMenu)
	mac, _ := store.ParseMAC("52:54:00:00:00:04")
	own, stranger, relayed := netip.MustParseAddr("10.0.0.24"), netip.MustParseAddr("10.0.0.77"), netip.MustParseAddr("10.9.0.5")
	l.arp[own] = mac
	l.db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "web", State: store.StateNew, Token: "tok-4"})
	name := boot.GRUBConfigName(mac)
	for range 50 {
		if got := l.config(t, name, stranger); got != "" {
			t.Fatalf("a registered machine's config was served to %s:\n%s", stranger, got)
		}
	}
	if got := l.config(t, name, own); !strings.Contains(got, "/ks/tok-4") {
		t.Fatalf("the machine's own config:\n%s", got)
	}
	// Behind a relay the neighbour table has no entry: DHCP's word counts.
	l.peers.learn(relayed, mac)
	if got := l.config(t, name, relayed); !strings.Contains(got, "/ks/tok-4") {
		t.Fatalf("the config of a machine whose address DHCP gave: %q", got)
	}
	evs, _ := l.db.Events(ctx, mac)
	refused := 0
	for _, e := range evs {
		if e.Kind == "boot-config-refused" {
			refused++
		}
	}
	if refused != 50 {
		t.Errorf("%d refusal events, want 50", refused)
	}
	if n := strings.Count(l.logs.String(), "boot-config-refused"); n != 1 {
		t.Errorf("50 refusals from one address wrote %d log lines, want 1:\n%s", n, l.logs)
	}
}

// Nothing permanent from unauthenticated traffic: a flood of requests for
// per-MAC configs writes nothing; a flood of PXE discovers from new MACs
// leaves at most DiscoveredMax discovered machines, at a bounded rate;
// events of MACs that are no machine are dropped without an ERROR line;
// registered machines are never pruned.
func TestFloodsLeaveNoRecords(t *testing.T) {
	ctx := context.Background()
	l := newLANApp(t, boot.UnknownMenu)
	l.db.PutMachine(ctx, store.Machine{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Profile: "web", State: store.StateNew, Token: "kept"})
	randomMAC := func(i int) net.HardwareAddr {
		return net.HardwareAddr{0x52, 0x54, 0, byte(i >> 16), byte(i >> 8), byte(i)}
	}
	began := time.Now()
	for i := range 2000 {
		l.config(t, boot.PXELinuxConfigName(randomMAC(i)), netip.MustParseAddr("127.0.0.1"))
	}
	count := func() int {
		ms, err := l.db.Machines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}
	if n := count(); n != 1 {
		t.Fatalf("2,000 config requests left %d machines, want the 1 registered", n)
	}
	// 2,000 DISCOVERs from new MACs: the bus delivers, the rate limit and
	// the cap hold.
	start := time.Now()
	for i := range 2000 {
		l.recordEvent(events.Event{MAC: randomMAC(100000 + i), Kind: "dhcp-discover", Step: "booting", Discover: true, Time: time.Now()})
	}
	elapsed := time.Since(start)
	n := count() - 1
	if limit := discoverBurst + int(elapsed.Seconds()*discoverRate) + 1; n > limit || n > DiscoveredMax {
		t.Fatalf("2,000 discovers in %v made %d discovered machines; want at most %d (burst + rate) and %d", elapsed, n, limit, DiscoveredMax)
	}
	if n == 0 {
		t.Fatal("no PXE client was discovered at all")
	}
	// Non-PXE clients (laptops in full mode) are no machines: nothing kept.
	for i := range 2000 {
		l.recordEvent(events.Event{MAC: randomMAC(200000 + i), Kind: "dhcp-ack", Time: time.Now()})
	}
	if got := count() - 1; got != n {
		t.Fatalf("non-PXE events made machines: %d, want %d", got, n)
	}
	// A line per kind of line (refusals from 127.0.0.1, the discovery
	// limit, discovered machines) every quietEvery, whatever the flood.
	if lines, most := strings.Count(l.logs.String(), "\n"), 3*(1+int(time.Since(began)/quietEvery)); strings.Contains(l.logs.String(), "level=ERROR") || lines > most {
		t.Fatalf("the floods logged %d lines, want at most %d and no ERROR:\n%s", lines, most, l.logs)
	}
	if _, err := l.db.Machine(ctx, net.HardwareAddr{2, 0, 0, 0, 0, 1}); err != nil {
		t.Fatalf("the registered machine went: %v", err)
	}
	// DISCOVERs naming one registered machine: its timeline takes a burst,
	// then the rate; the trim keeps MaxEventsPerMachine.
	victim := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	start = time.Now()
	for range 3 * eventBurst {
		l.recordEvent(events.Event{MAC: victim, Kind: "dhcp-discover", Step: "booting", Discover: true, Time: time.Now()})
	}
	evs, _ := l.db.Events(ctx, victim)
	if limit := eventBurst + int(time.Since(start).Seconds()*eventRate) + 1; len(evs) > limit || len(evs) < eventBurst {
		t.Fatalf("%d DISCOVERs for one MAC recorded %d events, want %d to %d", 3*eventBurst, len(evs), eventBurst, limit)
	}
	if _, err := l.db.TrimEvents(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if evs, _ := l.db.Events(ctx, victim); len(evs) != 100 {
		t.Fatalf("after trimming: %d events, want 100", len(evs))
	}
}

// countingStore counts the store calls that read every machine.
type countingStore struct {
	store.Store
	listed int
}

func (c *countingStore) Machines(ctx context.Context) ([]store.Machine, error) {
	c.listed++
	return c.Store.Machines(ctx)
}

// The DHCP server's reservation lookups never read every machine: with
// thousands of machines, DISCOVER → OFFER costs the same.
func TestReservationLookupIsIndexed(t *testing.T) {
	ctx := context.Background()
	l := newLANApp(t, boot.UnknownMenu)
	for i := range 3000 {
		mac := net.HardwareAddr{0x52, 0x54, 1, 0, byte(i >> 8), byte(i)}
		l.db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "web", State: store.StateNew, Token: fmt.Sprint("t", i),
			IP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})})
	}
	cs := &countingStore{Store: l.db}
	l.store = cs
	want := net.HardwareAddr{0x52, 0x54, 1, 0, 0x0b, 0xb7} // machine 2999
	if owner, ok := l.reservedFor(ctx, netip.AddrFrom4([4]byte{10, 1, 0x0b, 0xb7})); !ok || owner.String() != want.String() {
		t.Fatalf("reservedFor = %v, %v; want %s", owner, ok, want)
	}
	if ip, ok := l.reservation(ctx, want); !ok || ip != netip.AddrFrom4([4]byte{10, 1, 0x0b, 0xb7}) {
		t.Fatalf("reservation = %v, %v", ip, ok)
	}
	if _, ok := l.reservedFor(ctx, netip.MustParseAddr("10.2.0.1")); ok {
		t.Fatal("an address reserved for nobody has an owner")
	}
	if cs.listed != 0 {
		t.Fatalf("reservation lookups listed every machine %d times", cs.listed)
	}
}
