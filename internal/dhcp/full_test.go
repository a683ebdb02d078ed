package dhcp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestFullOfferFromRange(t *testing.T) {
	s, ev, _ := fullServer(t, newMemStore())
	offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA), 67)
	if got := yiaddr(t, offer); got != "192.168.10.100" {
		t.Errorf("yiaddr = %s, want the first pool address", got)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"type", offer.MessageType(), dhcpv4.MessageTypeOffer},
		{"mask", net.IP(offer.SubnetMask()).String(), "255.255.255.0"},
		{"router", fmt.Sprint(offer.Router()), "[192.168.10.254]"},
		{"dns", fmt.Sprint(offer.DNS()), "[192.168.10.53]"},
		{"lease", offer.IPAddressLeaseTime(0), 2 * time.Hour},
		{"t1", offer.IPAddressRenewalTime(0), time.Hour},
		{"t2", offer.IPAddressRebindingTime(0), 105 * time.Minute},
		{"server id", offer.ServerIdentifier().String(), serverIP.String()},
		{"no boot file", offer.BootFileNameOption(), ""},
		{"no option 60", offer.ClassIdentifier(), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The first offer is held, so a second client is offered the next one.
	if got := yiaddr(t, exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macB), 67)); got != "192.168.10.101" {
		t.Errorf("second client offered %s, want 192.168.10.101", got)
	}
	if got := ev.kinds(); !slices.Equal(got, []string{"dhcp-discover", "dhcp-offer", "dhcp-discover", "dhcp-offer"}) {
		t.Errorf("events = %v", got)
	}
}

func TestFullRequestedAddressOffered(t *testing.T) {
	tests := []struct{ requested, want string }{
		{"192.168.10.105", "192.168.10.105"}, // free, in range
		{"192.168.10.50", "192.168.10.100"},  // outside range
		{"10.0.0.5", "192.168.10.100"},       // other network
	}
	for _, tt := range tests {
		s, _, _ := fullServer(t, newMemStore())
		offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macC, withRequested(tt.requested)), 67)
		if got := yiaddr(t, offer); got != tt.want {
			t.Errorf("requested %s: offered %s, want %s", tt.requested, got, tt.want)
		}
	}
}

func TestFullReservation(t *testing.T) {
	reserved := map[string]string{
		macA.String(): "192.168.10.20", // outside range, inside subnet: allowed
		macB.String(): "10.9.9.9",      // other subnet: ignored
	}
	s, _, _ := fullServer(t, newMemStore())
	s.Reservation = func(_ context.Context, mac net.HardwareAddr) (netip.Addr, bool) {
		ip, ok := reserved[mac.String()]
		if !ok {
			return netip.Addr{}, false
		}
		return netip.MustParseAddr(ip), true
	}
	if got := lease(t, s, macA); got.String() != "192.168.10.20" {
		t.Errorf("reserved client got %s, want 192.168.10.20", got)
	}
	if got := yiaddr(t, exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macB), 67)); got != "192.168.10.100" {
		t.Errorf("client with unusable reservation offered %s, want pool address", got)
	}
	// A reserved client that asks for another address is told no.
	nak := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA, withRequested("192.168.10.105")), 67)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("reserved client asking for another address: got %v, want NAK", nak)
	}
}

func TestFullReservationWinsOverExistingLease(t *testing.T) {
	store := newMemStore()
	s, _, _ := fullServer(t, store)
	if got := lease(t, s, macA); got.String() != "192.168.10.100" {
		t.Fatalf("got %s", got)
	}
	s.Reservation = func(context.Context, net.HardwareAddr) (netip.Addr, bool) {
		return netip.MustParseAddr("192.168.10.30"), true
	}
	if got := lease(t, s, macA); got.String() != "192.168.10.30" {
		t.Errorf("after reserving, client got %s, want 192.168.10.30", got)
	}
	if l, _ := store.get(macA); l.IP.String() != "192.168.10.30" {
		t.Errorf("stored lease = %v", l)
	}
}

