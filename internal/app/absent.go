package app

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"kickstand/internal/store"
)

// absentStore is the server's store, answering "no such machine" from an
// index of the machines' MACs and reserved addresses read at most absentFor
// ago, without asking SQLite. In full mode every laptop and phone on the
// LAN is a DHCP client; each of its DORAs asked SQLite five times whether
// it is a machine (its reservation, the offered address's owner, and once
// for each of its three events): a third of the server's CPU at 8,000
// DORA/s. Lookups of machines that exist still go to the store.
//
// Machines written through this process (API, web, PXE discovery) drop the
// index, so that the next lookup reads it again; one added by a CLI run on
// the server's data directory, another process, is seen within absentFor.
// On a store that tells of other processes' writes (PostgreSQL, shared by
// several servers) those drop it too, at once (followStore).
type absentStore struct {
	store.Store
	now func() time.Time

	mu      sync.Mutex
	gen     uint64        // machine writes through this store so far
	index   *machineIndex // nil: to be read
	loading bool          // a lookup is reading the index

	catalogGen uint64   // distro and profile writes through this store so far
	catalog    *catalog // nil: to be read
}

// machineIndex is which MACs and addresses had a machine at a moment.
type machineIndex struct {
	read time.Time
	macs map[[6]byte]struct{}
	ips  map[netip.Addr]struct{}
}

// absentFor is how long the index answers "absent": shorter than any
// firmware takes from power-on to its DHCP DISCOVER.
const absentFor = time.Second

func newAbsentStore(s store.Store) *absentStore {
	return &absentStore{Store: s, now: time.Now}
}

// Machine is the store's, or store.ErrNotFound when the index has no mac.
func (a *absentStore) Machine(ctx context.Context, mac net.HardwareAddr) (store.Machine, error) {
	if idx := a.current(ctx); idx != nil && len(mac) == 6 {
		if _, ok := idx.macs[[6]byte(mac)]; !ok {
			return store.Machine{}, fmt.Errorf("machine %s: %w", mac, store.ErrNotFound)
		}
	}
	return a.Store.Machine(ctx, mac)
}

// MachineByIP is the store's, or store.ErrNotFound when the index has no
// machine with ip reserved.
func (a *absentStore) MachineByIP(ctx context.Context, ip netip.Addr) (store.Machine, error) {
	if idx := a.current(ctx); idx != nil {
		if _, ok := idx.ips[ip]; !ok {
			return store.Machine{}, fmt.Errorf("machine with address %s: %w", ip, store.ErrNotFound)
		}
	}
	return a.Store.MachineByIP(ctx, ip)
}

