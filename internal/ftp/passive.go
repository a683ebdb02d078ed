package ftp

import (
	"context"
	"kickstand/internal/netlimit"
	"net"
	"sync"
	"time"
)

// passiveGrace is how long a passive port is left to its client, even
// when every port is taken, before a new PASV may take it over. Clients
// connect their data connection at once after PASV.
const passiveGrace = time.Second

// passivePorts hands out the passive port range and takes back the ports
// that clients do not use. A client keeps its port only until its data
// connection is accepted (the connection then goes on without the
// listening socket) or until PassiveTimeout, whichever comes first. When
// every port is waiting for a data connection, a new PASV takes the one
// that has waited longest, so that clients that send PASV and never
// connect cannot lock the others out of the range.
//
// ftpserverlib calls FetchNext for the ports to try and WrapPassiveListener
// with the listener it opened on one; passivePorts tracks that listener
// until it is accepted on or closed.
type passivePorts struct {
	first, count int
	timeout      time.Duration // PassiveTimeout
	stall        time.Duration // StallTimeout, for the data connections
	ctx          context.Context

	mu      sync.Mutex
	next    int                  // the port to try next, as an offset from first
	waiting map[int]*passiveWait // by port
}

// passiveWait is a passive listener waiting for its data connection.
type passiveWait struct {
	ln     *net.TCPListener
	opened time.Time
	timer  *time.Timer
}

// open reports whether the listener is still open: ftpserverlib closes
// listeners itself when a client sends another PASV or goes away.
func (w *passiveWait) open() bool {
	rc, err := w.ln.SyscallConn()
	return err == nil && rc.Control(func(uintptr) {}) == nil
}

func newPassivePorts(ctx context.Context, ports [2]int, timeout, stall time.Duration) *passivePorts {
	return &passivePorts{
		first: ports[0], count: ports[1] - ports[0] + 1,
		timeout: timeout, stall: stall, ctx: ctx,
		waiting: map[int]*passiveWait{},
	}
}

// FetchNext returns the next port to try, as both the announced and the
// listened port: the next port in turn that no client is waiting on, or,
// when clients wait on every port, the port of the one that has waited
// longest, whose listener it closes. It returns false when every port was
// taken less than passiveGrace ago. Ports are handed out in turn so that
// one PASV tries every port once before giving up (a port may be taken by
// another program) and a port is not reused at once by the next client.
func (p *passivePorts) FetchNext() (int, int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var oldest *passiveWait
	oldestPort := 0
	for range p.count {
		port := p.first + p.next
		p.next = (p.next + 1) % p.count
		w, ok := p.waiting[port]
		if !ok || !w.open() {
			delete(p.waiting, port)
			return port, port, true
		}
		if oldest == nil || w.opened.Before(oldest.opened) {
			oldest, oldestPort = w, port
		}
	}
	if oldest != nil && time.Since(oldest.opened) >= passiveGrace {
		p.release(oldestPort, oldest)
		_ = oldest.ln.Close()
		return oldestPort, oldestPort, true
	}
	return 0, 0, false // every port is taken, and recently: the PASV fails
}

// NumberAttempts is how many ports one PASV tries.
func (p *passivePorts) NumberAttempts() int { return p.count }

// wrap tracks a listener ftpserverlib opened on a port of the range.
func (p *passivePorts) wrap(ln net.Listener) net.Listener {
	tcp, ok := ln.(*net.TCPListener)
	if !ok {
		return passiveListener{Listener: ln, ports: p}
	}
	port := tcp.Addr().(*net.TCPAddr).Port
	w := &passiveWait{ln: tcp, opened: time.Now()}
	w.timer = time.AfterFunc(p.timeout, func() {
		p.mu.Lock()
		p.release(port, w)
		p.mu.Unlock()
		_ = tcp.Close()
	})
	p.mu.Lock()
	p.waiting[port] = w
	p.mu.Unlock()
	return passiveListener{Listener: ln, ports: p, port: port, wait: w}
}

// release forgets w, if it still waits on port. p.mu is held.
func (p *passivePorts) release(port int, w *passiveWait) {
	w.timer.Stop()
	if p.waiting[port] == w {
		delete(p.waiting, port)
	}
}

// passiveListener is the listener ftpserverlib accepts a data connection
// on. It closes the listening socket once the data connection is accepted,
// which frees the port for another client while the transfer goes on, and
// when Serve's context ends while a client is being waited for:
// ftpserverlib holds the client's transfer lock during that wait, which
// would hold up closing the client. Data connections are bounded by
// StallTimeout.
type passiveListener struct {
	net.Listener
	ports *passivePorts
	port  int
	wait  *passiveWait // nil if not tracked
}

func (ln passiveListener) Accept() (net.Conn, error) {
	stop := context.AfterFunc(ln.ports.ctx, func() { _ = ln.Listener.Close() })
	defer stop()
	conn, err := ln.Listener.Accept()
	if ln.wait != nil {
		ln.ports.mu.Lock()
		ln.ports.release(ln.port, ln.wait)
		ln.ports.mu.Unlock()
	}
	_ = ln.Listener.Close()
	if err != nil {
		return nil, err
	}
	return &netlimit.StallConn{Conn: conn, Timeout: ln.ports.stall}, nil
}
