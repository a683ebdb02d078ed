package postgres

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/store/postgres/pgtest"
)

// change is one call of a Watch's functions.
type change struct {
	mac   string // Machine's ("" for nil), or the event's
	event *store.Event
	state store.State
}

// Watch tells of every machine write and event of another handle, in
// commit order, and of none of its own; an event too large for a
// notification is read from the table.
func TestWatch(t *testing.T) {
	srv := pgtest.Start(t)
	here, other := openTwo(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan change, 64)
	done := make(chan error, 1)
	go func() {
		done <- here.Watch(ctx, store.Watch{
			Machine: func(mac net.HardwareAddr) {
				c := change{}
				if mac != nil {
					c.mac = mac.String()
				}
				changes <- c
			},
			Event: func(ev store.Event, state store.State) {
				changes <- change{mac: ev.MAC.String(), event: &ev, state: state}
			},
		})
	}()
	next := func() change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no change told")
			return change{}
		}
	}
	if c := next(); c.mac != "" || c.event != nil {
		t.Fatalf("first change %+v, want Machine(nil): anything may have changed before", c)
	}
	bg := context.Background()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	mine := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(here.PutMachine(bg, store.Machine{MAC: mine, State: store.StateNew, Token: "mine"}))
	_, err := here.Record(bg, store.Event{MAC: mine, Kind: events.TFTP}, "")
	must(err)
	must(other.PutMachine(bg, store.Machine{MAC: mac, State: store.StateNew, Token: "t"}))
	long := strings.Repeat("x", 10000) // over a notification's 8000 bytes
	_, err = other.Record(bg, store.Event{MAC: mac, Kind: events.HTTP, Detail: long}, store.StateBooting)
	must(err)
	_, err = other.Record(bg, store.Event{MAC: mac, Kind: events.TFTP, Detail: "short", Fields: events.Fields{Bytes: 7}}, store.StateInstalling)
	must(err)
	if c := next(); c.mac != mac.String() || c.event != nil {
		t.Fatalf("change %+v, want the machine added (this handle's own writes are not told)", c)
	}
	if c := next(); c.event == nil || c.event.Detail != long || c.event.Kind != events.HTTP || c.state != store.StateBooting || c.event.ID == 0 {
		t.Fatalf("change %+v, want the long event, state booting", c)
	}
	if c := next(); c.event == nil || c.event.Detail != "short" || c.event.Fields.Bytes != 7 || c.state != store.StateInstalling || c.event.Time.IsZero() {
		t.Fatalf("change %+v, want the short event, state installing", c)
	}
	// An event is read when it is too long, so these come after it is.
	must(other.SetToken(bg, mac, "t2"))
	must(other.RemoveMachine(bg, mac))
	added, err := other.Discover(bg, store.Machine{MAC: mac, Token: "d", Seen: time.Now().Add(-time.Hour)}, 10)
	must(err)
	if !added {
		t.Fatal("Discover did not add")
	}
	n, err := other.PruneDiscovered(bg, time.Now().Add(-time.Minute))
	must(err)
	if n != 1 {
		t.Fatalf("PruneDiscovered = %d, want 1", n)
	}

	for _, what := range []string{"token set", "removed", "discovered", "pruned"} {
		if c := next(); c.mac != mac.String() || c.event != nil {
			t.Fatalf("change %+v, want the machine %s", c, what)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch after its context ended: %v, want nil", err)
	}
	select {
	case c := <-changes:
		t.Fatalf("change %+v told beyond those made", c)
	default:
	}
}
