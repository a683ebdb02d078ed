// Package storetest is the conformance suite every store.Store backend passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// Run runs the suite; open returns a new, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Distros", testDistros},
		{"Profiles", testProfiles},
		{"Machines", testMachines},
		{"RecordMovesState", testRecord},
		{"Tokens", testTokens},
		{"DiscoveredAreBounded", testDiscover},
		{"Leases", testLeases},
		{"SaveLeases", testSaveLeases},
		{"APITokens", testAPITokens},
		{"InstallLogs", testInstallLogs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var mac1 = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
var mac2 = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x57}

func distro(name string) store.Distro {
	return store.Distro{Name: name, Family: "Rocky Linux", Version: "9.6", Arch: "x86_64",
		Kind: store.SourceISO, Source: "/srv/" + name + ".iso", Size: 11 << 30,
		ModTime: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Checksum: "abc123",
		Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img", Stage2: "images/install.img",
		Variants: []store.Variant{{ID: "BaseOS", Repository: "BaseOS"}, {ID: "AppStream", Repository: "AppStream"}}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func testDistros(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.Distro(ctx, "rocky9")
	wantErr(t, err, store.ErrNotFound)
	want := distro("rocky9")
	must(t, s.AddDistro(ctx, want))
	wantErr(t, s.AddDistro(ctx, want), store.ErrExists)
	got, err := s.Distro(ctx, "rocky9")
	must(t, err)
	if got.Name != want.Name || got.Kernel != want.Kernel || got.Stage2 != want.Stage2 || got.Created.IsZero() ||
		got.Kind != want.Kind || got.Size != want.Size || !got.ModTime.Equal(want.ModTime) || got.Checksum != want.Checksum ||
		len(got.Variants) != 2 || got.Variants[1] != want.Variants[1] {
		t.Fatalf("Distro = %+v, want %+v", got, want)
	}
	must(t, s.AddDistro(ctx, distro("alma9")))
	all, err := s.Distros(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Name != "alma9" {
		t.Fatalf("Distros = %+v, want alma9 then rocky9", all)
	}
	must(t, s.AddProfile(ctx, store.Profile{Name: "p", Distro: "rocky9"}))
	wantErr(t, s.RemoveDistro(ctx, "rocky9"), store.ErrInUse)
	must(t, s.RemoveDistro(ctx, "alma9"))
	wantErr(t, s.RemoveDistro(ctx, "alma9"), store.ErrNotFound)
}

func testProfiles(t *testing.T, s store.Store) {
	ctx := context.Background()
	wantErr(t, s.AddProfile(ctx, store.Profile{Name: "p", Distro: "missing"}), store.ErrNotFound)
	must(t, s.AddDistro(ctx, distro("rocky9")))
	p := store.Profile{Name: "web", Distro: "rocky9", Kickstart: "text\n", KernelArgs: "console=ttyS0", RepoProtocol: store.RepoFTP,
		Vars: map[string]string{"disk": "sda"}, PasswordPolicy: "refuse"}
	must(t, s.AddProfile(ctx, p))
	wantErr(t, s.AddProfile(ctx, p), store.ErrExists)
	got, err := s.Profile(ctx, "web")
	must(t, err)
	if got.Kickstart != p.Kickstart || got.KernelArgs != p.KernelArgs || got.Distro != "rocky9" || got.RepoProtocol != store.RepoFTP ||
		got.Vars["disk"] != "sda" || got.PasswordPolicy != "refuse" {
		t.Fatalf("Profile = %+v, want %+v", got, p)
	}
	// PutProfile replaces every field but the creation time, and creates.
	must(t, s.AddDistro(ctx, distro("alma9")))
	must(t, s.PutProfile(ctx, store.Profile{Name: "web", Distro: "alma9", KernelArgs: "quiet"}))
	got2, err := s.Profile(ctx, "web")
	must(t, err)
	if got2.Distro != "alma9" || got2.KernelArgs != "quiet" || got2.Kickstart != "" || len(got2.Vars) != 0 ||
		got2.PasswordPolicy != "" || got2.RepoProtocol != store.RepoHTTP || !got2.Created.Equal(got.Created) {
		t.Fatalf("after PutProfile: %+v", got2)
	}
	wantErr(t, s.PutProfile(ctx, store.Profile{Name: "web", Distro: "missing"}), store.ErrNotFound)
	must(t, s.PutProfile(ctx, store.Profile{Name: "db", Distro: "rocky9"}))
	must(t, s.RemoveProfile(ctx, "db"))
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac1, Profile: "web", State: store.StateNew, Token: "t1"}))
	wantErr(t, s.RemoveProfile(ctx, "web"), store.ErrInUse)
	must(t, s.RemoveMachine(ctx, mac1))
	must(t, s.RemoveProfile(ctx, "web"))
	all, err := s.Profiles(ctx)
	must(t, err)
	if len(all) != 0 {
		t.Fatalf("Profiles after remove = %+v", all)
	}
}

