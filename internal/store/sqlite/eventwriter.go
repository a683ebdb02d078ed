package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"kickstand/internal/store"
)

// eventWriter records timeline events with group commit, as the DHCP
// server's leaseWriter stores leases: an event waits while the batch
// before it is written, and then goes to the database with every event
// that arrived meanwhile, in one transaction. In a boot storm hundreds of
// handlers record events at once, and a transaction per event (BEGIN
// IMMEDIATE, its pages appended to the WAL, COMMIT, now and then a
// checkpoint) took a fifth of the server's CPU; a batch shares all of
// that and the pages its events have in common.
//
// There is no writer goroutine: the first caller to find no batch being
// written writes the open one (its own), and the callers that queued
// meanwhile elect the next writer among themselves when it is done. Each
// caller returns once its own batch is committed, with its own result.
//
// Unlike leaseWriter, the writer does not linger for more events to join
// its batch: measured (BenchmarkRecordRate, BenchmarkRecordParallel), a
// linger of 0.1 to 1 ms when the write before had events queued saved no
// CPU per event and added its length to every caller's wait. The events
// arriving during a write already make the next batch.
type eventWriter struct {
	write func(context.Context, *eventBatch) error // one transaction

	mu      sync.Mutex
	written sync.Cond   // broadcast when a batch is written
	open    *eventBatch // collecting events; nil when none is
	writing bool
	spare   []*eventBatch
}

// eventBatch is the events of one transaction, in arrival order.
type eventBatch struct {
	events  []batchEvent
	waiters int // callers that have not read their result yet
	done    bool
	err     error // the transaction's, which every caller gets

	// machines is every machine the batch touches, in first-touched
	// order, as its events so far leave it; machineIndex finds one by MAC.
	// Both are kept, cleared, for the next batch.
	machines     []batchMachine
	machineIndex map[string]int
}

// batchEvent is one caller's event and, once written, its result.
type batchEvent struct {
	ev     store.Event
	mac    string // ev.MAC as stored
	fields string // ev.Fields as stored
	step   store.State

	state store.State // the machine's state after the event
	err   error       // the event's own: its machine does not exist
}

// batchMachine is a machine's row as the batch's events leave it.
type batchMachine struct {
	mac     string
	missing bool // no such machine: its events are not kept
	state   store.State
	changed bool      // state moved: updated is when
	updated time.Time // the time of the event that last moved state
	seen    time.Time // the newest event's time
}

// The statements of an event batch, prepared once per connection (d.stmt).
const (
	eventMachineState = `SELECT state FROM machines WHERE mac = ?`
	eventInsert       = `INSERT INTO events (mac, time, kind, detail, fields) VALUES (?,?,?,?,?)`
	eventMoveMachine  = `UPDATE machines SET state = ?, updated = ?, seen = max(seen, ?) WHERE mac = ?`
	eventSeeMachine   = `UPDATE machines SET seen = ? WHERE mac = ? AND seen < ?`
)

func (w *eventWriter) init(write func(context.Context, *eventBatch) error) {
	w.write = write
	w.written.L = &w.mu
}

// record adds e to the open batch and returns, once that batch is
// committed, e's result. The caller that writes the batch writes it under
// its ctx.
func (w *eventWriter) record(ctx context.Context, e batchEvent) (store.State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.open
	if b == nil {
		b = w.newBatch()
		w.open = b
	}
	mine := len(b.events)
	b.events = append(b.events, e)
	b.waiters++
	for !b.done {
		if w.writing {
			w.written.Wait()
			continue
		}
		// Our batch is the open one: the batch before it is written.
		w.writing, w.open = true, nil
		w.mu.Unlock()
		err := w.write(ctx, b)
		w.mu.Lock()
		b.done, b.err, w.writing = true, err, false
		w.written.Broadcast()
	}
	state, err := b.events[mine].state, b.events[mine].err
	if b.err != nil {
		state, err = "", b.err
	}
	if b.waiters--; b.waiters == 0 {
		w.recycle(b)
	}
	return state, err
}

func (w *eventWriter) newBatch() *eventBatch {
	if n := len(w.spare); n > 0 {
		b := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return b
	}
	return &eventBatch{machineIndex: make(map[string]int)}
}

func (w *eventWriter) recycle(b *eventBatch) {
	clear(b.events) // drop the references to the callers' MACs and fields
	b.events = b.events[:0]
	b.machines = b.machines[:0]
	clear(b.machineIndex)
	b.done, b.err = false, nil
	w.spare = append(w.spare, b)
}

// machine returns the batch's row of mac, reading it from the database
// the first time the batch touches it; the pointer is good until the
// batch touches another machine.
func (b *eventBatch) machine(ctx context.Context, sel *sql.Stmt, mac string) (*batchMachine, error) {
	if i, ok := b.machineIndex[mac]; ok {
		return &b.machines[i], nil
	}
	m := batchMachine{mac: mac}
	var cur string
	err := sel.QueryRowContext(ctx, mac).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		m.missing = true
	case err != nil:
		return nil, err
	}
	m.state = store.State(cur)
	b.machineIndex[mac] = len(b.machines)
	b.machines = append(b.machines, m)
	return &b.machines[len(b.machines)-1], nil
}

// writeEvents records the batch's events in one transaction: each event
// advances its machine from the state the one before it left, as if they
// had been recorded one by one in arrival order, and each machine's row is
// updated once.
func (d *DB) writeEvents(ctx context.Context, b *eventBatch) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		sel, err := d.txStmt(ctx, tx, eventMachineState)
		if err != nil {
			return err
		}
		insert, err := d.txStmt(ctx, tx, eventInsert)
		if err != nil {
			return err
		}
		for i := range b.events {
			e := &b.events[i]
			m, err := b.machine(ctx, sel, e.mac)
			if err != nil {
				return err
			}
			if m.missing {
				e.err = fmt.Errorf("machine %s: %w", e.ev.MAC, store.ErrNotFound)
				continue
			}
			t := e.ev.Time
			if _, err := insert.ExecContext(ctx, e.mac, unix(t), string(e.ev.Kind), e.ev.Detail, e.fields); err != nil {
				return err
			}
			if next, changed := store.Advance(m.state, e.step); e.step != "" && changed {
				m.state, m.changed, m.updated = next, true, t
			}
			if t.After(m.seen) {
				m.seen = t
			}
			e.state = m.state
		}
		return d.updateMachines(ctx, tx, b.machines)
	})
}

// updateMachines writes the batch's machines' rows: the state, and when
// it moved, of those whose state moved; when each was last seen, which an
// older event arriving late never moves back.
func (d *DB) updateMachines(ctx context.Context, tx *sql.Tx, machines []batchMachine) error {
	var move, see *sql.Stmt
	var err error
	for i := range machines {
		m := &machines[i]
		switch {
		case m.missing:
			continue
		case m.changed:
			if move == nil {
				if move, err = d.txStmt(ctx, tx, eventMoveMachine); err != nil {
					return err
				}
			}
			_, err = move.ExecContext(ctx, string(m.state), unix(m.updated), unix(m.seen), m.mac)
		default:
			if see == nil {
				if see, err = d.txStmt(ctx, tx, eventSeeMachine); err != nil {
					return err
				}
			}
			_, err = see.ExecContext(ctx, unix(m.seen), m.mac, unix(m.seen))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
