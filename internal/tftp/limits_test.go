package tftp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	loopback4 = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.IPv6Loopback()
)

// startDualStack serves s on [::]:0, so that clients may come from both
// 127.0.0.1 and ::1, and returns the port; it skips the test without IPv6.
func startDualStack(t *testing.T, s *Server) uint16 {
	t.Helper()
	conn, err := net.ListenPacket("udp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack socket here: %v", err)
	}
	return serveOn(t, s, conn).Port()
}

// countingHandler counts the files memFiles opens.
func countingHandler(files map[string][]byte, opened *atomic.Int32) Handler {
	serve := memFiles(files)
	return func(ctx context.Context, name string, client net.Addr) (io.ReadCloser, int64, error) {
		opened.Add(1)
		return serve(ctx, name, client)
	}
}

// expectBusy checks that c's request was refused with error 0 from the
// listening socket at port.
func expectBusy(t *testing.T, c *testClient, port uint16) {
	t.Helper()
	packet := c.mustReceive(2 * time.Second)
	e := parsePeerError(packet)
	if opcodeOf(packet) != opError || e.code != errCodeUndefined || e.message != busyMessage {
		t.Fatalf("got %s, want ERROR 0 %q", describe(packet), busyMessage)
	}
	if c.from.Port() != port {
		t.Errorf("busy error came from port %d, want the listening port %d", c.from.Port(), port)
	}
}

