package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"kickstand/internal/store"
	"kickstand/internal/store/columns"
)

// Timeline events are written with group commit, as the SQLite store
// writes them: in a boot storm hundreds of handlers record events at once,
// and a transaction each cost more than the event (and every transaction
// that NOTIFYs takes the database's notification lock as it commits). One
// goroutine per handle writes: it takes the events queued, up to
// maxEventBatch, and writes them in one transaction of two round trips,
// while the next ones queue.

// maxEventBatch bounds the events of one transaction.
const maxEventBatch = 256

// errClosed is Record's after Close.
var errClosed = errors.New("store: closed")

// pendingEvent is one Record call: its event and, once written, its result.
type pendingEvent struct {
	ev           store.Event
	mac          string
	t            int64
	kind, detail string
	fields       string
	step         store.State

	state store.State
	err   error
	done  chan struct{} // closed once state and err are set
}

// Record appends ev to its machine's timeline and advances the machine
// toward step, in one transaction with the other events recorded at the
// same time: each event advances its machine from the state the one before
// it left, as if they had been recorded one by one in arrival order.
//
// ctx ending before Record is called fails it; once ev is queued it is
// written whatever becomes of ctx, as the others in its transaction are.
func (d *DB) Record(ctx context.Context, ev store.Event, step store.State) (store.State, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	fields, err := columns.ReadyEvent(&ev)
	if err != nil {
		return "", err
	}
	p := &pendingEvent{ev: ev, mac: ev.MAC.String(), t: unix(ev.Time), kind: text(string(ev.Kind)), detail: text(ev.Detail),
		fields: fields, step: step, done: make(chan struct{})}
	select {
	case d.eventQueue <- p:
	case <-ctx.Done(): // a full queue: the writer is that far behind
		return "", ctx.Err()
	case <-d.writerDone:
		return "", errClosed
	}
	select {
	case <-p.done:
	case <-d.writerDone:
		select {
		case <-p.done:
		default:
			return "", errClosed
		}
	}
	return p.state, p.err
}

