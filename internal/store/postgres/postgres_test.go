package postgres

import (
	"context"
	"testing"

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

func TestConformance(t *testing.T) {
	srv := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, srv) })
}
