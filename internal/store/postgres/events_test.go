package postgres

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/store/postgres/pgtest"
)

// Many handlers recording at once share transactions, and each gets its
// own event's result: the state its event left, never behind one it saw
// before; an event of a MAC that is no machine fails alone; every event is
// kept.
func TestRecordGroupCommit(t *testing.T) {
	srv := pgtest.Start(t)
	db := open(t, srv)
	var batches, written atomic.Int64
	write := db.writeBatch
	db.writeBatch = func(ctx context.Context, b []*pendingEvent) error {
		batches.Add(1)
		written.Add(int64(len(b)))
		return write(ctx, b)
	}
	ctx := context.Background()
	const machines, callers, each = 5, 32, 20
	mac := func(i int) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, byte(i)} }
	for i := range machines {
		if err := db.PutMachine(ctx, store.Machine{MAC: mac(i), State: store.StateNew, Token: fmt.Sprint("t", i)}); err != nil {
			t.Fatal(err)
		}
	}
	order := map[store.State]int{store.StateNew: 0, store.StateBooting: 1, store.StateInstalling: 2, store.StateInstalled: 3}
	steps := []store.State{store.StateBooting, "", store.StateInstalling, "", store.StateBooting, store.StateInstalled}
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			last := map[int]int{}
			for k := range each {
				m := (c + k) % machines
				step := steps[(c+k)%len(steps)]
				st, err := db.Record(ctx, store.Event{MAC: mac(m), Kind: events.TFTP, Detail: fmt.Sprint(c, "/", k)}, step)
				if err != nil {
					t.Errorf("caller %d: Record: %v", c, err)
					return
				}
				if order[st] < last[m] {
					t.Errorf("caller %d: machine %d went back to %s", c, m, st)
				}
				last[m] = order[st]
				if step != "" && order[st] < order[step] && st != store.StateInstalled {
					t.Errorf("caller %d: step %s left machine %d %s", c, step, m, st)
				}
				if k%7 == 0 { // a stranger's event in the same batches
					if _, err := db.Record(ctx, store.Event{MAC: net.HardwareAddr{2, 9, 9, 9, 9, byte(c)}, Kind: events.TFTP}, ""); err == nil {
						t.Errorf("caller %d: an event of no machine was recorded", c)
					}
				}
			}
		})
	}
	wg.Wait()
	var kept int
	for i := range machines {
		evs, err := db.Events(ctx, mac(i))
		if err != nil {
			t.Fatal(err)
		}
		kept += len(evs)
		m, err := db.Machine(ctx, mac(i))
		if err != nil || m.State != store.StateInstalled {
			t.Fatalf("machine %d: %s, %v; want installed", i, m.State, err)
		}
	}
	if kept != callers*each {
		t.Fatalf("%d events kept, want %d", kept, callers*each)
	}
	if batches.Load() >= written.Load() {
		t.Fatalf("%d events in %d transactions: no two shared one", written.Load(), batches.Load())
	}
	t.Logf("%d events in %d transactions", written.Load(), batches.Load())
}

// Record after Close fails, and Close waits for what was queued.
func TestRecordAfterClose(t *testing.T) {
	srv := pgtest.Start(t)
	db, err := Open(context.Background(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := db.Record(context.Background(), store.Event{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Kind: events.TFTP}, ""); err != errClosed {
		t.Fatalf("Record after Close: %v, want %v", err, errClosed)
	}
}