// writeEventsLoop writes the queued events until Close.
func (d *DB) writeEventsLoop() {
	defer close(d.writerDone)
	batch := make([]*pendingEvent, 0, maxEventBatch)
	for {
		var first *pendingEvent
		select {
		case first = <-d.eventQueue:
		case <-d.writerCtx.Done():
			for {
				select {
				case p := <-d.eventQueue:
					p.err = errClosed
					close(p.done)
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxEventBatch {
			select {
			case p := <-d.eventQueue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		var err error
		if len(batch) == 1 {
			err = d.recordOne(d.writerCtx, batch[0])
		} else {
			err = retry(d.writerCtx, false, func() error { return d.writeBatch(d.writerCtx, batch) })
		}
		for _, p := range batch {
			if err != nil {
				p.state, p.err = "", err
			}
			close(p.done)
		}
		clear(batch)
	}
}

// recordOne writes an event that has no other to share its transaction
// with (a quiet server) in two statements and no transaction held open
// between them, half the time of a batch's: it reads the machine's state,
// and then one statement updates the machine only if its state is still
// the one read, and inserts the event only if it did. When another server
// moved the machine on in between, none of it is written and it reads
// again.
func (d *DB) recordOne(ctx context.Context, p *pendingEvent) error {
	for range maxRecordReads {
		var cur string
		err := d.pool.QueryRow(ctx, `SELECT state FROM machines WHERE mac = $1`, p.mac).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			p.err = fmt.Errorf("machine %s: %w", p.ev.MAC, store.ErrNotFound)
			return nil
		}
		if err != nil {
			return err
		}
		next, changed := store.State(cur), false
		if p.step != "" {
			next, changed = store.Advance(next, p.step)
		}
		before, after := d.eventNote(p.mac, p.t, p.kind, p.detail, p.fields, next)
		move := `seen = GREATEST(seen, $2)`
		args := []any{p.mac, p.t, p.kind, p.detail, p.fields, cur, before, after}
		if changed {
			move = `state = $9, updated = $2, ` + move
			args = append(args, string(next))
		}
		tag, err := d.pool.Exec(ctx, `WITH m AS (UPDATE machines SET `+move+` WHERE mac = $1 AND state = $6 RETURNING mac)
			INSERT INTO events (mac, time, kind, detail, fields) SELECT mac, $2, $3, $4, $5 FROM m
			RETURNING pg_notify('`+eventChannel+`', $7::text || id::text || $8::text)`, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			p.state, p.err = next, nil
			return nil
		}
	}
	return fmt.Errorf("machine %s: its state kept changing while recording %s: try again", p.ev.MAC, p.ev.Kind)
}

// maxRecordReads bounds how often recordOne reads a machine's state that
// another moved on meanwhile; a state moves on at most four times.
const maxRecordReads = 8

// batchMachine is a machine as a batch's events leave it.
type batchMachine struct {
	state   store.State
	moved   bool  // state changed: updated is when
	updated int64 // the time of the event that last moved it
	seen    int64 // the newest event's time
}

// writeEvents writes batch in one transaction: it locks the batch's
// machines and reserves the events' IDs (lockBatch); then it inserts the
// events, updates each machine once and notifies the events, in one
// statement sent with the COMMIT.
func (d *DB) writeEvents(ctx context.Context, batch []*pendingEvent) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	rollback := func(err error) error {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		return err
	}
	machines, ids, err := lockBatch(ctx, conn.Conn(), batch)
	if err != nil {
		return rollback(err)
	}
	ev, m := d.advanceBatch(batch, machines, ids)
	b := &pgx.Batch{}
	if len(ev.ids) > 0 {
		b.Queue(`WITH e AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
					AS e(id, mac, time, kind, detail, fields, note)),
				inserted AS (INSERT INTO events (id, mac, time, kind, detail, fields)
					SELECT id, mac, time, kind, detail, fields FROM e),
				updated AS (UPDATE machines AS m SET state = u.state,
						updated = CASE WHEN u.moved THEN u.updated ELSE m.updated END, seen = GREATEST(m.seen, u.seen)
					FROM unnest($8::text[], $9::text[], $10::bool[], $11::bigint[], $12::bigint[]) AS u(mac, state, moved, updated, seen)
					-- ANY: by the primary key, never a scan of the table
					WHERE m.mac = u.mac AND m.mac = ANY($8))
			SELECT pg_notify('`+eventChannel+`', note) FROM e`,
			ev.ids, ev.macs, ev.times, ev.kinds, ev.details, ev.fields, ev.notes, m.macs, m.states, m.moved, m.updated, m.seen)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return rollback(err)
	}
	return nil
}

// lockBatch begins the batch's transaction: it locks the batch's machines
// (in MAC order, as every server does, so that two never wait for each
// other) and reads their states, and reserves an event ID for each event.
func lockBatch(ctx context.Context, conn *pgx.Conn, batch []*pendingEvent) (map[string]*batchMachine, []int64, error) {
	macs := make([]string, 0, len(batch))
	for _, p := range batch {
		macs = append(macs, p.mac)
	}
	slices.Sort(macs)
	macs = slices.Compact(macs)
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	machines := map[string]*batchMachine{}
	b.Queue(`SELECT mac, state FROM machines WHERE mac = ANY($1) ORDER BY mac FOR UPDATE`, macs).Query(func(rows pgx.Rows) error {
		var mac, state string
		_, err := pgx.ForEachRow(rows, []any{&mac, &state}, func() error {
			machines[mac] = &batchMachine{state: store.State(state)}
			return nil
		})
		return err
	})
	var ids []int64
	b.Queue(`SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, $1)`, len(batch)).Query(func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	return machines, ids, conn.SendBatch(ctx, b).Close()
}

// advanceBatch applies the batch's events in arrival order, each to its
// machine as the one before left it, and sets each caller's result. It
// returns the rows to write: the events of machines, and the machines.
func (d *DB) advanceBatch(batch []*pendingEvent, machines map[string]*batchMachine, ids []int64) (eventColumns, machineColumns) {
	var ev eventColumns
	for i, p := range batch {
		m := machines[p.mac]
		if m == nil {
			p.err = fmt.Errorf("machine %s: %w", p.ev.MAC, store.ErrNotFound)
			continue
		}
		p.err = nil
		if next, changed := store.Advance(m.state, p.step); p.step != "" && changed {
			m.state, m.moved, m.updated = next, true, p.t
		}
		m.seen = max(m.seen, p.t)
		p.state = m.state
		before, after := d.eventNote(p.mac, p.t, p.kind, p.detail, p.fields, p.state)
		ev.add(ids[i], p, before+fmt.Sprint(ids[i])+after)
	}
	var mc machineColumns
	for mac, m := range machines {
		mc.add(mac, m)
	}
	return ev, mc
}

// eventColumns are a batch's events, column by column, for unnest.
type eventColumns struct {
	ids                                 []int64
	macs, kinds, details, fields, notes []string
	times                               []int64
}

func (c *eventColumns) add(id int64, p *pendingEvent, note string) {
	c.ids = append(c.ids, id)
	c.macs = append(c.macs, p.mac)
	c.times = append(c.times, p.t)
	c.kinds = append(c.kinds, p.kind)
	c.details = append(c.details, p.detail)
	c.fields = append(c.fields, p.fields)
	c.notes = append(c.notes, note)
}

// machineColumns are a batch's machines, column by column, for unnest.
type machineColumns struct {
	macs, states  []string
	moved         []bool
	updated, seen []int64
}

func (c *machineColumns) add(mac string, m *batchMachine) {
	c.macs = append(c.macs, mac)
	c.states = append(c.states, string(m.state))
	c.moved = append(c.moved, m.moved)
	c.updated = append(c.updated, m.updated)
	c.seen = append(c.seen, m.seen)
}