func testMachines(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.AddDistro(ctx, distro("rocky9")))
	must(t, s.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"}))
	wantErr(t, s.PutMachine(ctx, store.Machine{MAC: mac1, Profile: "nope", State: store.StateNew, Token: "a"}), store.ErrNotFound)
	if err := s.PutMachine(ctx, store.Machine{MAC: mac1, Profile: "web", State: "weird", Token: "a"}); err == nil {
		t.Fatal("PutMachine accepted an unknown state")
	}
	m := store.Machine{MAC: mac1, Profile: "web", Hostname: "node1", IP: netip.MustParseAddr("10.0.0.5"),
		Vars: map[string]string{"tz": "UTC"}, State: store.StateNew, Token: "tok1", UUID: "4c4c4544-0042-3510-8051-b2c04f4b4e32",
		Network: store.Network{Address: netip.MustParsePrefix("10.0.0.5/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
			DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Device: "eno1"}}
	must(t, s.PutMachine(ctx, m))
	// A discovered machine has no profile.
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac2, State: store.StateBooting, Token: "tok2"}))
	wantErr(t, s.PutMachine(ctx, store.Machine{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, State: store.StateNew, Token: "tok1"}), store.ErrExists)

	got, err := s.Machine(ctx, mac1)
	must(t, err)
	if got.Hostname != "node1" || got.IP != m.IP || got.Vars["tz"] != "UTC" || got.Token != "tok1" || got.State != store.StateNew ||
		got.UUID != m.UUID || got.Network.Address != m.Network.Address || got.Network.Gateway != m.Network.Gateway ||
		len(got.Network.DNS) != 1 || got.Network.DNS[0] != m.Network.DNS[0] || got.Network.Device != "eno1" {
		t.Fatalf("Machine = %+v, want %+v", got, m)
	}
	if d, _ := s.Machine(ctx, mac2); d.Network.Static() {
		t.Fatalf("a machine without network settings is static: %+v", d.Network)
	}
	byToken, err := s.MachineByToken(ctx, "tok2")
	must(t, err)
	if byToken.MAC.String() != mac2.String() || byToken.Profile != "" {
		t.Fatalf("MachineByToken = %+v", byToken)
	}
	_, err = s.MachineByToken(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	got.Hostname = "node1b"
	got.Token = "tok3"
	must(t, s.PutMachine(ctx, got))
	again, err := s.Machine(ctx, mac1)
	must(t, err)
	if again.Hostname != "node1b" || again.Token != "tok3" || !again.Created.Equal(got.Created) {
		t.Fatalf("after update: %+v", again)
	}
	all, err := s.Machines(ctx)
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("Machines = %d, want 2", len(all))
	}
	must(t, s.RemoveMachine(ctx, mac1))
	_, err = s.Machine(ctx, mac1)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.RemoveMachine(ctx, mac1), store.ErrNotFound)
}

