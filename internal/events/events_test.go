package events

import (
	"context"
	"testing"
	"time"
)

func TestOrderAndDrainOnCancel(t *testing.T) {
	b := New(10)
	for i := range 5 {
		b.Publish(Event{Kind: Kind(rune('a' + i))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var got string
	b.Run(ctx, func(e Event) { got += string(e.Kind) })
	if got != "abcde" {
		t.Fatalf("delivered %q, want abcde in order", got)
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	b := New(2)
	for range 5 {
		b.Publish(Event{Kind: "x"})
	}
	if b.Dropped() != 3 {
		t.Fatalf("Dropped = %d, want 3", b.Dropped())
	}
}

func TestRunDeliversLive(t *testing.T) {
	b := New(0)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Event, 1)
	done := make(chan struct{})
	go func() { b.Run(ctx, func(e Event) { got <- e }); close(done) }()
	b.Publish(Event{Kind: "tftp"})
	select {
	case e := <-got:
		if e.Kind != "tftp" || e.Time.IsZero() {
			t.Fatalf("got %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event not delivered")
	}
	cancel()
	<-done
}

// A feed gives every subscriber every event, and drops (counting) what a
// slow subscriber has no room for; an ended subscription gets nothing.
func TestFeed(t *testing.T) {
	var f Feed
	a := f.Subscribe(10)
	b := f.Subscribe(1)
	for i := range 3 {
		f.Send(Event{Kind: "k", Detail: string(rune('0' + i))})
	}
	if len(a.C) != 3 || len(b.C) != 1 || a.Dropped() != 0 || b.Dropped() != 2 {
		t.Fatalf("a holds %d (dropped %d), b %d (dropped %d); want 3 (0), 1 (2)", len(a.C), a.Dropped(), len(b.C), b.Dropped())
	}
	b.Close()
	b.Close()
	f.Send(Event{Kind: "after"})
	if len(a.C) != 4 {
		t.Fatalf("a holds %d, want 4", len(a.C))
	}
	if _, open := <-b.C; !open {
		t.Fatal("b lost its buffered event")
	}
	if _, open := <-b.C; open {
		t.Fatal("a closed subscription still receives")
	}
	a.Close()
}