// waitForStats waits until ok accepts the server's counters.
func waitForStats(t *testing.T, s *Server, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("server counters stuck at %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTransferLimits(t *testing.T) {
	tests := []struct {
		name                  string
		maxTransfers          int
		maxTransfersPerClient int
		holders               []netip.Addr // clients whose transfers wait for an ACK
		late                  netip.Addr   // the client that asks next
		want                  Stats        // counters after the late request
	}{
		{
			name: "over MaxTransfers", maxTransfers: 2, maxTransfersPerClient: 8,
			holders: []netip.Addr{loopback4, loopback6}, late: loopback4,
			want: Stats{Active: 2, Refused: 1},
		},
		{
			name: "over MaxTransfers from a new address", maxTransfers: 2, maxTransfersPerClient: 8,
			holders: []netip.Addr{loopback4, loopback4}, late: loopback6,
			want: Stats{Active: 2, Refused: 1},
		},
		{
			name: "over MaxTransfersPerClient", maxTransfers: 8, maxTransfersPerClient: 2,
			holders: []netip.Addr{loopback4, loopback4}, late: loopback4,
			want: Stats{Active: 2, RefusedPerClient: 1},
		},
		{
			name: "another address is not held back", maxTransfers: 8, maxTransfersPerClient: 2,
			holders: []netip.Addr{loopback4, loopback4}, late: loopback6,
			want: Stats{Active: 3},
		},
		{
			name: "under both limits", maxTransfers: 3, maxTransfersPerClient: 2,
			holders: []netip.Addr{loopback4, loopback6}, late: loopback4,
			want: Stats{Active: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opened atomic.Int32
			s := &Server{
				Handler:      countingHandler(map[string][]byte{"f": patterned(100)}, &opened),
				MaxTransfers: tt.maxTransfers, MaxTransfersPerClient: tt.maxTransfersPerClient,
				Timeout: 5 * time.Second,
			}
			port := startDualStack(t, s)
			var holders []*testClient
			for _, addr := range tt.holders {
				c := newTestClient(t, netip.AddrPortFrom(addr, port))
				c.request(opRRQ, "f")
				c.mustReceiveData(1, 2*time.Second)
				holders = append(holders, c)
			}
			late := newTestClient(t, netip.AddrPortFrom(tt.late, port))
			late.request(opRRQ, "f")
			refused := tt.want.Refused+tt.want.RefusedPerClient > 0
			if refused {
				expectBusy(t, late, port)
				if n := int(opened.Load()); n != len(tt.holders) {
					t.Errorf("handler opened %d files, want %d: a refused request opens nothing", n, len(tt.holders))
				}
			} else {
				late.mustReceiveData(1, 2*time.Second)
				holders = append(holders, late)
			}
			got := s.Stats()
			if got.Active != tt.want.Active || got.Refused != tt.want.Refused || got.RefusedPerClient != tt.want.RefusedPerClient {
				t.Errorf("counters %+v, want %+v", got, tt.want)
			}
			if got.WindowMemory <= 0 {
				t.Errorf("transfers in flight hold no window memory: %+v", got)
			}

			// Once a transfer ends, its place is free again.
			holders[0].ack(1)
			if refused {
				waitForStats(t, s, func(st Stats) bool { return st.Active == tt.want.Active-1 })
				if _, err := late.download(io.Discard, "f"); err != nil {
					t.Fatalf("request after a transfer ended: %v", err)
				}
			}
			for _, c := range holders[1:] {
				c.ack(1)
			}
			waitForStats(t, s, func(st Stats) bool { return st.Active == 0 && st.WindowMemory == 0 })
		})
	}
}

func TestWindowMemoryBudget(t *testing.T) {
	full := params{blockSize: 1468, windowSize: 64}
	small := params{blockSize: 1468, windowSize: 8}
	reports := newTransfers()
	file := patterned(100 << 10)
	s := &Server{
		Handler: memFiles(map[string][]byte{"f": file}), OnTransfer: reports.report, Timeout: 5 * time.Second,
		MaxWindowMemory: full.memory() + small.memory(),
	}
	addr := startServer(t, s)
	options := []string{"blksize", "1468", "windowsize", "64"}
	grantedWindow := func(c *testClient) int {
		t.Helper()
		packet := c.mustReceive(2 * time.Second)
		for _, o := range parseOACK(packet) {
			if o.name == "windowsize" && opcodeOf(packet) == opOACK {
				n, _ := strconv.Atoi(o.value)
				return n
			}
		}
		t.Fatalf("got %s, want OACK with windowsize", describe(packet))
		return 0
	}

	first := newTestClient(t, addr)
	first.request(opRRQ, "f", options...)
	if w := grantedWindow(first); w != 64 {
		t.Fatalf("first transfer got window %d, want 64", w)
	}
	second := newTestClient(t, addr)
	second.request(opRRQ, "f", options...)
	if w := grantedWindow(second); w != 8 {
		t.Fatalf("second transfer got window %d, want the 8 left in the budget", w)
	}
	third := newTestClient(t, addr)
	third.request(opRRQ, "f", options...)
	expectBusy(t, third, addr.Port())
	if st := s.Stats(); st.WindowMemory != s.MaxWindowMemory || st.Refused != 1 {
		t.Errorf("counters %+v, want all %d bytes of window memory taken and one refusal", st, s.MaxWindowMemory)
	}

	second.ack(0)
	n, err := second.receiveData(io.Discard, second.mustReceive(2*time.Second), 1468, 8)
	if err != nil || n != int64(len(file)) {
		t.Fatalf("download with the smaller window: %d bytes, %v", n, err)
	}
	if report := reports.next(t); report.Err != nil || report.WindowSize != 8 {
		t.Fatalf("OnTransfer got %+v, want a window of 8", report)
	}
	first.sendTo(first.peer, appendError(nil, errCodeOptionsDenied, "done"))
	reports.next(t)
	waitForStats(t, s, func(st Stats) bool { return st.Active == 0 && st.WindowMemory == 0 })
}

func TestParamsMemory(t *testing.T) {
	for _, p := range []params{
		{blockSize: 512, windowSize: 1},
		{blockSize: 1468, windowSize: 64},
		{blockSize: 65464, windowSize: 64},
		{blockSize: 8, windowSize: 65535},
	} {
		for _, budget := range []int64{1 << 10, 50 << 10, 200 << 10, 5 << 20} {
			w := p.windowFitting(budget)
			fits := p
			fits.windowSize = w
			more := p
			more.windowSize = w + 1
			switch {
			case w >= 1 && fits.memory() > budget:
				t.Errorf("%+v in %d bytes: window %d takes %d bytes", p, budget, w, fits.memory())
			case w < maxWindowSize && more.memory() <= budget:
				t.Errorf("%+v in %d bytes: window %d, but %d fits too", p, budget, w, w+1)
			}
		}
	}
	if got := (&params{blockSize: 1468, windowSize: 64}).memory(); got > 200<<10 {
		t.Errorf("a default-sized window takes %d bytes; DefaultMaxWindowMemory assumes under 200 KiB", got)
	}
}

// A client that never answers, which is what a request from a forged address
// looks like, gets the first packet 1 + UnansweredRetries times, and the
// transfer ends within that many timeouts.
func TestUnansweredClientGivesUp(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name       string
		server     Server
		options    []string
		first      uint16 // opcode of the first packet
		copies     int
		firstBytes int
	}{
		{name: "RFC 1350 request", first: opData, copies: 3, firstBytes: 516},
		{name: "with options", options: []string{"blksize", "1468"}, first: opOACK, copies: 3},
		{name: "timeout 255 is declined", options: []string{"timeout", "255"}, first: opData, copies: 3, firstBytes: 516},
		{name: "fewer retries", server: Server{UnansweredRetries: 1}, first: opData, copies: 2, firstBytes: 516},
		{name: "no retransmission", server: Server{UnansweredRetries: -1}, first: opData, copies: 1, firstBytes: 516},
		{name: "never more than Retries", server: Server{Retries: 1, UnansweredRetries: 4}, first: opData, copies: 2},
	}
	for i := range tests {
		tt := &tests[i]
		t.Run(tt.name, func(t *testing.T) {
			reports := newTransfers()
			s := &tt.server
			s.Handler, s.OnTransfer, s.Timeout = memFiles(map[string][]byte{"f": patterned(5000)}), reports.report, timeout
			if s.Retries == 0 {
				s.Retries = 5 // more than the unanswered retries, to tell them apart
			}
			addr := startServer(t, s)
			c := newTestClient(t, addr)
			start := time.Now()
			c.request(opRRQ, "f", tt.options...)
			report := reports.next(t)
			took := time.Since(start)
			if !errors.Is(report.Err, errTimedOut) {
				t.Fatalf("OnTransfer got err %v, want %v", report.Err, errTimedOut)
			}
			if bound := time.Duration(tt.copies) * timeout; took < bound*8/10 || took > bound+time.Second {
				t.Errorf("gave up after %v, want about %v", took, bound)
			}
			copies, bytes := 0, 0
			for {
				packet, err := c.receive(50 * time.Millisecond)
				if err != nil {
					break
				}
				bytes += len(packet)
				if opcodeOf(packet) != tt.first {
					t.Fatalf("got %s, want only copies of the first packet", describe(packet))
				}
				copies++
			}
			if copies != tt.copies {
				t.Errorf("first packet sent %d times, want %d", copies, tt.copies)
			}
			if tt.firstBytes > 0 && bytes != tt.copies*tt.firstBytes {
				t.Errorf("sent %d bytes, want %d copies of %d", bytes, tt.copies, tt.firstBytes)
			}
			if st := s.Stats(); st.TimedOut != 1 || st.Unanswered != 1 {
				t.Errorf("counters %+v, want one timed-out transfer, unanswered", st)
			}
		})
	}
}