func TestFullReservedForSkipsPoolAddress(t *testing.T) {
	s, _, _ := fullServer(t, newMemStore())
	s.ReservedFor = func(_ context.Context, ip netip.Addr) (net.HardwareAddr, bool) {
		if ip.String() == "192.168.10.100" {
			return macC, true
		}
		return nil, false
	}
	if got := lease(t, s, macA); got.String() != "192.168.10.101" {
		t.Errorf("got %s, want 192.168.10.101 (.100 is reserved for another MAC)", got)
	}
	nak := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macB, withRequested("192.168.10.100")), 67)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("request for an address reserved for another MAC: got %v, want NAK", nak)
	}
}

// A REQUEST right after the OFFER it takes does not repeat the OFFER's
// reservation lookups; one checkReuse later it does, and sees what changed.
func TestFullRequestReusesTheOffersLookups(t *testing.T) {
	s, _, clock := fullServer(t, newMemStore())
	lookups := 0
	reserved := map[string]string{}
	s.Reservation = func(_ context.Context, mac net.HardwareAddr) (netip.Addr, bool) {
		lookups++
		ip, ok := reserved[mac.String()]
		if !ok {
			return netip.Addr{}, false
		}
		return netip.MustParseAddr(ip), true
	}
	s.ReservedFor = func(context.Context, netip.Addr) (net.HardwareAddr, bool) {
		lookups++
		return nil, false
	}
	offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA), 67)
	if lookups != 2 {
		t.Fatalf("DISCOVER made %d lookups, want 2 (its reservation, the address's)", lookups)
	}
	request := newPacket(dhcpv4.MessageTypeRequest, macA, withServerID(serverIP.String()), withRequested(yiaddr(t, offer)))
	if ack := exchange(t, s, request, 67); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("REQUEST after OFFER: %v", ack)
	}
	if lookups != 2 {
		t.Errorf("the REQUEST right after the OFFER made %d more lookups, want none", lookups-2)
	}
	reserved[macA.String()] = "192.168.10.30"
	clock.Advance(checkReuse)
	if nak := exchange(t, s, request, 67); nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("REQUEST for a pool address after a reservation was made: %v, want NAK", nak)
	}
}

func TestFullSameMACSameIP(t *testing.T) {
	s, _, clock := fullServer(t, newMemStore())
	first := lease(t, s, macA)
	lease(t, s, macB)
	if got := lease(t, s, macA); got != first {
		t.Errorf("second lease %s, want %s", got, first)
	}
	// Even after the lease expired, nobody else took it: same address.
	clock.Advance(3 * time.Hour)
	if got := lease(t, s, macA); got != first {
		t.Errorf("lease after expiry %s, want %s", got, first)
	}
}

func TestFullAckPersistsLease(t *testing.T) {
	store := newMemStore()
	s, ev, _ := fullServer(t, store)
	offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA), 67)
	ack := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA, withServerID(serverIP.String()),
		withRequested(yiaddr(t, offer)), dhcpv4.WithOption(dhcpv4.OptHostName("node1"))), 67)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("got %v, want ACK", ack)
	}
	if got := ack.YourIPAddr.String(); got != "192.168.10.100" {
		t.Errorf("yiaddr = %s", got)
	}
	if ack.IPAddressLeaseTime(0) != 2*time.Hour {
		t.Errorf("lease time = %s", ack.IPAddressLeaseTime(0))
	}
	l, ok := store.get(macA)
	want := Lease{MAC: macA, IP: netip.MustParseAddr("192.168.10.100"), Expires: t0.Add(2 * time.Hour), Hostname: "node1"}
	if !ok || !bytes.Equal(l.MAC, want.MAC) || l.IP != want.IP || !l.Expires.Equal(want.Expires) || l.Hostname != want.Hostname {
		t.Errorf("stored lease = %+v, want %+v", l, want)
	}
	if got := ev.kinds(); !slices.Equal(got, []string{"dhcp-discover", "dhcp-offer", "dhcp-ack"}) {
		t.Errorf("events = %v", got)
	}
}

func TestFullRestartKeepsAddresses(t *testing.T) {
	store := newMemStore()
	s1, _, _ := fullServer(t, store)
	a := lease(t, s1, macA)
	b := lease(t, s1, macB)
	// A new server on the same store: B asks first and must not get A's.
	s2, _, _ := fullServer(t, store)
	if got := lease(t, s2, macB); got != b {
		t.Errorf("after restart B got %s, want %s", got, b)
	}
	if got := lease(t, s2, macA); got != a {
		t.Errorf("after restart A got %s, want %s", got, a)
	}
}

