package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/store/columns"
)

// The channels the store notifies on. A machine's payload is "ORIGIN MAC";
// an event's is "ORIGIN STATE ID JSON", JSON being the event (eventNote),
// left out when it would not fit in a notification (8000 bytes): the
// watcher reads the event by ID then.
const (
	machineChannel = "kickstand_machines"
	eventChannel   = "kickstand_events"
)

// maxNote is the longest payload sent, under PostgreSQL's 8000 bytes.
const maxNote = 7800

// eventNote is an event as notified.
type eventNote struct {
	MAC    string `json:"mac"`
	Time   int64  `json:"time"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Fields string `json:"fields,omitempty"`
}

// notifyMachine is an SQL expression that notifies the other handles that
// the machine in column macColumn changed; the statements that change
// machines return it, so that the notice is sent as they commit.
func (d *DB) notifyMachine(macColumn string) string {
	return `pg_notify('` + machineChannel + `', '` + d.origin + ` ' || ` + macColumn + `)`
}

// eventNote returns the payload of an event's notification around its ID,
// which the database assigns: what goes before it and what after.
func (d *DB) eventNote(mac string, t int64, kind, detail, fields string, state store.State) (before, after string) {
	before = d.origin + " " + string(state) + " "
	b, err := json.Marshal(eventNote{MAC: mac, Time: t, Kind: kind, Detail: detail, Fields: fields})
	if err != nil || len(before)+20+1+len(b) > maxNote {
		return before, ""
	}
	return before, " " + string(b)
}

// Watch calls w for each machine changed and each event recorded through
// another handle on the database (another server, the CLI), as they
// commit, on a connection of its own that LISTENs.
func (d *DB) Watch(ctx context.Context, w store.Watch) error {
	pooled, err := d.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: watch changes: %w", err)
	}
	// Out of the pool: a connection that LISTENs is no one else's.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	for _, channel := range []string{machineChannel, eventChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
			return fmt.Errorf("store: watch changes: %w", err)
		}
	}
	if w.Machine != nil {
		w.Machine(nil) // anything may have changed before LISTEN
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("store: watch changes: %w", err)
		}
		origin, rest, _ := strings.Cut(n.Payload, " ")
		if origin == d.origin {
			continue
		}
		switch n.Channel {
		case machineChannel:
			if mac, err := net.ParseMAC(rest); err == nil && w.Machine != nil {
				w.Machine(mac)
			}
		case eventChannel:
			if w.Event == nil {
				continue
			}
			ev, state, err := d.noticedEvent(ctx, rest)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				// Deleted already (pruned, or its machine removed): gone
				// from the timeline before anyone could see it.
			case err != nil:
				return fmt.Errorf("store: watch changes: event %q: %w", rest, err)
			default:
				w.Event(ev, state)
			}
		}
	}
}

// noticedEvent is the event of a notification's payload (after its origin).
func (d *DB) noticedEvent(ctx context.Context, payload string) (store.Event, store.State, error) {
	state, rest, _ := strings.Cut(payload, " ")
	idText, noteText, _ := strings.Cut(rest, " ")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return store.Event{}, "", err
	}
	if noteText == "" {
		ev, err := columns.ScanEvent(d.pool.QueryRow(ctx, `SELECT `+columns.Event+` FROM events WHERE id = $1`, id))
		return ev, store.State(state), err
	}
	var note eventNote
	if err := json.Unmarshal([]byte(noteText), &note); err != nil {
		return store.Event{}, "", err
	}
	ev := store.Event{ID: id, Time: columns.FromTime(note.Time), Kind: events.Kind(note.Kind), Detail: note.Detail}
	if ev.MAC, err = net.ParseMAC(note.MAC); err != nil {
		return ev, "", err
	}
	if err := columns.DecodeFields(note.Fields, &ev.Fields); err != nil {
		return ev, "", err
	}
	return ev, store.State(state), nil
}
