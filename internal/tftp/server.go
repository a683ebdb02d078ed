// Package tftp is kickstand's read-only TFTP server: it hands boot loaders, kernels
// and per-client configuration files to PXE and UEFI firmware.
//
// It implements RFC 1350 reads with option negotiation (RFC 2347), blksize
// (RFC 2348), timeout and tsize (RFC 2349) and windowsize (RFC 7440). Every read
// request is served from its own UDP socket, as the TFTP transfer-ID rule asks, in
// its own goroutine; write requests are refused.
//
// Anyone can send a read request with a forged source address, so the server
// bounds what requests make it hold: transfers in flight, in all and per client
// address; the time a transfer waits for a client that does not answer; and the
// memory of all transfers' windows. A request over a limit is refused with
// "server busy" and opens nothing.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"kickstand/internal/transfers"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Server's fields.
const (
	// DefaultTimeout is the retransmission timeout when neither Server.Timeout nor the client sets one.
	DefaultTimeout = time.Second
	// DefaultRetries is how many unanswered retransmissions in a row end a
	// transfer whose client has answered before.
	DefaultRetries = 5
	// DefaultMaxBlockSize is the largest blksize granted: 1468 bytes of payload fill a 1500-byte Ethernet frame.
	DefaultMaxBlockSize = 1468
	// DefaultMaxWindowSize is the largest windowsize granted.
	DefaultMaxWindowSize = 64
)

// maxRequestSize bounds the datagrams read on the listening socket; requests with
// options are usually far smaller.
const maxRequestSize = 65536

// Handler opens the file a client asked for. name is the request's file name
// exactly as sent, with any leading "/" removed; the handler is responsible for
// confining it (os.Root does that). It returns the content and its size, or -1 when
// the size is unknown, in which case tsize is not offered (nor for empty files,
// which curl would reject). An error wrapping
// fs.ErrNotExist is sent to the client as TFTP error 1 (file not found),
// fs.ErrPermission as error 2 (access violation), and any other error as error 0.
type Handler func(ctx context.Context, name string, client net.Addr) (io.ReadCloser, int64, error)

// Transfer describes a finished or failed transfer, for logs and events.
type Transfer struct {
	Name       string        // file name as passed to the Handler
	Client     net.Addr      // the client's address
	Bytes      int64         // payload bytes the client acknowledged
	Duration   time.Duration // from the request to the end of the transfer
	BlockSize  int           // negotiated block size
	WindowSize int           // negotiated window size
	Err        error         // nil when the whole file was acknowledged
}

// Server is a read-only TFTP server. Its zero value, with a Handler, is ready to
// use. A Server must not be copied after first use.
type Server struct {
	// Handler opens requested files. It is required.
	Handler Handler
	// OnTransfer, if set, is called once per admitted read request when its
	// transfer ends, from the transfer's goroutine. Refused requests are only
	// counted (see Stats): a flood would otherwise call it for every packet.
	OnTransfer func(Transfer)
	// Transfers, if set, tracks the files in flight and their progress.
	Transfers *transfers.Tracker
	// Logger receives debug logs per request and per transfer; nil discards them.
	Logger *slog.Logger
	// Timeout is the retransmission timeout. Defaults to DefaultTimeout; a client's
	// "timeout" option up to MaxTimeout overrides it for that transfer.
	Timeout time.Duration
	// MaxTimeout is the longest "timeout" option granted. A longer one is left out
	// of the OACK (RFC 2349 lets the server only accept the client's value or
	// decline it) and the transfer uses Timeout. Defaults to DefaultMaxTimeout.
	MaxTimeout time.Duration
	// Retries is how many retransmissions in a row go unanswered before a
	// transfer whose client has answered before is abandoned. Defaults to DefaultRetries.
	Retries int
	// UnansweredRetries is how many times the first packet (OACK or DATA 1) is
	// resent before a client that has acknowledged nothing is given up, at most
	// Retries. Defaults to DefaultUnansweredRetries; negative means none.
	UnansweredRetries int
	// IdleTimeout ends a transfer whose client has acknowledged nothing new for
	// this long, however many retransmissions are left. Defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxTransfers caps the transfers in flight; a request beyond it is refused
	// with a "server busy" error. Defaults to DefaultMaxTransfers.
	MaxTransfers int
	// MaxTransfersPerClient caps the transfers in flight for one client IP
	// address; a request beyond it is refused with a "server busy" error.
	// Defaults to DefaultMaxTransfersPerClient.
	MaxTransfersPerClient int
	// MaxWindowMemory bounds the buffer memory of all transfers in flight, in
	// bytes. A transfer that does not fit gets a smaller window, and is refused
	// with a "server busy" error if not even one block fits. Defaults to
	// DefaultMaxWindowMemory.
	MaxWindowMemory int64
	// MaxBlockSize caps the blksize a client may negotiate. Defaults to DefaultMaxBlockSize.
	MaxBlockSize int
	// MaxWindowSize caps the windowsize a client may negotiate. Defaults to DefaultMaxWindowSize.
	MaxWindowSize int

	// BusyPoll is how long a transfer waiting for an acknowledgement polls its
	// socket before it sleeps, on Linux with more than one CPU, while no more
	// transfers run than there are CPUs beyond the first. Defaults to
	// DefaultBusyPoll; negative turns polling off.
	BusyPoll time.Duration

	admission admission // transfers in flight and counters, shared by Serve calls
	spinOnce  sync.Once
	spin      *spinner // made from BusyPoll on first use
}

// ListenAndServe listens on the UDP address addr (":69" when empty) and serves
// until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":69"
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: listen on %s: %w", addr, err)
	}
	defer conn.Close()
	return s.Serve(ctx, conn)
}

// Serve answers requests arriving on conn until ctx ends, then stops the transfers
// in flight, waits for them and returns nil. It does not close conn, but leaves a
// past read deadline on it to interrupt the read. If reading conn fails, Serve
// stops the transfers as well and returns the error.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	if s.Handler == nil {
		return errors.New("tftp: Server.Handler is nil")
	}
	ctx, cancel := context.WithCancel(ctx)
	transfers := &running{active: map[transferKey]*inFlight{}}
	defer transfers.wg.Wait()
	defer cancel() // also stops the transfers when conn fails
	release := afterDone(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer release()

	limits := s.limits() // read once: the open-file limit takes a system call
	buf := make([]byte, maxRequestSize)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tftp: read request: %w", err)
		}
		s.handleRequest(ctx, conn, buf[:n], from, transfers, limits)
	}
}

// handleRequest answers one packet that arrived on the listening socket.
func (s *Server) handleRequest(ctx context.Context, conn net.PacketConn, packet []byte, from net.Addr, transfers *running, limits limits) {
	log := s.logger()
	req, err := parseRequest(packet)
	if err != nil {
		log.Debug("tftp: dropping packet", "from", from, "err", err)
		return
	}
	if req.opcode == opWRQ {
		log.Debug("tftp: refusing write request", "from", from, "file", req.filename)
		_, _ = conn.WriteTo(appendError(nil, errCodeAccess, "read-only server"), from)
		return
	}
	peer, ok := addrPort(from)
	if !ok {
		log.Debug("tftp: dropping request from non-UDP address", "from", from)
		return
	}
	key := transferKey{peer, req.filename}
	if transfers.repeats(key, string(packet)) {
		log.Debug("tftp: ignoring repeated request: its transfer has not heard from the client yet", "from", from, "file", req.filename)
		return
	}
	// Admitted before anything is opened; the size only adds tsize, which costs no memory.
	p := s.negotiate(req.options, -1)
	memory, why := s.admission.admit(peer.Addr(), &p, limits)
	if why != admitted {
		s.admission.logRefusal(log, why, from, req.filename)
		_, _ = conn.WriteTo(busyPacket, from)
		return
	}
	log.Debug("tftp: read request", "from", from, "file", req.filename, "mode", req.mode, "options", req.options)
	r := &readRequest{request: req, client: from, peer: peer, received: time.Now(),
		window: p.windowSize, heard: transfers.start(key, string(packet))}
	transfers.wg.Go(func() {
		defer s.admission.leave(peer.Addr(), memory)
		defer transfers.end(key, r.heard)
		s.serveRead(ctx, conn.LocalAddr(), r)
	})
}

// readRequest is an admitted read request and what the server knows of its client.
type readRequest struct {
	request
	client   net.Addr
	peer     netip.AddrPort
	received time.Time
	window   int          // the largest window admission found memory for
	heard    *atomic.Bool // set once the client answers
}

// transferKey names a transfer by its client's address and port and the file.
type transferKey struct {
	peer netip.AddrPort
	file string
}

// running tracks the transfers in flight. A client whose request crosses our
// first DATA or OACK on the wire sends the same request again from the same
// port; answering that repeat would start a second transfer the client
// ignores, which then times out. So an identical request is ignored while the
// running transfer has heard nothing from the client. A different request
// (firmware asks for a file's size with tsize, aborts, and asks again at once
// without it), or any request after the client answered, is a new download.
// The map holds at most one entry per transfer in flight, which admission bounds.
type running struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[transferKey]*inFlight
}

// inFlight is one running transfer: the request that started it and whether
// its client has answered.
type inFlight struct {
	request string
	heard   atomic.Bool
}

// repeats reports whether request repeats that of a transfer in flight that
// has not heard from its client.
func (r *running) repeats(k transferKey, request string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.active[k]
	return ok && t.request == request && !t.heard.Load()
}

// start records a new transfer, replacing any older one of k's. Only Serve's
// goroutine calls it, so nothing starts between repeats and start.
func (r *running) start(k transferKey, request string) *atomic.Bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &inFlight{request: request}
	r.active[k] = t
	return &t.heard
}

func (r *running) end(k transferKey, heard *atomic.Bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.active[k]; ok && &t.heard == heard { // a newer transfer may have replaced it
		delete(r.active, k)
	}
}

