//go:build !linux

package dhcp

import (
	"context"
	"errors"
)

// Listen is only implemented on Linux, where sockets can be bound to one
// interface; elsewhere it returns an error.
func Listen(ctx context.Context, iface string, port int) (*Conn, error) {
	return nil, errors.New("dhcp: listening is only supported on Linux")
}
