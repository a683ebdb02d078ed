//go:build !linux

package doctor

import (
	"context"
	"net"
	"time"
)

func probeDHCP(context.Context, *net.Interface, time.Duration) ([]Offer, error) {
	return nil, ErrProbeNotSupported
}
