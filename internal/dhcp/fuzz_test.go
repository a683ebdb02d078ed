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
// encode, fit a frame, have somewhere to go and answer its request from us
// (checkReply). FuzzProxy and FuzzFull hold the replies to more.
func FuzzHandle(f *testing.F) {
	addDHCPSeeds(f)
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
	f.Fuzz(func(t *testing.T, b []byte) {
		req, decodeErr := dhcpv4.FromBytes(b)
		for _, s := range []*Server{proxy, full} {
			for _, port := range []int{67, DefaultPXEPort} {
				reply := s.handlePacket(context.Background(), b, port, 2)
				if reply == nil {
					continue
				}
				if decodeErr != nil {
					t.Fatalf("a reply to a packet that does not decode (%v)", decodeErr)
				}
				checkReply(t, s, req, reply, port)
			}
		}
	})
}