func TestFullPoolExhausted(t *testing.T) {
	var logs bytes.Buffer
	s, ev, _ := fullServer(t, newMemStore())
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s.Range = [2]netip.Addr{netip.MustParseAddr("192.168.10.100"), netip.MustParseAddr("192.168.10.101")}
	lease(t, s, macA)
	lease(t, s, macB)
	if reply := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macC), 67); reply != nil {
		t.Fatalf("offered %s from an exhausted pool", reply.YourIPAddr)
	}
	if !strings.Contains(logs.String(), "no free address in the pool") {
		t.Errorf("no warning logged; log:\n%s", logs.String())
	}
	if k := ev.kinds(); k[len(k)-1] != "dhcp-discover" {
		t.Errorf("events = %v, want no offer after the last discover", k)
	}
}

func TestFullExpiredLeaseIsReused(t *testing.T) {
	s, _, clock := fullServer(t, newMemStore())
	s.Range = [2]netip.Addr{netip.MustParseAddr("192.168.10.100"), netip.MustParseAddr("192.168.10.100")}
	lease(t, s, macA)
	if reply := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macB), 67); reply != nil {
		t.Fatalf("offered %s while the only address is leased", reply.YourIPAddr)
	}
	clock.Advance(2*time.Hour + time.Second)
	if got := lease(t, s, macB); got.String() != "192.168.10.100" {
		t.Errorf("after expiry B got %s", got)
	}
}

func TestFullDecline(t *testing.T) {
	store := newMemStore()
	s, ev, clock := fullServer(t, store)
	ip := lease(t, s, macA)
	decline := newPacket(dhcpv4.MessageTypeDecline, macA, withServerID(serverIP.String()), withRequested(ip.String()))
	if reply := exchange(t, s, decline, 67); reply != nil {
		t.Fatalf("DECLINE answered with %s", reply.MessageType())
	}
	if _, ok := store.get(macA); ok {
		t.Error("declined lease still stored")
	}
	if k := ev.kinds(); k[len(k)-1] != "dhcp-decline" {
		t.Errorf("events = %v", k)
	}
	if got := lease(t, s, macA); got == ip {
		t.Errorf("declined address %s offered again", got)
	}
	clock.Advance(declineHold + time.Second)
	if got := lease(t, s, macB); got != ip {
		t.Errorf("after the quarantine B got %s, want %s back", got, ip)
	}
}

func TestFullDeclineOfSomeoneElsesAddressIgnored(t *testing.T) {
	store := newMemStore()
	s, _, _ := fullServer(t, store)
	ip := lease(t, s, macA)
	exchange(t, s, newPacket(dhcpv4.MessageTypeDecline, macB, withRequested(ip.String())), 67)
	if _, ok := store.get(macA); !ok {
		t.Error("another client's DECLINE removed A's lease")
	}
}

func TestFullRelease(t *testing.T) {
	store := newMemStore()
	s, ev, _ := fullServer(t, store)
	ip := lease(t, s, macA)
	release := newPacket(dhcpv4.MessageTypeRelease, macA, withServerID(serverIP.String()), withCiaddr(ip.String()))
	if reply := exchange(t, s, release, 67); reply != nil {
		t.Fatalf("RELEASE answered with %s", reply.MessageType())
	}
	if _, ok := store.get(macA); ok {
		t.Error("released lease still stored")
	}
	if k := ev.kinds(); k[len(k)-1] != "dhcp-release" {
		t.Errorf("events = %v", k)
	}
	if got := lease(t, s, macB); got != ip {
		t.Errorf("after release B got %s, want %s", got, ip)
	}
}