// current returns an index read less than absentFor ago and after the last
// write through this store, reading it if need be; nil when there is none
// (another lookup is reading it, or reading failed): ask the store.
func (a *absentStore) current(ctx context.Context) *machineIndex {
	a.mu.Lock()
	if a.index != nil && a.now().Sub(a.index.read) < absentFor {
		idx := a.index
		a.mu.Unlock()
		return idx
	}
	if a.loading {
		a.mu.Unlock()
		return nil
	}
	a.loading, a.index = true, nil
	gen, read := a.gen, a.now()
	a.mu.Unlock()

	ms, err := a.Store.Machines(ctx)
	var idx *machineIndex
	if err == nil {
		idx = &machineIndex{read: read, macs: make(map[[6]byte]struct{}, len(ms)), ips: make(map[netip.Addr]struct{})}
		for _, m := range ms {
			if len(m.MAC) == 6 {
				idx.macs[[6]byte(m.MAC)] = struct{}{}
			}
			if m.IP.IsValid() {
				idx.ips[m.IP] = struct{}{}
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loading = false
	if idx == nil || a.gen != gen {
		return nil // a machine was written while we read: the index may predate it
	}
	a.index = idx
	// The catalog is read again after the index, never before it: a machine
	// the index has (added by the CLI with a new profile a moment ago) finds
	// its profile there.
	a.catalogGen++
	a.catalog = nil
	return idx
}

// forget drops the index: a machine was written.
func (a *absentStore) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	a.index = nil
}

func (a *absentStore) PutMachine(ctx context.Context, m store.Machine) error {
	defer a.forget()
	return a.Store.PutMachine(ctx, m)
}

func (a *absentStore) RemoveMachine(ctx context.Context, mac net.HardwareAddr) error {
	defer a.forget()
	return a.Store.RemoveMachine(ctx, mac)
}

// Discover drops the index only when it added a machine: a MAC seen again
// (most of proxy mode's PXE DISCOVERs) changes no one's existence.
func (a *absentStore) Discover(ctx context.Context, m store.Machine, keep int) (bool, error) {
	added, err := a.Store.Discover(ctx, m, keep)
	if added || err != nil {
		a.forget()
	}
	return added, err
}

// catalog is the distros and profiles as read at a moment. Every boot
// decision reads all of them, and every file request its distro: in a boot
// storm of 500 machines those reads were 6 % of the server's CPU (perf).
// They change only when a person imports a distro or edits a profile.
// Writes through this process drop the catalog, and so does each new index
// of machines; one by a CLI run on the data directory, or by another
// server, is seen within absentFor, and a distro or profile asked for by a
// name the catalog lacks is asked of the store.
type catalog struct {
	read     time.Time
	distros  []store.Distro  // as Distros returns them, by name
	profiles []store.Profile // as Profiles returns them
}

// currentCatalog returns a catalog read less than absentFor ago and after
// the last distro or profile write through this store, reading it if need
// be; nil when reading failed: ask the store.
func (a *absentStore) currentCatalog(ctx context.Context) *catalog {
	a.mu.Lock()
	if c := a.catalog; c != nil && a.now().Sub(c.read) < absentFor {
		a.mu.Unlock()
		return c
	}
	gen, read := a.catalogGen, a.now()
	a.mu.Unlock()

	distros, err := a.Store.Distros(ctx)
	if err != nil {
		return nil
	}
	profiles, err := a.Store.Profiles(ctx)
	if err != nil {
		return nil
	}
	c := &catalog{read: read, distros: distros, profiles: profiles}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.catalogGen == gen {
		a.catalog = c // else a write came meanwhile: use what was read, keep nothing
	}
	return c
}

// forgetCatalog drops the catalog: a distro or profile was written.
func (a *absentStore) forgetCatalog() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.catalogGen++
	a.catalog = nil
}

// Copies, so that no caller changes the catalog.
func copyDistro(d store.Distro) store.Distro    { d.Variants = slices.Clone(d.Variants); return d }
func copyProfile(p store.Profile) store.Profile { p.Vars = maps.Clone(p.Vars); return p }

// copies copies each of list.
func copies[T any](list []T, copyOf func(T) T) []T {
	out := make([]T, len(list))
	for i, x := range list {
		out[i] = copyOf(x)
	}
	return out
}

// named finds the item of list called name.
func named[T any](list []T, name string, nameOf func(T) string) (T, bool) {
	for _, x := range list {
		if nameOf(x) == name {
			return x, true
		}
	}
	var zero T
	return zero, false
}

func (a *absentStore) Distros(ctx context.Context) ([]store.Distro, error) {
	if c := a.currentCatalog(ctx); c != nil {
		return copies(c.distros, copyDistro), nil
	}
	return a.Store.Distros(ctx)
}

func (a *absentStore) Distro(ctx context.Context, name string) (store.Distro, error) {
	if c := a.currentCatalog(ctx); c != nil {
		if d, ok := named(c.distros, name, func(d store.Distro) string { return d.Name }); ok {
			return copyDistro(d), nil
		}
	}
	return a.Store.Distro(ctx, name)
}

func (a *absentStore) Profiles(ctx context.Context) ([]store.Profile, error) {
	if c := a.currentCatalog(ctx); c != nil {
		return copies(c.profiles, copyProfile), nil
	}
	return a.Store.Profiles(ctx)
}

func (a *absentStore) Profile(ctx context.Context, name string) (store.Profile, error) {
	if c := a.currentCatalog(ctx); c != nil {
		if p, ok := named(c.profiles, name, func(p store.Profile) string { return p.Name }); ok {
			return copyProfile(p), nil
		}
	}
	return a.Store.Profile(ctx, name)
}

func (a *absentStore) AddDistro(ctx context.Context, d store.Distro) error {
	defer a.forgetCatalog()
	return a.Store.AddDistro(ctx, d)
}

func (a *absentStore) RemoveDistro(ctx context.Context, name string) error {
	defer a.forgetCatalog()
	return a.Store.RemoveDistro(ctx, name)
}

func (a *absentStore) AddProfile(ctx context.Context, p store.Profile) error {
	defer a.forgetCatalog()
	return a.Store.AddProfile(ctx, p)
}

func (a *absentStore) PutProfile(ctx context.Context, p store.Profile) error {
	defer a.forgetCatalog()
	return a.Store.PutProfile(ctx, p)
}

func (a *absentStore) RemoveProfile(ctx context.Context, name string) error {
	defer a.forgetCatalog()
	return a.Store.RemoveProfile(ctx, name)
}
