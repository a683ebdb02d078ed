//go:build !linux

package dhcp

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// packetReader is Linux's raw request reader; elsewhere Conn reads through x/net.
type packetReader struct{}

func (r *packetReader) read(syscall.RawConn, []byte) (int, int, *net.UDPAddr, error) {
	return 0, 0, nil, errors.New("dhcp: raw reads are only implemented on Linux")
}

// packetWriter is Linux's raw reply writer; elsewhere Conn writes through x/net.
type packetWriter struct{}

func (w *packetWriter) write(syscall.RawConn, []byte, int, netip.AddrPort) error {
	return errors.New("dhcp: raw writes are only implemented on Linux")
}
