package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The server answers on its socket, each NewDatabase is its own, and
// nothing is left behind.
func TestStartServesAndCleansUp(t *testing.T) {
	var dir string
	t.Run("server", func(t *testing.T) {
		s := Start(t)
		dir = s.dir
		ctx := context.Background()
		a, b := s.NewDatabase(t), s.NewDatabase(t)
		if a == b {
			t.Fatalf("NewDatabase returned %s twice", a)
		}
		conn, err := pgx.Connect(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var name string
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil || !strings.HasPrefix(a, "postgres:///"+name+"?") {
			t.Fatalf("current_database() = %q, %v; want the one of %s", name, err, a)
		}
		var listen string
		if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil || listen != "" {
			t.Fatalf("listen_addresses = %q, %v; want none (a Unix socket only)", listen, err)
		}
	})
	if dir == "" {
		return // skipped
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("server directory %s left behind: %v", dir, err)
	}
}
