//go:build unix

package httpd

import (
	"errors"
	"syscall"
)

// receiveBuffer returns a net.Dialer Control that sets the socket's
// receive buffer, so that a client that does not read stalls the server
// soon.
func receiveBuffer(size int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		})
		return errors.Join(err, serr)
	}
}
