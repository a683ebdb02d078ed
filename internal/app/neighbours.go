package app

import (
	"net"
	"net/netip"
	"sync"

	"kickstand/internal/netif"
)

// neighbours maps client addresses to MACs so that TFTP and HTTP transfers,
// which only know an IP, land on the right machine's timeline. DHCP teaches
// it; the kernel's neighbour table is the fallback (proxy mode, where the
// LAN's DHCP server gave the address).
type neighbours struct {
	mu   sync.Mutex
	byIP map[netip.Addr]net.HardwareAddr
	// arpFn returns what the kernel's neighbour table has for one address now.
	arpFn func(netip.Addr) (net.HardwareAddr, bool)
}

// newNeighbours asks the neighbour table of the interface named ifName for
// one address at a time, and the whole table (/proc/net/arp, every
// interface) only for an address that interface has no entry for: a client
// on another interface, or behind a router (none at all).
func newNeighbours(ifName string) *neighbours {
	n := &neighbours{byIP: map[netip.Addr]net.HardwareAddr{}, arpFn: wholeARP}
	if table, err := netif.NewNeighbours(ifName); err == nil {
		n.arpFn = func(ip netip.Addr) (net.HardwareAddr, bool) {
			if mac, ok := table.Lookup(ip); ok {
				return mac, true
			}
			return wholeARP(ip)
		}
	}
	return n
}

// wholeARP looks ip up in the whole table, read again for each lookup.
func wholeARP(ip netip.Addr) (net.HardwareAddr, bool) {
	mac, ok := netif.ReadARP()[ip]
	return mac, ok
}

// maxLearned bounds the learned addresses: anything on the LAN can send a
// proxy REQUEST with any ciaddr.
const maxLearned = 65536

// learn records that ip belongs to mac.
func (n *neighbours) learn(ip netip.Addr, mac net.HardwareAddr) {
	if !ip.IsValid() || ip.IsUnspecified() || len(mac) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.byIP[ip]; !ok && len(n.byIP) >= maxLearned {
		for old := range n.byIP { // any one: a full table is a flood
			delete(n.byIP, old)
			break
		}
	}
	n.byIP[ip] = mac
}

// learned returns the MAC DHCP (or a served kickstart) tied ip to, without
// the kernel's neighbour table.
func (n *neighbours) learned(ip netip.Addr) (net.HardwareAddr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mac, ok := n.byIP[ip]
	return mac, ok
}

// lookup returns the MAC behind ip, if known.
func (n *neighbours) lookup(ip netip.Addr) (net.HardwareAddr, bool) {
	if mac, ok := n.learned(ip); ok {
		return mac, true
	}
	mac, ok := n.arpFn(ip)
	if ok {
		n.learn(ip, mac)
	}
	return mac, ok
}

// current returns the MAC the kernel's neighbour table has for ip now,
// without the learned addresses, which may be stale.
func (n *neighbours) current(ip netip.Addr) (net.HardwareAddr, bool) {
	return n.arpFn(ip)
}
