// Package postgres is the Store backend that several kickstand servers
// share: one PostgreSQL database, with the rules the embedded SQLite store
// keeps (a state that never moves back, one address per lease) enforced by
// constraints and short transactions, and every change announced to the
// other servers with NOTIFY.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kickstand/internal/store"
)

// MaxConns bounds the connections one process keeps to the database, unless
// the URL's pool_max_conns says otherwise: enough for the server's event
// workers and DHCP lease writes at once, few enough that several servers
// stay well under PostgreSQL's max_connections (100 by default).
const MaxConns = 16

// DB is a store.Store on PostgreSQL.
type DB struct {
	pool *pgxpool.Pool
	// origin names this handle in its notifications, so that it does not
	// hear its own changes as another's.
	origin string

	// Record's group commit (events.go): the events queued, and the
	// writer's lifetime.
	eventQueue chan *pendingEvent
	writeBatch func(context.Context, []*pendingEvent) error // writeEvents; tests count its calls
	writerCtx  context.Context
	stop       context.CancelFunc // ends writerCtx: Close
	writerDone chan struct{}      // closed when the writer has returned
}

var (
	_ store.Store   = (*DB)(nil)
	_ store.Watcher = (*DB)(nil)
)

// IsURL reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a data directory.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://user:password@host/db,
// or with ?host=/run/postgresql for a Unix socket) and migrates it to the
// current schema.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: %w: want a URL like postgres://kickstand:PASSWORD@dbhost/kickstand", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	where := fmt.Sprintf("PostgreSQL database %q on %s", cfg.ConnConfig.Database, cfg.ConnConfig.Host)
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s: %w; check that the server runs and the --store URL (user, password, database)", where, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", where, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	d := &DB{pool: pool, origin: hex.EncodeToString(b),
		eventQueue: make(chan *pendingEvent, maxEventBatch), writerDone: make(chan struct{})}
	d.writeBatch = d.writeEvents
	d.writerCtx, d.stop = context.WithCancel(context.Background())
	go d.writeEventsLoop()
	return d, nil
}

// Close stops recording and closes the connections.
func (d *DB) Close() error {
	d.stop()
	<-d.writerDone
	d.pool.Close()
	return nil
}

// migrations are applied in order; entry i brings the schema to version
// i+1. Never edit an entry that has shipped: append a new one. Columns are
// those of the SQLite store, times in nanoseconds since 1970 as there, so
// that a store moves from one to the other unchanged.
var migrations = []string{
	`CREATE TABLE distros (
		name TEXT PRIMARY KEY,
		family TEXT NOT NULL, version TEXT NOT NULL, arch TEXT NOT NULL,
		kind TEXT NOT NULL, source TEXT NOT NULL, size BIGINT NOT NULL, mtime BIGINT NOT NULL,
		checksum TEXT NOT NULL, kernel TEXT NOT NULL, initrd TEXT NOT NULL, stage2 TEXT NOT NULL,
		variants TEXT NOT NULL, created BIGINT NOT NULL);
	CREATE TABLE profiles (
		name TEXT PRIMARY KEY,
		distro TEXT NOT NULL REFERENCES distros(name),
		kickstart TEXT NOT NULL, kernel_args TEXT NOT NULL, repo_protocol TEXT NOT NULL,
		vars TEXT NOT NULL, password_policy TEXT NOT NULL, created BIGINT NOT NULL);
	CREATE TABLE machines (
		mac TEXT PRIMARY KEY,
		profile TEXT REFERENCES profiles(name),
		hostname TEXT NOT NULL, ip TEXT NOT NULL, uuid TEXT NOT NULL, network TEXT NOT NULL, vars TEXT NOT NULL,
		state TEXT NOT NULL CHECK (state IN ('new', 'booting', 'installing', 'installed', 'failed')),
		token TEXT NOT NULL UNIQUE,
		created BIGINT NOT NULL, updated BIGINT NOT NULL, seen BIGINT NOT NULL DEFAULT 0);
	-- An address is reserved for one machine, whichever server writes it.
	CREATE UNIQUE INDEX machines_ip ON machines(ip) WHERE ip <> '';
	CREATE INDEX machines_discovered ON machines(seen) WHERE profile IS NULL;
	-- One lease per MAC and one MAC per address, whichever server writes.
	CREATE TABLE leases (
		mac TEXT PRIMARY KEY, ip TEXT NOT NULL UNIQUE,
		expires BIGINT NOT NULL, hostname TEXT NOT NULL);
	CREATE TABLE events (
		id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
		mac TEXT NOT NULL, time BIGINT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, fields TEXT NOT NULL);
	CREATE INDEX events_mac_time ON events(mac, time);
	CREATE INDEX events_time ON events(time);
	CREATE TABLE api_tokens (
		id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,
		read_only BOOLEAN NOT NULL, created BIGINT NOT NULL, last_used BIGINT NOT NULL DEFAULT 0);`,
	// 2: the logs installers send home, per install, one row per file (as
	// the SQLite store's migration 8).
	`CREATE TABLE install_logs (
		id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
		mac TEXT NOT NULL, install TEXT NOT NULL, name TEXT NOT NULL,
		created BIGINT NOT NULL, body BYTEA NOT NULL,
		UNIQUE (mac, install, name));
	CREATE INDEX install_logs_created ON install_logs(created);`,
}