func TestFullRequestDecisions(t *testing.T) {
	tests := []struct {
		name string
		req  *dhcpv4.DHCPv4
		want dhcpv4.MessageType // None: silence
		ip   string             // yiaddr of an ACK
	}{
		{"selecting, our offer", newPacket(dhcpv4.MessageTypeRequest, macB,
			withServerID(serverIP.String()), withRequested("192.168.10.101")), dhcpv4.MessageTypeAck, "192.168.10.101"},
		{"init-reboot, free address", newPacket(dhcpv4.MessageTypeRequest, macB,
			withRequested("192.168.10.107")), dhcpv4.MessageTypeAck, "192.168.10.107"},
		{"renewing", newPacket(dhcpv4.MessageTypeRequest, macA, withCiaddr("192.168.10.100")),
			dhcpv4.MessageTypeAck, "192.168.10.100"},
		{"address of another client", newPacket(dhcpv4.MessageTypeRequest, macB,
			withRequested("192.168.10.100")), dhcpv4.MessageTypeNak, ""},
		{"renewing another client's address", newPacket(dhcpv4.MessageTypeRequest, macB,
			withCiaddr("192.168.10.100")), dhcpv4.MessageTypeNak, ""},
		{"on our subnet, outside range", newPacket(dhcpv4.MessageTypeRequest, macB,
			withRequested("192.168.10.20")), dhcpv4.MessageTypeNak, ""},
		{"our own address", newPacket(dhcpv4.MessageTypeRequest, macB,
			withRequested(serverIP.String())), dhcpv4.MessageTypeNak, ""},
		{"another subnet", newPacket(dhcpv4.MessageTypeRequest, macB,
			withRequested("10.1.2.3")), dhcpv4.MessageTypeNone, ""},
		{"another server", newPacket(dhcpv4.MessageTypeRequest, macB,
			withServerID("192.168.10.250"), withRequested("192.168.10.20")), dhcpv4.MessageTypeNone, ""},
		{"no address at all", newPacket(dhcpv4.MessageTypeRequest, macB), dhcpv4.MessageTypeNone, ""},
		{"relayed from another subnet", newPacket(dhcpv4.MessageTypeRequest, macB, withGiaddr("10.1.0.1"),
			withRequested("192.168.10.105")), dhcpv4.MessageTypeNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := fullServer(t, newMemStore())
			lease(t, s, macA) // 192.168.10.100
			reply := exchange(t, s, tt.req, 67)
			if tt.want == dhcpv4.MessageTypeNone {
				if reply != nil {
					t.Fatalf("want silence, got %s", reply.MessageType())
				}
				return
			}
			if reply == nil || reply.MessageType() != tt.want {
				t.Fatalf("got %v, want %s", reply, tt.want)
			}
			if tt.want == dhcpv4.MessageTypeNak {
				if !reply.YourIPAddr.Equal(net.IPv4zero) || reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
					t.Errorf("NAK carries an address or lease: %s", reply.Summary())
				}
				return
			}
			if got := reply.YourIPAddr.String(); got != tt.ip {
				t.Errorf("yiaddr = %s, want %s", got, tt.ip)
			}
		})
	}
}

func TestFullNakThroughRelayIsBroadcast(t *testing.T) {
	s, _, _ := fullServer(t, newMemStore())
	req := newPacket(dhcpv4.MessageTypeRequest, macB, withGiaddr("192.168.10.254"), withRequested("192.168.10.20"))
	req.Flags = 0
	nak := exchange(t, s, req, 67)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak || !nak.IsBroadcast() {
		t.Fatalf("got %v, want a NAK with the broadcast flag", nak)
	}
	if got := nak.GatewayIPAddr.String(); got != "192.168.10.254" {
		t.Errorf("giaddr = %s", got)
	}
}

func TestFullInform(t *testing.T) {
	s, ev, _ := fullServer(t, newMemStore())
	reply := exchange(t, s, newPacket(dhcpv4.MessageTypeInform, macA, withCiaddr("192.168.10.7")), 67)
	if reply == nil || reply.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("got %v, want ACK", reply)
	}
	if !reply.YourIPAddr.Equal(net.IPv4zero) {
		t.Errorf("yiaddr = %s, want 0.0.0.0", reply.YourIPAddr)
	}
	if reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Error("INFORM reply carries a lease time")
	}
	if got := net.IP(reply.SubnetMask()).String(); got != "255.255.255.0" {
		t.Errorf("mask = %s", got)
	}
	if got := reply.ClientIPAddr.String(); got != "192.168.10.7" {
		t.Errorf("ciaddr = %s", got)
	}
	if k := ev.kinds(); !slices.Equal(k, []string{"dhcp-ack"}) {
		t.Errorf("events = %v", k)
	}
}

