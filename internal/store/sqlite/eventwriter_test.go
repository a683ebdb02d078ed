package sqlite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// countBatches counts the transactions db's Record calls write from now on.
func countBatches(db *DB) *atomic.Int64 {
	var n atomic.Int64
	write := db.events.write
	db.events.write = func(ctx context.Context, b *eventBatch) error {
		n.Add(1)
		return write(ctx, b)
	}
	return &n
}

// reportBatches adds the events per transaction to b's results.
func reportBatches(b *testing.B, batches *atomic.Int64) {
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "events/tx")
	}
}

// openMachines opens a database in dir with a machine, in state new, for
// each of macs.
func openMachines(t *testing.T, dir string, macs ...net.HardwareAddr) *DB {
	t.Helper()
	db, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, mac := range macs {
		m := store.Machine{MAC: mac, State: store.StateNew, Token: "t" + mac.String()}
		if err := db.PutMachine(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func testMAC(i int) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 1, byte(i)} }

// The steps events carry in the tests, in an order that moves machines
// forward and, with reports arriving late, tries to move them back.
var testSteps = []store.State{"", store.StateBooting, "", store.StateInstalling, store.StateBooting,
	store.StateFailed, store.StateInstalling, "", store.StateInstalled, store.StateBooting}

// Events recorded from many goroutines at once are batched, and each caller
// still gets what recording its event alone, in the order the store
// applied them, would have given it.
func TestRecordConcurrentCallersGetTheirOwnResults(t *testing.T) {
	const goroutines, perGoroutine, macs, missing = 64, 50, 20, 4
	var known []net.HardwareAddr
	for i := range macs - missing {
		known = append(known, testMAC(i))
	}
	db := openMachines(t, t.TempDir(), known...)
	batches := countBatches(db)
	ctx := context.Background()

	type result struct {
		mac   string
		step  store.State
		state store.State
		err   error
	}
	var mu sync.Mutex
	results := make(map[string]result) // by event detail
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				mac := testMAC((g + i) % macs)
				step := testSteps[(g*7+i)%len(testSteps)]
				detail := fmt.Sprintf("g%d-%d", g, i)
				state, err := db.Record(ctx, store.Event{MAC: mac, Kind: events.TFTP, Detail: detail}, step)
				mu.Lock()
				results[detail] = result{mac.String(), step, state, err}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := batches.Load(); n >= goroutines*perGoroutine {
		t.Errorf("%d transactions for %d events: no group commit", n, goroutines*perGoroutine)
	}

	recorded := 0
	for i := range macs {
		mac := testMAC(i)
		evs, err := db.Events(ctx, mac)
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(known) {
			if len(evs) != 0 {
				t.Errorf("%s is no machine, but %d of its events were kept", mac, len(evs))
			}
			continue
		}
		// The store applied the events in ID order: replaying them one by
		// one must give every caller the state it was told.
		slices.SortFunc(evs, func(a, b store.Event) int { return int(a.ID - b.ID) })
		state := store.StateNew
		var seen, updated time.Time
		for _, ev := range evs {
			r, ok := results[ev.Detail]
			if !ok || r.mac != mac.String() {
				t.Fatalf("%s: event %q stored that no caller recorded for it", mac, ev.Detail)
			}
			delete(results, ev.Detail) // a second copy would be reported above
			if next, changed := store.Advance(state, r.step); r.step != "" && changed {
				state, updated = next, ev.Time
			}
			if ev.Time.After(seen) {
				seen = ev.Time
			}
			if r.err != nil || r.state != state {
				t.Errorf("%s: event %q (step %q) returned %q, %v; applied in order it gives %q",
					mac, ev.Detail, r.step, r.state, r.err, state)
			}
			recorded++
		}
		m, err := db.Machine(ctx, mac)
		if err != nil {
			t.Fatal(err)
		}
		if m.State != state || !m.Seen.Equal(seen) || (!updated.IsZero() && !m.Updated.Equal(updated)) {
			t.Errorf("%s: state %s, seen %v, updated %v; want %s, %v, %v", mac, m.State, m.Seen, m.Updated, state, seen, updated)
		}
	}
	// What is left is the events not stored: every one must be of a MAC
	// that is no machine, and its caller told so.
	for detail, r := range results {
		mac, _ := net.ParseMAC(r.mac)
		if slices.ContainsFunc(known, func(k net.HardwareAddr) bool { return k.String() == r.mac }) {
			t.Errorf("event %q of machine %s was not stored (its caller got %q, %v)", detail, mac, r.state, r.err)
		} else if !errors.Is(r.err, store.ErrNotFound) || r.state != "" || !strings.Contains(r.err.Error(), r.mac) {
			t.Errorf("event %q of %s, no machine, returned %q, %v; want its own not-found error", detail, mac, r.state, r.err)
		}
	}
	t.Logf("%d events (%d kept) in %d transactions", goroutines*perGoroutine, recorded, batches.Load())
}

// waitFor polls cond, which reads w under its lock, until it holds.
func waitFor(t *testing.T, w *eventWriter, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		ok := cond()
		w.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// stalledWriter makes db's next batch wait for the database's write lock,
// which another handle on dir holds until the returned func is called:
// the events recorded meanwhile queue up in one batch, in a known order.
// The first event, recorded by the returned goroutine, is the batch
// before (its result goes to first).
func stalledWriter(t *testing.T, db *DB, dir string, firstCtx context.Context, firstEv store.Event) (release func(), first <-chan error) {
	t.Helper()
	other, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	lock, err := other.db.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.Record(firstCtx, firstEv, "")
		done <- err
	}()
	waitFor(t, &db.events, "a writer", func() bool { return db.events.writing })
	return func() { lock.Rollback() }, done
}

// recordResult is what a Record call returned.
type recordResult struct {
	state store.State
	err   error
}

// queue records evs, one after the other, into db's open batch, and
// returns where each one's result arrives once written.

func queue(t *testing.T, db *DB, evs []store.Event, steps []store.State) []chan recordResult {
	t.Helper()
	results := make([]chan recordResult, len(evs))
	for i := range evs {
		results[i] = make(chan recordResult, 1)
		go func() {
			state, err := db.Record(context.Background(), evs[i], steps[i])
			results[i] <- recordResult{state, err}
		}()
		waitFor(t, &db.events, fmt.Sprintf("event %d to join the batch", i), func() bool {
			return db.events.open != nil && len(db.events.open.events) == i+1
		})
	}
	return results
}

// Events of one machine in one batch are applied in arrival order, each
// from the state the one before it left; a MAC that is no machine fails
// only its own caller.
func TestRecordBatchAppliesEventsInArrivalOrder(t *testing.T) {
	dir := t.TempDir()
	a, b, c, none := testMAC(1), testMAC(2), testMAC(3), testMAC(9)
	db := openMachines(t, dir, a, b, c)
	batches := countBatches(db)
	release, first := stalledWriter(t, db, dir, context.Background(), store.Event{MAC: c, Kind: "first"})

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	evs := []store.Event{
		{MAC: a, Time: at(1), Kind: events.DHCPAck},
		{MAC: a, Time: at(2), Kind: events.TFTP},
		{MAC: none, Time: at(3), Kind: events.DHCPAck},
		{MAC: a, Time: at(4), Kind: events.Kickstart},
		{MAC: b, Time: at(5), Kind: events.PhoneHome},
		{MAC: a, Time: at(3), Kind: events.DHCPAck}, // late, and older
	}
	steps := []store.State{store.StateBooting, "", store.StateBooting, store.StateInstalling, store.StateInstalled, store.StateBooting}
	results := queue(t, db, evs, steps)
	release()
	if err := <-first; err != nil {
		t.Fatalf("the batch before: %v", err)
	}
	want := []store.State{store.StateBooting, store.StateBooting, "", store.StateInstalling, store.StateInstalled, store.StateInstalling}
	for i, ch := range results {
		r := <-ch
		wantErr := evs[i].MAC.String() == none.String()
		if r.state != want[i] || (r.err != nil) != wantErr || (wantErr && !errors.Is(r.err, store.ErrNotFound)) {
			t.Errorf("event %d (%s %s, step %q) = %q, %v; want %q (not found: %v)",
				i, evs[i].MAC, evs[i].Kind, steps[i], r.state, r.err, want[i], wantErr)
		}
	}
	if n := batches.Load(); n != 2 {
		t.Errorf("%d transactions, want 2 (the stalled one and the queued events')", n)
	}
	ctx := context.Background()
	m, err := db.Machine(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	// updated is when the state last moved; seen the newest event, not the last.
	if m.State != store.StateInstalling || !m.Updated.Equal(at(4)) || !m.Seen.Equal(at(4)) {
		t.Errorf("machine a: %s, updated %v, seen %v; want installing, %v, %v", m.State, m.Updated, m.Seen, at(4), at(4))
	}
	evsA, err := db.Events(ctx, a)
	if err != nil || len(evsA) != 4 {
		t.Fatalf("machine a: %d events, %v; want 4", len(evsA), err)
	}
}

// A batch whose transaction fails fails every one of its callers, with
// that error, and keeps none of its events; the batches around it are
// not touched.
func TestRecordBatchFailureReachesEveryCaller(t *testing.T) {
	dir := t.TempDir()
	a, b, none := testMAC(1), testMAC(2), testMAC(9)
	db := openMachines(t, dir, a, b)
	// A trigger stands for what can fail a transaction midway (a full
	// disk, an I/O error): the events before the poisoned one are written
	// by then, and must be rolled back.
	if _, err := db.db.Exec(`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.kind = 'poison'
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	release, first := stalledWriter(t, db, dir, context.Background(), store.Event{MAC: b, Kind: "first"})
	evs := []store.Event{{MAC: a, Kind: "ok"}, {MAC: none, Kind: "ok"}, {MAC: a, Kind: "poison"}, {MAC: b, Kind: "ok"}}
	steps := []store.State{store.StateBooting, "", "", store.StateInstalling}
	results := queue(t, db, evs, steps)
	release()
	if err := <-first; err != nil {
		t.Fatalf("the batch before: %v", err)
	}
	for i, ch := range results {
		if r := <-ch; r.state != "" || r.err == nil || !strings.Contains(r.err.Error(), "injected failure") {
			t.Errorf("event %d (%s %s) of the failed batch = %q, %v; want the transaction's error", i, evs[i].MAC, evs[i].Kind, r.state, r.err)
		}
	}
	ctx := context.Background()
	for _, mac := range []net.HardwareAddr{a, b} {
		m, err := db.Machine(ctx, mac)
		if err != nil || m.State != store.StateNew {
			t.Errorf("machine %s after the failed batch: %s, %v; want new", mac, m.State, err)
		}
	}
	if evs, err := db.Events(ctx, a); err != nil || len(evs) != 0 {
		t.Errorf("machine a: %d events kept of the failed batch, %v", len(evs), err)
	}
	if evs, err := db.Events(ctx, b); err != nil || len(evs) != 1 || evs[0].Kind != "first" {
		t.Errorf("machine b: events %+v, %v; want the first batch's only", evs, err)
	}
	// The writer is free again: the next event is recorded.
	if st, err := db.Record(ctx, store.Event{MAC: a, Kind: "after"}, store.StateBooting); err != nil || st != store.StateBooting {
		t.Errorf("after the failed batch: %q, %v; want booting", st, err)
	}
}

// A caller's context ending fails its call only if it has not joined a
// batch yet: once joined, the batch is written for the others in it, and
// its event with them.
func TestRecordContext(t *testing.T) {
	dir := t.TempDir()
	a := testMAC(1)
	db := openMachines(t, dir, a)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Record(ctx, store.Event{MAC: a, Kind: "cancelled"}, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Record with a cancelled context: %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	release, first := stalledWriter(t, db, dir, ctx, store.Event{MAC: a, Kind: "writer"})
	results := queue(t, db, []store.Event{{MAC: a, Kind: "queued"}}, []store.State{store.StateBooting})
	cancel() // the writer's, while it waits for the write lock
	release()
	if err := <-first; err != nil {
		t.Errorf("the writer whose context ended meanwhile: %v, want its event written", err)
	}
	if r := <-results[0]; r.err != nil || r.state != store.StateBooting {
		t.Errorf("the event queued behind it: %q, %v; want booting", r.state, r.err)
	}
	evs, err := db.Events(context.Background(), a)
	if err != nil || len(evs) != 2 || evs[0].Kind != "writer" || evs[1].Kind != "queued" {
		t.Errorf("events %+v, %v; want the writer's and the queued one", evs, err)
	}
}
