package ftp

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// clientTable caps the control connections. At the cap a new client closes
// the connected client that has been silent longest and has no download
// open; it is refused only when every client is downloading. So clients
// that connect and idle can never keep an installer out.
type clientTable struct {
	max   int
	log   *slog.Logger
	mu    sync.Mutex
	conns map[*controlConn]struct{}
	byKey map[string]*controlConn // by remote address, for ClientConnected
	// lastRefusal spaces out the warnings about refused clients, which a
	// client can cause at will.
	lastRefusal time.Time
}

func newClientTable(max int, log *slog.Logger) *clientTable {
	return &clientTable{max: max, log: log, conns: map[*controlConn]struct{}{}, byKey: map[string]*controlConn{}}
}

// admit counts c in, first closing the longest silent client without a
// download when the table is full. It returns false, and counts nothing,
// when every client is downloading.
func (t *clientTable) admit(c *controlConn) bool {
	t.mu.Lock()
	var evict *controlConn
	if len(t.conns) >= t.max {
		for conn := range t.conns {
			if conn.downloads.Load() == 0 && (evict == nil || conn.lastRead.Load() < evict.lastRead.Load()) {
				evict = conn
			}
		}
		if evict == nil {
			warn := time.Since(t.lastRefusal) > time.Minute
			if warn {
				t.lastRefusal = time.Now()
			}
			t.mu.Unlock()
			if warn {
				t.log.Warn("ftp: refusing clients: every client is downloading", "max", t.max, "client", c.RemoteAddr())
			}
			return false
		}
		t.removeLocked(evict)
	}
	t.conns[c] = struct{}{}
	t.byKey[c.RemoteAddr().String()] = c
	t.mu.Unlock()
	if evict != nil {
		t.log.Debug("ftp: closing the longest silent client for a new one", "silent", evict.RemoteAddr(), "client", c.RemoteAddr())
		// ftpserverlib then ends the client and closes the controlConn.
		_ = evict.Conn.Close()
	}
	return true
}

func (t *clientTable) remove(c *controlConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(c)
}

func (t *clientTable) removeLocked(c *controlConn) {
	delete(t.conns, c)
	key := c.RemoteAddr().String()
	if t.byKey[key] == c {
		delete(t.byKey, key)
	}
}

// lookup returns the control connection from addr, or nil.
func (t *clientTable) lookup(addr net.Addr) *controlConn {
	if addr == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byKey[addr.String()]
}
