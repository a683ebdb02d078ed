package dhcp

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"kickstand/internal/events"
)

// relayedServer is fullServer with a second network, 10.9.0.0/24 behind a
// relay at 10.9.0.1, pool .100-.102.
func relayedServer(t *testing.T, store *memStore) *Server {
	s, _, _ := fullServer(t, store)
	s.Relayed = []Subnet{{Prefix: netip.MustParsePrefix("10.9.0.0/24"),
		Range:  [2]netip.Addr{netip.MustParseAddr("10.9.0.100"), netip.MustParseAddr("10.9.0.102")},
		Router: netip.MustParseAddr("10.9.0.1"), DNS: []netip.Addr{netip.MustParseAddr("10.9.0.53")}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// A DORA through a relay on a configured network: an address from that
// network's pool with its mask, router and DNS, the reply to the relay,
// the lease stored; the server's own LAN keeps its own pool.
func TestRelayedDORA(t *testing.T) {
	store := newMemStore()
	s := relayedServer(t, store)
	offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA, withGiaddr("10.9.0.1")), 67)
	if got := yiaddr(t, offer); got != "10.9.0.100" {
		t.Fatalf("relayed offer of %s, want 10.9.0.100 from the relayed pool", got)
	}
	if m := net.IP(offer.Options.Get(dhcpv4.OptionSubnetMask)).String(); m != "255.255.255.0" {
		t.Errorf("mask %s", m)
	}
	if r := offer.Options.Get(dhcpv4.OptionRouter); !net.IP(r).Equal(net.ParseIP("10.9.0.1")) {
		t.Errorf("router %v, want the relayed network's 10.9.0.1", net.IP(r))
	}
	if d := offer.Options.Get(dhcpv4.OptionDomainNameServer); !net.IP(d).Equal(net.ParseIP("10.9.0.53")) {
		t.Errorf("DNS %v, want 10.9.0.53", net.IP(d))
	}
	if dst, _ := replyAddr(offer, &net.UDPAddr{IP: net.ParseIP("10.9.0.1"), Port: 67}, false); dst == nil || dst.String() != "10.9.0.1:67" {
		t.Errorf("the offer goes to %v, want the relay at 10.9.0.1:67", dst)
	}
	ack := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA, withGiaddr("10.9.0.1"),
		withServerID(serverIP.String()), withRequested("10.9.0.100")), 67)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("relayed REQUEST: %v, want an ACK", ack)
	}
	if l, ok := store.get(macA); !ok || l.IP.String() != "10.9.0.100" {
		t.Fatalf("stored lease %+v %v", l, ok)
	}
	// Renewing, the client unicasts to the server: no giaddr, its ciaddr
	// on the relayed network.
	renew := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA, withCiaddr("10.9.0.100")), 67)
	if renew == nil || renew.MessageType() != dhcpv4.MessageTypeAck || yiaddr(t, renew) != "10.9.0.100" {
		t.Fatalf("renewal: %v, want an ACK of 10.9.0.100", renew)
	}
	if r := renew.Options.Get(dhcpv4.OptionRouter); !net.IP(r).Equal(net.ParseIP("10.9.0.1")) {
		t.Errorf("renewal's router %v, want 10.9.0.1", net.IP(r))
	}
	if got := lease(t, s, macB); got.String() != "192.168.10.100" {
		t.Errorf("a client on the server's own LAN got %s, want 192.168.10.100", got)
	}
	// An address of the relayed pool asked for on the own LAN is another
	// network's: no ACK.
	if r := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macC, withServerID(serverIP.String()), withRequested("10.9.0.101")), 67); r != nil && r.MessageType() == dhcpv4.MessageTypeAck {
		t.Errorf("the own LAN acknowledged a relayed network's address: %v", r)
	}
}

// A relay on a network that is not configured is ignored, and said once.
func TestRelayFromUnknownNetworkIgnored(t *testing.T) {
	var log strings.Builder
	s := relayedServer(t, newMemStore())
	s.Logger = slog.New(slog.NewTextHandler(&log, nil))
	for range 3 {
		if r := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA, withGiaddr("172.16.5.1")), 67); r != nil {
			t.Fatalf("answered a relay on an unconfigured network: %v", r)
		}
	}
	if n := strings.Count(log.String(), "not configured"); n != 1 {
		t.Errorf("the unconfigured relay was warned about %d times, want once:\n%s", n, log.String())
	}
}

// After a restart the relayed network's leases are its own again.
func TestRelayedLeaseSurvivesRestart(t *testing.T) {
	store := newMemStore()
	s := relayedServer(t, store)
	offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA, withGiaddr("10.9.0.1")), 67)
	exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, macA, withGiaddr("10.9.0.1"), withServerID(serverIP.String()),
		withRequested(yiaddr(t, offer))), 67)
	again := relayedServer(t, store)
	// Another client first: it must not get macA's address.
	if got := yiaddr(t, exchange(t, again, newPacket(dhcpv4.MessageTypeDiscover, macB, withGiaddr("10.9.0.1")), 67)); got == "10.9.0.100" {
		t.Fatalf("after a restart, another client was offered macA's 10.9.0.100")
	}
	if got := yiaddr(t, exchange(t, again, newPacket(dhcpv4.MessageTypeDiscover, macA, withGiaddr("10.9.0.1")), 67)); got != "10.9.0.100" {
		t.Fatalf("after a restart macA was offered %s, want its 10.9.0.100", got)
	}
}

