package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kickstand/internal/store"
	"kickstand/internal/store/postgres/pgtest"
	"kickstand/internal/store/storetest"
)

// open opens a store on a new database of srv.
func open(t testing.TB, srv *pgtest.Server) *DB {
	t.Helper()
	db, err := Open(context.Background(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openTwo opens two handles on one new database of srv: two servers.
func openTwo(t testing.TB, srv *pgtest.Server) (*DB, *DB) {
	t.Helper()
	url := srv.NewDatabase(t)
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

func TestConformance(t *testing.T) {
	srv := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, srv) })
}

// Servers starting together on a new database: one migrates, the others
// wait for it and find the schema done; a newer schema is refused.
func TestMigrations(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	url := srv.NewDatabase(t)
	var wg sync.WaitGroup
	dbs := make([]*DB, 4)
	errs := make([]error, len(dbs))
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d of %d at once: %v", i, len(dbs), err)
		}
		defer dbs[i].Close()
	}
	var versions []int
	rows, err := dbs[0].pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || len(versions) != len(migrations) || versions[len(versions)-1] != len(migrations) {
		t.Fatalf("schema_migrations = %v, %v; want 1..%d once each", versions, err, len(migrations))
	}
	if _, err := dbs[0].pool.Exec(ctx, `INSERT INTO schema_migrations VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, url); err == nil || !strings.Contains(err.Error(), "upgrade kickstand") {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open of a database from a newer kickstand: %v, want refused", err)
	}
}

// An unreachable database fails Open with what to check.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://kickstand@/kickstand?host="+t.TempDir()+"&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "check that the server runs") {
		t.Fatalf("Open without a server: %v", err)
	}
}

// Two servers (two handles on one database) leasing the same addresses to
// different MACs at once: every call succeeds, and afterwards no address
// has two MACs and no MAC two addresses.
func TestLeasesFromTwoServers(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	a, b := openTwo(t, srv)
	exp := time.Now().Add(time.Hour)
	const rounds, width = 50, 8
	var wg sync.WaitGroup
	for s, db := range []*DB{a, b} {
		wg.Go(func() {
			for r := range rounds {
				batch := make([]store.Lease, width)
				for i := range batch {
					// The servers' MACs differ; their addresses are the same ones.
					batch[i] = store.Lease{MAC: net.HardwareAddr{2, byte(s), 0, 0, byte(r), byte(i)},
						IP: netip.AddrFrom4([4]byte{10, 0, 0, byte((r + i) % 16)}), Expires: exp}
				}
				if err := db.SaveLeases(ctx, batch, nil); err != nil {
					t.Errorf("server %d: SaveLeases: %v", s, err)
					return
				}
			}
		})
	}
	wg.Wait()
	ls, err := a.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	macs, ips := map[string]bool{}, map[netip.Addr]bool{}
	for _, l := range ls {
		if macs[l.MAC.String()] || ips[l.IP] {
			t.Fatalf("lease %+v: its MAC or address is leased twice: %+v", l, ls)
		}
		macs[l.MAC.String()], ips[l.IP] = true, true
	}
	if len(ls) == 0 || len(ls) > 16 {
		t.Fatalf("%d leases of 16 addresses", len(ls))
	}
}

// ClaimLeases: a lease of an address another MAC holds unexpired is not
// stored and its holder comes back; the holder's own renewal, and a claim
// once the holder's lease has expired, are stored.
func TestClaimLeases(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	a, b := openTwo(t, srv)
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	x := netip.MustParseAddr("10.0.0.7")
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	claim := func(db *DB, mac net.HardwareAddr, ip netip.Addr, at time.Time) []store.Lease {
		t.Helper()
		held, err := db.ClaimLeases(ctx, []store.Lease{{MAC: mac, IP: ip, Expires: at.Add(time.Hour)}}, nil, at)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if held := claim(a, mac1, x, now); len(held) != 0 {
		t.Fatalf("a free address: held %+v", held)
	}
	if held := claim(b, mac2, x, now); len(held) != 1 || held[0].MAC.String() != mac1.String() || held[0].IP != x {
		t.Fatalf("another MAC's address: held %+v, want mac1's lease", held)
	}
	if held := claim(b, mac1, x, now.Add(time.Minute)); len(held) != 0 {
		t.Fatalf("the holder's renewal through the other server: held %+v", held)
	}
	later := now.Add(3 * time.Hour)
	if held := claim(b, mac2, x, later); len(held) != 0 {
		t.Fatalf("an expired holder: held %+v", held)
	}
	ls, err := a.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].MAC.String() != mac2.String() {
		t.Fatalf("leases %+v (%v), want mac2's only", ls, err)
	}
}

// Two servers claiming the same few addresses for different MACs at once:
// no address is ever claimed successfully by two MACs.
func TestClaimLeasesFromTwoServers(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	a, b := openTwo(t, srv)
	now := time.Now()
	const rounds, width = 40, 4
	var mu sync.Mutex
	won := map[netip.Addr]map[string]bool{}
	var wg sync.WaitGroup
	for s, db := range []*DB{a, b} {
		wg.Go(func() {
			for r := range rounds {
				batch := make([]store.Lease, width)
				for i := range batch {
					batch[i] = store.Lease{MAC: net.HardwareAddr{2, byte(s), 0, 0, byte(r), byte(i)},
						IP: netip.AddrFrom4([4]byte{10, 0, 0, byte((r*width + i) % 24)}), Expires: now.Add(time.Hour)}
				}
				held, err := db.ClaimLeases(ctx, batch, nil, now)
				if err != nil {
					t.Errorf("server %d: ClaimLeases: %v", s, err)
					return
				}
				mu.Lock()
				for _, l := range batch {
					if !slices.ContainsFunc(held, func(h store.Lease) bool { return h.IP == l.IP }) {
						if won[l.IP] == nil {
							won[l.IP] = map[string]bool{}
						}
						won[l.IP][l.MAC.String()] = true
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for ip, macs := range won {
		if len(macs) > 1 {
			t.Errorf("%s was claimed by %d MACs: %v", ip, len(macs), macs)
		}
	}
	if len(won) != 24 {
		t.Errorf("%d of 24 addresses claimed, want all", len(won))
	}
}

// Two servers reporting one machine's install at once never move it
// backwards: each Record reads the state the other left.
func TestRecordFromTwoServers(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	a, b := openTwo(t, srv)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	if err := a.PutMachine(ctx, store.Machine{MAC: mac, State: store.StateNew, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, db := range []*DB{a, b} {
		step := []store.State{store.StateBooting, store.StateInstalling}[i]
		wg.Go(func() {
			for range 40 {
				st, err := db.Record(ctx, store.Event{MAC: mac, Kind: "tftp"}, step)
				if err != nil {
					t.Error(err)
					return
				}
				if i == 1 && st != store.StateInstalling {
					t.Errorf("after an installing step, state %s", st)
				}
			}
		})
	}
	wg.Wait()
	m, err := b.Machine(ctx, mac)
	if err != nil || m.State != store.StateInstalling {
		t.Fatalf("state = %s, %v; want installing", m.State, err)
	}
	evs, err := a.Events(ctx, mac)
	if err != nil || len(evs) != 80 {
		t.Fatalf("%d events, %v; want 80", len(evs), err)
	}
}

// What a client sends is kept even where PostgreSQL's text refuses it (bad
// UTF-8, NUL bytes), as SQLite keeps it.
func TestClientTextKept(t *testing.T) {
	srv := pgtest.Start(t)
	db := open(t, srv)
	ctx := context.Background()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	if err := db.PutMachine(ctx, store.Machine{MAC: mac, State: store.StateNew, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Record(ctx, store.Event{MAC: mac, Kind: "dhcp-discover", Detail: "host \xff\x00name"}, ""); err != nil {
		t.Fatalf("Record of a detail with bad UTF-8 and NUL: %v", err)
	}
	if err := db.PutLease(ctx, store.Lease{MAC: mac, IP: netip.MustParseAddr("10.0.0.9"), Hostname: "a\x00b\xfe"}); err != nil {
		t.Fatalf("PutLease of a hostname with NUL and bad UTF-8: %v", err)
	}
	evs, err := db.Events(ctx, mac)
	if err != nil || len(evs) != 1 || evs[0].Detail != "host \uFFFD\uFFFDname" {
		t.Fatalf("Events = %+v, %v", evs, err)
	}
}

// A batch transaction whose statement fails writes nothing and leaves its
// connection fit for the next (a pool of one: the same connection).
func TestBatchTxFailure(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	db, err := Open(ctx, srv.NewDatabase(t)+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.batchTx(ctx, false, func(b *pgx.Batch) {
		b.Queue(`INSERT INTO leases VALUES ('m1', '10.0.0.1', 0, '')`)
		b.Queue(`INSERT INTO leases VALUES ('m2', '10.0.0.1', 0, '')`) // the same address
	})
	if !isUnique(err) {
		t.Fatalf("batchTx of two leases of one address: %v, want a unique violation", err)
	}
	if ls, err := db.Leases(ctx); err != nil || len(ls) != 0 {
		t.Fatalf("after a failed batch: leases %+v, %v; want none", ls, err)
	}
	if err := db.PutLease(ctx, store.Lease{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, IP: netip.MustParseAddr("10.0.0.1")}); err != nil {
		t.Fatalf("the next batch on the connection: %v", err)
	}
}

// Two servers reserving one address for two machines at the same moment
// (each having checked that it was free): one of them gets it.
func TestReservationFromTwoServers(t *testing.T) {
	srv := pgtest.Start(t)
	a, b := openTwo(t, srv)
	ctx := context.Background()
	ip := netip.MustParseAddr("10.0.0.5")
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, db := range []*DB{a, b} {
		wg.Go(func() {
			errs[i] = db.PutMachine(ctx, store.Machine{MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}, IP: ip,
				State: store.StateNew, Token: fmt.Sprint("t", i)})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two machines reserving %s at once: %v and %v; want one refused", ip, errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil && (!errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), "ip 10.0.0.5")) {
			t.Fatalf("the refused reservation: %v, want ErrExists naming the address", err)
		}
	}
	// The holder keeps it on rewrite; machines without an address are many.
	ms, err := a.Machines(ctx)
	if err != nil || len(ms) != 1 {
		t.Fatalf("machines %+v, %v", ms, err)
	}
	if err := b.PutMachine(ctx, ms[0]); err != nil {
		t.Fatalf("rewriting the holder: %v", err)
	}
	for i := range 2 {
		if err := a.PutMachine(ctx, store.Machine{MAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(i)}, State: store.StateNew, Token: fmt.Sprint("n", i)}); err != nil {
			t.Fatal(err)
		}
	}
}
