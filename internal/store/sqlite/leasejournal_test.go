package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"kickstand/internal/store"
	"kickstand/internal/store/storetest"
)

// openJournaled opens dir as the server does: the lease journal on.
func openJournaled(t testing.TB, dir string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.EnableLeaseJournal(context.Background(), func(err error) { t.Errorf("background flush: %v", err) }); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

func TestConformanceWithLeaseJournal(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db := openJournaled(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// leaseSet reads dir's leases as another process would: its own handle.
func leaseSet(t *testing.T, db *DB) map[string]string {
	t.Helper()
	ls, err := db.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range ls {
		out[l.MAC.String()] = fmt.Sprintf("%s %d %q", l.IP, l.Expires.UnixNano(), l.Hostname)
	}
	return out
}

// TestJournalAgreesWithTransactions saves the same random batches (leases
// taking each other's addresses, MACs leaving, hostnames with spaces and
// quotes) through the journal, with background and forced flushes in
// between, and straight to the table: the leases come out the same,
// while running and after a reopen.
func TestJournalAgreesWithTransactions(t *testing.T) {
	ctx := context.Background()
	plainDir, journalDir := t.TempDir(), t.TempDir()
	plain, err := Open(ctx, plainDir)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	journaled := openJournaled(t, journalDir)
	rng := rand.New(rand.NewPCG(1, 2))
	mac := func() net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, byte(rng.IntN(40))} }
	exp := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	hosts := []string{"", "web1", "a b", `q"uote`, "new\nline"}
	for round := range 300 {
		var put []store.Lease
		var remove []net.HardwareAddr
		for range rng.IntN(3) {
			remove = append(remove, mac())
		}
		for range rng.IntN(20) {
			put = append(put, store.Lease{MAC: mac(), IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(30))}),
				Expires: exp.Add(time.Duration(round) * time.Second), Hostname: hosts[rng.IntN(len(hosts))]})
		}
		if err := plain.SaveLeases(ctx, put, remove); err != nil {
			t.Fatal(err)
		}
		if err := journaled.SaveLeases(ctx, put, remove); err != nil {
			t.Fatal(err)
		}
		// The caller's slices are its own again once SaveLeases returns.
		for i := range put {
			put[i].MAC[5] = 0xff
		}
		switch rng.IntN(50) {
		case 0:
			if err := journaled.flushLeases(ctx); err != nil {
				t.Fatal(err)
			}
		case 1:
			time.Sleep(flushDelay + 20*time.Millisecond) // the background flush
		}
	}
	want := leaseSet(t, plain)
	if len(want) < 10 {
		t.Fatalf("only %d leases: the test does not exercise much", len(want))
	}
	if got := leaseSet(t, journaled); !mapsEqual(got, want) {
		t.Fatalf("through the journal:\n%v\nstraight:\n%v", got, want)
	}
	if err := journaled.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(journalDir, journalName)); !os.IsNotExist(err) {
		t.Errorf("journal left after a clean close: %v", err)
	}
	reopened, err := Open(ctx, journalDir)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if got := leaseSet(t, reopened); !mapsEqual(got, want) {
		t.Fatalf("after reopening:\n%v\nwant:\n%v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestJournalSurvivesKill9 runs a process that journals leases and says
// which, kills it with SIGKILL before its background flush, and opens the
// directory: every lease it was told is stored is there.
func TestJournalSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("KICKSTAND_JOURNAL_CHILD"); dir != "" {
		journalChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalSurvivesKill9$")
	cmd.Env = append(os.Environ(), "KICKSTAND_JOURNAL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Long enough for a few background flushes, each followed by a
	// compaction of the journal while leases keep coming.
	saved, until := 0, time.Now().Add(4*flushDelay)
	sc := bufio.NewScanner(out)
	for sc.Scan() && (saved < 500 || time.Now().Before(until)) {
		if strings.HasPrefix(sc.Text(), "saved ") {
			saved++
		}
	}
	// While it keeps saving: some leases are only in the journal.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if saved < 500 {
		t.Fatalf("the child saved only %d leases", saved)
	}
	fi, err := os.Stat(filepath.Join(dir, journalName))
	if err != nil || fi.Size() == 0 {
		t.Fatalf("no journal after kill -9 (%v): the test did not catch leases in it", err)
	}
	db, err := Open(context.Background(), dir) // a CLI, say
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := leaseSet(t, db)
	for i := range saved {
		if _, ok := got[childMAC(i).String()]; !ok {
			t.Fatalf("lease %d (%s) acknowledged as saved, lost to kill -9 (%d stored)", i, childMAC(i), len(got))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, journalName)); !os.IsNotExist(err) {
		t.Errorf("the recovered journal is still there: %v", err)
	}
}

func childMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

// journalChild saves leases one at a time, printing each once stored,
// until it is killed.
func journalChild(dir string) {
	ctx := context.Background()
	db, err := Open(ctx, dir)
	if err == nil {
		err = db.EnableLeaseJournal(ctx, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		l := store.Lease{MAC: childMAC(i), IP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Expires: time.Now().Add(time.Hour)}
		if err := db.SaveLeases(ctx, []store.Lease{l}, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("saved %d\n", i)
	}
}

// TestJournalDamage: a last line cut short (the writer died in it, so it
// was never acknowledged) is dropped; a damaged line before good ones
// stops Open, rather than losing the leases after it, and says what to do.
func TestJournalDamage(t *testing.T) {
	good := string(appendPut(nil, &store.Lease{MAC: mac(1), IP: netip.MustParseAddr("10.0.0.1"), Hostname: "a"}))
	for _, tc := range []struct {
		name, journal string
		want          []string // MACs stored
		err           string
	}{
		{"torn last line", good + "P 02:00:00:00:00:02 10.0.0.2 17", []string{mac(1).String()}, ""},
		{"remove", good + "R " + mac(1).String() + "\n", nil, ""},
		{"damaged line", "P 02:00:00:00:00:02 10.0.0.x 0 \"\"\n" + good, nil, "line 1 is damaged"},
		{"unknown kind", "X 02:00:00:00:00:02\n" + good, nil, "move it aside"},
		{"bad hostname", "P 02:00:00:00:00:02 10.0.0.2 0 \"a\n", nil, "line 1 is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, journalName), []byte(tc.journal), 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(context.Background(), dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Open = %v, want an error with %q", err, tc.err)
				}
				if _, serr := os.Stat(filepath.Join(dir, journalName)); serr != nil {
					t.Fatalf("the damaged journal is gone: %v", serr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var got []string
			for mac := range leaseSet(t, db) {
				got = append(got, mac)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("leases %v, want %v", got, tc.want)
			}
		})
	}
}

func mac(i byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, i} }

// TestJournalOwnedByOne: while a server owns the journal, a second one on
// the same directory is refused, and a CLI's Open leaves the journal alone
// yet sees the leases once flushed.
func TestJournalOwnedByOne(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openJournaled(t, dir)
	defer server.Close()
	l := store.Lease{MAC: mac(7), IP: netip.MustParseAddr("10.0.0.7"), Expires: time.Now().Add(time.Hour)}
	if err := server.SaveLeases(ctx, []store.Lease{l}, nil); err != nil {
		t.Fatal(err)
	}
	cli, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if fi, err := os.Stat(filepath.Join(dir, journalName)); err != nil || fi.Size() == 0 {
		t.Fatalf("the CLI's Open took the running server's journal: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(leaseSet(t, cli)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the CLI never saw the server's lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	lock, err := lockJournal(ctx, dir, 100*time.Millisecond)
	if err == nil {
		lock.Close()
		t.Fatal("a second server took the journal's lock")
	}
	if !strings.Contains(err.Error(), "another kickstand serve") {
		t.Fatalf("error = %v", err)
	}
}
