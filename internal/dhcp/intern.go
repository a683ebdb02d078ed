package dhcp

import (
	"bytes"
	"hash/maphash"
	"net"
	"sync/atomic"
)

// interned hands out the MACs and vendor classes of requests as values
// shared from one request to the next, so that a client seen before costs
// no allocation: a renewing LAN, or a PXE client's DISCOVER, REQUEST and
// boot-server request, allocate nothing for them. The values are never
// changed once handed out, so whoever keeps them may. Each table is a fixed
// array of slots, a newer value taking an older one's slot, so memory stays
// bounded whatever the clients; its zero value is ready to use.
type interned struct {
	macs    [internMACSlots]atomic.Pointer[[6]byte]
	vendors [internVendorSlots]atomic.Pointer[string]
}

const (
	// internMACSlots covers the clients of a large LAN.
	internMACSlots = 4096
	// internVendorSlots covers the vendor classes a site's firmware sends.
	internVendorSlots = 64
)

var internSeed = maphash.MakeSeed()

// mac returns b as a shared value, or a copy when b is not an Ethernet
// address.
func (t *interned) mac(b []byte) net.HardwareAddr {
	if len(b) != 6 {
		return bytes.Clone(b)
	}
	slot := &t.macs[maphash.Bytes(internSeed, b)%internMACSlots]
	if p := slot.Load(); p != nil && bytes.Equal(p[:], b) {
		return p[:]
	}
	p := new([6]byte)
	copy(p[:], b)
	slot.Store(p)
	return p[:]
}

// vendor returns b as a shared string.
func (t *interned) vendor(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	slot := &t.vendors[maphash.Bytes(internSeed, b)%internVendorSlots]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}
