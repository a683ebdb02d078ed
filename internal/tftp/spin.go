package tftp

import (
	"runtime"
	"sync/atomic"
	"time"
)

// DefaultBusyPoll is how long a transfer waiting for an acknowledgement polls
// its socket before it sleeps. A lock-step client answers a block within
// tens of microseconds on a LAN, about what it costs to wake a sleeping
// thread (far more in a virtual machine, where an idle CPU is halted): a
// poll that catches the answer takes that wake-up out of every round trip.
const DefaultBusyPoll = 50 * time.Microsecond

// missBackoff is how many waits a transfer sleeps through without polling
// after a poll found nothing: a slow client costs a poll now and then, not
// one per block.
const missBackoff = 16

// spinner hands out the right to poll: only while no more transfers run
// than there are CPUs beyond the first, and to one transfer per such CPU at
// a time, so that polling never takes a CPU that other transfers, the other
// servers or the client itself need. Under load (a rack booting) nobody
// polls: every CPU has work, and a thread woken there is soon running. A nil
// spinner never polls.
type spinner struct {
	budget  time.Duration
	spare   int32        // CPUs beyond the first
	free    atomic.Int32 // polls that may start
	running atomic.Int32 // transfers in flight
}

// newSpinner returns a spinner that polls for budget, or nil when budget is
// not positive or there is only one CPU to run on.
func newSpinner(budget time.Duration) *spinner {
	procs := runtime.GOMAXPROCS(0)
	if budget <= 0 || procs < 2 {
		return nil
	}
	s := &spinner{budget: budget, spare: int32(procs - 1)}
	s.free.Store(s.spare)
	return s
}

// enter and leave count a transfer in flight.
func (s *spinner) enter() {
	if s != nil {
		s.running.Add(1)
	}
}

func (s *spinner) leave() {
	if s != nil {
		s.running.Add(-1)
	}
}

// acquire takes the right to poll if it is free.
func (s *spinner) acquire() bool {
	if s == nil || s.running.Load() > s.spare {
		return false
	}
	for {
		n := s.free.Load()
		if n <= 0 {
			return false
		}
		if s.free.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (s *spinner) release() { s.free.Add(1) }

// spinner returns the Server's spinner, made on first use.
func (s *Server) spinner() *spinner {
	s.spinOnce.Do(func() {
		budget := s.BusyPoll
		if budget == 0 {
			budget = DefaultBusyPoll
		}
		s.spin = newSpinner(budget)
	})
	return s.spin
}
