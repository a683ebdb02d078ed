// Package sqlite is the embedded Store backend: one SQLite database in WAL
// mode inside the data directory, shared safely by the server and the CLI.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"kickstand/internal/store"
)

// FileName is the database's name inside the data directory.
const FileName = "kickstand.db"

// MaxOpenConns bounds the connections (each an SQLite handle with its file
// descriptors) one process keeps to the database.
const MaxOpenConns = 8

// DB is a store.Store on SQLite.
type DB struct {
	db  *sql.DB
	dir string

	journal *leaseJournal // when this process owns the lease journal

	mu    sync.Mutex // guards stmts
	stmts map[string]*sql.Stmt

	events eventWriter // Record's group commit
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database in dir and migrates it to the
// current schema.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, dataDirError(dir, "create data directory", err)
	}
	path := filepath.Join(dir, FileName)
	if err := checkWritable(dir, path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// A bounded pool: a flood of requests queues for a connection rather
	// than opening a file descriptor (and SQLite handle) each.
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxOpenConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	d := &DB{db: db, dir: dir, stmts: make(map[string]*sql.Stmt)}
	d.events.init(d.writeEvents)
	if err := d.recoverJournal(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the database, after moving journaled leases into it.
func (d *DB) Close() error {
	var jerr error
	if d.journal != nil {
		jerr = d.journal.close()
	}
	d.mu.Lock()
	for q, st := range d.stmts {
		st.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return errors.Join(jerr, d.db.Close())
}

// stmt returns query prepared, the first time it is asked for; SQLite
// parsing a statement costs more than running a lookup by key, and the
// DHCP server runs some for every packet.
func (d *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.stmts[query]; st != nil {
		return st, nil
	}
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.stmts[query] = st
	return st, nil
}

// txStmt is stmt for use inside tx.
func (d *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// queryRow is QueryRowContext with the statement prepared once (stmt).
func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return d.db.QueryRowContext(ctx, query, args...) // reports the error
	}
	return st.QueryRowContext(ctx, args...)
}

// migrations are applied in order; entry i brings the schema to version i+1.
// Never edit an entry that has shipped: append a new one.
var migrations = []string{
	`CREATE TABLE distros (
		name TEXT PRIMARY KEY,
		family TEXT NOT NULL, version TEXT NOT NULL, arch TEXT NOT NULL,
		source TEXT NOT NULL, kernel TEXT NOT NULL, initrd TEXT NOT NULL, stage2 TEXT NOT NULL,
		created INTEGER NOT NULL);
	CREATE TABLE profiles (
		name TEXT PRIMARY KEY,
		distro TEXT NOT NULL REFERENCES distros(name),
		kickstart TEXT NOT NULL, kernel_args TEXT NOT NULL,
		created INTEGER NOT NULL);
	CREATE TABLE machines (
		mac TEXT PRIMARY KEY,
		profile TEXT REFERENCES profiles(name),
		hostname TEXT NOT NULL, ip TEXT NOT NULL, vars TEXT NOT NULL,
		state TEXT NOT NULL, token TEXT NOT NULL UNIQUE,
		created INTEGER NOT NULL, updated INTEGER NOT NULL);
	CREATE TABLE leases (
		mac TEXT PRIMARY KEY, ip TEXT NOT NULL UNIQUE,
		expires INTEGER NOT NULL, hostname TEXT NOT NULL);
	CREATE TABLE events (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		mac TEXT NOT NULL, time INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
	CREATE INDEX events_mac_time ON events(mac, time);`,
	// 2: distros read straight from ISO files; profiles choose the repo protocol.
	`ALTER TABLE distros ADD COLUMN kind TEXT NOT NULL DEFAULT 'dir';
	ALTER TABLE distros ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE distros ADD COLUMN mtime INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE distros ADD COLUMN checksum TEXT NOT NULL DEFAULT '';
	ALTER TABLE distros ADD COLUMN variants TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE profiles ADD COLUMN repo_protocol TEXT NOT NULL DEFAULT 'http';`,
	// 3: profile variables, machines' UUID and static network settings.
	`ALTER TABLE profiles ADD COLUMN vars TEXT NOT NULL DEFAULT '{}';
	ALTER TABLE profiles ADD COLUMN plaintext_rootpw INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE machines ADD COLUMN uuid TEXT NOT NULL DEFAULT '';
	ALTER TABLE machines ADD COLUMN network TEXT NOT NULL DEFAULT '{}';
	CREATE INDEX events_time ON events(time);`,
	// 4: reservations found by address; discovered machines pruned by when
	// they were last seen; events only of machines.
	`ALTER TABLE machines ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;
	UPDATE machines SET seen = updated;
	CREATE INDEX machines_ip ON machines(ip) WHERE ip <> '';
	CREATE INDEX machines_discovered ON machines(seen) WHERE profile IS NULL;
	DELETE FROM events WHERE mac NOT IN (SELECT mac FROM machines);`,
	// 5: a profile's password policy replaces its plaintext-rootpw switch.
	`ALTER TABLE profiles ADD COLUMN password_policy TEXT NOT NULL DEFAULT '';
	UPDATE profiles SET password_policy = 'warn' WHERE plaintext_rootpw = 1;`,
	// 6: REST API tokens.
	`CREATE TABLE api_tokens (
		id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,
		read_only INTEGER NOT NULL, created INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0);`,
	// 7: an event's typed facts, as JSON ('' for none: events recorded
	// before have their detail text only).
	`ALTER TABLE events ADD COLUMN fields TEXT NOT NULL DEFAULT '';`,
	// 8: the logs installers send home, per install (the token they were
	// sent on), one row per file.
	`CREATE TABLE install_logs (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		mac TEXT NOT NULL, install TEXT NOT NULL, name TEXT NOT NULL,
		created INTEGER NOT NULL, body BLOB NOT NULL,
		UNIQUE (mac, install, name));
	CREATE INDEX install_logs_created ON install_logs(created);`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var version int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this kickstand knows (%d): upgrade kickstand", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit()
}

// checkWritable makes sure the data directory and the database file can be
// written, so that a read-only or full disk fails the start with advice
// rather than SQLite's "unable to open database file (14)".
func checkWritable(dir, path string) error {
	probe, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return dataDirError(dir, "write to data directory", err)
	}
	name := probe.Name()
	defer os.Remove(name)
	// A full file system still creates files; it fails on their blocks.
	_, err = probe.Write(make([]byte, 4096))
	if err == nil {
		err = probe.Sync()
	}
	if cerr := probe.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return dataDirError(dir, "write to data directory", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return dataDirError(dir, "open "+path+" for writing", err)
	}
	return f.Close()
}

// dataDirError says what to do about a data directory kickstand cannot use.
func dataDirError(dir, what string, err error) error {
	var advice string
	switch {
	case errors.Is(err, syscall.EROFS):
		advice = dir + " is on a read-only file system: remount it read-write or choose another with --data-dir"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		advice = "no space left for " + dir + ": free some space (df -h " + dir + ") or choose another with --data-dir"
	case errors.Is(err, fs.ErrPermission):
		advice = fmt.Sprintf("%s is not writable by this user (uid %d): run as root, give the user the directory (chown), or choose another with --data-dir",
			dir, os.Getuid())
	default:
		advice = "choose another with --data-dir"
	}
	return fmt.Errorf("store: %s: %w; %s", what, err, advice)
}

// isUnique reports whether err is a uniqueness or primary key violation.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// notFound maps sql.ErrNoRows to store.ErrNotFound with what was looked for.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// affected returns store.ErrNotFound when a statement touched no row.
func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}
