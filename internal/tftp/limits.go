package tftp

import (
	"kickstand/internal/netlimit"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Defaults for the limits of Server's fields. A read request names its client
// by its source address alone, which anyone can forge, so everything a request
// makes the server hold is bounded in number, time and bytes.
const (
	// DefaultMaxTransfers is how many transfers may run at once: two descriptors
	// (a socket and the file) each, and buffers within MaxWindowMemory for all
	// of them. A rack of machines powered on together asks for its boot loaders
	// in the same second, and each must get one: a refused PXE ROM rarely asks
	// again. A quarter of the open-file limit caps it when that is lower.
	DefaultMaxTransfers = 4096
	// DefaultMaxTransfersPerClient is how many transfers one client address may
	// run at once. Firmware runs one at a time, sometimes two (a size query
	// ending while the download starts), plus leftovers of transfers it abandoned.
	DefaultMaxTransfersPerClient = 8
	// DefaultMaxTimeout is the longest retransmission timeout a client's
	// "timeout" option may ask for; firmware asks for 1 to 5 seconds.
	DefaultMaxTimeout = 5 * time.Second
	// DefaultUnansweredRetries is how many times the first packet is resent to a
	// client that has acknowledged nothing: a request with a forged source never
	// is, and each copy is traffic aimed at the forged address.
	DefaultUnansweredRetries = 2
	// DefaultIdleTimeout ends a transfer whose client acknowledged nothing new
	// for this long, whatever its retransmissions: 1 + DefaultRetries waits of
	// the longest timeout a client may ask for.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxWindowMemory bounds the window and read-ahead buffers of all
	// transfers together. A firmware transfer (lock-step, 1468-byte blocks)
	// takes about 20 KiB, so DefaultMaxTransfers of them fit in 80 MiB; one
	// with the largest default window takes about 167 KiB, so some 590 of
	// those fit, and later ones get smaller windows before any request is
	// refused.
	DefaultMaxWindowMemory = 96 << 20
)

// busyMessage is what a refused client reads: the refusal is temporary.
const busyMessage = "server busy, try again"

// busyPacket refuses a request; a flood is answered without allocating. It is only ever read.
var busyPacket = appendError(nil, errCodeUndefined, busyMessage)

// refusalLogInterval spaces the debug logs of refused requests: a flood
// would otherwise log every packet.
const refusalLogInterval = time.Second

// Stats counts what a Server did since it was created, for logs and metrics.
type Stats struct {
	// Active is the number of transfers in flight.
	Active int
	// WindowMemory is the buffer memory the transfers in flight hold, in bytes;
	// it never exceeds MaxWindowMemory.
	WindowMemory int64
	// Refused counts requests refused because MaxTransfers transfers were in
	// flight or MaxWindowMemory was taken.
	Refused uint64
	// RefusedPerClient counts requests refused because their client address
	// already had MaxTransfersPerClient transfers in flight.
	RefusedPerClient uint64
	// TimedOut counts transfers abandoned because their client stopped answering.
	TimedOut uint64
	// Unanswered counts the timed-out transfers whose client never answered at
	// all: requests from forged addresses, or clients that went away at once.
	Unanswered uint64
}

// Stats returns the server's counters; it is safe to call while Serve runs.
func (s *Server) Stats() Stats {
	a := &s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// admission decides whether a request may start a transfer and counts what it
// decided. It belongs to the Server, so that the limits hold across all its
// Serve calls (one per listening socket).
type admission struct {
	mu        sync.Mutex
	stats     Stats
	perClient map[netip.Addr]int // transfers in flight per client; no zero entries

	lastLog  time.Time // when a refusal was last logged
	unlogged int       // refusals since, not logged
}

// refusal is why admission turned a request away; admitted is none.
type refusal int

const (
	admitted refusal = iota
	refusedBusy
	refusedPerClient
)

// limits are the Server's bounds on the transfers in flight, defaults applied.
type limits struct {
	transfers, perClient int
	memory               int64
}

func (s *Server) limits() limits {
	return limits{transfers: s.maxTransfers(), perClient: s.maxTransfersPerClient(), memory: s.maxWindowMemory()}
}

// admit counts a transfer for client in when the limits allow it, and takes
// the memory of its buffers, first shrinking p's window to what is left (RFC
// 7440 lets the server grant a smaller window than asked). It returns the
// memory taken, which leave gives back.
func (a *admission) admit(client netip.Addr, p *params, l limits) (int64, refusal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.stats.Active >= l.transfers:
		a.stats.Refused++
		return 0, refusedBusy
	case a.perClient[client] >= l.perClient:
		a.stats.RefusedPerClient++
		return 0, refusedPerClient
	}
	available := l.memory - a.stats.WindowMemory
	if p.memory() > available {
		window := p.windowFitting(available)
		if window < 1 {
			a.stats.Refused++
			return 0, refusedBusy
		}
		p.setWindowSize(window)
	}
	if a.perClient == nil {
		a.perClient = make(map[netip.Addr]int)
	}
	memory := p.memory()
	a.stats.Active++
	a.stats.WindowMemory += memory
	a.perClient[client]++
	return memory, admitted
}

// leave counts a transfer admitted for client out and gives back its memory.
func (a *admission) leave(client netip.Addr, memory int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Active--
	a.stats.WindowMemory -= memory
	if a.perClient[client] <= 1 {
		delete(a.perClient, client) // the map holds clients in flight only
	} else {
		a.perClient[client]--
	}
}

// timedOut counts a transfer abandoned for want of answers.
func (a *admission) timedOut(unanswered bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.TimedOut++
	if unanswered {
		a.stats.Unanswered++
	}
}

// logRefusal logs a refused request at most once per refusalLogInterval, with
// the number of refusals left unlogged since the last one.
func (a *admission) logRefusal(log *slog.Logger, why refusal, from net.Addr, file string) {
	a.mu.Lock()
	now := time.Now()
	if now.Sub(a.lastLog) < refusalLogInterval {
		a.unlogged++
		a.mu.Unlock()
		return
	}
	unlogged := a.unlogged
	a.lastLog, a.unlogged = now, 0
	a.mu.Unlock()
	limit := "MaxTransfers or MaxWindowMemory"
	if why == refusedPerClient {
		limit = "MaxTransfersPerClient"
	}
	log.Debug("tftp: refusing read request: server busy", "from", from, "file", file,
		"limit", limit, "refusals-not-logged", unlogged)
}

// slotOverhead approximates the per-block bookkeeping of a window besides the
// packet itself: its length, and its batch message and buffer list.
const slotOverhead = 128

// maxReadBuffer bounds the file read-ahead of one transfer; reading 64 KiB at a
// time already makes the system calls a small part of the cost.
const maxReadBuffer = 64 << 10

// minReadBuffer is the smallest read-ahead: at lock-step a window-sized one
// would read(2) the file once per block, a system call as costly as the
// block's recvfrom; 16 KiB reads once every 11 blocks of 1468 bytes.
const minReadBuffer = 16 << 10

// slotMemory is what one block of the window costs.
func (p *params) slotMemory() int64 {
	return int64(headerSize + p.blockSize + slotOverhead)
}

// readBufferSize is the file read-ahead: a window's payload, within
// minReadBuffer and maxReadBuffer.
func (p *params) readBufferSize() int {
	return min(max(p.blockSize*p.windowSize, minReadBuffer), maxReadBuffer)
}

// memory is what a transfer with these parameters allocates for its buffers:
// a slot per block of the window and one for the block read ahead.
func (p *params) memory() int64 {
	return int64(p.windowSize+1)*p.slotMemory() + int64(p.readBufferSize()) + recvBufferSize
}

// windowFitting returns the largest window whose buffers fit in memory bytes,
// less than 1 when none does.
func (p *params) windowFitting(memory int64) int {
	// memory() grows with the window: the largest that fits, by bisection.
	q := *p
	lo, hi := 0, maxWindowSize
	for lo < hi {
		q.windowSize = (lo + hi + 1) / 2
		if q.memory() <= memory {
			lo = q.windowSize
		} else {
			hi = q.windowSize - 1
		}
	}
	return lo
}

// setWindowSize changes the window and the windowsize the OACK grants, if any.
func (p *params) setWindowSize(n int) {
	p.windowSize = n
	for i := range p.accepted {
		if p.accepted[i].name == "windowsize" {
			p.accepted[i].value = strconv.Itoa(n)
		}
	}
}

// maxTransfers fits the cap to the open-file limit: a transfer past it would
// fail to open its socket or its file anyway.
func (s *Server) maxTransfers() int {
	return netlimit.Conns(netlimit.Or(s.MaxTransfers, DefaultMaxTransfers))
}

func (s *Server) maxTransfersPerClient() int {
	if s.MaxTransfersPerClient <= 0 {
		return DefaultMaxTransfersPerClient
	}
	return s.MaxTransfersPerClient
}

func (s *Server) maxTimeout() time.Duration {
	if s.MaxTimeout <= 0 {
		return DefaultMaxTimeout
	}
	return s.MaxTimeout
}

// unansweredRetries is never more than retries: a client that has not answered
// deserves no more patience than one that has.
func (s *Server) unansweredRetries() int {
	switch {
	case s.UnansweredRetries < 0:
		return 0
	case s.UnansweredRetries == 0:
		return min(DefaultUnansweredRetries, s.retries())
	}
	return min(s.UnansweredRetries, s.retries())
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

func (s *Server) maxWindowMemory() int64 {
	if s.MaxWindowMemory <= 0 {
		return DefaultMaxWindowMemory
	}
	return s.MaxWindowMemory
}
