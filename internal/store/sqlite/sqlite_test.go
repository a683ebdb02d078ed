package sqlite

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"kickstand/internal/store"
	"kickstand/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddDistro(ctx, store.Distro{Name: "d"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Distro(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(migrations))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, dir); err == nil {
		t.Fatal("Open accepted a database from a newer kickstand")
	}
}

// Two handles on one file stand for the server and the CLI writing at once.
func TestTwoHandlesWriteConcurrently(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, filepath.Clean(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mac, _ := store.ParseMAC("52:54:00:00:00:01")
	if err := a.PutMachine(ctx, store.Machine{MAC: mac, State: store.StateNew, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for _, db := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, err := db.Record(ctx, store.Event{MAC: mac, Kind: "k"}, "")
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	evs, err := b.Events(ctx, mac)
	if err != nil || len(evs) != 200 {
		t.Fatalf("events = %d, %v; want 200", len(evs), err)
	}
}

// A database written by the first release keeps its records after migration.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := migrations[:1]
	saved := migrations
	migrations = first
	db, err := Open(ctx, dir)
	migrations = saved
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.Exec(`INSERT INTO distros VALUES ('old','Rocky Linux','9.4','x86_64','/srv/old','k','i','s',1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.Exec(`INSERT INTO profiles VALUES ('p','old','','',1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := db.Distro(ctx, "old")
	if err != nil || d.Kind != store.SourceDir || d.Version != "9.4" || len(d.Variants) != 0 {
		t.Fatalf("migrated distro = %+v, %v", d, err)
	}
	p, err := db.Profile(ctx, "p")
	if err != nil || p.RepoProtocol != store.RepoHTTP {
		t.Fatalf("migrated profile = %+v, %v", p, err)
	}
}

// Reports racing from two processes (the bus's DHCP event and the kickstart
// handler, or the server and the CLI) never move a machine backwards.
func TestConcurrentStepsNeverRegress(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 30 {
		mac := net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}
		if err := a.PutMachine(ctx, store.Machine{MAC: mac, State: store.StateNew, Token: fmt.Sprint("t", i)}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { a.Record(ctx, store.Event{MAC: mac, Kind: "dhcp-ack"}, store.StateBooting) })
		wg.Go(func() { b.Record(ctx, store.Event{MAC: mac, Kind: "kickstart"}, store.StateInstalling) })
		wg.Wait()
		m, err := a.Machine(ctx, mac)
		if err != nil || m.State != store.StateInstalling {
			t.Fatalf("round %d: state %s, %v; want installing", i, m.State, err)
		}
	}
}

// A flood of concurrent requests queues for the pool's connections rather
// than opening a database handle (and its descriptors) each.
func TestPoolIsBounded(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if _, err := db.Machines(ctx); err != nil {
				t.Error(err)
			}
			if _, err := db.Record(ctx, store.Event{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Kind: "x"}, ""); err == nil {
				t.Error("an event of no machine was kept")
			}
		})
	}
	wg.Wait()
	if st := db.db.Stats(); st.MaxOpenConnections != MaxOpenConns || st.OpenConnections > MaxOpenConns {
		t.Fatalf("pool: %d open, cap %d; want at most %d", st.OpenConnections, st.MaxOpenConnections, MaxOpenConns)
	}
}
