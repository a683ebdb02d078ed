// Package events is the bus between the protocol servers, which publish what
// they see on the wire, and the subscribers that record it (the store's
// timelines). Publishing never blocks a protocol server.
package events

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one thing seen on the wire.
type Event struct {
	Time   time.Time
	MAC    net.HardwareAddr // nil when only IP is known
	IP     netip.Addr
	Kind   string // e.g. dhcp-offer, tftp, http
	Detail string
	// Step is the machine state this event is evidence of ("" for none),
	// e.g. "booting" for a DHCP offer.
	Step string
	// Discover asks for the MAC to be recorded as a discovered machine if it
	// is none yet (a PXE client's DHCP); other events of unknown MACs are
	// dropped.
	Discover bool
}

// Bus is a bounded queue of events with one consumer.
type Bus struct {
	ch      chan Event
	dropped atomic.Int64
}

// DefaultSize is the queue length of New(0).
const DefaultSize = 4096

// New returns a bus holding up to size events (DefaultSize when size <= 0).
func New(size int) *Bus {
	if size <= 0 {
		size = DefaultSize
	}
	return &Bus{ch: make(chan Event, size)}
}

// Publish queues e; when the queue is full the event is dropped and counted,
// because a slow disk must never stall DHCP or TFTP.
func (b *Bus) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	select {
	case b.ch <- e:
	default:
		b.dropped.Add(1)
	}
}

// Dropped returns how many events were lost to a full queue.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }

// Run hands every event to fn, one at a time and in order, until ctx ends;
// then it delivers what is still queued and returns.
func (b *Bus) Run(ctx context.Context, fn func(Event)) {
	for {
		select {
		case e := <-b.ch:
			fn(e)
		case <-ctx.Done():
			for {
				select {
				case e := <-b.ch:
					fn(e)
				default:
					return
				}
			}
		}
	}
}

// Feed hands every event it is sent to each of its subscribers (the live
// views: the API's event stream, the dashboard). A subscriber that does not
// keep up loses events rather than slowing the sender; they are counted.
type Feed struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription is one subscriber's events.
type Subscription struct {
	// C holds the events sent since Subscribe; Close closes it.
	C       <-chan Event
	ch      chan Event
	feed    *Feed
	once    sync.Once
	dropped atomic.Int64
}

// Subscribe returns a subscription to the events sent from now on, holding
// up to buffer of them.
func (f *Feed) Subscribe(buffer int) *Subscription {
	ch := make(chan Event, max(buffer, 1))
	s := &Subscription{C: ch, ch: ch, feed: f}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[*Subscription]struct{}{}
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	return s
}

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.feed.mu.Lock()
		delete(s.feed.subs, s)
		s.feed.mu.Unlock()
		close(s.ch)
	})
}

// Dropped returns how many events this subscriber had no room for.
func (s *Subscription) Dropped() int64 { return s.dropped.Load() }

// Send gives e to every subscriber that has room for it.
func (f *Feed) Send(e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
		}
	}
}
