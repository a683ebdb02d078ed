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
	// reservedHold is how long a pool address found reserved for another
	// machine is left out of the search for a free one before it is
	// checked again, so that reservations inside the range cost one
	// lookup a minute rather than one per DISCOVER.
	reservedHold = time.Minute
	// checkReuse is how long the reservation lookups made for an OFFER
	// stand for the REQUEST that takes it: a DORA takes milliseconds, and
	// a reservation made in those seconds takes effect at the client's
	// next renewal, as it would had it been made a moment later.
	checkReuse = 5 * time.Second
)

// macKey is an Ethernet address as a map key; requests with other hardware
// addresses are not answered (checkRequest).
type macKey [6]byte

// keyOf returns mac's key; ok is false unless it is six bytes long.
func keyOf(mac net.HardwareAddr) (k macKey, ok bool) {
	if len(mac) != len(k) {
		return k, false
	}
	return macKey(mac), true
}

// leaseEntry is one MAC's address: a committed lease, or an offer the
// client has not requested yet (never persisted).
type leaseEntry struct {
	mac       macKey
	ip        netip.Addr
	expires   time.Time
	hostname  string
	offered   bool
	heapIndex int // in leaseTable.expiry; -1 when not there
	// checked is when the address was offered to the MAC after lookups
	// found that the MAC has no reservation and the address is not
	// reserved for another; zero if not.
	checked time.Time
}

func (e *leaseEntry) lease() Lease {
	return Lease{MAC: net.HardwareAddr(bytes.Clone(e.mac[:])), IP: e.ip, Expires: e.expires, Hostname: e.hostname}
}

// leaseTable is the full-mode allocator: at most one address per MAC and
// one MAC per address, expired leases kept so that a returning client gets
// its old address back while nobody else has taken it.
//
// Finding a free address costs the same whatever the pool size: the pool's
// addresses nobody holds are a bitmap searched for its lowest member, and
// the entries are in a heap by expiry, so that when every address has been
// given out the one that expired longest ago is at its top. Addresses set
// aside for a while (declined, or reserved for another machine) are in
// neither, and come back through a queue.
type leaseTable struct {
	mu          sync.Mutex
	first, last netip.Addr
	base        uint32        // addrUint(first)
	slots       []*leaseEntry // the pool's entries by offset from first
	outside     map[netip.Addr]*leaseEntry
	byMAC       map[macKey]*leaseEntry
	free        freeBits                 // offsets with no entry, not declined, not reserved
	expiry      expiryHeap               // the pool's entries, but those reserved for another
	declined    map[netip.Addr]time.Time // address → end of its quarantine
	reserved    map[netip.Addr]time.Time // pool address reserved for another machine → when to look again
	declines    holdQueue
	reservedFor holdQueue
	spare       []*leaseEntry // entries to reuse, so that steady work allocates none
	start       int           // the offset firstFree searches from (0 but on a shared pool)
}

func newLeaseTable(first, last netip.Addr) *leaseTable {
	t := &leaseTable{
		first:    first,
		last:     last,
		outside:  make(map[netip.Addr]*leaseEntry),
		byMAC:    make(map[macKey]*leaseEntry),
		declined: make(map[netip.Addr]time.Time),
		reserved: make(map[netip.Addr]time.Time),
	}
	if first.Is4() && last.Is4() && !last.Less(first) {
		n := int(rangeSize(first, last))
		t.base = addrUint(first)
		t.slots = make([]*leaseEntry, n)
		t.free = newFreeBits(n)
		for i := range n {
			t.free.set(i)
		}
	}
	return t
}

// offset returns ip's position in the pool; ok is false outside it.
func (t *leaseTable) offset(ip netip.Addr) (int, bool) {
	if !ip.Is4() || len(t.slots) == 0 {
		return 0, false
	}
	i := uint64(addrUint(ip)) - uint64(t.base)
	if i >= uint64(len(t.slots)) { // below base wraps around to a huge number
		return 0, false
	}
	return int(i), true
}

func (t *leaseTable) addrAt(i int) netip.Addr {
	n := t.base + uint32(i)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func (t *leaseTable) byIP(ip netip.Addr) *leaseEntry {
	if i, ok := t.offset(ip); ok {
		return t.slots[i]
	}
	return t.outside[ip]
}

// place puts e at its address, which holds no entry.
func (t *leaseTable) place(e *leaseEntry) {
	i, ok := t.offset(e.ip)
	if !ok {
		t.outside[e.ip] = e
		return
	}
	t.slots[i] = e
	t.free.clear(i)
	if _, reserved := t.reserved[e.ip]; !reserved {
		t.expiry.push(e)
	}
}

// unplace takes e off its address and recycles it.
func (t *leaseTable) unplace(e *leaseEntry) {
	if i, ok := t.offset(e.ip); ok {
		t.slots[i] = nil
		t.expiry.remove(e)
		t.release(e.ip)
	} else {
		delete(t.outside, e.ip)
	}
	*e = leaseEntry{heapIndex: -1}
	t.spare = append(t.spare, e)
}

// release makes a pool address free again if nothing keeps it: no entry,
// not declined, not reserved for another machine. An entry on it goes back
// into the expiry heap.
func (t *leaseTable) release(ip netip.Addr) {
	i, ok := t.offset(ip)
	if !ok {
		return
	}
	if _, held := t.declined[ip]; held {
		return
	}
	if _, held := t.reserved[ip]; held {
		return
	}
	if e := t.slots[i]; e != nil {
		if e.heapIndex < 0 {
			t.expiry.push(e)
		}
		return
	}
	t.free.set(i)
}

func (t *leaseTable) newEntry(mac macKey, ip netip.Addr, expires time.Time, offered bool) *leaseEntry {
	var e *leaseEntry
	if n := len(t.spare); n > 0 {
		e, t.spare = t.spare[n-1], t.spare[:n-1]
	} else {
		e = &leaseEntry{}
	}
	*e = leaseEntry{mac: mac, ip: ip, expires: expires, offered: offered, heapIndex: -1}
	return e
}

// endHolds brings back the addresses whose quarantine or reservation
// check is due.
func (t *leaseTable) endHolds(now time.Time) {
	t.endHold(&t.declines, t.declined, now)
	t.endHold(&t.reservedFor, t.reserved, now)
}

func (t *leaseTable) endHold(q *holdQueue, ends map[netip.Addr]time.Time, now time.Time) {
	for {
		it, ok := q.pop(now)
		if !ok {
			return
		}
		// A later hold of the same address has its own item.
		if until, held := ends[it.ip]; held && !now.Before(until) {
			delete(ends, it.ip)
			t.release(it.ip)
		}
	}
}

// load fills the table from stored leases. Of two leases for one address
// or one MAC, the one that expires later wins.
func (t *leaseTable) load(leases []Lease) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range leases {
		key, ok := keyOf(l.MAC)
		if !ok || !l.IP.Is4() {
			continue
		}
		if other := t.byIP(l.IP); other != nil && other.expires.After(l.Expires) {
			continue
		}
		if same := t.byMAC[key]; same != nil && same.expires.After(l.Expires) {
			continue
		}
		e := t.newEntry(key, l.IP, l.Expires, false)
		e.hostname = l.Hostname
		t.set(e)
	}
}

// learn records l, a lease another server gave, whatever this table held
// of its address or its MAC, unless the table already has it; it reports
// whether it recorded it.
func (t *leaseTable) learn(l Lease) bool {
	key, ok := keyOf(l.MAC)
	if !ok || !l.IP.Is4() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byMAC[key]; e != nil && e.ip == l.IP {
		return false
	}
	e := t.newEntry(key, l.IP, l.Expires, false)
	e.hostname = l.Hostname
	t.set(e)
	return true
}

