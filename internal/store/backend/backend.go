// Package backend opens the store a --store setting names: the embedded
// SQLite database in the data directory (the default), or a PostgreSQL
// database that several kickstand servers share.
package backend

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"kickstand/internal/store"
	"kickstand/internal/store/postgres"
	"kickstand/internal/store/sqlite"
)

// Kind is which backend a Spec names.
type Kind string

// The backends.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// Spec is a parsed --store setting.
type Spec struct {
	Kind Kind
	Dir  string // SQLite: the data directory ("" is the server's --data-dir)
	URL  string // PostgreSQL: the connection URL
}

// Parse reads a --store setting: "" or "sqlite" (the SQLite database in the
// data directory), "sqlite:DIR" (the one in DIR), or a postgres:// or
// postgresql:// URL.
func Parse(s string) (Spec, error) {
	switch {
	case s == "" || s == "sqlite":
		return Spec{Kind: SQLite}, nil
	case strings.HasPrefix(s, "sqlite:"):
		dir := strings.TrimPrefix(s, "sqlite:")
		if dir == "" {
			return Spec{}, fmt.Errorf("--store %q: name the data directory, as in sqlite:/var/lib/kickstand", s)
		}
		return Spec{Kind: SQLite, Dir: dir}, nil
	case postgres.IsURL(s):
		if _, err := url.Parse(s); err != nil {
			return Spec{}, fmt.Errorf("--store: %w: want postgres://USER:PASSWORD@HOST/DATABASE", err)
		}
		return Spec{Kind: Postgres, URL: s}, nil
	}
	return Spec{}, fmt.Errorf("--store %q: want sqlite (the data directory's database), sqlite:DIR or postgres://USER:PASSWORD@HOST/DATABASE", s)
}

// String is the spec as logs show it: without a password.
func (s Spec) String() string {
	if s.Kind == Postgres {
		if u, err := url.Parse(s.URL); err == nil {
			return u.Redacted()
		}
		return "postgres://…"
	}
	if s.Dir == "" {
		return "sqlite"
	}
	return "sqlite:" + s.Dir
}

// Open opens the store spec names; dataDir is the SQLite store's directory
// when spec names none.
func Open(ctx context.Context, spec, dataDir string) (store.Store, error) {
	s, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	return s.Open(ctx, dataDir)
}

// Open opens the store s names; dataDir is the SQLite store's directory
// when s names none.
func (s Spec) Open(ctx context.Context, dataDir string) (store.Store, error) {
	if s.Kind == Postgres {
		return postgres.Open(ctx, s.URL)
	}
	if s.Dir != "" {
		dataDir = s.Dir
	}
	return sqlite.Open(ctx, dataDir)
}
