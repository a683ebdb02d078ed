package tftp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"kickstand/internal/transfers"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// Errors that end a transfer.
var (
	// errTimedOut means the client stopped answering: every retransmission went
	// unacknowledged, or it acknowledged nothing new for the idle timeout.
	errTimedOut = errors.New("tftp: client stopped answering")
	// errAckTimeout is internal: one wait for an acknowledgement ran out.
	errAckTimeout = errors.New("tftp: acknowledgement timeout")
)

// unknownTIDPacket answers packets from anyone but the transfer's client (RFC 1350
// section 4). It is only ever read.
var unknownTIDPacket = appendError(nil, errCodeUnknownTID, "unknown transfer ID")

// recvBufferSize holds an ACK or a client's ERROR with a reasonable message.
const recvBufferSize = 516

// transfer sends one file to one client over the transfer's own socket.
//
// Block numbers are kept as 64-bit absolute counts and only truncated to 16 bits on
// the wire, so files past 65535 blocks roll over to block 0 (what curl, atftp and
// tftp-hpa do) without any special case.
type transfer struct {
	conn   *net.UDPConn
	peer   netip.AddrPort
	log    *slog.Logger
	file   *bufio.Reader
	params params
	policy retryPolicy

	// slots holds the current window and the block read ahead after it: block b
	// lives in slot b%(windowSize+1), each slot a complete DATA packet of
	// headerSize+blockSize bytes. Retransmissions resend slots as they are;
	// nothing is allocated per packet.
	slots   []byte
	slotLen []int // packet length of each slot
	recv    []byte
	batch   *batchWriter
	acks    *ackReader
	readErr error // the read ahead failed: the error of the next load
	// peerAddr is the client's address without a zone, as received
	// datagrams' senders are compared to it
	peerAddr netip.Addr

	acked  uint64 // highest block the client acknowledged
	sent   uint64 // highest block sent so far
	loaded uint64 // highest block read from the file
	last   uint64 // the final (short) block, once it has been read; 0 before
	bytes  int64  // payload bytes the client acknowledged
	// tracked is the transfer as the tracker sees it (nil: not tracked)
	tracked *transfers.Transfer
	heard   *atomic.Bool // set once the client answers; nil if nobody asks

	answered bool      // the client acknowledged the OACK or a block
	progress time.Time // when the client last acknowledged something new, or the transfer began
	armed    time.Time // the read deadline set on conn; zero before the first
}

// retryPolicy says when a transfer gives up on a client that does not answer.
type retryPolicy struct {
	retries    int           // retransmissions in a row once the client has answered
	unanswered int           // retransmissions of the first packet before it has
	idle       time.Duration // longest time without progress, whatever the retries
}

// newTransfer allocates the transfer's buffers, once; params.memory says how
// much. spin lets the wait for an acknowledgement poll before it sleeps.
func newTransfer(conn *net.UDPConn, peer netip.AddrPort, file io.Reader, p params, policy retryPolicy, spin *spinner, log *slog.Logger) *transfer {
	return &transfer{
		conn:     conn,
		peer:     peer,
		peerAddr: peer.Addr().Unmap().WithZone(""),
		acks:     newAckReader(conn, spin),
		log:      log,
		file:     bufio.NewReaderSize(file, p.readBufferSize()),
		params:   p,
		policy:   policy,
		slots:    make([]byte, (p.windowSize+1)*(headerSize+p.blockSize)),
		slotLen:  make([]int, p.windowSize+1),
		recv:     make([]byte, recvBufferSize),
		batch:    newBatchWriter(conn, peer, p.windowSize),
	}
}

// run negotiates options if any were accepted and sends the file.
func (t *transfer) run() error {
	t.progress = time.Now()
	if len(t.params.accepted) > 0 {
		if err := t.sendOptionAck(); err != nil {
			return err
		}
	}
	return t.sendData()
}

