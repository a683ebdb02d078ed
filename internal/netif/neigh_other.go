//go:build !linux

package netif

import (
	"net"
	"net/netip"
)

// Neighbours answers what the kernel's neighbour table says of one address;
// off Linux it knows nothing.
type Neighbours struct{}

// NewNeighbours looks up addresses on the interface named name.
func NewNeighbours(string) (*Neighbours, error) { return &Neighbours{}, nil }

// Lookup returns the MAC the neighbour table has for ip now.
func (n *Neighbours) Lookup(netip.Addr) (net.HardwareAddr, bool) { return nil, false }

// Close releases what Neighbours holds.
func (n *Neighbours) Close() error { return nil }
