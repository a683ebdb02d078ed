package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"kickstand/internal/store"
	"kickstand/internal/store/columns"
)

// The lease journal: how the serving process stores leases at the rate a
// DHCP storm hands them out.
//
// A lease is durable once its line is written (write(2), in the page
// cache) to the journal file in the data directory: that survives kill -9
// of the server, which is what an ACK promises (the database itself runs
// with synchronous=NORMAL, which is no stronger). The leases then reach
// the leases table in the background, a transaction every flushDelay
// holding thousands of them. A transaction per group-commit batch of a
// dozen leases (BEGIN IMMEDIATE, the table's and both indexes' pages into
// the WAL, COMMIT) was a third of the server's CPU at 12,000 DORAs a
// second; a journal line costs a few hundred nanoseconds. This is what
// Kea's memfile does, with the database as its compacted file.
//
// Only one process owns the journal, the server that enabled it, and it
// holds an flock on journalLock while it does. Any Open that can take the
// lock finds a journal left by a server that died, and moves its leases
// into the database before anything reads it; a CLI started while the
// server runs leaves the journal alone and sees leases up to flushDelay
// late. Replaying lines the database already has changes nothing: each
// line sets or deletes one lease, absolutely.
const (
	journalName = "leases.journal"
	journalLock = "leases.journal.lock"
	// flushDelay is how long journaled leases wait for the database: a
	// transaction per flushDelay, however many leases came meanwhile.
	flushDelay = 100 * time.Millisecond
	// flushAt is how many pending leases start a flush at once.
	flushAt = 8192
)

// leaseOp is one journal line: a lease to store, or a MAC whose lease to
// delete.
type leaseOp struct {
	remove bool
	lease  store.Lease // only MAC when remove
}

