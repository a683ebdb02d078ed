package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// offerHold is how long an offered address stays set aside for the
	// client it was offered to, so that two clients discovering at the
	// same time are offered different addresses.
	offerHold = time.Minute
	// declineHold is how long an address a client declined (someone else
	// answers ARP for it) stays out of the pool. Not persisted: after a
	// restart the next client's ARP check finds the conflict again.
	declineHold = 10 * time.Minute
)

// leaseEntry is one MAC's address: a committed lease, or an offer the
// client has not requested yet (never persisted).
type leaseEntry struct {
	lease   Lease
	offered bool
}

// leaseTable is the full-mode allocator: at most one address per MAC and
// one MAC per address, expired leases kept so that a returning client gets
// its old address back while nobody else has taken it.
type leaseTable struct {
	mu          sync.Mutex
	first, last netip.Addr
	byMAC       map[string]*leaseEntry
	byIP        map[netip.Addr]*leaseEntry
	declined    map[netip.Addr]time.Time // address → end of its quarantine
}

func newLeaseTable(first, last netip.Addr) *leaseTable {
	return &leaseTable{
		first:    first,
		last:     last,
		byMAC:    make(map[string]*leaseEntry),
		byIP:     make(map[netip.Addr]*leaseEntry),
		declined: make(map[netip.Addr]time.Time),
	}
}

// load fills the table from stored leases. Of two leases for one address
// or one MAC, the one that expires later wins.
func (t *leaseTable) load(leases []Lease) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range leases {
		if len(l.MAC) == 0 || !l.IP.Is4() {
			continue
		}
		if other := t.byIP[l.IP]; other != nil && other.lease.Expires.After(l.Expires) {
			continue
		}
		if same := t.byMAC[string(l.MAC)]; same != nil && same.lease.Expires.After(l.Expires) {
			continue
		}
		l.MAC = bytes.Clone(l.MAC)
		t.set(&leaseEntry{lease: l})
	}
}

// lookup returns the address the MAC holds or was last given or offered,
// expired or not.
func (t *leaseTable) lookup(mac net.HardwareAddr) (Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byMAC[string(mac)]
	if e == nil {
		return Lease{}, false
	}
	l := e.lease
	l.MAC = bytes.Clone(l.MAC)
	return l, true
}

// available reports whether ip may be given to mac now: not declined, and
// not held by another MAC's unexpired lease or offer.
func (t *leaseTable) available(mac net.HardwareAddr, ip netip.Addr, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.availableLocked(mac, ip, now)
}

func (t *leaseTable) availableLocked(mac net.HardwareAddr, ip netip.Addr, now time.Time) bool {
	if t.isDeclined(ip, now) {
		return false
	}
	e := t.byIP[ip]
	return e == nil || bytes.Equal(e.lease.MAC, mac) || !now.Before(e.lease.Expires)
}

func (t *leaseTable) isDeclined(ip netip.Addr, now time.Time) bool {
	until, ok := t.declined[ip]
	if !ok {
		return false
	}
	if now.Before(until) {
		return true
	}
	delete(t.declined, ip)
	return false
}

// firstFree returns a pool address nobody holds: the first one never given
// out if there is one, else the one whose lease expired longest ago.
// Addresses in exclude are skipped.
func (t *leaseTable) firstFree(now time.Time, exclude map[netip.Addr]bool) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.first.Is4() || !t.last.Is4() || t.last.Less(t.first) {
		return netip.Addr{}, false
	}
	var oldest netip.Addr
	var oldestExpiry time.Time
	for ip := t.first; ; ip = ip.Next() {
		if !exclude[ip] && !t.isDeclined(ip, now) {
			e := t.byIP[ip]
			if e == nil {
				return ip, true
			}
			if !now.Before(e.lease.Expires) && (!oldest.IsValid() || e.lease.Expires.Before(oldestExpiry)) {
				oldest, oldestExpiry = ip, e.lease.Expires
			}
		}
		if ip == t.last {
			break
		}
	}
	return oldest, oldest.IsValid()
}

// offer sets ip aside for mac for offerHold. It fails when ip is not
// available. displaced is the MAC whose expired lease on ip was dropped to
// make room, so that the caller can delete it from the store.
func (t *leaseTable) offer(mac net.HardwareAddr, ip netip.Addr, now time.Time) (displaced net.HardwareAddr, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.availableLocked(mac, ip, now) {
		return nil, false
	}
	hold := now.Add(offerHold)
	if e := t.byMAC[string(mac)]; e != nil && e.lease.IP == ip {
		if e.lease.Expires.Before(hold) {
			e.lease.Expires = hold
		}
		return nil, true
	}
	e := &leaseEntry{lease: Lease{MAC: bytes.Clone(mac), IP: ip, Expires: hold}, offered: true}
	return t.set(e), true
}

// commit records l as mac's lease. It fails when the address is not
// available to l.MAC; displaced is as for offer.
func (t *leaseTable) commit(l Lease, now time.Time) (displaced net.HardwareAddr, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.availableLocked(l.MAC, l.IP, now) {
		return nil, false
	}
	l.MAC = bytes.Clone(l.MAC)
	return t.set(&leaseEntry{lease: l}), true
}

// set installs e, replacing the MAC's previous entry and whatever entry
// held the address before; the caller has checked that it may.
func (t *leaseTable) set(e *leaseEntry) (displaced net.HardwareAddr) {
	key := string(e.lease.MAC)
	if old := t.byMAC[key]; old != nil && t.byIP[old.lease.IP] == old {
		delete(t.byIP, old.lease.IP)
	}
	if other := t.byIP[e.lease.IP]; other != nil && string(other.lease.MAC) != key {
		delete(t.byMAC, string(other.lease.MAC))
		if !other.offered {
			displaced = other.lease.MAC
		}
	}
	t.byMAC[key] = e
	t.byIP[e.lease.IP] = e
	return displaced
}

// remove deletes mac's entry if it is for ip (any address if ip is the
// zero Addr) and reports whether there was one.
func (t *leaseTable) remove(mac net.HardwareAddr, ip netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.removeLocked(mac, ip)
}

func (t *leaseTable) removeLocked(mac net.HardwareAddr, ip netip.Addr) bool {
	e := t.byMAC[string(mac)]
	if e == nil || (ip.IsValid() && e.lease.IP != ip) {
		return false
	}
	delete(t.byMAC, string(mac))
	if t.byIP[e.lease.IP] == e {
		delete(t.byIP, e.lease.IP)
	}
	return true
}

// dropOffer forgets an address offered to mac but not yet requested, for a
// client that chose another server.
func (t *leaseTable) dropOffer(mac net.HardwareAddr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byMAC[string(mac)]; e != nil && e.offered {
		t.removeLocked(mac, e.lease.IP)
	}
}

// decline drops mac's entry for ip and keeps ip out of the pool for
// declineHold. Only the client we gave ip to can decline it, so a stray
// DECLINE can not empty the pool; it reports whether mac held ip.
func (t *leaseTable) decline(mac net.HardwareAddr, ip netip.Addr, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.removeLocked(mac, ip) {
		return false
	}
	for a, until := range t.declined {
		if !now.Before(until) {
			delete(t.declined, a)
		}
	}
	t.declined[ip] = now.Add(declineHold)
	return true
}
