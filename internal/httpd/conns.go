package httpd

import (
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// stallChunk is how much of a file one write deadline covers: a download
// must move this much within StallTimeout, however long it takes in all.
const stallChunk = 256 << 10

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
// those it refuses, and bounds the writes to each with stallConn.
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
		conn := &stallConn{Conn: c, timeout: ln.stall}
		if ln.table.admit(conn) {
			return conn, nil
		}
		_ = c.Close()
	}
}

// stallConn gives each write to the client StallTimeout to complete, and
// splits what it is asked to copy with ReadFrom into stallChunk pieces,
// each with its own deadline. A stalled client is dropped after
// StallTimeout, while a download of any size goes on as long as it moves.
// ReadFrom still hands an *os.File to the TCP connection's ReadFrom, so
// the kernel sends files with sendfile.
type stallConn struct {
	net.Conn
	timeout time.Duration
}

func (c *stallConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[:min(len(p), stallChunk)])
		written += n
		p = p[n:]
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func (c *stallConn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		lr = &io.LimitedReader{R: r, N: math.MaxInt64}
	}
	var total int64
	for lr.N > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return total, err
		}
		chunk := min(lr.N, stallChunk)
		n, err := rf.ReadFrom(&io.LimitedReader{R: lr.R, N: chunk})
		total += n
		lr.N -= n
		if err != nil || n < chunk {
			return total, err // n < chunk: the source has ended
		}
	}
	return total, nil
}

// CloseWrite lets net/http half-close the connection before closing it, so
// that the client reads the last response (see http.Server).
func (c *stallConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