type leaseJournal struct {
	dir     string
	lock    *os.File // flocked while this process owns the journal
	apply   func(context.Context, []leaseOp) error
	onError func(error)

	flushMu sync.Mutex // one flush at a time

	mu       sync.Mutex
	f        *os.File // the journal, opened O_APPEND
	size     int64    // of f, to cut a failed write off again
	pending  []leaseOp
	flushing bool   // a flush has taken pending and not finished
	since    []byte // lines written since the running flush began
	line     []byte // encoding buffer
	closed   bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// EnableLeaseJournal makes this handle the owner of the data directory's
// lease journal: from now on SaveLeases returns once the leases are in the
// journal, and they reach the database in the background (see journalName).
// Only the serving process should call it; it fails when another process
// owns the journal for longer than a few seconds. onError is told of
// background writes to the database that failed (they are retried).
func (d *DB) EnableLeaseJournal(ctx context.Context, onError func(error)) error {
	if d.journal != nil {
		return nil
	}
	lock, err := lockJournal(ctx, d.dir, 5*time.Second)
	if err != nil {
		return err
	}
	if err := d.replayJournal(ctx); err != nil {
		lock.Close()
		return err
	}
	path := filepath.Join(d.dir, journalName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o640)
	if err != nil {
		lock.Close()
		return fmt.Errorf("store: lease journal: %w", err)
	}
	j := &leaseJournal{dir: d.dir, lock: lock, apply: d.applyLeaseOps, onError: onError, f: f,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if j.onError == nil {
		j.onError = func(error) {}
	}
	d.journal = j
	go j.run()
	return nil
}

// lockJournal takes the journal's flock, waiting up to wait for another
// process to give it up.
func lockJournal(ctx context.Context, dir string, wait time.Duration) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(dir, journalLock), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("store: lease journal lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return lock, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) || ctx.Err() != nil {
			lock.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("store: another kickstand serve is using %s (it holds %s); stop it first, or give this one another --data-dir",
					dir, journalLock)
			}
			return nil, fmt.Errorf("store: lock %s: %w", filepath.Join(dir, journalLock), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recoverJournal moves the leases of a journal that no process owns (its
// server died) into the database. A journal some server owns is its own.
func (d *DB) recoverJournal(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(d.dir, journalName)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock, err := lockJournal(ctx, d.dir, 0)
	if err != nil {
		return nil // owned by a running server
	}
	defer lock.Close()
	return d.replayJournal(ctx)
}

// replayJournal applies the journal's lines to the database and removes
// it; the caller holds the lock. A last line cut short (the server died
// writing it, so it was never acknowledged) is ignored; a damaged line
// anywhere else stops the start, since the leases after it would be lost.
func (d *DB) replayJournal(ctx context.Context) error {
	path := filepath.Join(d.dir, journalName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: read lease journal: %w", err)
	}
	ops, err := parseJournal(data)
	if err != nil {
		return fmt.Errorf("store: lease journal %s: %w; move it aside to start without the leases from that line on", path, err)
	}
	if err := d.applyLeaseOps(ctx, ops); err != nil {
		return fmt.Errorf("store: lease journal %s: store its %d leases: %w", path, len(ops), err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("store: lease journal: %w", err)
	}
	return nil
}

// save journals the batch: removes first, then puts, as SaveLeases.
func (j *leaseJournal) save(put []store.Lease, remove []net.HardwareAddr) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("store: closed")
	}
	j.line = j.line[:0]
	for _, mac := range remove {
		j.line = appendRemove(j.line, mac)
	}
	for i := range put {
		j.line = appendPut(j.line, &put[i])
	}
	if _, err := j.f.Write(j.line); err != nil {
		// A line cut in two would damage every line after it.
		_ = j.f.Truncate(j.size)
		return fmt.Errorf("store: write lease journal: %w", err)
	}
	j.size += int64(len(j.line))
	if j.flushing {
		j.since = append(j.since, j.line...)
	}
	// The caller's slices and MACs are reused once it returns.
	for _, mac := range remove {
		j.pending = append(j.pending, leaseOp{remove: true, lease: store.Lease{MAC: bytes.Clone(mac)}})
	}
	for _, l := range put {
		l.MAC = bytes.Clone(l.MAC)
		j.pending = append(j.pending, leaseOp{lease: l})
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return nil
}

// run flushes flushDelay after leases arrive, or at once when flushAt are
// pending, until close.
func (j *leaseJournal) run() {
	defer close(j.done)
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-j.stop:
			return
		case <-j.wake:
		}
		timer.Reset(flushDelay)
	wait:
		for {
			select {
			case <-j.stop:
				timer.Stop()
				return
			case <-timer.C:
				break wait
			case <-j.wake:
				j.mu.Lock()
				full := len(j.pending) >= flushAt
				j.mu.Unlock()
				if full {
					timer.Stop()
					break wait
				}
			}
		}
		if err := j.flush(context.Background()); err != nil {
			j.onError(err)
			select { // try again later
			case <-j.stop:
				return
			case <-time.After(time.Second):
			}
			select {
			case j.wake <- struct{}{}:
			default:
			}
		}
	}
}

// flush moves the pending leases into the database, and then drops their
// lines from the journal.
func (j *leaseJournal) flush(ctx context.Context) error {
	j.flushMu.Lock()
	defer j.flushMu.Unlock()
	j.mu.Lock()
	ops := j.pending
	j.pending = nil
	j.flushing, j.since = true, j.since[:0]
	j.mu.Unlock()
	if len(ops) == 0 {
		j.mu.Lock()
		j.flushing = false
		j.mu.Unlock()
		return nil
	}
	err := j.apply(ctx, ops)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.flushing = false
	if err != nil {
		// They stay pending, before those saved meanwhile; the file still
		// holds every line.
		j.pending = append(ops, j.pending...)
		return fmt.Errorf("store: move journaled leases into the database: %w", err)
	}
	if j.closed {
		return nil
	}
	return j.compact()
}

// compact leaves in the journal only the lines saved since the flush that
// just committed began. Until the new file is renamed over the old one, the
// old one holds every line, so a crash at any point loses nothing.
func (j *leaseJournal) compact() error {
	if len(j.since) == 0 {
		if err := j.f.Truncate(0); err != nil {
			return fmt.Errorf("store: truncate lease journal: %w", err)
		}
		j.size = 0
		return nil
	}
	path := filepath.Join(j.dir, journalName)
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("store: compact lease journal: %w", err)
	}
	if _, err := f.Write(j.since); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("store: compact lease journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("store: compact lease journal: %w", err)
	}
	j.f.Close()
	j.f, j.size = f, int64(len(j.since))
	return nil
}

// close stops the background flush, moves what is pending into the
// database and removes the journal. On a failure the journal stays, for
// the next Open.
func (j *leaseJournal) close() error {
	close(j.stop)
	<-j.done
	err := j.flush(context.Background())
	j.mu.Lock()
	j.closed = true
	j.f.Close()
	j.mu.Unlock()
	if err == nil && len(j.pending) == 0 {
		err = os.Remove(filepath.Join(j.dir, journalName))
	}
	j.lock.Close()
	return err
}

// The journal's lines:
//
//	P <mac> <ip> <expires, ns since 1970> <hostname, Go-quoted>
//	R <mac>
func appendPut(b []byte, l *store.Lease) []byte {
	b = append(b, 'P', ' ')
	b = appendMAC(b, l.MAC)
	b = append(b, ' ')
	b = l.IP.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendInt(b, unix(l.Expires), 10)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, l.Hostname)
	return append(b, '\n')
}

