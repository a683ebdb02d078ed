package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"

	"golang.org/x/net/ipv4"
)

// Conn is a DHCP server socket, what Serve reads requests from and sends
// replies on: Listen makes one bound to an interface, NewConn wraps any UDP
// socket.
type Conn struct {
	*ipv4.PacketConn
	raw syscall.RawConn // the socket itself, read without x/net where the platform allows; nil: through PacketConn
}

// NewConn wraps pc and asks the kernel for the interface each request came
// in on (IP_PKTINFO), which broadcast replies must leave through.
func NewConn(pc net.PacketConn) (*Conn, error) {
	p := ipv4.NewPacketConn(pc)
	if err := p.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
		return nil, fmt.Errorf("dhcp: enable control messages on %s: %w", pc.LocalAddr(), err)
	}
	c := &Conn{PacketConn: p}
	if sc, ok := pc.(syscall.Conn); ok && runtime.GOOS == "linux" {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c, nil
}

// read reads the next request into w.in: its length, the index of the
// interface it came in on (0 if unknown) and its sender.
func (c *Conn) read(w *worker) (int, int, *net.UDPAddr, error) {
	if c.raw != nil {
		return w.reader.read(c.raw, w.in)
	}
	n, cm, src, err := c.ReadFrom(w.in)
	if err != nil {
		return 0, 0, nil, err
	}
	ifIndex := 0
	if cm != nil {
		ifIndex = cm.IfIndex
	}
	udp, _ := src.(*net.UDPAddr)
	return n, ifIndex, udp, nil
}

// write sends the reply b to dst, through the interface ifIndex when it is
// not 0 (a broadcast must leave where its request came in).
func (c *Conn) write(w *worker, b []byte, ifIndex int, dst netip.AddrPort) error {
	if c.raw != nil {
		return w.writer.write(c.raw, b, ifIndex, dst)
	}
	var cm *ipv4.ControlMessage
	if ifIndex != 0 {
		cm = &ipv4.ControlMessage{IfIndex: ifIndex}
	}
	_, err := c.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
	return err
}
