//go:build !linux

package dhcp

import (
	"errors"
	"net"
	"syscall"
)

// packetReader is Linux's raw request reader; elsewhere Conn reads through x/net.
type packetReader struct{}

func (r *packetReader) read(syscall.RawConn, []byte) (int, int, *net.UDPAddr, error) {
	return 0, 0, nil, errors.New("dhcp: raw reads are only implemented on Linux")
}
