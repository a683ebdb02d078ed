package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// startServer serves s on 127.0.0.1:0 until the test ends and checks that Serve
// then returns nil.
func startServer(tb testing.TB, s *Server) netip.AddrPort {
	tb.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return serveOn(tb, s, conn)
}

// serveOn serves s on conn until the test ends and checks that Serve then returns nil.
func serveOn(tb testing.TB, s *Server, conn net.PacketConn) netip.AddrPort {
	tb.Helper()
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Serve returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("Serve did not return after cancel")
		}
		conn.Close()
	})
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// memFiles is a Handler serving in-memory files; the names "missing", "denied" and
// "broken" fail with the matching errors.
func memFiles(files map[string][]byte) Handler {
	return func(_ context.Context, name string, _ net.Addr) (io.ReadCloser, int64, error) {
		switch name {
		case "denied":
			return nil, 0, fmt.Errorf("open %s: %w", name, fs.ErrPermission)
		case "broken":
			return nil, 0, errors.New("disk on fire")
		}
		data, ok := files[name]
		if !ok {
			return nil, 0, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
		}
		return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
	}
}

// patterned returns n bytes that differ from block to block, so that a block sent
// twice or out of order changes the content.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/509)
	}
	return b
}

// testClient speaks TFTP with hand-made packets from one UDP socket.
type testClient struct {
	tb     testing.TB
	conn   *net.UDPConn
	server netip.AddrPort // the listening socket
	peer   netip.AddrPort // the transfer socket, learnt from the first reply
	from   netip.AddrPort // source of the last packet received
	buf    []byte
	ackBuf []byte
}

func newTestClient(tb testing.TB, server netip.AddrPort) *testClient {
	tb.Helper()
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if server.Addr().Is6() {
		local = &net.UDPAddr{IP: net.IPv6loopback}
	}
	conn, err := net.ListenUDP("udp", local)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &testClient{tb: tb, conn: conn, server: server, buf: make([]byte, 70000), ackBuf: make([]byte, 4)}
}

// request sends an RRQ or WRQ; options are name, value pairs.
func (c *testClient) request(op uint16, name string, options ...string) {
	c.tb.Helper()
	req := request{opcode: op, filename: name, mode: "octet"}
	for i := 0; i+1 < len(options); i += 2 {
		req.options = append(req.options, option{name: options[i], value: options[i+1]})
	}
	c.sendTo(c.server, appendRequest(nil, req))
}

func (c *testClient) sendTo(to netip.AddrPort, packet []byte) {
	c.tb.Helper()
	if _, err := c.conn.WriteToUDPAddrPort(packet, to); err != nil {
		c.tb.Fatal(err)
	}
}

// ack acknowledges block to the transfer socket.
func (c *testClient) ack(block uint16) {
	c.tb.Helper()
	binary.BigEndian.PutUint16(c.ackBuf, opAck)
	binary.BigEndian.PutUint16(c.ackBuf[2:], block)
	c.sendTo(c.peer, c.ackBuf)
}

// receive returns the next packet, valid until the next call.
func (c *testClient) receive(timeout time.Duration) ([]byte, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	n, from, err := c.conn.ReadFromUDPAddrPort(c.buf)
	if err != nil {
		return nil, err
	}
	c.from = from
	if !c.peer.IsValid() {
		c.peer = from
	}
	return c.buf[:n], nil
}

func (c *testClient) mustReceive(timeout time.Duration) []byte {
	c.tb.Helper()
	packet, err := c.receive(timeout)
	if err != nil {
		c.tb.Fatalf("waiting for a packet: %v", err)
	}
	return packet
}

// mustReceiveData expects DATA with the given block number and returns its payload.
func (c *testClient) mustReceiveData(block uint16, timeout time.Duration) []byte {
	c.tb.Helper()
	packet := c.mustReceive(timeout)
	if opcodeOf(packet) != opData || len(packet) < 4 {
		c.tb.Fatalf("got %s, want DATA %d", describe(packet), block)
	}
	if got := binary.BigEndian.Uint16(packet[2:]); got != block {
		c.tb.Fatalf("got DATA %d, want DATA %d", got, block)
	}
	return packet[4:]
}