// sendOptionAck sends the OACK until the client acknowledges it with ACK 0. The
// client has answered nothing before, so it gets the unanswered retries.
func (t *transfer) sendOptionAck() error {
	oack := appendOACK(nil, t.params.accepted)
	for attempt := 0; attempt <= t.policy.unanswered && !t.idle(); attempt++ {
		if _, err := t.conn.WriteToUDPAddrPort(oack, t.peer); err != nil {
			return fmt.Errorf("tftp: send oack: %w", err)
		}
		deadline := t.waitDeadline(time.Now())
		for {
			block, err := t.receiveAck(deadline)
			if errors.Is(err, errAckTimeout) {
				break
			}
			if err != nil {
				return err
			}
			if block == 0 {
				t.madeProgress()
				return nil
			}
		}
	}
	return errTimedOut
}

// sendData runs the RFC 7440 window loop (RFC 1350 lock-step is window 1): send a
// window, wait for an acknowledgement, slide to it, and resend from the first
// unacknowledged block only when the wait times out.
func (t *transfer) sendData() error {
	failures := 0
	sent := t.progress // when the window goes out: once the client acknowledged something, at once
	for {
		if err := t.sendWindow(); err != nil {
			return err
		}
		t.readAhead()
		progressed, err := t.awaitWindowAck(t.waitDeadline(sent))
		if err != nil {
			return err
		}
		if t.last != 0 && t.acked == t.last {
			return nil
		}
		if progressed {
			failures = 0
			sent = t.progress
			continue
		}
		sent = time.Now()
		failures++
		if failures > t.retryLimit() || t.idle() {
			return errTimedOut
		}
	}
}

// retryLimit is how many retransmissions in a row the client may leave
// unanswered: fewer before it has answered at all, since a request from a
// forged address never will be.
func (t *transfer) retryLimit() int {
	if t.answered {
		return t.policy.retries
	}
	return t.policy.unanswered
}

// waitDeadline is when the wait for an acknowledgement of what was sent at
// sent ends: after the retransmission timeout, or earlier when the idle
// timeout runs out.
func (t *transfer) waitDeadline(sent time.Time) time.Time {
	deadline, idle := sent.Add(t.params.timeout), t.progress.Add(t.policy.idle)
	if idle.Before(deadline) {
		return idle
	}
	return deadline
}

// idle reports whether the client has acknowledged nothing new for the idle timeout.
func (t *transfer) idle() bool {
	return time.Since(t.progress) >= t.policy.idle
}

// madeProgress notes that the client acknowledged something new.
func (t *transfer) madeProgress() {
	t.answered = true
	t.progress = time.Now()
}

// sendWindow sends the blocks after the last acknowledged one, up to a window.
func (t *transfer) sendWindow() error {
	end := t.acked + uint64(t.params.windowSize)
	for block := t.acked + 1; block <= end; block++ {
		if t.last != 0 && block > t.last {
			break
		}
		if block > t.loaded {
			if err := t.load(block); err != nil {
				return err
			}
		}
		i := t.slotIndex(block)
		t.batch.add(t.slot(i)[:t.slotLen[i]])
		t.sent = max(t.sent, block)
	}
	return t.batch.flush()
}

// readAhead reads the block after the window into its slot while the
// window is on the wire, so that the read(2) does not stand between the
// acknowledgement and the answer: at lock-step the round trip is the speed.
// A read error waits until the block is due, so that the client still gets
// every block before it.
func (t *transfer) readAhead() {
	if t.last != 0 || t.loaded > t.sent || t.readErr != nil {
		return
	}
	t.readErr = t.load(t.sent + 1)
}

// load reads the next block from the file into its slot. The slot's previous block
// is more than a window old and thus acknowledged.
func (t *transfer) load(block uint64) error {
	if t.readErr != nil {
		return t.readErr
	}
	i := t.slotIndex(block)
	packet := t.slot(i)
	putDataHeader(packet, uint16(block))
	n, err := io.ReadFull(t.file, packet[headerSize:])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		t.last = block
	case err != nil:
		return &readError{err: err}
	case n < t.params.blockSize:
		t.last = block
	}
	t.slotLen[i] = headerSize + n
	t.loaded = block
	return nil
}