func appendRemove(b []byte, mac net.HardwareAddr) []byte {
	b = append(b, 'R', ' ')
	b = appendMAC(b, mac)
	return append(b, '\n')
}

func appendMAC(b []byte, mac net.HardwareAddr) []byte {
	const hex = "0123456789abcdef"
	for i, c := range mac {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return b
}

// parseJournal reads the journal's lines; a last line without its newline
// was never acknowledged and is left out.
func parseJournal(data []byte) ([]leaseOp, error) {
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		data = data[:i+1]
	}
	var ops []leaseOp
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		op, err := parseJournalLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d is damaged (%w)", n, err)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ops, nil
}

func parseJournalLine(s string) (leaseOp, error) {
	kind, rest, _ := strings.Cut(s, " ")
	mac, rest, _ := strings.Cut(rest, " ")
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return leaseOp{}, err
	}
	switch kind {
	case "R":
		if rest != "" {
			return leaseOp{}, errors.New("text after the MAC")
		}
		return leaseOp{remove: true, lease: store.Lease{MAC: hw}}, nil
	case "P":
		ipText, rest, _ := strings.Cut(rest, " ")
		expText, host, _ := strings.Cut(rest, " ")
		ip, err := netip.ParseAddr(ipText)
		if err != nil {
			return leaseOp{}, err
		}
		exp, err := strconv.ParseInt(expText, 10, 64)
		if err != nil {
			return leaseOp{}, err
		}
		hostname, err := strconv.Unquote(host)
		if err != nil {
			return leaseOp{}, fmt.Errorf("hostname %s: %w", host, err)
		}
		return leaseOp{lease: store.Lease{MAC: hw, IP: ip, Expires: columns.FromTime(exp), Hostname: hostname}}, nil
	}
	return leaseOp{}, fmt.Errorf("unknown kind %q", kind)
}

// applyLeaseOps applies ops in order in one transaction. Each SaveLeases
// call journaled its removes before its puts, so the ops run in groups of
// removes followed by puts, each group as one saveLeases.
func (d *DB) applyLeaseOps(ctx context.Context, ops []leaseOp) error {
	if len(ops) == 0 {
		return nil
	}
	return d.inTx(ctx, func(tx *sql.Tx) error {
		var put []store.Lease
		var remove []net.HardwareAddr
		for i := range ops {
			op := &ops[i]
			if op.remove && len(put) > 0 {
				if err := d.saveLeases(ctx, tx, put, remove); err != nil {
					return err
				}
				put, remove = put[:0], remove[:0]
			}
			if op.remove {
				remove = append(remove, op.lease.MAC)
			} else {
				put = append(put, op.lease)
			}
		}
		return d.saveLeases(ctx, tx, put, remove)
	})
}