// expectNothing fails if a packet arrives within d.
func (c *testClient) expectNothing(d time.Duration) {
	c.tb.Helper()
	if packet, err := c.receive(d); err == nil {
		c.tb.Fatalf("got %s, want no packet", describe(packet))
	}
}

// download reads a whole file like an RFC 7440 client (acknowledging every window
// and on gaps) and writes it to w; options are name, value pairs.
func (c *testClient) download(w io.Writer, name string, options ...string) (int64, error) {
	c.peer = netip.AddrPort{} // a new transfer answers from a new port
	c.request(opRRQ, name, options...)
	packet, err := c.receive(5 * time.Second)
	if err != nil {
		return 0, err
	}
	blockSize, window := 512, 1
	if opcodeOf(packet) == opOACK {
		for _, o := range parseOACK(packet) {
			switch o.name {
			case "blksize":
				blockSize, _ = strconv.Atoi(o.value)
			case "windowsize":
				window, _ = strconv.Atoi(o.value)
			}
		}
		c.ack(0)
		if packet, err = c.receive(5 * time.Second); err != nil {
			return 0, err
		}
	}
	return c.receiveData(w, packet, blockSize, window)
}

// receiveData runs the data phase of download starting with the first packet.
func (c *testClient) receiveData(w io.Writer, packet []byte, blockSize, window int) (int64, error) {
	var total int64
	expected, sinceAck := uint16(1), 0
	for {
		switch opcodeOf(packet) {
		case opData:
			block := binary.BigEndian.Uint16(packet[2:])
			if block != expected {
				if int16(block-expected) > 0 { // a gap: ask for the rest again
					c.ack(expected - 1)
					sinceAck = 0
				}
				break
			}
			n, _ := w.Write(packet[4:])
			total += int64(n)
			sinceAck++
			final := len(packet)-4 < blockSize
			if final || sinceAck == window {
				c.ack(block)
				sinceAck = 0
			}
			if final {
				return total, nil
			}
			expected++
		case opError:
			return total, parsePeerError(packet)
		default:
			return total, fmt.Errorf("unexpected %s", describe(packet))
		}
		var err error
		if packet, err = c.receive(5 * time.Second); err != nil {
			return total, err
		}
	}
}

// parseOACK returns the options of an OACK packet.
func parseOACK(packet []byte) []option {
	var options []option
	rest := packet[2:]
	for len(rest) > 0 {
		name, afterName, ok := cutString(rest)
		if !ok {
			break
		}
		value, afterValue, ok := cutString(afterName)
		if !ok {
			break
		}
		options = append(options, option{name: name, value: value})
		rest = afterValue
	}
	return options
}

// describe names a packet for failure messages.
func describe(packet []byte) string {
	switch op := opcodeOf(packet); {
	case op == opData && len(packet) >= 4:
		return fmt.Sprintf("DATA %d (%d bytes)", binary.BigEndian.Uint16(packet[2:]), len(packet)-4)
	case op == opAck && len(packet) >= 4:
		return fmt.Sprintf("ACK %d", binary.BigEndian.Uint16(packet[2:]))
	case op == opError:
		return fmt.Sprintf("ERROR %v", parsePeerError(packet))
	case op == opOACK:
		return fmt.Sprintf("OACK %v", parseOACK(packet))
	default:
		return fmt.Sprintf("packet % x", packet[:min(len(packet), 16)])
	}
}

// reports collects OnTransfer reports.
type reports chan Transfer

func newTransfers() reports { return make(reports, 16) }

func (ch reports) report(t Transfer) { ch <- t }

func (ch reports) next(tb testing.TB) Transfer {
	tb.Helper()
	select {
	case t := <-ch:
		return t
	case <-time.After(10 * time.Second):
		tb.Fatal("no OnTransfer report")
		return Transfer{}
	}
}
