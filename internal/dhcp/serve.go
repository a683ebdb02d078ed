package dhcp

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
)

const (
	serverPort = 67
	clientPort = 68
	// maxDatagram fits any UDP payload, so nothing is silently truncated.
	maxDatagram = 65535
)

// Serve answers requests read from conn until ctx ends, and then returns
// nil; it does not close conn. conn is bound to port 67 or to the PXE boot
// server port (PXEPort, 4011 by default), which its LocalAddr tells apart,
// and should have the ipv4.FlagInterface control message enabled (Listen
// does this) so that broadcast replies leave through the interface the
// request came in on. In ModeOff Serve returns nil at once.
//
// Requests on one conn are answered one at a time; several conns may be
// served at once.
func (s *Server) Serve(ctx context.Context, conn *ipv4.PacketConn) error {
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
	// Wake the blocked read when ctx ends; the caller owns the conn.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	s.logger().Info("dhcp: serving", "mode", string(s.mode()), "addr", conn.LocalAddr().String())
	buf := make([]byte, maxDatagram)
	for {
		n, cm, src, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dhcp: read: %w", err)
		}
		s.serveOne(ctx, conn, buf[:n], cm, src, port)
	}
}

// serveOne handles one datagram and sends the reply, if any. A panic in
// the handler is logged and the datagram dropped, so that one odd packet
// can not stop the server.
func (s *Server) serveOne(ctx context.Context, conn *ipv4.PacketConn, b []byte, cm *ipv4.ControlMessage, src net.Addr, port int) {
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("dhcp: bug: handler panicked; packet dropped", "panic", r)
		}
	}()
	ifIndex := 0
	if cm != nil {
		ifIndex = cm.IfIndex
	}
	reply := s.handlePacket(ctx, b, port, ifIndex)
	if reply == nil {
		return
	}
	udpSrc, _ := src.(*net.UDPAddr)
	dst, broadcast := replyAddr(reply, udpSrc, port == s.pxePort())
	if dst == nil {
		s.logger().Debug("dhcp: no address to reply to", "src", src)
		return
	}
	var wcm *ipv4.ControlMessage
	if broadcast && ifIndex != 0 {
		// A broadcast must leave through the request's interface; unicast
		// replies follow the routing table.
		wcm = &ipv4.ControlMessage{IfIndex: ifIndex}
	}
	if _, err := conn.WriteTo(reply.ToBytes(), wcm, dst); err != nil {
		s.logger().Warn("dhcp: sending reply failed", "dst", dst.String(), "ifindex", ifIndex, "err", err)
		return
	}
	s.logger().Debug("dhcp: reply sent", "type", reply.MessageType().String(), "dst", dst.String(), "ifindex", ifIndex)
}

// replyAddr is where a reply goes (RFC 2131 4.1): on the PXE boot server
// port back to the sender; through a relay to giaddr:67; a NAK, and any
// reply to a client without an address, broadcast to port 68 (we can not
// unicast to a MAC without an ARP entry); otherwise to ciaddr:68.
func replyAddr(reply *dhcpv4.DHCPv4, src *net.UDPAddr, pxePort bool) (dst *net.UDPAddr, broadcast bool) {
	if pxePort {
		if src == nil {
			return nil, false
		}
		if src.IP.IsUnspecified() {
			return &net.UDPAddr{IP: net.IPv4bcast, Port: src.Port}, true
		}
		return src, false
	}
	if gw, ok := ipv4Of(reply.GatewayIPAddr); ok {
		return &net.UDPAddr{IP: gw.AsSlice(), Port: serverPort}, false
	}
	if reply.MessageType() == dhcpv4.MessageTypeNak {
		return &net.UDPAddr{IP: net.IPv4bcast, Port: clientPort}, true
	}
	if ci, ok := ipv4Of(reply.ClientIPAddr); ok {
		return &net.UDPAddr{IP: ci.AsSlice(), Port: clientPort}, false
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: clientPort}, true
}
