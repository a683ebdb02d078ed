package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/store/postgres"
	"kickstand/internal/store/postgres/pgtest"
)

// Two servers on one PostgreSQL store: a machine added through the other
// (or the CLI) is known here at once, not when the index of absent
// machines expires; an event the other records streams here live, with
// the state it left; this server's own writes do not come back.
func TestFollowStore(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := srv.NewDatabase(t)
	here, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	other, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	absent := newAbsentStore(here)
	frozen := time.Now()
	absent.now = func() time.Time { return frozen } // the index never expires by itself
	feed := &events.Feed{}
	sub := feed.Subscribe(16)
	defer sub.Close()
	a := &App{log: slog.New(slog.DiscardHandler), store: absent, machines: &machines{store: absent, feed: feed}}
	w, absentIndex, ok := a.storeWatcher()
	if !ok || absentIndex != absent {
		t.Fatal("the PostgreSQL store is not followed")
	}
	done := make(chan struct{})
	go func() { a.followStore(ctx, w, absent); close(done) }()

	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	mine := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}
	if _, err := absent.Machine(ctx, mac); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Machine before it is added: %v", err)
	}
	// The index is read now; until the watch tells, it says absent.
	if err := absent.PutMachine(ctx, store.Machine{MAC: mine, State: store.StateNew, Token: "mine"}); err != nil {
		t.Fatal(err)
	}
	if err := other.PutMachine(ctx, store.Machine{MAC: mac, State: store.StateNew, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := absent.Machine(ctx, mac)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("a machine added by another server is still unknown here: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// This server's own event is streamed by whoever recorded it, not by
	// the watch: the first event the feed gets is the other server's.
	if _, err := here.Record(ctx, store.Event{MAC: mine, Kind: events.TFTP, Detail: "mine"}, store.StateBooting); err != nil {
		t.Fatal(err)
	}
	fields := events.Fields{File: "pxelinux.0", Bytes: 42}
	if _, err := other.Record(ctx, store.Event{MAC: mac, Kind: events.TFTP, Detail: "theirs", Fields: fields}, store.StateBooting); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-sub.C:
		if ev.MAC.String() != mac.String() || ev.Kind != events.TFTP || ev.Detail != "theirs" || ev.Step != string(store.StateBooting) ||
			ev.Fields.File != "pxelinux.0" || ev.Fields.Bytes != 42 || ev.Time.IsZero() {
			t.Fatalf("streamed %+v, want the other server's TFTP event of %s, state booting", ev, mac)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an event recorded by another server was not streamed here")
	}
	cancel()
	<-done
}