// lookup returns the address the MAC holds or was last given or offered,
// expired or not.
func (t *leaseTable) lookup(mac net.HardwareAddr) (Lease, bool) {
	key, ok := keyOf(mac)
	if !ok {
		return Lease{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byMAC[key]
	if e == nil {
		return Lease{}, false
	}
	return e.lease(), true
}

// lookupIP is lookup's address alone.
func (t *leaseTable) lookupIP(mac net.HardwareAddr) (netip.Addr, bool) {
	key, ok := keyOf(mac)
	if !ok {
		return netip.Addr{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byMAC[key]; e != nil {
		return e.ip, true
	}
	return netip.Addr{}, false
}

// available reports whether ip may be given to mac now: not declined, and
// not held by another MAC's unexpired lease or offer.
func (t *leaseTable) available(mac net.HardwareAddr, ip netip.Addr, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.availableLocked(mac, ip, now)
}

func (t *leaseTable) availableLocked(mac net.HardwareAddr, ip netip.Addr, now time.Time) bool {
	t.endHolds(now)
	if until, ok := t.declined[ip]; ok && now.Before(until) {
		return false
	}
	e := t.byIP(ip)
	return e == nil || bytes.Equal(e.mac[:], mac) || !now.Before(e.expires)
}

// firstFree returns a pool address nobody holds: the lowest one nobody has
// or the one whose lease expired longest ago. Addresses declined or set
// aside with setReserved are not returned.
func (t *leaseTable) firstFree(now time.Time) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endHolds(now)
	if i := t.free.firstFrom(t.start); i >= 0 {
		return t.addrAt(i), true
	}
	if len(t.expiry) > 0 && !now.Before(t.expiry[0].expires) {
		return t.expiry[0].ip, true
	}
	return netip.Addr{}, false
}

// markChecked notes that mac, which holds ip, has no reservation and that
// ip is nobody's reservation, as of now.
func (t *leaseTable) markChecked(mac net.HardwareAddr, ip netip.Addr, now time.Time) {
	key, ok := keyOf(mac)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byMAC[key]; e != nil && e.ip == ip {
		e.checked = now
	}
}

// checkedRecently reports whether markChecked was told about mac and ip
// less than checkReuse ago.
func (t *leaseTable) checkedRecently(mac net.HardwareAddr, ip netip.Addr, now time.Time) bool {
	key, ok := keyOf(mac)
	if !ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byMAC[key]
	return e != nil && e.ip == ip && !e.checked.IsZero() && now.Sub(e.checked) < checkReuse
}

// setReserved leaves the pool address ip out of firstFree for reservedHold:
// it is reserved for another machine. The entry on it, if any, stays.
func (t *leaseTable) setReserved(ip netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.offset(ip)
	if !ok {
		return
	}
	until := now.Add(reservedHold)
	t.reserved[ip] = until
	t.reservedFor.push(ip, until)
	t.free.clear(i)
	if e := t.slots[i]; e != nil {
		t.expiry.remove(e)
	}
}

// offer sets ip aside for mac for offerHold. It fails when ip is not
// available. displaced is the MAC whose expired lease on ip was dropped to
// make room, so that the caller can delete it from the store.
func (t *leaseTable) offer(mac net.HardwareAddr, ip netip.Addr, now time.Time) (displaced net.HardwareAddr, ok bool) {
	key, ok := keyOf(mac)
	if !ok {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.availableLocked(mac, ip, now) {
		return nil, false
	}
	hold := now.Add(offerHold)
	if e := t.byMAC[key]; e != nil && e.ip == ip {
		if e.expires.Before(hold) {
			t.setExpiry(e, hold)
		}
		return nil, true
	}
	return t.set(t.newEntry(key, ip, hold, true)), true
}

// commit records l as mac's lease. It fails when the address is not
// available to l.MAC; displaced is as for offer.
func (t *leaseTable) commit(l Lease, now time.Time) (displaced net.HardwareAddr, ok bool) {
	key, ok := keyOf(l.MAC)
	if !ok {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.availableLocked(l.MAC, l.IP, now) {
		return nil, false
	}
	if e := t.byMAC[key]; e != nil && e.ip == l.IP {
		e.offered, e.hostname = false, l.Hostname
		t.setExpiry(e, l.Expires)
		return nil, true
	}
	e := t.newEntry(key, l.IP, l.Expires, false)
	e.hostname = l.Hostname
	return t.set(e), true
}

func (t *leaseTable) setExpiry(e *leaseEntry, expires time.Time) {
	e.expires = expires
	if e.heapIndex >= 0 {
		t.expiry.fix(e.heapIndex)
	}
}

// set installs e, replacing the MAC's previous entry and whatever entry
// held the address before; the caller has checked that it may.
func (t *leaseTable) set(e *leaseEntry) (displaced net.HardwareAddr) {
	if old := t.byMAC[e.mac]; old != nil {
		delete(t.byMAC, e.mac)
		if t.byIP(old.ip) == old {
			t.unplace(old)
		}
	}
	if other := t.byIP(e.ip); other != nil {
		delete(t.byMAC, other.mac)
		if !other.offered {
			displaced = bytes.Clone(other.mac[:])
		}
		t.unplace(other)
	}
	t.byMAC[e.mac] = e
	t.place(e)
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
	key, ok := keyOf(mac)
	if !ok {
		return false
	}
	e := t.byMAC[key]
	if e == nil || (ip.IsValid() && e.ip != ip) {
		return false
	}
	delete(t.byMAC, key)
	if t.byIP(e.ip) == e {
		t.unplace(e)
	}
	return true
}

// dropOffer forgets an address offered to mac but not yet requested, for a
// client that chose another server.
func (t *leaseTable) dropOffer(mac net.HardwareAddr) {
	key, ok := keyOf(mac)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byMAC[key]; e != nil && e.offered {
		t.removeLocked(mac, e.ip)
	}
}

// decline drops mac's entry for ip and keeps ip out of the pool for
// declineHold. Only the client we gave ip to can decline it, so a stray
// DECLINE can not empty the pool; it reports whether mac held ip.
func (t *leaseTable) decline(mac net.HardwareAddr, ip netip.Addr, now time.Time) bool {
	key, ok := keyOf(mac)
	if !ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byMAC[key]; e == nil || e.ip != ip {
		return false
	}
	until := now.Add(declineHold)
	t.declined[ip] = until // before the entry goes, so that the address is not freed
	t.declines.push(ip, until)
	t.removeLocked(mac, ip)
	return true
}
