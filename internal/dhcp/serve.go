package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sync/errgroup"
)

const (
	serverPort = 67
	clientPort = 68
	// maxDatagram fits any UDP payload, so nothing is silently truncated.
	maxDatagram = 65535
)

// DefaultWorkers is how many requests one conn answers at once when
// Server.Workers is zero. An ACK waits for its lease's group commit, a
// millisecond or a few; every request arriving meanwhile needs a worker of
// its own, or it waits in the socket's buffer, and at 12,000 DORAs a second
// that is dozens to hundreds. With 32 workers the server lost 2.5 % of the
// DORAs at 11,000/s; with 256, 0.3 % at 13,000/s (512 lose more again:
// workers only wake each other then). A waiting worker costs a goroutine.
const DefaultWorkers = 256

// Serve answers requests read from conn until ctx ends, and then returns
// nil; it does not close conn. conn is bound to port 67 or to the PXE boot
// server port (PXEPort, 4011 by default), which its LocalAddr tells apart,
// and should have the ipv4.FlagInterface control message enabled (Listen
// does this) so that broadcast replies leave through the interface the
// request came in on. In ModeOff Serve returns nil at once.
//
// Workers goroutines read conn and answer what they read, so that a
// request waiting for its lease to be stored does not hold up the others;
// several conns may be served at once.
func (s *Server) Serve(ctx context.Context, conn *Conn) error {
	if s.mode() == ModeOff {
		return nil
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if s.mode() == ModeFull {
		if _, err := s.leases(ctx); err != nil {
			return err
		}
	}
	port := 0
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		port = ua.Port
	}
	g, ctx := errgroup.WithContext(ctx)
	// Wake the blocked reads when ctx ends, or a worker failed; the caller
	// owns the conn.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	s.logger().Info("dhcp: serving", "mode", string(s.mode()), "addr", conn.LocalAddr().String())
	for range s.workers() {
		g.Go(func() error { return s.serveConn(ctx, conn, port) })
	}
	return g.Wait()
}

func (s *Server) workers() int {
	if s.Workers <= 0 {
		return DefaultWorkers
	}
	return s.Workers
}

// serveConn is one worker of Serve.
func (s *Server) serveConn(ctx context.Context, conn *Conn, port int) error {
	w := &worker{in: make([]byte, maxDatagram), out: make([]byte, 0, 1500)}
	for {
		n, ifIndex, src, err := conn.read(w)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dhcp: read: %w", err)
		}
		s.serveOne(ctx, conn, w, w.in[:n], ifIndex, src, port)
	}
}

// worker is what one worker of Serve reuses from one packet to the next.
type worker struct {
	in, out []byte // the request read, the reply encoded
	reader  packetReader
	writer  packetWriter
}

// serveOne handles one datagram and sends the reply, if any. A panic in
// the handler is logged and the datagram dropped, so that one odd packet
// can not stop the server.
func (s *Server) serveOne(ctx context.Context, conn *Conn, w *worker, b []byte, ifIndex int, src *net.UDPAddr, port int) {
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("dhcp: bug: handler panicked; packet dropped", "panic", r)
		}
	}()
	reply := s.handlePacket(ctx, b, port, ifIndex)
	if reply == nil {
		return
	}
	defer s.releaseReply(reply)
	dst, broadcast, ok := replyAddrPort(reply, src, port == s.pxePort())
	if !ok {
		s.logger().Debug("dhcp: no address to reply to", "src", src)
		return
	}
	// A broadcast must leave through the request's interface; unicast
	// replies follow the routing table.
	out := 0
	if broadcast {
		out = ifIndex
	}
	w.out = appendPacket(w.out[:0], reply)
	if err := conn.write(w, w.out, out, dst); err != nil {
		s.logger().Warn("dhcp: sending reply failed", "dst", dst.String(), "ifindex", ifIndex, "err", err)
		return
	}
	if log := s.logger(); log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("dhcp: reply sent", "type", messageType(reply.Options).String(), "dst", dst.String(), "ifindex", ifIndex)
	}
}

// replyAddr is where a reply goes (RFC 2131 4.1): on the PXE boot server
// port back to the sender; through a relay to giaddr:67; a NAK, and any
// reply to a client without an address, broadcast to port 68 (we can not
// unicast to a MAC without an ARP entry); otherwise to ciaddr:68. dst is
// nil when there is nowhere to send it.
func replyAddr(reply *dhcpv4.DHCPv4, src *net.UDPAddr, pxePort bool) (dst *net.UDPAddr, broadcast bool) {
	d, broadcast, ok := replyAddrPort(reply, src, pxePort)
	if !ok {
		return nil, false
	}
	return net.UDPAddrFromAddrPort(d), broadcast
}

// replyAddrPort is replyAddr without allocation; ok is false when there is
// nowhere to send the reply.
func replyAddrPort(reply *dhcpv4.DHCPv4, src *net.UDPAddr, pxePort bool) (dst netip.AddrPort, broadcast, ok bool) {
	bcast := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if pxePort {
		if src == nil {
			return netip.AddrPort{}, false, false
		}
		if src.IP.IsUnspecified() {
			return netip.AddrPortFrom(bcast, uint16(src.Port)), true, true
		}
		ip, ok := netip.AddrFromSlice(src.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(src.Port)), false, ok && ip.Unmap().Is4()
	}
	if gw, ok := ipv4Of(reply.GatewayIPAddr); ok {
		return netip.AddrPortFrom(gw, serverPort), false, true
	}
	if messageType(reply.Options) == dhcpv4.MessageTypeNak {
		return netip.AddrPortFrom(bcast, clientPort), true, true
	}
	if ci, ok := ipv4Of(reply.ClientIPAddr); ok {
		return netip.AddrPortFrom(ci, clientPort), false, true
	}
	return netip.AddrPortFrom(bcast, clientPort), true, true
}