func testRecord(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac1, State: store.StateNew, Token: "t"}))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if st, err := s.Record(ctx, store.Event{MAC: mac1, Time: t0, Kind: "dhcp-offer", Detail: "10.0.0.5"}, store.StateBooting); err != nil || st != store.StateBooting {
		t.Fatalf("Record(booting) = %s, %v", st, err)
	}
	arch := uint16(0)
	fields := events.Fields{File: "lpxelinux.0", Bytes: 46000, Seconds: 0.25, Arch: &arch, Error: "a \"quoted\" reason"}
	if st, err := s.Record(ctx, store.Event{MAC: mac1, Time: t0.Add(time.Second), Kind: events.TFTP, Detail: "lpxelinux.0", Fields: fields}, ""); err != nil || st != store.StateBooting {
		t.Fatalf("Record(no step) = %s, %v", st, err)
	}
	m, err := s.Machine(ctx, mac1)
	must(t, err)
	if m.State != store.StateBooting {
		t.Fatalf("state = %s, want booting", m.State)
	}
	evs, err := s.Events(ctx, mac1)
	must(t, err)
	if len(evs) != 2 || evs[0].Kind != "dhcp-offer" || !evs[0].Time.Equal(t0) || evs[1].Detail != "lpxelinux.0" {
		t.Fatalf("Events = %+v", evs)
	}
	// Fields come back as recorded (an arch of 0 is not lost); none stay none.
	if got := evs[1].Fields; got.Arch == nil || *got.Arch != 0 || got.File != fields.File || got.Bytes != fields.Bytes ||
		got.Seconds != fields.Seconds || got.Error != fields.Error || !reflect.DeepEqual(evs[0].Fields, events.Fields{}) {
		t.Fatalf("Fields = %+v and %+v, want %+v and none", got, evs[0].Fields, fields)
	}
	// A step never moves a machine backwards, whatever order reports arrive in.
	_, err = s.Record(ctx, store.Event{MAC: mac1, Kind: "kickstart"}, store.StateInstalling)
	must(t, err)
	if st, err := s.Record(ctx, store.Event{MAC: mac1, Kind: "dhcp-ack"}, store.StateBooting); err != nil || st != store.StateInstalling {
		t.Fatalf("a late booting report: state %s, %v; want installing", st, err)
	}
	// An event for a MAC that is not a machine is not kept: anything on the
	// LAN could otherwise fill the table.
	_, err = s.Record(ctx, store.Event{MAC: mac2, Kind: "dhcp-discover"}, "")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Record(ctx, store.Event{MAC: mac2, Kind: "x"}, store.StateBooting)
	wantErr(t, err, store.ErrNotFound)
	evs, err = s.Events(ctx, mac2)
	must(t, err)
	if len(evs) != 0 {
		t.Fatalf("Record kept %d events of an unknown MAC, want 0", len(evs))
	}
	// A machine's newest event is when it was last seen; an older one arriving late does not move it back.
	if m, err := s.Machine(ctx, mac1); err != nil || m.Seen.Before(t0.Add(time.Second)) {
		t.Fatalf("Seen = %v, %v; want at least %v", m.Seen, err, t0.Add(time.Second))
	}
	// Pruning deletes exactly the events older than the cut, of every machine.
	n, err := s.PruneEvents(ctx, t0.Add(time.Second))
	must(t, err)
	if n != 1 {
		t.Fatalf("PruneEvents removed %d events, want 1 (the one at t0)", n)
	}
	evs, err = s.Events(ctx, mac1)
	must(t, err)
	if len(evs) != 3 || evs[0].Detail != "lpxelinux.0" {
		t.Fatalf("after pruning: %+v", evs)
	}
	// Trimming keeps the newest events of each machine.
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac2, State: store.StateNew, Token: "t2"}))
	for i := range 5 {
		_, err := s.Record(ctx, store.Event{MAC: mac2, Time: t0.Add(time.Duration(i) * time.Hour), Kind: "tftp", Detail: fmt.Sprint(i)}, "")
		must(t, err)
	}
	n, err = s.TrimEvents(ctx, 2)
	must(t, err)
	if n != 1+3 {
		t.Fatalf("TrimEvents(2) removed %d events, want 4 (1 of mac1, 3 of mac2)", n)
	}
	evs, err = s.Events(ctx, mac2)
	must(t, err)
	if len(evs) != 2 || evs[0].Detail != "3" || evs[1].Detail != "4" {
		t.Fatalf("after trimming: %+v, want the newest two", evs)
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.AddDistro(ctx, distro("rocky9")))
	must(t, s.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"}))
	ip := netip.MustParseAddr("10.0.0.7")
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac1, Profile: "web", Hostname: "h", IP: ip, State: store.StateInstalling, Token: "old"}))
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac2, State: store.StateNew, Token: "other"}))
	got, err := s.MachineByIP(ctx, ip)
	must(t, err)
	if got.MAC.String() != mac1.String() {
		t.Fatalf("MachineByIP(%s) = %s, want %s", ip, got.MAC, mac1)
	}
	_, err = s.MachineByIP(ctx, netip.MustParseAddr("10.0.0.8"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.MachineByIP(ctx, netip.Addr{}) // machines without a reservation are not "the zero address"
	wantErr(t, err, store.ErrNotFound)

	must(t, s.SetToken(ctx, mac1, "new"))
	_, err = s.MachineByToken(ctx, "old")
	wantErr(t, err, store.ErrNotFound)
	got, err = s.MachineByToken(ctx, "new")
	must(t, err)
	if got.Hostname != "h" || got.State != store.StateInstalling || got.IP != ip {
		t.Fatalf("SetToken changed more than the token: %+v", got)
	}
	wantErr(t, s.SetToken(ctx, mac1, "other"), store.ErrExists)
	wantErr(t, s.SetToken(ctx, net.HardwareAddr{2, 0, 0, 0, 0, 9}, "x"), store.ErrNotFound)
}

func testDiscover(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.AddDistro(ctx, distro("rocky9")))
	must(t, s.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"}))
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac1, Profile: "web", State: store.StateNew, Token: "reg"}))
	macN := func(i int) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)} }
	t0 := time.Now().Add(-time.Hour)
	const keep = 3
	for i := range 5 {
		seen := t0.Add(time.Duration(i) * time.Minute)
		added, err := s.Discover(ctx, store.Machine{MAC: macN(i), Token: "d" + string(rune('a'+i)), Seen: seen}, keep)
		must(t, err)
		if !added {
			t.Fatalf("Discover(%s) did not add it", macN(i))
		}
		_, err = s.Record(ctx, store.Event{MAC: macN(i), Time: seen, Kind: "dhcp-discover"}, store.StateBooting)
		must(t, err)
	}
	// Only the newest keep discovered machines remain; the registered one is never pruned.
	all, err := s.Machines(ctx)
	must(t, err)
	if len(all) != keep+1 {
		t.Fatalf("%d machines after discovering 5 with keep=%d, want %d: %+v", len(all), keep, keep+1, all)
	}
	for _, gone := range []int{0, 1} {
		if _, err := s.Machine(ctx, macN(gone)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("discovered machine %d seen longest ago was kept: %v", gone, err)
		}
	}
	// Discover never overwrites: not a registered machine, not a discovered one.
	added, err := s.Discover(ctx, store.Machine{MAC: mac1, Token: "x1"}, keep)
	must(t, err)
	m, _ := s.Machine(ctx, mac1)
	if added || m.Profile != "web" || m.Token != "reg" {
		t.Fatalf("Discover of a registered MAC: added=%v, machine %+v", added, m)
	}
	if _, err := s.Discover(ctx, store.Machine{MAC: mac2, Profile: "web", Token: "x2"}, keep); err == nil {
		t.Fatal("Discover accepted a machine with a profile")
	}
	// Pruning by age: every discovered machine not seen since the cut goes, with its events.
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac2, State: store.StateNew, Token: "fresh"}))
	_, err = s.Record(ctx, store.Event{MAC: mac2, Kind: "tftp"}, "")
	must(t, err)
	n, err := s.PruneDiscovered(ctx, time.Now().Add(-time.Minute))
	must(t, err)
	if n != keep {
		t.Fatalf("PruneDiscovered removed %d, want %d", n, keep)
	}
	evs, err := s.Events(ctx, macN(4))
	must(t, err)
	if len(evs) != 0 {
		t.Fatalf("a pruned machine kept %d events", len(evs))
	}
	for _, kept := range []net.HardwareAddr{mac1, mac2} {
		if _, err := s.Machine(ctx, kept); err != nil {
			t.Fatalf("machine %s pruned: %v", kept, err)
		}
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	exp := time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.0.0.100")
	must(t, s.PutLease(ctx, store.Lease{MAC: mac1, IP: ip, Expires: exp, Hostname: "a"}))
	must(t, s.PutLease(ctx, store.Lease{MAC: mac1, IP: ip, Expires: exp.Add(time.Hour)}))
	// The same address to another MAC replaces the old holder.
	must(t, s.PutLease(ctx, store.Lease{MAC: mac2, IP: ip, Expires: exp}))
	ls, err := s.Leases(ctx)
	must(t, err)
	if len(ls) != 1 || ls[0].MAC.String() != mac2.String() || ls[0].IP != ip || !ls[0].Expires.Equal(exp) {
		t.Fatalf("Leases = %+v", ls)
	}
	must(t, s.RemoveLease(ctx, mac2))
	ls, err = s.Leases(ctx)
	must(t, err)
	if len(ls) != 0 {
		t.Fatalf("Leases after remove = %+v", ls)
	}
}