func TestRelayedSubnetsValidated(t *testing.T) {
	r := func(a, b string) [2]netip.Addr { return [2]netip.Addr{netip.MustParseAddr(a), netip.MustParseAddr(b)} }
	for _, tc := range []struct {
		sub  Subnet
		want string
	}{
		{Subnet{Prefix: netip.MustParsePrefix("192.168.10.128/25"), Range: r("192.168.10.130", "192.168.10.140")}, "overlaps"},
		{Subnet{Prefix: netip.MustParsePrefix("10.9.0.0/24"), Range: r("10.9.1.10", "10.9.1.20")}, "not inside subnet"},
		{Subnet{Prefix: netip.MustParsePrefix("10.9.0.0/24")}, "needs an address range"},
		{Subnet{Prefix: netip.MustParsePrefix("10.9.0.0/24"), Range: r("10.9.0.10", "10.9.0.20"), Router: netip.MustParseAddr("10.9.0.15")}, "contains the router"},
		{Subnet{Prefix: netip.MustParsePrefix("10.9.0.0/31"), Range: r("10.9.0.0", "10.9.0.1")}, "too small"},
	} {
		s, _, _ := fullServer(t, newMemStore())
		s.Relayed = []Subnet{tc.sub}
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.sub, err, tc.want)
		}
	}
}

func TestParseSubnet(t *testing.T) {
	sub, err := ParseSubnet("10.9.0.7/24,range=10.9.0.100-10.9.0.200,router=10.9.0.1,dns=10.9.0.53,dns=10.9.0.54")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Prefix.String() != "10.9.0.0/24" || sub.Range[0].String() != "10.9.0.100" || sub.Range[1].String() != "10.9.0.200" ||
		sub.Router.String() != "10.9.0.1" || len(sub.DNS) != 2 || sub.DNS[1].String() != "10.9.0.54" {
		t.Fatalf("parsed %+v", sub)
	}
	for text, want := range map[string]string{
		"10.9.0.0/24":                               "no range=",
		"10.9.0.0,range=10.9.0.1-10.9.0.2":          "not an IPv4 network",
		"10.9.0.0/24,range=10.9.0.9-10.9.0.2":       "range",
		"10.9.0.0/24,range=10.9.0.1-10.9.0.2,gw=1":  "unknown part",
		"10.9.0.0/24,range=10.9.0.1-10.9.0.2,dns=x": "dns",
		"fd00::/64,range=10.9.0.1-10.9.0.2":         "not an IPv4 network",
	} {
		if _, err := ParseSubnet(text); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "want PREFIX") {
			t.Errorf("ParseSubnet(%q) = %v, want an error with %q and the syntax", text, err, want)
		}
	}
}

// In proxy mode a relayed PXE DISCOVER gets its boot offer through the
// relay: back to giaddr on port 67, giaddr and option 82 kept, and the
// broadcast flag set, since the client has no address yet.
func TestProxyAnswersRelayedPXE(t *testing.T) {
	s, _ := proxyServer(t)
	agent := []byte{1, 4, 'p', 'o', 'r', 't'}
	req := newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0), withGiaddr("10.9.0.1"), withOpt(dhcpv4.OptionRelayAgentInformation, agent))
	req.Flags = 0 // as iPXE sends it
	offer := exchange(t, s, req, 67)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer || offer.BootFileName == "" {
		t.Fatalf("relayed PXE DISCOVER in proxy mode: %v, want a boot offer", offer)
	}
	// No yiaddr, no ciaddr: the relay can only broadcast it.
	if !offer.IsBroadcast() {
		t.Error("a relayed proxy offer without the broadcast flag: the relay has no address to unicast it to")
	}
	if got := offer.GatewayIPAddr.String(); got != "10.9.0.1" {
		t.Errorf("giaddr = %s, want the relay's 10.9.0.1", got)
	}
	if got := offer.Options.Get(dhcpv4.OptionRelayAgentInformation); string(got) != string(agent) {
		t.Errorf("option 82 = %q, want it echoed: %q", got, agent)
	}
	if dst, _ := replyAddr(offer, &net.UDPAddr{IP: net.ParseIP("10.9.0.1"), Port: 67}, false); dst == nil || dst.String() != "10.9.0.1:67" {
		t.Errorf("the offer goes to %v, want the relay at 10.9.0.1:67", dst)
	}
}

// In proxy mode a relayed REQUEST for the network's own DHCP server is not
// answered, but tells which address the machine takes (the app learns it
// for the boot files' source check); one not relayed is only ignored.
func TestProxyNotesRelayedRequest(t *testing.T) {
	s, ev := proxyServer(t)
	req := newPacket(dhcpv4.MessageTypeRequest, macA, pxe(0), withGiaddr("10.9.0.1"), withServerID("10.0.0.3"), withRequested("10.9.0.70"))
	if r := exchange(t, s, req, 67); r != nil {
		t.Fatalf("answered a REQUEST meant for another server: %v", r)
	}
	if len(ev.list) != 1 || ev.list[0].Kind != events.DHCPRequest || ev.list[0].IP.String() != "10.9.0.70" ||
		!strings.Contains(ev.list[0].Detail, "relayed by 10.9.0.1") {
		t.Fatalf("events %+v, want one dhcp-request of 10.9.0.70", ev.list)
	}
	direct := newPacket(dhcpv4.MessageTypeRequest, macB, pxe(0), withServerID("10.0.0.3"), withRequested("192.168.10.70"))
	if r := exchange(t, s, direct, 67); r != nil || len(ev.list) != 1 {
		t.Fatalf("a REQUEST on the own LAN for another server: reply %v, events %+v; want neither", r, ev.list)
	}
}
