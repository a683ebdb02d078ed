package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteRequestRefused(t *testing.T) {
	addr := startServer(t, &Server{Handler: memFiles(nil)})
	c := newTestClient(t, addr)
	c.request(opWRQ, "upload.bin")
	packet := c.mustReceive(2 * time.Second)
	if e := parsePeerError(packet); opcodeOf(packet) != opError || e.code != errCodeAccess {
		t.Fatalf("got %s, want ERROR %d", describe(packet), errCodeAccess)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		code uint16
	}{
		{"missing", errCodeNotFound},
		{"denied", errCodeAccess},
		{"broken", errCodeUndefined},
	}
	reports := newTransfers()
	addr := startServer(t, &Server{Handler: memFiles(nil), OnTransfer: reports.report})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, addr)
			c.request(opRRQ, "/"+tt.name, "tsize", "0")
			packet := c.mustReceive(2 * time.Second)
			if e := parsePeerError(packet); opcodeOf(packet) != opError || e.code != tt.code {
				t.Fatalf("got %s, want ERROR %d", describe(packet), tt.code)
			}
			if strings.Contains(describe(packet), "fire") {
				t.Errorf("error packet %s reveals the handler's error", describe(packet))
			}
			report := reports.next(t)
			if report.Err == nil || report.Name != tt.name {
				t.Errorf("OnTransfer got name %q err %v, want %q and an error", report.Name, report.Err, tt.name)
			}
		})
	}
}

func TestOptionNegotiation(t *testing.T) {
	file := patterned(12345)
	tests := []struct {
		name    string
		options []string
		want    []option // nil: no OACK, DATA 1 comes first
	}{
		{
			name:    "clamped and echoed",
			options: []string{"blksize", "9000", "tsize", "0", "windowsize", "16"},
			want:    []option{{"blksize", "1468"}, {"tsize", "12345"}, {"windowsize", "16"}},
		},
		{
			name:    "names are case-insensitive",
			options: []string{"BlkSize", "1024", "TSIZE", "0", "WindowSize", "100"},
			want:    []option{{"blksize", "1024"}, {"tsize", "12345"}, {"windowsize", "64"}},
		},
		{
			name: "invalid options are left out",
			options: []string{"blksize", "7", "windowsize", "0", "timeout", "256", "tsize", "abc",
				"multicast", "", "timeout", "3"},
			want: []option{{"timeout", "3"}},
		},
		{
			name:    "out of range above",
			options: []string{"blksize", "65465", "windowsize", "65536", "timeout", "0", "tsize", "-1"},
			want:    nil,
		},
		{
			name:    "non-numeric",
			options: []string{"blksize", "1k", "windowsize", "x", "timeout", "1.5"},
			want:    nil,
		},
	}
	reports := newTransfers()
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": file}), OnTransfer: reports.report})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, addr)
			c.request(opRRQ, "f", tt.options...)
			packet := c.mustReceive(2 * time.Second)
			if tt.want == nil {
				if opcodeOf(packet) != opData || binary.BigEndian.Uint16(packet[2:]) != 1 {
					t.Fatalf("got %s, want DATA 1", describe(packet))
				}
			} else if got := parseOACK(packet); opcodeOf(packet) != opOACK || !slices.Equal(got, tt.want) {
				t.Fatalf("got %s, want OACK %v", describe(packet), tt.want)
			}
			c.sendTo(c.peer, appendError(nil, errCodeOptionsDenied, "done"))
			c.expectNothing(100 * time.Millisecond)
			if report := reports.next(t); report.Err == nil {
				t.Errorf("OnTransfer got no error after the client's ERROR")
			}
		})
	}
}

// failingReader returns n bytes, then an error.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

func TestReadErrorReported(t *testing.T) {
	handler := func(ctx context.Context, name string, client net.Addr) (io.ReadCloser, int64, error) {
		return io.NopCloser(&failingReader{n: 600}), 5000, nil
	}
	reports := newTransfers()
	addr := startServer(t, &Server{Handler: handler, OnTransfer: reports.report})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f")
	c.mustReceiveData(1, time.Second)
	c.ack(1)
	packet := c.mustReceive(time.Second)
	if e := parsePeerError(packet); opcodeOf(packet) != opError || e.code != errCodeUndefined {
		t.Fatalf("got %s, want ERROR 0", describe(packet))
	}
	if report := reports.next(t); report.Err == nil || report.Bytes != 512 {
		t.Fatalf("OnTransfer got %d bytes, err %v; want 512 bytes and an error", report.Bytes, report.Err)
	}
}