func (t *transfer) slotIndex(block uint64) int {
	return int(block % uint64(t.params.windowSize+1))
}

func (t *transfer) slot(i int) []byte {
	size := headerSize + t.params.blockSize
	return t.slots[i*size : (i+1)*size]
}

// awaitWindowAck waits until deadline for an ACK that moves the window forward.
// Duplicate and stale ACKs are ignored: answering them would be the Sorcerer's
// Apprentice bug (RFC 1123 section 4.2.3.1).
func (t *transfer) awaitWindowAck(deadline time.Time) (progressed bool, err error) {
	for {
		block, err := t.receiveAck(deadline)
		if errors.Is(err, errAckTimeout) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if t.slide(block) {
			t.madeProgress()
			return true, nil
		}
	}
}

// slide moves the window to the acknowledged block if it is one that was sent and
// not yet acknowledged, and reports whether it did.
func (t *transfer) slide(wire uint16) bool {
	ahead := uint64(wire - uint16(t.acked)) // 16-bit arithmetic handles rollover
	if ahead == 0 || ahead > t.sent-t.acked {
		return false
	}
	for block := t.acked + 1; block <= t.acked+ahead; block++ {
		t.bytes += int64(t.slotLen[t.slotIndex(block)] - headerSize)
	}
	t.tracked.Set(t.bytes)
	t.acked += ahead
	return true
}

// receiveAck returns the block number of the next ACK from the client, answering
// strangers with "unknown transfer ID" and skipping other packets. It returns
// errAckTimeout at deadline and a *peerError when the client sends an ERROR.
func (t *transfer) receiveAck(deadline time.Time) (uint16, error) {
	if err := t.armDeadline(deadline, false); err != nil {
		return 0, err
	}
	for {
		n, from, err := t.acks.read(t.recv)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, fmt.Errorf("tftp: receive: %w", err)
			}
			if !time.Now().Before(deadline) {
				return 0, errAckTimeout
			}
			// An earlier deadline was left armed: wait out the rest.
			if err := t.armDeadline(deadline, true); err != nil {
				return 0, err
			}
			continue
		}
		if from.Addr().Unmap().WithZone("") != t.peerAddr || from.Port() != t.peer.Port() {
			t.log.Debug("tftp: packet from unknown transfer ID", "from", from, "client", t.peer)
			_, _ = t.conn.WriteToUDPAddrPort(unknownTIDPacket, from)
			continue
		}
		if t.heard != nil {
			t.heard.Store(true)
		}
		packet := t.recv[:n]
		switch op := opcodeOf(packet); {
		case op == opAck && n >= 4:
			return binary.BigEndian.Uint16(packet[2:]), nil
		case op == opError:
			return 0, parsePeerError(packet)
		default:
			t.log.Debug("tftp: ignoring unexpected packet", "client", t.peer, "opcode", op, "size", n)
		}
	}
}

// armDeadline sets the socket's read deadline, unless exact is false and the
// one armed is at most an eighth of the timeout earlier: moving the runtime's
// timer for every block costs more than the wake-up, now and then, of a
// deadline that came early, after which receiveAck arms the exact one.
func (t *transfer) armDeadline(deadline time.Time, exact bool) error {
	if !exact && !t.armed.IsZero() && !deadline.Before(t.armed) && deadline.Sub(t.armed) <= t.params.timeout/8 {
		return nil
	}
	if err := t.conn.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("tftp: set deadline: %w", err)
	}
	t.armed = deadline
	return nil
}

// readError is a failure to read the file; the client is told with an ERROR packet.
type readError struct{ err error }

func (e *readError) Error() string { return "tftp: read file: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }
