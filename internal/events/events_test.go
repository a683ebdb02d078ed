package events

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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

// TestRunParallel checks that every event is delivered once, each MAC's in
// the order published, and that different MACs' events are handled at once.
func TestRunParallel(t *testing.T) {
	const macs, each = 20, 50
	b := New(macs * each)
	for i := range each {
		for m := range macs {
			b.Publish(Event{MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(m)}, Detail: fmt.Sprint(i)})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // deliver what is queued, then return
	var mu sync.Mutex
	next := map[string]int{}
	var running, most atomic.Int32
	b.RunParallel(ctx, 4, func(e Event) {
		now := running.Add(1)
		for {
			m := most.Load()
			if now <= m || most.CompareAndSwap(m, now) {
				break
			}
		}
		time.Sleep(100 * time.Microsecond)
		running.Add(-1)
		mu.Lock()
		defer mu.Unlock()
		mac := e.MAC.String()
		if e.Detail != fmt.Sprint(next[mac]) {
			t.Errorf("%s: event %s, want %d: out of order", mac, e.Detail, next[mac])
		}
		next[mac]++
	})
	for m := range macs {
		if got := next[net.HardwareAddr{2, 0, 0, 0, 0, byte(m)}.String()]; got != each {
			t.Errorf("MAC %d: %d events delivered, want %d", m, got, each)
		}
	}
	if most.Load() < 2 {
		t.Errorf("at most %d events handled at once, want several", most.Load())
	}
}
