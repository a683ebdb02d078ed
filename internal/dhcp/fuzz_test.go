package dhcp

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzHandle feeds raw datagrams through the request path of a proxy and a
// full-mode server on both ports; nothing may panic, and every reply must
// encode and have somewhere to go.
func FuzzHandle(f *testing.F) {
	seeds := []*dhcpv4.DHCPv4{
		newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)),
		newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(7), withRequested("192.168.10.105"),
			withOpt(dhcpv4.OptionUserClassInformation, []byte("iPXE")), withOpt(dhcpv4.OptionEtherboot, []byte{1})),
		newPacket(dhcpv4.MessageTypeRequest, macA, pxe(7), withServerID(serverIP.String()), withRequested("192.168.10.100")),
		newPacket(dhcpv4.MessageTypeRequest, macB, withCiaddr("192.168.10.101")),
		newPacket(dhcpv4.MessageTypeRequest, macB, withGiaddr("192.168.10.254"), withRequested("192.168.10.20"),
			withOpt(dhcpv4.OptionRelayAgentInformation, []byte{1, 2, 'a', 'b'})),
		newPacket(dhcpv4.MessageTypeDecline, macA, withRequested("192.168.10.100")),
		newPacket(dhcpv4.MessageTypeRelease, macA, withCiaddr("192.168.10.100")),
		newPacket(dhcpv4.MessageTypeInform, macA, pxe(0), withCiaddr("192.168.10.7")),
		newPacket(dhcpv4.MessageTypeDiscover, macA,
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001"))),
	}
	for _, p := range seeds {
		f.Add(p.ToBytes())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 6, 0})

	proxy := &Server{ServerIP: serverIP, Boot: bootAll("pxelinux.0")}
	full := &Server{
		Mode: ModeFull, ServerIP: serverIP, Boot: bootAll("pxelinux.0"),
		Range:  [2]netip.Addr{netip.MustParseAddr("192.168.10.100"), netip.MustParseAddr("192.168.10.103")},
		Subnet: netip.MustParsePrefix("192.168.10.0/24"), Router: netip.MustParseAddr("192.168.10.254"),
		Leases: newMemStore(),
		Reservation: func(_ context.Context, mac net.HardwareAddr) (netip.Addr, bool) {
			return netip.MustParseAddr("192.168.10.20"), len(mac) > 0 && mac[5] == 0x0b
		},
	}
	src := &net.UDPAddr{IP: net.IPv4(192, 168, 10, 77), Port: 68}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range []*Server{proxy, full} {
			for _, port := range []int{67, DefaultPXEPort} {
				reply := s.handlePacket(context.Background(), b, port, 2)
				if reply == nil {
					continue
				}
				if _, err := dhcpv4.FromBytes(reply.ToBytes()); err != nil {
					t.Fatalf("reply does not decode: %v", err)
				}
				if dst, _ := replyAddr(reply, src, port == DefaultPXEPort); dst == nil {
					t.Fatal("reply without destination")
				}
				if reply.OpCode != dhcpv4.OpcodeBootReply {
					t.Fatalf("reply op %d", reply.OpCode)
				}
			}
		}
	})
}