// The idle timeout ends a transfer that makes no progress, however many
// retries it has left; ACKs that move nothing are not progress.
func TestIdleTimeoutEndsTransfer(t *testing.T) {
	const idle, timeout = 400 * time.Millisecond, 50 * time.Millisecond
	for _, duplicates := range []bool{false, true} {
		t.Run("duplicate ACKs "+strconv.FormatBool(duplicates), func(t *testing.T) {
			reports := newTransfers()
			addr := startServer(t, &Server{
				Handler: memFiles(map[string][]byte{"f": patterned(5000)}), OnTransfer: reports.report,
				Timeout: timeout, Retries: 1000, IdleTimeout: idle,
			})
			c := newTestClient(t, addr)
			c.request(opRRQ, "f")
			c.mustReceiveData(1, time.Second)
			c.ack(1)
			acked := time.Now()
			stop := make(chan struct{})
			if duplicates {
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
							_, _ = c.conn.WriteToUDPAddrPort(appendAck(1), c.peer)
						}
					}
				}()
			}
			report := reports.next(t)
			close(stop)
			took := time.Since(acked)
			if !errors.Is(report.Err, errTimedOut) || report.Bytes != 512 {
				t.Fatalf("OnTransfer got %d bytes, err %v; want 512 bytes and %v", report.Bytes, report.Err, errTimedOut)
			}
			if took < idle*8/10 || took > idle+time.Second {
				t.Errorf("transfer ended %v after the last progress, want about %v", took, idle)
			}
			copies := 0
			for {
				if _, err := c.receive(20 * time.Millisecond); err != nil {
					break
				}
				copies++
			}
			if most := int(idle/timeout) + 1; copies > most {
				t.Errorf("DATA 2 sent %d times, want at most one per timeout: %d", copies, most)
			}
		})
	}
}

func appendAck(block uint16) []byte {
	return []byte{0, byte(opAck), byte(block >> 8), byte(block)}
}

// floodReport checks the counters after TestFloodFromOneAddress.
func floodReport(t *testing.T, s *Server) {
	st := s.Stats()
	t.Logf("server counters: %+v", st)
	if st.Active != 0 || st.WindowMemory != 0 {
		t.Errorf("%d transfers and %d bytes of window memory left after the flood", st.Active, st.WindowMemory)
	}
	// The kernel drops what does not fit in the listening socket's buffer,
	// more so on a busy machine; the server must still have seen a flood.
	if st.RefusedPerClient < floodRequests/10 {
		t.Errorf("%d requests refused for the flooding address, want many of the %d sent", st.RefusedPerClient, floodRequests)
	}
	if st.Unanswered == 0 || st.Unanswered != st.TimedOut {
		t.Errorf("%d transfers unanswered of %d timed out, want the flood's admitted ones, all unanswered", st.Unanswered, st.TimedOut)
	}
}

// A flood of refused requests logs one line, not one per packet.
func TestRefusalsLogRateLimited(t *testing.T) {
	var logs lockedBuffer
	s := &Server{
		Handler: memFiles(map[string][]byte{"f": patterned(100)}), MaxTransfersPerClient: 1, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	addr := startServer(t, s)
	holder := newTestClient(t, addr)
	holder.request(opRRQ, "f")
	holder.mustReceiveData(1, 2*time.Second)
	c := newTestClient(t, addr)
	const refused = 50
	for i := range refused {
		c.request(opRRQ, "f", "nonce", strconv.Itoa(i)) // distinct, so none is a repeat
		expectBusy(t, c, addr.Port())
	}
	if st := s.Stats(); st.RefusedPerClient != refused {
		t.Fatalf("counters %+v, want %d refused for the client", st, refused)
	}
	if n := strings.Count(logs.String(), "refusing read request"); n != 1 {
		t.Errorf("%d refusals logged within a second, want 1:\n%s", n, logs.String())
	}
	holder.ack(1)
}

// lockedBuffer is a bytes.Buffer for a logger writing from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
