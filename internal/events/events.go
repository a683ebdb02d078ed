// Package events is the bus between the protocol servers, which publish what
// they see on the wire, and the subscribers that record it (the store's
// timelines). Publishing never blocks a protocol server.
package events

import (
	"context"
	"hash/maphash"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what an event is.
type Kind string

// The kinds of events kickstand records.
const (
	// What the DHCP server saw and answered.
	DHCPDiscover Kind = "dhcp-discover"
	DHCPOffer    Kind = "dhcp-offer"
	DHCPAck      Kind = "dhcp-ack"
	DHCPNak      Kind = "dhcp-nak"
	DHCPDecline  Kind = "dhcp-decline"
	DHCPRelease  Kind = "dhcp-release"
	ProxyOffer   Kind = "proxy-offer"
	ProxyAck     Kind = "proxy-ack"
	// DHCPRequest is a client asking the network's own DHCP server for an
	// address, seen in proxy mode through a relay agent, which forwards it
	// to every server it knows: the address the machine will have.
	DHCPRequest Kind = "dhcp-request"
	// Files fetched, and what they were.
	TFTP       Kind = "tftp"
	HTTP       Kind = "http"
	FTP        Kind = "ftp"
	BootConfig Kind = "boot-config" // a per-client boot config, and the decision in it
	Stage2     Kind = "stage2"      // the installer's second stage image
	// The kickstart, and what the installer reported.
	Kickstart         Kind = "kickstart"
	KickstartWarnings Kind = "kickstart-warnings"
	KickstartInvalid  Kind = "kickstart-invalid" // anaconda would refuse it: not served
	KickstartError    Kind = "kickstart-error"
	PhoneHome         Kind = "phone-home"
	// What people did.
	Registered Kind = "registered"
	Edited     Kind = "edited"
	Reinstall  Kind = "reinstall"
)

// Refused is the kind of a request for what (BootConfig, Kickstart or
// PhoneHome) that was refused: from the wrong address, or with a token
// that installs nothing.
func Refused(what Kind) Kind { return what + refusedSuffix }

const refusedSuffix = "-refused"

// IsRefused reports whether k is a Refused kind, and of what.
func (k Kind) IsRefused() (Kind, bool) {
	what, ok := strings.CutSuffix(string(k), refusedSuffix)
	return Kind(what), ok
}

// Fields are an event's facts, typed; its Detail says them for people.
// Which are set depends on the kind.
type Fields struct {
	// DHCP: the client's option 60 and 93 (Arch nil when it sent none),
	// and whether it is a PXE or HTTP Boot client.
	VendorClass string  `json:"vendor_class,omitempty"`
	Arch        *uint16 `json:"arch,omitempty"`
	PXE         bool    `json:"pxe,omitempty"`
	// Offers and acks: what the client was told to boot, and from where;
	// BootFile "" when it was lent an address only.
	BootFile   string `json:"boot_file,omitempty"`
	NextServer string `json:"next_server,omitempty"`
	// Transfers (tftp, http, ftp, stage2) and boot configs: the file as
	// requested, without a leading "/".
	File    string  `json:"file,omitempty"`
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Status  int     `json:"status,omitempty"` // HTTP status
	// NotFound is a TFTP "not found" or an HTTP 404; SizeProbe a TFTP
	// tsize query that asked for no data.
	NotFound  bool `json:"not_found,omitempty"`
	SizeProbe bool `json:"size_probe,omitempty"`
	// Error is why a transfer ended early.
	Error string `json:"error,omitempty"`
	// Source is where a boot loader served from the tree's root came
	// from: the host's package, or an RPM on a distro's media.
	Source string `json:"source,omitempty"`
	// Action is what a boot config tells the machine: install, local,
	// menu.
	Action string `json:"action,omitempty"`
	// State is what the installer reported (phone-home).
	State string `json:"state,omitempty"`
}

// Event is one thing seen on the wire.
type Event struct {
	Time   time.Time
	MAC    net.HardwareAddr // nil when only IP is known
	IP     netip.Addr
	Kind   Kind
	Detail string
	Fields Fields
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

// RunParallel is Run with n goroutines calling fn: the events of one MAC
// all go to the same goroutine, in order, so each machine's timeline and
// state still see them one at a time, while the events of different
// machines are recorded together (the store commits concurrent events in
// one transaction). When ctx ends it delivers what is still queued and
// returns once every goroutine is done.
func (b *Bus) RunParallel(ctx context.Context, n int, fn func(Event)) {
	if n <= 1 {
		b.Run(ctx, fn)
		return
	}
	shards := make([]chan Event, n)
	var wg sync.WaitGroup
	for i := range shards {
		shards[i] = make(chan Event, shardQueue)
		wg.Go(func() {
			for e := range shards[i] {
				fn(e)
			}
		})
	}
	seed := maphash.MakeSeed()
	b.Run(ctx, func(e Event) { shards[maphash.Bytes(seed, e.MAC)%uint64(n)] <- e })
	for _, s := range shards {
		close(s)
	}
	wg.Wait()
}

// shardQueue is how many events one of RunParallel's goroutines may have
// waiting; past it the bus's own queue fills, and then Publish drops.
const shardQueue = 64

// Feed hands every event it is sent to each of its subscribers (the live
// views: the API's event stream, the dashboard). A subscriber that does not
// keep up loses events rather than slowing the sender; they are counted.
type Feed struct {
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	dropped atomic.Int64 // by every subscriber, in all
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

// Dropped returns how many events subscribers had no room for, in all.
func (f *Feed) Dropped() int64 { return f.dropped.Load() }

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
			f.dropped.Add(1)
		}
	}
}
