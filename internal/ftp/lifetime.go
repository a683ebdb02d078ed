package ftp

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// lifetime ties ftpserverlib's goroutines to Serve's context. ftpserverlib
// only stops accepting when its listener closes; its client goroutines run
// until their connection ends. So lifetime counts the control connections
// and the open downloads, and Serve waits for the count to reach zero after
// the context has closed the connections.
type lifetime struct {
	ctx    context.Context
	mu     sync.Mutex
	active int
	idle   *sync.Cond
}

func newLifetime(ctx context.Context) *lifetime {
	l := &lifetime{ctx: ctx}
	l.idle = sync.NewCond(&l.mu)
	return l
}

// acquire counts one more connection or download; it refuses once the
// context has ended, so that the count cannot grow while wait drains it.
func (l *lifetime) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		return false
	}
	l.active++
	return true
}

func (l *lifetime) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	if l.active == 0 {
		l.idle.Broadcast()
	}
}

// wait returns when every acquired connection and download is released.
func (l *lifetime) wait() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.active > 0 {
		l.idle.Wait()
	}
}

// controlListener counts the control connections ftpserverlib accepts,
// admits them to the client table (refusing those it has no room for) and
// closes them when the context ends.
type controlListener struct {
	net.Listener
	life    *lifetime
	clients *clientTable
}

func (ln *controlListener) Accept() (net.Conn, error) {
	for {
		conn, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !ln.life.acquire() {
			_ = conn.Close()
			// ftpserverlib ends its accept loop quietly on this error.
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: net.ErrClosed}
		}
		c := &controlConn{Conn: conn, release: ln.life.release, clients: ln.clients}
		c.lastRead.Store(time.Now().UnixNano())
		if !ln.clients.admit(c) {
			ln.life.release()
			refuseClient(conn)
			continue
		}
		c.stop = context.AfterFunc(ln.life.ctx, func() { _ = conn.Close() })
		return c, nil
	}
}

// refuseClient tells a client there is no room for it and hangs up.
func refuseClient(conn net.Conn) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write([]byte("421 Too many clients: try again later\r\n"))
	_ = conn.Close()
}

// controlConn is released when ftpserverlib closes it, which it does last
// when a client's goroutine ends. It keeps what the client table needs:
// when the client last sent something, and its open downloads.
type controlConn struct {
	net.Conn
	once      sync.Once
	stop      func() bool
	release   func()
	clients   *clientTable
	lastRead  atomic.Int64 // UnixNano
	downloads atomic.Int32
}

func (c *controlConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *controlConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.stop()
		c.clients.remove(c)
		c.release()
	})
	return err
}

// demoteHandler passes on ftpserverlib's log records one step quieter. The
// library logs what clients do wrong (unknown commands, resets, refused
// data connections) at Warn and Error, which would let any client fill the
// log; those become Debug, and its rare Errors (no free passive port)
// become Warn.
type demoteHandler struct{ slog.Handler }

func demote(level slog.Level) slog.Level {
	if level >= slog.LevelError {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (h demoteHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.Handler.Enabled(ctx, demote(level))
}

func (h demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteHandler{h.Handler.WithAttrs(attrs)}
}

func (h demoteHandler) WithGroup(name string) slog.Handler {
	return demoteHandler{h.Handler.WithGroup(name)}
}