func TestTsizeUnknownNotOffered(t *testing.T) {
	handler := func(ctx context.Context, name string, client net.Addr) (io.ReadCloser, int64, error) {
		return io.NopCloser(strings.NewReader("hello")), -1, nil
	}
	addr := startServer(t, &Server{Handler: handler})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f", "tsize", "0", "blksize", "1024")
	packet := c.mustReceive(2 * time.Second)
	if want := []option{{"blksize", "1024"}}; !slices.Equal(parseOACK(packet), want) {
		t.Fatalf("got %s, want OACK %v", describe(packet), want)
	}
}

func TestEmptyFileTsizeNotOffered(t *testing.T) {
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"empty": {}})})
	c := newTestClient(t, addr)
	c.request(opRRQ, "empty", "tsize", "0")
	if got := c.mustReceiveData(1, time.Second); len(got) != 0 {
		t.Fatalf("DATA 1 has %d bytes, want 0", len(got))
	}
	c.ack(1)
}

func TestDuplicateAckCausesNoResend(t *testing.T) {
	file := patterned(2*512 + 100)
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": file}), Timeout: 2 * time.Second})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f")
	var got []byte
	got = append(got, c.mustReceiveData(1, time.Second)...)
	c.ack(1)
	c.ack(1)
	c.ack(1)
	got = append(got, c.mustReceiveData(2, time.Second)...)
	c.ack(1) // a stale ACK while block 2 is outstanding
	c.expectNothing(300 * time.Millisecond)
	c.ack(2)
	got = append(got, c.mustReceiveData(3, time.Second)...)
	c.ack(3)
	if !bytes.Equal(got, file) {
		t.Fatalf("content differs")
	}
}

func TestForeignTransferID(t *testing.T) {
	file := patterned(3 * 512)
	reports := newTransfers()
	addr := startServer(t, &Server{
		Handler: memFiles(map[string][]byte{"f": file}), Timeout: 2 * time.Second, OnTransfer: reports.report,
	})
	client := newTestClient(t, addr)
	client.request(opRRQ, "f")
	got := bytes.Clone(client.mustReceiveData(1, time.Second))

	stranger := newTestClient(t, addr)
	stranger.peer = client.peer
	stranger.ack(1)
	packet := stranger.mustReceive(time.Second)
	if e := parsePeerError(packet); opcodeOf(packet) != opError || e.code != errCodeUnknownTID {
		t.Fatalf("stranger got %s, want ERROR %d", describe(packet), errCodeUnknownTID)
	}
	if stranger.from != client.peer {
		t.Errorf("error 5 came from %v, want the transfer socket %v", stranger.from, client.peer)
	}
	client.expectNothing(200 * time.Millisecond) // the stranger's ACK did not move the transfer

	for block := uint16(1); ; block++ {
		client.ack(block)
		if block == 4 {
			break
		}
		got = append(got, client.mustReceiveData(block+1, time.Second)...)
	}
	if !bytes.Equal(got, file) {
		t.Fatalf("content differs")
	}
	if report := reports.next(t); report.Err != nil || report.Bytes != int64(len(file)) {
		t.Fatalf("OnTransfer got %d bytes, err %v; want %d bytes, no error", report.Bytes, report.Err, len(file))
	}
}

func TestRetransmitOnLostAck(t *testing.T) {
	file := patterned(700)
	const timeout = 100 * time.Millisecond
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": file}), Timeout: timeout})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f")
	first := bytes.Clone(c.mustReceiveData(1, time.Second))
	sent := time.Now()
	again := c.mustReceiveData(1, time.Second) // no ACK: the server must resend
	if waited := time.Since(sent); waited < timeout*8/10 {
		t.Errorf("resent after %v, want about %v", waited, timeout)
	}
	if !bytes.Equal(first, again) {
		t.Errorf("retransmitted block differs")
	}
	c.ack(1)
	last := c.mustReceiveData(2, time.Second)
	c.ack(2)
	if got := append(first, last...); !bytes.Equal(got, file) {
		t.Fatalf("content differs")
	}
}