// migrationLock is the advisory lock that servers starting at once take
// turns on, so that one migrates and the others find it done.
const migrationLock = 0x6b69636b // "kick"

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this kickstand knows (%d): upgrade kickstand", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, $2)`, i+1, unix(now())); err != nil {
				return err
			}
		}
		return nil
	})
}

// The SQLSTATE codes the store tells apart.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func isUnique(err error) bool { return sqlState(err) == uniqueViolation }

// violated returns the constraint (or unique index) err violates, or "".
func violated(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}
func isForeignKey(err error) bool { return sqlState(err) == foreignKeyViolation }

// maxAttempts bounds how often a transaction that lost a race is tried.
const maxAttempts = 5

// inTx runs fn in a transaction, again when it lost a race with another
// (see retry); fn must start afresh each time.
func (d *DB) inTx(ctx context.Context, retryUnique bool, fn func(pgx.Tx) error) error {
	return retry(ctx, retryUnique, func() error { return pgx.BeginFunc(ctx, d.pool, fn) })
}

// batchTx runs the statements queue puts in a batch as one transaction,
// in one round trip to the server: BEGIN and COMMIT go in the batch (inTx
// takes one for each, and one for the statements). It runs again as inTx
// does.
func (d *DB) batchTx(ctx context.Context, retryUnique bool, queue func(*pgx.Batch)) error {
	return retry(ctx, retryUnique, func() error {
		conn, err := d.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		queue(b)
		b.Queue("COMMIT")
		err = conn.SendBatch(ctx, b).Close()
		if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
			// A statement failed: the server skipped the rest, COMMIT
			// too, and the transaction waits for its ROLLBACK. (Should
			// that fail, the pool closes a connection left in a
			// transaction rather than lend it again.)
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		return err
	})
}

// retry runs attempt, again when it lost a race with another transaction
// (a deadlock, or with retryUnique a row another inserted meanwhile: two
// servers leasing one address at once), up to maxAttempts times.
func retry(ctx context.Context, retryUnique bool, attempt func() error) error {
	for n := 1; ; n++ {
		err := attempt()
		code := sqlState(err)
		again := code == deadlockDetected || code == serializationFailure || retryUnique && code == uniqueViolation
		if !again || n == maxAttempts || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(n) * time.Millisecond)
	}
}

// notFound maps pgx.ErrNoRows to store.ErrNotFound with what was looked for.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// affected returns store.ErrNotFound when a statement touched no row.
func affected(tag pgconn.CommandTag, err error, what string) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

func unix(t time.Time) int64 { return t.UnixNano() }

func now() time.Time { return time.Now().UTC() }

// text is s as a PostgreSQL text column takes it: valid UTF-8 without NUL
// bytes. Event details and lease hostnames carry what clients send, which
// SQLite keeps byte for byte and PostgreSQL refuses.
func text(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
