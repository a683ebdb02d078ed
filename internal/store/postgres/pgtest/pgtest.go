// Package pgtest starts a throw-away PostgreSQL server for tests: Debian's
// postgresql binaries, a cluster made by initdb in a temporary directory,
// listening only on a Unix socket there, and removed when the test ends.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL cluster of one test.
type Server struct {
	dir      string // the cluster's data directory, socket and log
	socket   string // the directory of the server's Unix socket
	stopFunc func()
}

// startTimeout bounds initdb and the server's start on a loaded machine.
const startTimeout = 60 * time.Second

// Start starts a server for tb and stops it, removing its files, when tb
// ends. Without PostgreSQL installed it skips tb, or fails it under CI
// (CI=true), where the tests must run: scripts/deps.sh installs it.
func Start(tb testing.TB, settings ...string) *Server {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("pgtest: %v (CI=true: scripts/deps.sh installs it)", err)
		}
		tb.Skipf("pgtest: %v: apt-get install postgresql (scripts/deps.sh) to run this test", err)
	}
	s, err := start(bin, settings)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.stop)
	return s
}

// binDir is the newest of Debian's /usr/lib/postgresql/<version>/bin.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server found in /usr/lib/postgresql/*/bin")
}

// version is the major version of a /usr/lib/postgresql/<version>/bin.
func version(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

func start(bin string, settings []string) (*Server, error) {
	// Not the test's TempDir: its parents are private to root, and as root
	// the server runs as nobody (initdb and postgres refuse to run as root).
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, socket: dir}
	cred, err := unprivileged()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "--no-sync", "--auth=trust", "--username=postgres",
		"--encoding=UTF8", "--locale=C", "-D", data)
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir // the test's may be closed to nobody
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	args := []string{"-D", data, "-k", s.socket, "-c", "listen_addresses=", "-c", "fsync=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200"}
	for _, set := range settings {
		args = append(args, "-c", set)
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	postgres := exec.Command(filepath.Join(bin, "postgres"), args...)
	postgres.Stdout, postgres.Stderr, postgres.Dir = log, log, dir
	// Pdeathsig: a test binary killed (a timeout's panic, ^C) takes its
	// server with it rather than leaving it running.
	postgres.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := postgres.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { postgres.Wait(); close(exited) }()
	stopServer := func() {
		// SIGINT is the fast shutdown: clients are disconnected.
		postgres.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			postgres.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	if err := s.waitReady(ctx, exited); err != nil {
		stopServer()
		text, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("pgtest: %w; server log:\n%s", err, text)
	}
	s.stopFunc = stopServer
	return s, nil
}

// unprivileged is the user the server runs as when the test runs as root:
// nobody; nil when the test is not root (the server runs as the test).
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and no user nobody to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// waitReady waits until the server accepts connections or exits.
func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	for {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-exited:
			return errors.New("postgres exited at start")
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready after %v: %w", startTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) stop() { s.stopFunc() }

// URL is the connection URL of the server's database db, as the superuser.
func (s *Server) URL(db string) string {
	q := url.Values{"host": {s.socket}, "user": {"postgres"}}
	return (&url.URL{Scheme: "postgres", Path: "/" + db, RawQuery: q.Encode()}).String()
}

// NewDatabase creates an empty database with a name of its own and returns
// its URL: a fresh store for each test on one server.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	return s.URL(name)
}

// Log returns what the server logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(bytes.TrimSpace(b))
}
