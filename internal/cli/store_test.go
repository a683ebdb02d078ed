package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"kickstand/internal/config"
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
