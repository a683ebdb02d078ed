//go:build !linux

package tftp

import (
	"net"
	"net/netip"
)

// ackReader reads a transfer's socket; only Linux polls before sleeping.
type ackReader struct{ conn *net.UDPConn }

func newAckReader(conn *net.UDPConn, _ *spinner) *ackReader { return &ackReader{conn: conn} }

func (r *ackReader) read(buf []byte) (int, netip.AddrPort, error) {
	return r.conn.ReadFromUDPAddrPort(buf)
}
