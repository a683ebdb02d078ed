package app

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// lookupCounter counts the reads that reach the database and can run a
// function in the middle of reading the machine list (after the database
// answered).
type lookupCounter struct {
	store.Store
	lookups, lists int
	during         func()
}

func (c *lookupCounter) Machine(ctx context.Context, mac net.HardwareAddr) (store.Machine, error) {
	c.lookups++
	return c.Store.Machine(ctx, mac)
}

func (c *lookupCounter) MachineByIP(ctx context.Context, ip netip.Addr) (store.Machine, error) {
	c.lookups++
	return c.Store.MachineByIP(ctx, ip)
}

func (c *lookupCounter) Machines(ctx context.Context) ([]store.Machine, error) {
	c.lists++
	ms, err := c.Store.Machines(ctx)
	if f := c.during; f != nil {
		c.during = nil
		f()
	}
	return ms, err
}

func TestAbsentStore(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counted := &lookupCounter{Store: db}
	a := newAbsentStore(counted)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	mac, _ := store.ParseMAC("52:54:00:00:00:01")
	ip := netip.MustParseAddr("10.0.0.5")

	// check asks for mac and ip, wants err (nil: found) for both, and
	// that lookups and lists reads reached the database in all.
	check := func(want error, lookups, lists int) {
		t.Helper()
		_, err := a.Machine(ctx, mac)
		_, ipErr := a.MachineByIP(ctx, ip)
		for _, err := range []error{err, ipErr} {
			if (want == nil) != (err == nil) || want != nil && !errors.Is(err, want) {
				t.Fatalf("lookup = %v, want %v", err, want)
			}
		}
		if counted.lookups != lookups || counted.lists != lists {
			t.Fatalf("%d lookups and %d lists reached the database, want %d and %d", counted.lookups, counted.lists, lookups, lists)
		}
	}
	check(store.ErrNotFound, 0, 1) // absent: answered from the index
	check(store.ErrNotFound, 0, 1)
	now = now.Add(absentFor)
	check(store.ErrNotFound, 0, 2) // the index read again after absentFor

	// A machine written through the store is seen at once; machines that
	// exist are always asked for.
	if err := a.PutMachine(ctx, store.Machine{MAC: mac, IP: ip, State: store.StateNew, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	check(nil, 2, 3)
	check(nil, 4, 3)

	// Removed: absent again.
	if err := a.RemoveMachine(ctx, mac); err != nil {
		t.Fatal(err)
	}
	check(store.ErrNotFound, 4, 4)

	// A write that lands while the index is read (the list may predate
	// it): that index is not used, the lookups ask the store.
	now = now.Add(absentFor)
	counted.during = func() {
		if err := a.PutMachine(ctx, store.Machine{MAC: mac, IP: ip, State: store.StateNew, Token: "t2"}); err != nil {
			t.Error(err)
		}
	}
	if _, err := a.Machine(ctx, mac); err != nil {
		t.Fatalf("a machine written while the index was read: %v", err)
	}
	if counted.lookups != 5 || counted.lists != 5 {
		t.Fatalf("%d lookups, %d lists; want 5 and 5", counted.lookups, counted.lists)
	}

	// A machine added by another process (the CLI on the same data
	// directory) is seen once the index is older than absentFor.
	mac2, _ := store.ParseMAC("52:54:00:00:00:02")
	if _, err := a.Machine(ctx, mac2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Machine(%s) = %v, want not found", mac2, err)
	}
	if err := db.PutMachine(ctx, store.Machine{MAC: mac2, State: store.StateNew, Token: "t3"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(absentFor)
	if _, err := a.Machine(ctx, mac2); err != nil {
		t.Fatalf("Machine(%s) after absentFor = %v, want it found", mac2, err)
	}

	// Discovered on the wire (proxy-mode PXE): seen at once; seen again:
	// the index stays.
	mac3, _ := store.ParseMAC("52:54:00:00:00:03")
	if _, err := a.Machine(ctx, mac3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Machine(%s) = %v, want not found", mac3, err)
	}
	for range 2 {
		if _, err := a.Discover(ctx, store.Machine{MAC: mac3, State: store.StateNew, Token: "t4", Seen: now}, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Machine(ctx, mac3); err != nil {
			t.Fatalf("after Discover, Machine(%s) = %v", mac3, err)
		}
	}
	lists := counted.lists
	if _, err := a.Machine(ctx, mac); err != nil || counted.lists != lists {
		t.Fatalf("a MAC discovered again read the index again (%d lists, was %d; %v)", counted.lists, lists, err)
	}
}

// catalogCounter counts the distro and profile reads that reach the database.
type catalogCounter struct {
	store.Store
	reads int
}

func (c *catalogCounter) Distro(ctx context.Context, name string) (store.Distro, error) {
	c.reads++
	return c.Store.Distro(ctx, name)
}

func (c *catalogCounter) Distros(ctx context.Context) ([]store.Distro, error) {
	c.reads++
	return c.Store.Distros(ctx)
}

func (c *catalogCounter) Profile(ctx context.Context, name string) (store.Profile, error) {
	c.reads++
	return c.Store.Profile(ctx, name)
}

func (c *catalogCounter) Profiles(ctx context.Context) ([]store.Profile, error) {
	c.reads++
	return c.Store.Profiles(ctx)
}

// Distros and profiles are read once per absentFor, and seen again at once
// when written through the store, or asked for by a name the catalog lacks.
func TestCatalog(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counted := &catalogCounter{Store: db}
	a := newAbsentStore(counted)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	if err := a.AddDistro(ctx, store.Distro{Name: "rocky9", Source: t.TempDir(), Variants: []store.Variant{{ID: "BaseOS", Repository: "BaseOS"}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9", Vars: map[string]string{"disk": "vda"}}); err != nil {
		t.Fatal(err)
	}
	// reads asks for everything; want: how many reads reached the database in all.
	reads := func(want int) {
		t.Helper()
		d, derr := a.Distro(ctx, "rocky9")
		ds, dserr := a.Distros(ctx)
		p, perr := a.Profile(ctx, "web")
		ps, pserr := a.Profiles(ctx)
		if err := errors.Join(derr, dserr, perr, pserr); err != nil || d.Name != "rocky9" || len(ds) != 1 || p.Distro != "rocky9" || len(ps) != 1 {
			t.Fatalf("read %+v %+v %+v %+v: %v", d, ds, p, ps, err)
		}
		if counted.reads != want {
			t.Fatalf("%d reads reached the database, want %d", counted.reads, want)
		}
	}
	reads(2) // one catalog: the distros and the profiles
	reads(2)
	now = now.Add(absentFor)
	reads(4)

	// What a caller changes is its own copy.
	p, _ := a.Profile(ctx, "web")
	p.Vars["disk"] = "sdz"
	d, _ := a.Distro(ctx, "rocky9")
	d.Variants[0].ID = "changed"
	if p, _ := a.Profile(ctx, "web"); p.Vars["disk"] != "vda" {
		t.Errorf("a caller's change reached the catalog: disk=%s", p.Vars["disk"])
	}
	if d, _ := a.Distro(ctx, "rocky9"); d.Variants[0].ID != "BaseOS" {
		t.Errorf("a caller's change reached the catalog: variant %s", d.Variants[0].ID)
	}

	// Written through the store: seen at once.
	if err := a.PutProfile(ctx, store.Profile{Name: "web", Distro: "rocky9", Vars: map[string]string{"disk": "sdb"}}); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Profile(ctx, "web"); err != nil || p.Vars["disk"] != "sdb" {
		t.Fatalf("after PutProfile: %+v, %v", p, err)
	}
	// Added by another process (the CLI on the data directory): by name at
	// once, in the lists within absentFor.
	if err := db.AddProfile(ctx, store.Profile{Name: "db", Distro: "rocky9"}); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Profile(ctx, "db"); err != nil || p.Name != "db" {
		t.Fatalf("a profile added elsewhere, by name: %+v, %v", p, err)
	}
	if ps, _ := a.Profiles(ctx); len(ps) != 1 {
		t.Fatalf("the list changed before absentFor: %d profiles", len(ps))
	}
	now = now.Add(absentFor)
	if ps, _ := a.Profiles(ctx); len(ps) != 2 {
		t.Fatalf("after absentFor: %d profiles, want 2", len(ps))
	}
	// A new index of machines drops the catalog: the machine it shows
	// finds its profile.
	if err := db.AddProfile(ctx, store.Profile{Name: "late", Distro: "rocky9"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutMachine(ctx, store.Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 9}, Profile: "late", State: store.StateNew, Token: "t9"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(absentFor / 2)
	if ps, _ := a.Profiles(ctx); len(ps) != 2 {
		t.Fatalf("the list changed before absentFor: %d profiles", len(ps))
	}
	if _, err := a.Machine(ctx, net.HardwareAddr{0x52, 0x54, 0, 0, 0, 9}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := a.Profiles(ctx); len(ps) != 3 {
		t.Fatalf("a machine in the new index, its profile not in the list: %d profiles", len(ps))
	}
	// Removed through the store: gone at once.
	if err := a.RemoveProfile(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Profile(ctx, "db"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a removed profile: %v", err)
	}
}