// testSaveLeases checks the DHCP server's batches: several leases and
// removals in one call, leases that trade addresses within the batch in
// either order, and an empty batch.
func testSaveLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	exp := time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
	x, y, z := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	mac3 := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x58}
	must(t, s.SaveLeases(ctx, nil, nil))
	must(t, s.SaveLeases(ctx, []store.Lease{
		{MAC: mac1, IP: x, Expires: exp, Hostname: "one"},
		{MAC: mac2, IP: y, Expires: exp},
		{MAC: mac3, IP: z, Expires: exp},
	}, nil))
	// mac1 moves from x to y, which mac2 gave up for x; mac3 goes: first
	// the taker of an address, then in the other order.
	must(t, s.SaveLeases(ctx, []store.Lease{
		{MAC: mac2, IP: x, Expires: exp.Add(time.Hour)},
		{MAC: mac1, IP: y, Expires: exp.Add(time.Hour)},
	}, []net.HardwareAddr{mac3}))
	checkLeases(t, s, map[string]netip.Addr{mac1.String(): y, mac2.String(): x})
	must(t, s.SaveLeases(ctx, []store.Lease{
		{MAC: mac1, IP: x, Expires: exp.Add(2 * time.Hour)},
		{MAC: mac2, IP: y, Expires: exp.Add(2 * time.Hour)},
	}, nil))
	checkLeases(t, s, map[string]netip.Addr{mac1.String(): x, mac2.String(): y})
	// A removal of a MAC without a lease is no error.
	must(t, s.SaveLeases(ctx, nil, []net.HardwareAddr{mac3, mac2}))
	checkLeases(t, s, map[string]netip.Addr{mac1.String(): x})
	// A batch of a burst's size (a store may write it in pieces), whose
	// last lease takes mac1's address.
	var burst []store.Lease
	want := map[string]netip.Addr{}
	for i := range 100 {
		l := store.Lease{MAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(i)}, IP: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), Expires: exp}
		if i == 99 {
			l.IP = x
		}
		burst = append(burst, l)
		want[l.MAC.String()] = l.IP
	}
	must(t, s.SaveLeases(ctx, burst, nil))
	checkLeases(t, s, want)
}

