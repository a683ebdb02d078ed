package backend

import (
	"context"
	"strings"
	"testing"

	"kickstand/internal/store/postgres"
	"kickstand/internal/store/postgres/pgtest"
	"kickstand/internal/store/sqlite"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Spec
		text string // String(); "" for an error
	}{
		{"", Spec{Kind: SQLite}, "sqlite"},
		{"sqlite", Spec{Kind: SQLite}, "sqlite"},
		{"sqlite:/srv/ks", Spec{Kind: SQLite, Dir: "/srv/ks"}, "sqlite:/srv/ks"},
		{"postgres://ks:secret@db/ks", Spec{Kind: Postgres, URL: "postgres://ks:secret@db/ks"}, "postgres://ks:xxxxx@db/ks"},
		{"postgresql:///ks?host=/run/postgresql", Spec{Kind: Postgres, URL: "postgresql:///ks?host=/run/postgresql"}, "postgresql:///ks?host=/run/postgresql"},
		{"sqlite:", Spec{}, ""},
		{"mysql://db/ks", Spec{}, ""},
		{"/var/lib/kickstand", Spec{}, ""},
	} {
		got, err := Parse(tt.in)
		if tt.text == "" {
			if err == nil || !strings.Contains(err.Error(), "--store") {
				t.Errorf("Parse(%q) = %+v, %v; want an error naming --store", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.text {
			t.Errorf("Parse(%q) = %+v (%s), %v; want %+v (%s)", tt.in, got, got, err, tt.want, tt.text)
		}
	}
}

// Open opens the backend the spec names.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, ok := s.(*sqlite.DB); !ok {
		t.Fatalf("Open(\"\") = %T, want the SQLite store", s)
	}
	srv := pgtest.Start(t)
	s, err = Open(ctx, srv.NewDatabase(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*postgres.DB); !ok {
		t.Fatalf("Open(postgres://...) = %T, want the PostgreSQL store", s)
	}
}
