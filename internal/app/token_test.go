package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickstand/internal/boot"
	"kickstand/internal/events"
	"kickstand/internal/httpd"
	"kickstand/internal/metrics"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// webStore is a store, closed when the test ends, with distro rocky9 (an
// empty tree) and profile web installing it.
func webStore(t *testing.T) *sqlite.DB {
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
	db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: tree, Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"})
	db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"})
	return db
}

// Kickstart and phone-home URLs are secret per machine: an unknown token
// gets httpd.ErrNotFound (a 404) and an event; a machine's kickstart token
// used from an address the neighbour table gives another registered machine
// too (a stale learned address does not count); reports are never refused
// for their address; --ks-source-check serves only the machine's address.
func TestKickstartTokens(t *testing.T) {
	ctx := context.Background()
	db := webStore(t)
	macA, _ := store.ParseMAC("52:54:00:00:00:0a")
	macB, _ := store.ParseMAC("52:54:00:00:00:0b")
	stranger, _ := store.ParseMAC("52:54:00:00:00:0c")
	db.PutMachine(ctx, store.Machine{MAC: macA, Profile: "web", State: store.StateNew, Token: "token-a"})
	db.PutMachine(ctx, store.Machine{MAC: macB, Profile: "web", State: store.StateNew, Token: "token-b"})
	db.Discover(ctx, store.Machine{MAC: stranger, Token: "token-stranger"}, DiscoveredMax)
	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, store: db, bus: events.New(0), peers: newNeighbours("")}
	ip := netip.MustParseAddr
	arp := map[netip.Addr]net.HardwareAddr{ip("10.0.0.10"): macA, ip("10.0.0.11"): macB, ip("10.0.0.12"): stranger}
	a.peers.arpFn = func(ip netip.Addr) (net.HardwareAddr, bool) { mac, ok := arp[ip]; return mac, ok }
	a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1", log: log}
	ipA, ipB, ipStranger, ipNobody := ip("10.0.0.10"), ip("10.0.0.11"), ip("10.0.0.12"), ip("10.0.0.13")

	served := func(token string, from netip.Addr) bool {
		t.Helper()
		ks, err := a.kickstart(ctx, token, from)
		if err != nil && !errors.Is(err, httpd.ErrNotFound) {
			t.Fatalf("kickstart(%s from %s): %v", token, from, err)
		}
		return err == nil && strings.Contains(string(ks), "url --url=")
	}
	refusals := func(mac net.HardwareAddr) int {
		evs, _ := db.Events(ctx, mac)
		n := 0
		for _, e := range evs {
			if strings.HasSuffix(string(e.Kind), "-refused") {
				n++
			}
		}
		return n
	}

	if !served("token-a", ipA) {
		t.Error("A's token from A's address was refused")
	}
	if served("no-such-token", ipStranger) {
		t.Error("an unknown token was served")
	}
	if refusals(stranger) != 1 {
		t.Errorf("the unknown token left %d refusal events on the asking machine, want 1", refusals(stranger))
	}
	if served("token-a", ipB) {
		t.Error("A's token was served to B's address")
	}
	if refusals(macA) != 1 || refusals(macB) != 1 {
		t.Errorf("another machine's token: refusal events A %d, B %d; want 1 each", refusals(macA), refusals(macB))
	}
	if !served("token-a", ipStranger) || !served("token-b", ipNobody) {
		t.Error("without --ks-source-check, an address tied to no registered machine is served by the token alone")
	}
	// A learned address that is stale (the lease went to A) does not refuse A.
	reused := ip("10.0.0.14")
	a.peers.learn(reused, macB)
	arp[reused] = macA
	if !served("token-a", reused) {
		t.Error("a stale learned address refused the machine that holds it now")
	}
	// Reports are taken on the token alone: refusing "installed" would
	// install the machine again.
	if err := a.phoneHome(ctx, "token-a", httpd.Report{State: "installing", Client: ipB}); err != nil {
		t.Errorf("phone-home with A's token from B's address: %v", err)
	}
	if err := a.phoneHome(ctx, "no-such-token", httpd.Report{State: "installed", Client: ipA}); !errors.Is(err, httpd.ErrNotFound) {
		t.Errorf("phone-home with an unknown token: %v, want ErrNotFound", err)
	}

	a.cfg.KSSourceCheck = true // (addresses a kickstart was served to are learned: fresh ones here)
	if served("token-a", ipStranger) || served("token-b", ip("10.0.0.16")) {
		t.Error("--ks-source-check served a kickstart to an address not the machine's")
	}
	learned := ip("10.0.0.15") // DHCP gave it to B; not in the neighbour table yet
	a.peers.learn(learned, macB)
	if !served("token-b", ipB) || !served("token-b", learned) {
		t.Error("--ks-source-check refused the machine's own address")
	}
}

// A transfer of a distro's stage2 image, over any protocol and also at pub/,
// adds a stage2 event; other images do not.
func TestStage2Event(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: t.TempDir(), Stage2: "images/install.img"})
	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, store: db, bus: events.New(0), peers: newNeighbours(""), defaults: []string{"rocky9"}}
	a.machines = &machines{store: db, pubDistro: a.defaultDistro, log: log}
	mac, _ := store.ParseMAC("52:54:00:00:00:0d")
	client := netip.MustParseAddr("10.0.0.9")
	for _, name := range []string{"distros/rocky9/images/install.img", "/pub/images/install.img", "distros/rocky9/images/efiboot.img",
		"distros/gone/images/install.img", "images/install.img"} {
		a.onStage2(mac, client, "HTTP", name, 100, time.Second, true)
	}
	a.onStage2(mac, client, "HTTP", "distros/rocky9/images/install.img", 0, time.Second, false)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var got []string
	var times []time.Time
	a.bus.Run(cancelled, func(e events.Event) { got = append(got, string(e.Kind)+" "+e.Detail); times = append(times, e.Time) })
	if len(got) != 4 || got[0] != "stage2 images/install.img download started over HTTP" ||
		!strings.HasPrefix(got[1], "stage2 images/install.img fetched over HTTP (100 bytes in 1s)") || got[2] != got[0] {
		t.Fatalf("stage2 events: %q, want started and fetched, for distros/rocky9/ and for pub/", got)
	}
	if d := times[1].Sub(times[0]); d < 990*time.Millisecond || d > 1100*time.Millisecond {
		t.Errorf("the download's start is %v before its end, want its duration (1s)", d)
	}
}

// A HEAD (shim asks for grubx64.efi so before it gets it) is no download:
// only the GET shows in the timeline.
func TestHeadIsNoTransferEvent(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, bus: events.New(0), peers: newNeighbours(""), metrics: metrics.New(metrics.Sources{})}
	client := netip.MustParseAddr("10.0.0.9")
	a.onHTTP(httpd.Transfer{Name: "grubx64.efi", Client: client, Status: http.StatusOK, Head: true})
	a.onHTTP(httpd.Transfer{Name: "grubx64.efi", Client: client, Status: http.StatusOK, Bytes: 2048, Duration: time.Millisecond})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var got []string
	a.bus.Run(cancelled, func(e events.Event) { got = append(got, string(e.Kind)+" "+e.Detail) })
	if len(got) != 1 || !strings.HasPrefix(got[0], "http grubx64.efi 200: 2048 bytes") {
		t.Errorf("events %q, want the GET's alone", got)
	}
}
