package httpd

import (
	"kickstand/internal/netlimit"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTable caps the open connections. At the cap a new connection closes
// the connection that has waited longest for a request (a keep-alive
// between requests, or a new one that has not sent a whole request), and
// is refused only when every connection is busy with a request: idle
// connections never keep a real request out.
type connTable struct {
	max   int
	log   *slog.Logger
	mu    sync.Mutex
	conns map[net.Conn]*connInfo
	// lastRefusal spaces out the warnings about refused connections, which a
	// client can cause at will.
	lastRefusal time.Time
}

type connInfo struct {
	busy  bool      // a request is being answered
	since time.Time // when it began waiting for a request
}

func newConnTable(max int, log *slog.Logger) *connTable {
	return &connTable{max: max, log: log, conns: make(map[net.Conn]*connInfo)}
}

// admit counts c in, first closing the longest-waiting connection when the
// table is full. It returns false, and counts nothing, when every
// connection is busy.
func (t *connTable) admit(c net.Conn) bool {
	t.mu.Lock()
	var evict net.Conn
	if len(t.conns) >= t.max {
		var oldest time.Time
		for conn, info := range t.conns {
			if !info.busy && (evict == nil || info.since.Before(oldest)) {
				evict, oldest = conn, info.since
			}
		}
		if evict == nil {
			warn := time.Since(t.lastRefusal) > time.Minute
			if warn {
				t.lastRefusal = time.Now()
			}
			t.mu.Unlock()
			if warn {
				t.log.Warn("http: refusing connections: every connection is busy", "max", t.max, "client", c.RemoteAddr())
			}
			return false
		}
		delete(t.conns, evict)
	}
	t.conns[c] = &connInfo{since: time.Now()}
	t.mu.Unlock()
	if evict != nil {
		t.log.Debug("http: closing the longest idle connection for a new one", "idle", evict.RemoteAddr(), "client", c.RemoteAddr())
		_ = evict.Close()
	}
	return true
}

// setState is the http.Server's ConnState hook.
func (t *connTable) setState(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	info, ok := t.conns[c]
	if !ok {
		return // evicted
	}
	switch state {
	case http.StateActive:
		info.busy = true
	case http.StateIdle:
		info.busy, info.since = false, time.Now()
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	}
}

// connListener admits each accepted connection to the table, closing
// those it refuses, and bounds the writes to each with netlimit.StallConn.
type connListener struct {
	net.Listener
	table *connTable
	stall time.Duration
}

func (ln *connListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		conn := &netlimit.StallConn{Conn: c, Timeout: ln.stall}
		if ln.table.admit(conn) {
			return conn, nil
		}
		_ = c.Close()
	}
}
