//go:build linux

package dhcp

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listen opens a UDP socket on port (67 or 4011) bound to the named
// interface (all interfaces if iface is ""), able to send broadcasts, and
// returns it with the interface and destination control messages on, ready
// for Serve. Binding port 67 needs root or CAP_NET_BIND_SERVICE; binding to
// an interface needs CAP_NET_RAW on older kernels.
func Listen(ctx context.Context, iface string, port int) (*Conn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = setSocketOptions(int(fd), iface) })
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on port %d (interface %q): %w", port, iface, err)
	}
	conn, err := NewConn(pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return conn, nil
}

// receiveBuffer is the DHCP socket's receive buffer: about 10,000 requests.
const receiveBuffer = 4 << 20

// setSocketOptions lets the socket share the port with other kickstand
// sockets (SO_REUSEADDR), send to 255.255.255.255 (SO_BROADCAST), queue a
// burst (receiveBuffer) and, with
// an interface name, see only that interface's packets (SO_BINDTODEVICE).
func setSocketOptions(fd int, iface string) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("set SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("set SO_BROADCAST: %w", err)
	}
	// A rack powering on sends its DISCOVERs in the same moment: room for
	// thousands in the socket, rather than the kernel's default of a few
	// hundred, which perfdhcp overflowed at 10,000 DORA/s while the server
	// had CPU to spare. SO_RCVBUFFORCE passes net.core.rmem_max (kickstand
	// runs as root to bind port 67); without the privilege, SO_RCVBUF gets
	// what rmem_max allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, receiveBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, receiveBuffer)
	}
	if iface != "" {
		if err := unix.BindToDevice(fd, iface); err != nil {
			return fmt.Errorf("bind to interface %q: %w", iface, err)
		}
	}
	return nil
}