// A client that answered and then went away gets 1 + Retries copies of the
// unacknowledged DATA; TestUnansweredClientGivesUp covers one that never answered.
func TestClientDisappears(t *testing.T) {
	reports := newTransfers()
	s := &Server{
		Handler: memFiles(map[string][]byte{"f": patterned(5000)}), OnTransfer: reports.report,
		Timeout: 50 * time.Millisecond, Retries: 4,
	}
	addr := startServer(t, s)
	c := newTestClient(t, addr)
	c.request(opRRQ, "f")
	c.mustReceiveData(1, time.Second)
	c.ack(1)
	report := reports.next(t)
	if !errors.Is(report.Err, errTimedOut) {
		t.Fatalf("OnTransfer got err %v, want %v", report.Err, errTimedOut)
	}
	copies := 0
	for {
		packet, err := c.receive(50 * time.Millisecond)
		if err != nil {
			break
		}
		if opcodeOf(packet) == opData && binary.BigEndian.Uint16(packet[2:]) == 2 {
			copies++
		}
	}
	if copies != 5 {
		t.Errorf("DATA 2 sent %d times, want 5 (1 + Retries)", copies)
	}
	if st := s.Stats(); st.TimedOut != 1 || st.Unanswered != 0 {
		t.Errorf("counters %+v, want one timed-out transfer, answered", st)
	}
}

func TestClientRejectsOptions(t *testing.T) {
	reports := newTransfers()
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": patterned(100)}), OnTransfer: reports.report})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f", "blksize", "1024")
	if packet := c.mustReceive(time.Second); opcodeOf(packet) != opOACK {
		t.Fatalf("got %s, want OACK", describe(packet))
	}
	c.sendTo(c.peer, appendError(nil, errCodeOptionsDenied, "no thanks"))
	report := reports.next(t)
	var pe *peerError
	if !errors.As(report.Err, &pe) || pe.code != errCodeOptionsDenied || !report.SizeProbe() {
		t.Fatalf("OnTransfer got err %v (size probe %v), want the client's error 8, a size probe", report.Err, report.SizeProbe())
	}
	c.expectNothing(100 * time.Millisecond)
}

func TestWindowSlidesToAck(t *testing.T) {
	file := patterned(8*10 + 3) // 11 blocks of 8 bytes
	reports := newTransfers()
	addr := startServer(t, &Server{
		Handler: memFiles(map[string][]byte{"f": file}), OnTransfer: reports.report, Timeout: 2 * time.Second,
	})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f", "blksize", "8", "windowsize", "4")
	if packet := c.mustReceive(time.Second); opcodeOf(packet) != opOACK {
		t.Fatalf("got %s, want OACK", describe(packet))
	}
	c.ack(0)
	receiveBlocks := func(from, to uint16) {
		t.Helper()
		for b := from; b <= to; b++ {
			c.mustReceiveData(b, time.Second)
		}
		c.expectNothing(50 * time.Millisecond)
	}
	receiveBlocks(1, 4)
	c.ack(2) // blocks 3 and 4 "lost": the next window starts at 3
	receiveBlocks(3, 6)
	c.ack(6)
	receiveBlocks(7, 10)
	c.ack(10)
	if got := c.mustReceiveData(11, time.Second); len(got) != 3 {
		t.Fatalf("last block has %d bytes, want 3", len(got))
	}
	c.ack(11)
	if report := reports.next(t); report.Err != nil || report.Bytes != int64(len(file)) || report.WindowSize != 4 {
		t.Fatalf("OnTransfer got %+v, want %d bytes with window 4", report, len(file))
	}
}

func TestWindowResentOnTimeout(t *testing.T) {
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": patterned(100)}), Timeout: 100 * time.Millisecond})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f", "blksize", "16", "windowsize", "3")
	c.mustReceive(time.Second)
	c.ack(0)
	for range 2 {
		for b := uint16(1); b <= 3; b++ {
			c.mustReceiveData(b, time.Second)
		}
	}
}

func TestExactMultipleEndsWithEmptyBlock(t *testing.T) {
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": patterned(1024)})})
	c := newTestClient(t, addr)
	c.request(opRRQ, "f")
	for b := uint16(1); b <= 2; b++ {
		if got := c.mustReceiveData(b, time.Second); len(got) != 512 {
			t.Fatalf("DATA %d has %d bytes, want 512", b, len(got))
		}
		c.ack(b)
	}
	if got := c.mustReceiveData(3, time.Second); len(got) != 0 {
		t.Fatalf("DATA 3 has %d bytes, want 0", len(got))
	}
	c.ack(3)
}