// serveRead runs one read request from its own socket and reports how it ended.
func (s *Server) serveRead(ctx context.Context, local net.Addr, r *readRequest) {
	result := Transfer{Name: strings.TrimLeft(r.filename, "/"), Client: r.client}
	result.Err = s.serveFile(ctx, local, r, &result)
	if result.Err != nil && ctx.Err() != nil {
		result.Err = fmt.Errorf("tftp: transfer of %q stopped: %w", result.Name, ctx.Err())
	}
	if errors.Is(result.Err, errTimedOut) {
		s.admission.timedOut(!r.heard.Load())
	}
	result.Duration = time.Since(r.received)
	s.logger().Debug("tftp: transfer done", "file", result.Name, "client", r.client,
		"bytes", result.Bytes, "duration", result.Duration,
		"blksize", result.BlockSize, "windowsize", result.WindowSize, "err", result.Err)
	if s.OnTransfer != nil {
		s.OnTransfer(result)
	}
}

// serveFile opens the transfer socket and the file and sends it, filling in result.
func (s *Server) serveFile(ctx context.Context, local net.Addr, r *readRequest, result *Transfer) error {
	peer := r.peer
	conn, err := listenTransfer(ctx, local)
	if err != nil {
		return err
	}
	defer conn.Close()
	release := afterDone(ctx, func() { _ = conn.Close() }) // interrupts a blocked read
	defer release()

	file, size, err := s.Handler(ctx, result.Name, result.Client)
	if err == nil && file == nil {
		err = errors.New("tftp: handler returned no file and no error")
	}
	if err != nil {
		code, message := errorPacketFor(err)
		_, _ = conn.WriteToUDPAddrPort(appendError(nil, code, message), peer)
		return fmt.Errorf("tftp: open %q: %w", result.Name, err)
	}
	defer file.Close()

	p := s.negotiate(r.options, size)
	p.setWindowSize(r.window) // the same options, now with tsize
	result.BlockSize, result.WindowSize = p.blockSize, p.windowSize
	spin := s.spinner()
	spin.enter()
	defer spin.leave()
	t := newTransfer(conn, peer, file, p, s.retryPolicy(), spin, s.logger())
	t.heard = r.heard
	t.tracked = s.Transfers.Start("tftp", peer.Addr().Unmap(), result.Name, size)
	defer s.Transfers.Done(t.tracked)
	err = t.run()
	result.Bytes = t.bytes
	if re := (*readError)(nil); errors.As(err, &re) {
		_, _ = conn.WriteToUDPAddrPort(appendError(nil, errCodeUndefined, "read error"), peer)
	}
	if err != nil {
		return fmt.Errorf("tftp: send %q: %w", result.Name, err)
	}
	return nil
}

// errorPacketFor maps a Handler error to a TFTP error code and a message that
// reveals nothing about the server's files.
func errorPacketFor(err error) (uint16, string) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errCodeNotFound, "file not found"
	case errors.Is(err, fs.ErrPermission):
		return errCodeAccess, "access violation"
	default:
		return errCodeUndefined, "cannot open file"
	}
}

// listenTransfer opens a socket on a new port of the local IP the request arrived
// on, so that replies come from the address the client talked to.
func listenTransfer(ctx context.Context, local net.Addr) (*net.UDPConn, error) {
	network, host := "udp", ""
	if udp, ok := local.(*net.UDPAddr); ok && udp.IP != nil {
		host = udp.IP.String()
		if udp.Zone != "" {
			host += "%" + udp.Zone
		}
		if udp.IP.To4() != nil {
			network = "udp4"
		}
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, network, net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("tftp: open transfer socket: %w", err)
	}
	return conn.(*net.UDPConn), nil
}

// addrPort converts a client address to the form the transfer loop compares cheaply.
func addrPort(addr net.Addr) (netip.AddrPort, bool) {
	if udp, ok := addr.(*net.UDPAddr); ok {
		ap := udp.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// afterDone runs f once ctx ends. The returned release either cancels f or waits
// for it to finish, so no goroutine outlives the caller.
func afterDone(ctx context.Context, f func()) (release func()) {
	finished := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(finished)
		f()
	})
	return func() {
		if !stop() {
			<-finished
		}
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

func (s *Server) retries() int {
	if s.Retries <= 0 {
		return DefaultRetries
	}
	return s.Retries
}

func (s *Server) retryPolicy() retryPolicy {
	return retryPolicy{retries: s.retries(), unanswered: s.unansweredRetries(), idle: s.idleTimeout()}
}

func (s *Server) maxBlockSize() int {
	if s.MaxBlockSize <= 0 {
		return DefaultMaxBlockSize
	}
	return min(max(s.MaxBlockSize, minBlockSize), maxBlockSize)
}

func (s *Server) maxWindowSize() int {
	if s.MaxWindowSize <= 0 {
		return DefaultMaxWindowSize
	}
	return min(s.MaxWindowSize, maxWindowSize)
}
