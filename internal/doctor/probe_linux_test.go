package doctor

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The probe's packets carry valid IP and UDP checksums, and a reply is read
// back out of the IP packet an AF_PACKET socket returns.
func TestUDPPacketAndParseReply(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	disc, err := discoverFor(mac)
	if err != nil {
		t.Fatal(err)
	}
	pkt := udpPacket(disc.ToBytes(), netip.IPv4Unspecified(), 68, netip.MustParseAddr("255.255.255.255"), 67)
	if checksum(pkt[:20], 0) != 0 {
		t.Error("bad IP header checksum")
	}
	udp := pkt[20:]
	pseudo := uint32(17) + uint32(len(udp)) + 0xffff + 0xffff // 0.0.0.0 -> 255.255.255.255
	if checksum(udp, pseudo) != 0 {
		t.Error("bad UDP checksum")
	}
	if got := binary.BigEndian.Uint16(pkt[2:]); int(got) != len(pkt) {
		t.Errorf("IP total length %d, packet %d", got, len(pkt))
	}

	offer, err := dhcpv4.NewReplyFromRequest(disc, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithYourIP(net.IPv4(10, 213, 9, 51)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 213, 9, 2))))
	if err != nil {
		t.Fatal(err)
	}
	from := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	reply := udpPacket(offer.ToBytes(), netip.MustParseAddr("10.213.9.2"), 67, netip.MustParseAddr("255.255.255.255"), 68)
	o, ok := parseReply(reply, disc, from)
	if !ok || o.ServerID != netip.MustParseAddr("10.213.9.2") || o.Address != netip.MustParseAddr("10.213.9.51") || o.FromMAC != from.String() {
		t.Errorf("parseReply = %+v, %v", o, ok)
	}
	other, _ := discoverFor(mac) // another transaction
	if _, ok := parseReply(reply, other, from); ok {
		t.Error("a reply to another transaction was taken")
	}
	for _, bad := range [][]byte{nil, reply[:10], reply[:27], append([]byte{0x65}, reply[1:]...)} {
		if _, ok := parseReply(bad, disc, from); ok {
			t.Errorf("parseReply took a broken packet of %d bytes", len(bad))
		}
	}
}

// FuzzParseReply: any packet off the wire is read or dropped without
// panicking.
func FuzzParseReply(f *testing.F) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	disc, err := discoverFor(mac)
	if err != nil {
		f.Fatal(err)
	}
	offer, _ := dhcpv4.NewReplyFromRequest(disc, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer), dhcpv4.WithYourIP(net.IPv4(10, 0, 0, 9)))
	f.Add(udpPacket(offer.ToBytes(), netip.MustParseAddr("10.0.0.1"), 67, netip.MustParseAddr("255.255.255.255"), 68))
	f.Add([]byte{0x45, 0, 0, 28})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		parseReply(pkt, disc, mac)
	})
}
