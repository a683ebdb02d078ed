package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"kickstand/internal/config"
	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/store/postgres"
	"kickstand/internal/store/postgres/pgtest"
	"kickstand/internal/store/sqlite"
)

// --store sends the inventory commands to a PostgreSQL database, leaving
// the data directory's SQLite store alone.
func TestStoreFlagUsesPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	c := newCLI(t)
	c.ok("distro", "import", "rocky9", c.tree, "--store", url)
	c.ok("profile", "add", "web", "--distro", "rocky9", "--store", url)
	c.ok("machine", "add", "52:54:00:12:34:56", "--profile", "web", "--hostname", "node1", "--store", url)
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := db.Machines(t.Context())
	if err != nil || len(ms) != 1 || ms[0].Hostname != "node1" || ms[0].Profile != "web" {
		t.Fatalf("machines in PostgreSQL = %+v, %v", ms, err)
	}
	if _, err := os.Stat(filepath.Join(c.data, sqlite.FileName)); !os.IsNotExist(err) {
		t.Fatalf("the data directory's SQLite store was used too: %v", err)
	}
	c.fails("--store", "machine", "list", "--store", "mysql://db/ks")
}

// serve takes the store from its config file's store:, and --store wins.
func TestServeStoreSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kickstand.yaml")
	os.WriteFile(file, []byte("store: postgres://ks@db1/ks\n"), 0o644)
	serve := func(args ...string) string {
		t.Helper()
		var got string
		en := Env{Serve: func(_ context.Context, cfg config.Config, _ *slog.Logger) error { got = cfg.Store; return nil }}
		var out, errb bytes.Buffer
		if code := en.Run(context.Background(), append([]string{"serve"}, args...), &out, &errb); code != 0 {
			t.Fatalf("serve %v: exit %d: %s", args, code, errb.String())
		}
		return got
	}
	t.Setenv("KICKSTAND_STORE", "")
	if got := serve("--data-dir", t.TempDir()); got != "" {
		t.Errorf("serve without a store setting: store %q, want \"\" (SQLite)", got)
	}
	if got := serve("--config", file); got != "postgres://ks@db1/ks" {
		t.Errorf("serve --config: store %q, want the file's", got)
	}
	if got := serve("--config", file, "--store", "sqlite:/srv/ks"); got != "sqlite:/srv/ks" {
		t.Errorf("serve --config --store: store %q, want the flag's", got)
	}
}

// store migrate copies a whole SQLite store into PostgreSQL: every record
// reads back the same from both; a second copy into the now used
// database is refused, as is a --from without a store.
func TestStoreMigrate(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	c := newCLI(t)
	c.setup()
	c.ok("token", "create", "ci")
	ctx := t.Context()
	src, err := sqlite.Open(ctx, c.data)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mac, _ := store.ParseMAC("52:54:00:12:34:56")
	stranger, _ := store.ParseMAC("52:54:00:00:00:99")
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 123, time.UTC)
	if _, err := src.Discover(ctx, store.Machine{MAC: stranger, Token: "s", Seen: t0}, 100); err != nil {
		t.Fatal(err)
	}
	for i, step := range []store.State{store.StateBooting, "", store.StateInstalling} {
		ev := store.Event{MAC: mac, Time: t0.Add(time.Duration(i) * time.Second), Kind: events.TFTP, Detail: fmt.Sprint("step ", i),
			Fields: events.Fields{File: "lpxelinux.0", Bytes: int64(i)}}
		if _, err := src.Record(ctx, ev, step); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.PutLease(ctx, store.Lease{MAC: stranger, IP: netip.MustParseAddr("10.0.0.50"), Expires: t0, Hostname: "laptop"}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"anaconda.log", "ks.cfg"} {
		if err := src.AddInstallLog(ctx, store.InstallLog{MAC: mac, Install: "abc", Name: name, Created: t0.Add(time.Duration(i) * time.Second),
			Body: []byte("log of " + name + "\x00\xff")}, 3); err != nil {
			t.Fatal(err)
		}
	}
	tokens, _ := src.APITokens(ctx)
	if err := src.UsedAPIToken(ctx, tokens[0].ID, t0); err != nil {
		t.Fatal(err)
	}

	var events int
	for _, m := range []net.HardwareAddr{mac, stranger} {
		evs, err := src.Events(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		events += len(evs)
	}
	os.MkdirAll(filepath.Join(c.data, "snippets"), 0o755)
	os.WriteFile(filepath.Join(c.data, "snippets", "disk.ks"), []byte("part / --size 1\n"), 0o644)
	out, errs, code := c.run("store", "migrate", "--to", url)
	if code != 0 || !strings.Contains(errs, "copy "+filepath.Join(c.data, "snippets")) {
		t.Fatalf("store migrate: exit %d, stderr %q; want a word about the snippets", code, errs)
	}
	if !strings.Contains(out, fmt.Sprintf("copied 1 distros, 1 profiles, 2 machines with %d events and 2 install logs, 1 API tokens and 1 leases", events)) {
		t.Fatalf("store migrate said %q", out)
	}
	dst, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	same := func(what string, read func(store.Store) (any, error)) {
		t.Helper()
		a, errA := read(src)
		b, errB := read(dst)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: SQLite %+v (%v), PostgreSQL %+v (%v)", what, a, errA, b, errB)
		}
	}
	same("distros", func(s store.Store) (any, error) { return s.Distros(ctx) })
	same("profiles", func(s store.Store) (any, error) { return s.Profiles(ctx) })
	same("machines", func(s store.Store) (any, error) { return s.Machines(ctx) })
	same("api tokens", func(s store.Store) (any, error) { return s.APITokens(ctx) })
	same("leases", func(s store.Store) (any, error) { return s.Leases(ctx) })
	for _, m := range []net.HardwareAddr{mac, stranger} {
		same("timeline of "+m.String(), func(s store.Store) (any, error) {
			evs, err := s.Events(ctx, m)
			for i := range evs {
				evs[i].ID = 0 // new IDs, in the same order
			}
			return evs, err
		})
	}
	same("install logs", func(s store.Store) (any, error) {
		logs, err := s.InstallLogs(ctx, mac)
		for i := range logs {
			logs[i].ID = 0 // new IDs, in the same order
		}
		return logs, err
	})
	if evs, _ := dst.Events(ctx, mac); len(evs) < 3 || evs[2].Detail != "step 2" || evs[2].Fields.Bytes != 2 {
		t.Fatalf("copied timeline %+v", evs)
	}

	c.fails("already holds an inventory", "store", "migrate", "--to", url)
	c.fails("no kickstand store", "store", "migrate", "--from", "sqlite:"+t.TempDir(), "--to", url)
	c.fails("--to", "store", "migrate", "--to", "sqlite:/x")
}