func TestFullBootInfo(t *testing.T) {
	tests := []struct {
		name     string
		mods     []dhcpv4.Modifier
		boot     BootFunc
		wantFile string
		want60   string
	}{
		{"PXE client", []dhcpv4.Modifier{pxe(7)}, bootAll("shimx64.efi"), "shimx64.efi", "PXEClient"},
		{"non-PXE client", nil, bootAll("shimx64.efi"), "", ""},
		{"boot says ignore", []dhcpv4.Modifier{pxe(7)}, func(context.Context, ClientFacts) (BootReply, bool) {
			return BootReply{BootFile: "shimx64.efi", Ignore: true}, true
		}, "", ""},
		{"boot says no", []dhcpv4.Modifier{pxe(7)}, func(context.Context, ClientFacts) (BootReply, bool) {
			return BootReply{}, false
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := fullServer(t, newMemStore())
			s.Boot = tt.boot
			offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA, tt.mods...), 67)
			if got := yiaddr(t, offer); got != "192.168.10.100" {
				t.Errorf("yiaddr = %s: every client gets an address", got)
			}
			ack := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA, append(tt.mods,
				withServerID(serverIP.String()), withRequested("192.168.10.100"))...), 67)
			for _, r := range []*dhcpv4.DHCPv4{offer, ack} {
				if r.BootFileName != tt.wantFile || r.BootFileNameOption() != tt.wantFile || r.ClassIdentifier() != tt.want60 {
					t.Errorf("%s: file %q, option 67 %q, option 60 %q; want %q, %q",
						r.MessageType(), r.BootFileName, r.BootFileNameOption(), r.ClassIdentifier(), tt.wantFile, tt.want60)
				}
				if tt.wantFile != "" && !r.ServerIPAddr.Equal(tftpIP) {
					t.Errorf("%s: siaddr = %s", r.MessageType(), r.ServerIPAddr)
				}
			}
		})
	}
}

func TestFullStoreFailureMeansNoAck(t *testing.T) {
	store := newMemStore()
	s, _, _ := fullServer(t, store)
	store.putErr = errStoreDown
	offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA), 67)
	ack := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA,
		withServerID(serverIP.String()), withRequested(yiaddr(t, offer))), 67)
	if ack != nil {
		t.Errorf("acknowledged a lease that could not be saved: %s", ack.MessageType())
	}
}

func TestFullPXEPortAnswersBootOnly(t *testing.T) {
	s, _, _ := fullServer(t, newMemStore())
	s.Boot = bootAll("undionly.kpxe")
	reply := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA, pxe(0), withCiaddr("192.168.10.100")), 4011)
	if reply == nil || reply.MessageType() != dhcpv4.MessageTypeAck || reply.BootFileName != "undionly.kpxe" {
		t.Fatalf("got %v, want a boot ACK", reply)
	}
	if !reply.YourIPAddr.Equal(net.IPv4zero) || reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Errorf("boot server ACK gives an address: %s", reply.Summary())
	}
}

func TestFullConcurrentClientsGetDistinctAddresses(t *testing.T) {
	store := newMemStore()
	s, _, _ := fullServer(t, store)
	s.Logger = nil
	s.Range[1] = netip.MustParseAddr("192.168.10.200")
	var wg sync.WaitGroup
	got := make([]netip.Addr, 40)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mac := net.HardwareAddr{2, 0, 0, 0, 1, byte(i)}
			offer := s.handle(context.Background(), newPacket(dhcpv4.MessageTypeDiscover, mac), 67, 1)
			if offer == nil {
				return
			}
			ack := s.handle(context.Background(), newPacket(dhcpv4.MessageTypeRequest, mac,
				withServerID(serverIP.String()), withRequested(offer.YourIPAddr.String())), 67, 1)
			if ack != nil && ack.MessageType() == dhcpv4.MessageTypeAck {
				got[i], _ = ipv4Of(ack.YourIPAddr)
			}
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i, ip := range got {
		if !ip.IsValid() {
			t.Errorf("client %d got no address", i)
		} else if seen[ip] {
			t.Errorf("address %s given twice", ip)
		}
		seen[ip] = true
	}
}
