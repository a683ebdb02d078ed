package events

import (
	"context"
	"testing"
	"time"
)

func TestOrderAndDrainOnCancel(t *testing.T) {
	b := New(10)
	for i := range 5 {
		b.Publish(Event{Kind: string(rune('a' + i))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var got string
	b.Run(ctx, func(e Event) { got += e.Kind })
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
