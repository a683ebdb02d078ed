package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	mine := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}
	if err := absent.PutMachine(ctx, store.Machine{MAC: mine, State: store.StateNew, Token: "mine"}); err != nil {
		t.Fatal(err)
	}
	forgotten := func() uint64 {
		absent.mu.Lock()
		defer absent.mu.Unlock()
		return absent.gen
	}
	before := forgotten()
	done := make(chan struct{})
	go func() { a.followStore(ctx, w, absent); close(done) }()
	// The watch drops the index once it listens: what came before is unknown.
	for deadline := time.Now().Add(10 * time.Second); forgotten() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watch did not start")
		}
	}
	if _, err := absent.Machine(ctx, mac); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Machine before it is added: %v", err)
	}
	// The index is read now; until the watch tells, it says absent.
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

	// The watching connection lost (a database restart, a proxy's idle
	// timeout): the server watches again, and streams what comes after.
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d watching connections, %v; want 1", killed, err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for streamed := false; !streamed; {
		if time.Now().After(deadline) {
			t.Fatal("events of another server not streamed after the watch's connection was lost")
		}
		if _, err := other.Record(ctx, store.Event{MAC: mac, Kind: events.TFTP, Detail: "after"}, ""); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-sub.C:
			streamed = ev.Detail == "after"
		case <-time.After(200 * time.Millisecond):
		}
	}
	cancel()
	<-done
}