func TestBlockNumberRollover(t *testing.T) {
	file := patterned(8*70000 + 5) // 70001 blocks: past 65535 and back through 0
	reports := newTransfers()
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": file}), OnTransfer: reports.report})
	c := newTestClient(t, addr)
	var got bytes.Buffer
	if _, err := c.download(&got, "f", "blksize", "8", "windowsize", "64"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), file) {
		t.Fatalf("got %d bytes, want %d, or content differs", got.Len(), len(file))
	}
	if report := reports.next(t); report.Err != nil || report.Bytes != int64(len(file)) {
		t.Fatalf("OnTransfer got %d bytes, err %v", report.Bytes, report.Err)
	}
}

func TestMalformedPacketsDropped(t *testing.T) {
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"f": []byte("ok")})})
	c := newTestClient(t, addr)
	for _, packet := range [][]byte{
		{},
		{0},
		{0, 1},
		[]byte("\x00\x01f"),
		[]byte("\x00\x01f\x00octet"),
		[]byte("\x00\x01\x00octet\x00"),
		[]byte("\x00\x01f\x00mail\x00"),
		[]byte("\x00\x09f\x00octet\x00"),
		{0, 3, 0, 1, 'x'},
		{0, 4, 0, 1},
	} {
		c.sendTo(addr, packet)
	}
	c.expectNothing(100 * time.Millisecond)
	var got bytes.Buffer
	if _, err := c.download(&got, "f"); err != nil || got.String() != "ok" {
		t.Fatalf("download after garbage: %q, %v", got.String(), err)
	}
}

func TestListenAddresses(t *testing.T) {
	tests := []struct {
		name, network, listen string
		client                netip.Addr // where the client sends its request
	}{
		{"IPv4 wildcard", "udp4", "0.0.0.0:0", netip.MustParseAddr("127.0.0.1")},
		{"dual-stack wildcard, IPv4 client", "udp", "[::]:0", netip.MustParseAddr("127.0.0.1")},
		{"IPv6 loopback", "udp6", "[::1]:0", netip.IPv6Loopback()},
	}
	file := patterned(5000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.ListenPacket(tt.network, tt.listen)
			if err != nil {
				t.Skipf("cannot listen on %s here: %v", tt.listen, err)
			}
			port := serveOn(t, &Server{Handler: memFiles(map[string][]byte{"f": file})}, conn).Port()
			c := newTestClient(t, netip.AddrPortFrom(tt.client, port))
			var got bytes.Buffer
			if _, err := c.download(&got, "f", "blksize", "1024", "windowsize", "4"); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), file) {
				t.Fatalf("content differs")
			}
			if c.peer.Addr() != tt.client {
				t.Errorf("transfer came from %v, want address %v", c.peer, tt.client)
			}
		})
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reports := newTransfers()
	slowReport := func(t Transfer) {
		time.Sleep(100 * time.Millisecond) // Serve must wait for this too
		reports.report(t)
	}
	s := &Server{Handler: memFiles(map[string][]byte{"f": patterned(5000)}), OnTransfer: slowReport, Timeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()

	c := newTestClient(t, conn.LocalAddr().(*net.UDPAddr).AddrPort())
	c.request(opRRQ, "f")
	c.mustReceiveData(1, time.Second) // a transfer is in flight, waiting for an ACK
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	select {
	case report := <-reports:
		if !errors.Is(report.Err, context.Canceled) {
			t.Errorf("OnTransfer got err %v, want context.Canceled", report.Err)
		}
	default:
		t.Errorf("Serve returned before the transfer ended")
	}
	if stacks := serverGoroutines(); stacks != "" {
		t.Fatalf("goroutines left after Serve returned:\n%s", stacks)
	}
}

// serverGoroutines returns the stacks of goroutines running server code, waiting
// briefly for ones that are about to exit.
func serverGoroutines() string {
	var left []string
	for range 100 {
		buf := make([]byte, 1<<20)
		all := string(buf[:runtime.Stack(buf, true)])
		left = left[:0]
		for _, g := range strings.Split(all, "\n\n") {
			if strings.Contains(g, "tftp.(*Server)") || strings.Contains(g, "tftp.(*transfer)") ||
				strings.Contains(g, "tftp.afterDone") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return ""
		}
		time.Sleep(10 * time.Millisecond)
	}
	return strings.Join(left, "\n\n")
}
