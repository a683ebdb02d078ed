package tftp

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// batchWriter sends a window of packets to one peer with as few system calls as
// the platform allows: one sendmmsg(2) per window on Linux, which halves the cost
// of a transfer over sending each packet on its own; one call per packet elsewhere.
// A window of one packet (lock-step) goes out with a plain sendto(2), which
// costs less than a batch of one. Its buffers are allocated once, so flushing
// a window allocates nothing.
type batchWriter struct {
	udp  *net.UDPConn
	peer netip.AddrPort
	conn *ipv4.PacketConn // ipv4 only names x/net's batch API: on Linux an IPv6 socket takes IPv4 peers too
	addr net.Addr
	msgs []ipv4.Message
	bufs [][]byte
}

func newBatchWriter(conn *net.UDPConn, peer netip.AddrPort, capacity int) *batchWriter {
	return &batchWriter{
		udp:  conn,
		peer: peer,
		conn: ipv4.NewPacketConn(conn),
		addr: net.UDPAddrFromAddrPort(peer),
		msgs: make([]ipv4.Message, 0, capacity),
		bufs: make([][]byte, capacity),
	}
}

// add queues packet, which must stay unchanged until flush returns.
func (w *batchWriter) add(packet []byte) {
	i := len(w.msgs)
	w.bufs[i] = packet
	w.msgs = append(w.msgs, ipv4.Message{Buffers: w.bufs[i : i+1], Addr: w.addr})
}

// flush sends the queued packets in order.
func (w *batchWriter) flush() error {
	pending := w.msgs
	w.msgs = w.msgs[:0]
	if len(pending) == 1 {
		if _, err := w.udp.WriteToUDPAddrPort(w.bufs[0], w.peer); err != nil {
			return fmt.Errorf("tftp: send data: %w", err)
		}
		return nil
	}
	for len(pending) > 0 {
		n, err := w.conn.WriteBatch(pending, 0)
		if err != nil {
			return fmt.Errorf("tftp: send data: %w", err)
		}
		pending = pending[n:]
	}
	return nil
}
