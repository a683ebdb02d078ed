package dhcp

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// sharedStore is a memStore that several servers share, with ClaimLeases:
// a lease whose address another MAC holds unexpired is not stored.
type sharedStore struct{ *memStore }

func (s sharedStore) ClaimLeases(_ context.Context, put []Lease, remove []net.HardwareAddr, now time.Time) ([]Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mac := range remove {
		delete(s.leases, mac.String())
	}
	var held []Lease
	for _, l := range put {
		taken := false
		for _, o := range s.leases {
			if o.IP == l.IP && !bytes.Equal(o.MAC, l.MAC) && o.Expires.After(now) {
				held, taken = append(held, o), true
			}
		}
		if !taken {
			for mac, o := range s.leases {
				if o.IP == l.IP {
					delete(s.leases, mac)
				}
			}
			l.MAC = bytes.Clone(l.MAC)
			s.leases[l.MAC.String()] = l
		}
	}
	return held, nil
}

// Two servers on one pool: one that does not yet know of the other's lease
// offers its address, is refused by the store at the REQUEST, NAKs, and
// from then on knows the lease and offers another address.
func TestSharedPoolOneAddressOneMAC(t *testing.T) {
	store := sharedStore{newMemStore()}
	a, _, clock := fullServer(t, store.memStore)
	a.Leases = store
	b, _, _ := fullServer(t, store.memStore)
	b.Leases, b.ServerIP, b.clock = store, netip.MustParseAddr("192.168.10.2"), clock.Now
	// b starts before a's lease: its table does not know it.
	if _, err := b.lans(context.Background()); err != nil {
		t.Fatal(err)
	}
	x := lease(t, a, macA)
	if got, ok := store.get(macA); !ok || got.IP != x {
		t.Fatalf("the store has %+v for macA, want %s", got, x)
	}
	offer := exchange(t, b, newPacket(dhcpv4.MessageTypeDiscover, macB, withRequested(x.String())), 67)
	if yiaddr(t, offer) != x.String() {
		t.Fatalf("b offered %s; the test wants it to offer a's %s, which it does not know of", yiaddr(t, offer), x)
	}
	nak := exchange(t, b, newPacket(dhcpv4.MessageTypeRequest, macB, withServerID(b.ServerIP.String()), withRequested(x.String())), 67)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("b answered the REQUEST for a's address with %v, want a NAK", nak)
	}
	if got, _ := store.get(macA); got.IP != x {
		t.Fatalf("a's lease of %s was overwritten: %+v", x, got)
	}
	if _, ok := store.get(macB); ok {
		t.Fatal("macB has a lease of the address a gave")
	}
	again := exchange(t, b, newPacket(dhcpv4.MessageTypeDiscover, macB, withRequested(x.String())), 67)
	if y := yiaddr(t, again); y == x.String() {
		t.Fatalf("after the NAK b offered %s again", y)
	}
	ack := exchange(t, b, newPacket(dhcpv4.MessageTypeRequest, macB, withServerID(b.ServerIP.String()), withRequested(yiaddr(t, again))), 67)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("b's second REQUEST: %v, want an ACK", ack)
	}
	// a's client rebinds (a is gone: no server named, its address in
	// ciaddr): b renews the lease a gave.
	rebind := exchange(t, b, newPacket(dhcpv4.MessageTypeRequest, macA, withCiaddr(x.String())), 67)
	if rebind == nil || rebind.MessageType() != dhcpv4.MessageTypeAck || yiaddr(t, rebind) != x.String() {
		t.Fatalf("b answered a's client rebinding %s with %v, want an ACK", x, rebind)
	}
	if got, _ := store.get(macA); got.IP != x || !got.Expires.After(t0.Add(time.Hour)) {
		t.Fatalf("after b renewed it, macA's lease is %+v", got)
	}
	// Once a's lease has expired, b may give the address.
	clock.Advance(3 * time.Hour)
	mac3 := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0x33}
	exchange(t, b, newPacket(dhcpv4.MessageTypeDiscover, mac3, withRequested(x.String())), 67)
	late := exchange(t, b, newPacket(dhcpv4.MessageTypeRequest, mac3, withServerID(b.ServerIP.String()), withRequested(x.String())), 67)
	if late == nil || late.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("after a's lease expired, b refused %s: %v", x, late)
	}
}

// Servers sharing a pool search it from different points; a lone server
// from its start.
func TestSharedPoolSearchStarts(t *testing.T) {
	store := sharedStore{newMemStore()}
	a, _, _ := fullServer(t, store.memStore)
	a.Leases = store
	b, _, _ := fullServer(t, store.memStore)
	b.Leases, b.ServerIP = store, netip.MustParseAddr("192.168.10.2")
	lone, _, _ := fullServer(t, newMemStore())
	first := func(s *Server) netip.Addr {
		lans, err := s.lans(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ip, _ := lans[0].table.firstFree(s.now())
		return ip
	}
	if got := first(lone); got.String() != "192.168.10.100" {
		t.Errorf("a lone server starts at %s, want the pool's first address", got)
	}
	if first(a) == first(b) {
		t.Errorf("two servers on one pool both start at %s", first(a))
	}
}

func TestFreeBitsFirstFrom(t *testing.T) {
	f := newFreeBits(300)
	for _, i := range []int{5, 70, 130, 299} {
		f.set(i)
	}
	for _, tc := range []struct{ from, want int }{
		{0, 5}, {5, 5}, {6, 70}, {64, 70}, {71, 130}, {128, 130}, {131, 299}, {299, 299}, {300, 5}, {-1, 5},
	} {
		if got := f.firstFrom(tc.from); got != tc.want {
			t.Errorf("firstFrom(%d) = %d, want %d", tc.from, got, tc.want)
		}
	}
	f.clear(299)
	if got := f.firstFrom(131); got != 5 {
		t.Errorf("firstFrom(131) past the last member = %d, want the wrap to 5", got)
	}
	big := newFreeBits(65536)
	big.set(64*64*3 + 7)
	if got := big.firstFrom(1); got != 64*64*3+7 {
		t.Errorf("firstFrom across summary words = %d", got)
	}
	empty := newFreeBits(100)
	if got := empty.firstFrom(10); got != -1 {
		t.Errorf("empty firstFrom = %d", got)
	}
}