func checkLeases(t *testing.T, s store.Store, want map[string]netip.Addr) {
	t.Helper()
	ls, err := s.Leases(context.Background())
	must(t, err)
	got := map[string]netip.Addr{}
	for _, l := range ls {
		got[l.MAC.String()] = l.IP
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Leases = %v, want %v", got, want)
	}
}

func testAPITokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.AddAPIToken(ctx, store.APIToken{ID: "a1", Name: "ci", Hash: "h1"}))
	must(t, s.AddAPIToken(ctx, store.APIToken{ID: "b2", Name: "dash", Hash: "h2", ReadOnly: true}))
	wantErr(t, s.AddAPIToken(ctx, store.APIToken{ID: "c3", Name: "ci", Hash: "h3"}), store.ErrExists)
	wantErr(t, s.AddAPIToken(ctx, store.APIToken{ID: "a1", Name: "other", Hash: "h3"}), store.ErrExists)
	got, err := s.APIToken(ctx, "b2")
	must(t, err)
	if got.Name != "dash" || got.Hash != "h2" || !got.ReadOnly || got.Created.IsZero() || !got.LastUsed.IsZero() {
		t.Fatalf("APIToken = %+v", got)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	must(t, s.UsedAPIToken(ctx, "b2", at))
	all, err := s.APITokens(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Name != "ci" || !all[1].LastUsed.Equal(at) {
		t.Fatalf("APITokens = %+v", all)
	}
	must(t, s.RemoveAPIToken(ctx, "ci"))
	wantErr(t, s.RemoveAPIToken(ctx, "ci"), store.ErrNotFound)
	_, err = s.APIToken(ctx, "a1")
	wantErr(t, err, store.ErrNotFound)
}

func testInstallLogs(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	add := func(mac net.HardwareAddr, install, name, body string, at time.Time, keep int) error {
		return s.AddInstallLog(ctx, store.InstallLog{MAC: mac, Install: install, Name: name, Body: []byte(body), Created: at}, keep)
	}
	type row struct{ install, name, body string }
	check := func(mac net.HardwareAddr, want ...row) []store.InstallLog {
		t.Helper()
		logs, err := s.InstallLogs(ctx, mac)
		must(t, err)
		var got []row
		for _, l := range logs {
			if l.MAC.String() != mac.String() {
				t.Fatalf("InstallLogs(%s) gave a log of %s", mac, l.MAC)
			}
			got = append(got, row{l.Install, l.Name, string(l.Body)})
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("InstallLogs(%s) = %q, want %q", mac, got, want)
		}
		return logs
	}
	// Only a machine's logs are kept: anything holding no token cannot
	// fill the table (the token check is the caller's).
	wantErr(t, add(mac1, "a", "anaconda.log", "x", t0, 3), store.ErrNotFound)
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac1, State: store.StateInstalling, Token: "t1"}))
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac2, State: store.StateInstalling, Token: "t2"}))
	check(mac1)

	// Bodies come back byte for byte; a second log of the same name in the
	// same install replaces the first, and is then the newest.
	binary := "line 1\n\x00\xff\xfe not UTF-8\r\n"
	must(t, add(mac1, "a", "anaconda.log", "first", t0, 3))
	must(t, add(mac1, "a", "ks.cfg", binary, t0.Add(time.Second), 3))
	must(t, add(mac1, "a", "anaconda.log", "second", t0.Add(2*time.Second), 3))
	must(t, add(mac2, "z", "anaconda.log", "other machine", t0, 3))
	logs := check(mac1, row{"a", "ks.cfg", binary}, row{"a", "anaconda.log", "second"})
	if !logs[0].Created.Equal(t0.Add(time.Second)) || logs[0].ID >= logs[1].ID {
		t.Fatalf("created %v (want %v), IDs %d, %d (want growing)", logs[0].Created, t0.Add(time.Second), logs[0].ID, logs[1].ID)
	}

	// Only the keep newest installs of a machine stay; an install is as new
	// as its newest log, and other machines' logs are left alone.
	must(t, add(mac1, "b", "anaconda.log", "b1", t0.Add(3*time.Second), 2))
	must(t, add(mac1, "a", "program.log", "a3", t0.Add(4*time.Second), 2))
	check(mac1, row{"a", "ks.cfg", binary}, row{"a", "anaconda.log", "second"}, row{"b", "anaconda.log", "b1"}, row{"a", "program.log", "a3"})
	must(t, add(mac1, "c", "anaconda.log", "c1", t0.Add(5*time.Second), 2))
	check(mac1, row{"a", "ks.cfg", binary}, row{"a", "anaconda.log", "second"}, row{"a", "program.log", "a3"}, row{"c", "anaconda.log", "c1"})
	check(mac2, row{"z", "anaconda.log", "other machine"})

	// Pruning deletes exactly the logs created before the cut, of every machine.
	n, err := s.PruneInstallLogs(ctx, t0.Add(2*time.Second))
	must(t, err)
	if n != 2 {
		t.Fatalf("PruneInstallLogs removed %d logs, want 2 (ks.cfg at t0+1s, mac2's at t0)", n)
	}
	check(mac1, row{"a", "anaconda.log", "second"}, row{"a", "program.log", "a3"}, row{"c", "anaconda.log", "c1"})
	check(mac2)

	// A removed machine's logs go with it; a new machine of that MAC starts empty.
	must(t, s.RemoveMachine(ctx, mac1))
	must(t, s.PutMachine(ctx, store.Machine{MAC: mac1, State: store.StateNew, Token: "t3"}))
	check(mac1)
}
