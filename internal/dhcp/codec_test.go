package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzAppendPacket holds appendPacket to dhcpv4's own encoder: for every
// message the library decodes, both give the same bytes.
func FuzzAppendPacket(f *testing.F) {
	f.Add(newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(7)).ToBytes())
	f.Add(newPacket(dhcpv4.MessageTypeRequest, macB, withRequested("10.0.0.5"), withServerID("10.0.0.1"),
		withOpt(dhcpv4.OptionRelayAgentInformation, []byte{1, 2, 3, 4}),
		withOpt(dhcpv4.OptionHostName, []byte(strings.Repeat("h", 300))), // split in two (RFC 3396)
		withOpt(dhcpv4.OptionUserClassInformation, nil),
		func(p *dhcpv4.DHCPv4) {
			p.ServerHostName, p.BootFileName = strings.Repeat("s", 70), strings.Repeat("f", 130)
		}).ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		want, ok := libraryBytes(d)
		if !ok {
			return
		}
		if got := appendPacket(nil, d); !bytes.Equal(got, want) {
			t.Fatalf("appendPacket differs from ToBytes:\n got %x\nwant %x", got, want)
		}
	})
}

// libraryBytes is d.ToBytes(), or false where it panics (an address field
// that is not IPv4).
func libraryBytes(d *dhcpv4.DHCPv4) (b []byte, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return d.ToBytes(), true
}

func TestOptionReaders(t *testing.T) {
	tests := []struct {
		name string
		req  *dhcpv4.DHCPv4
	}{
		{"none", newPacket(dhcpv4.MessageTypeDiscover, macA)},
		{"both", newPacket(dhcpv4.MessageTypeRequest, macA, withRequested("10.0.0.5"), withServerID("10.0.0.1"))},
		{"zero", newPacket(dhcpv4.MessageTypeRequest, macA, withRequested("0.0.0.0"))},
		{"short", newPacket(dhcpv4.MessageTypeRequest, macA, withOpt(dhcpv4.OptionRequestedIPAddress, []byte{10, 0, 0}),
			withOpt(dhcpv4.OptionServerIdentifier, []byte{10, 0, 0, 1, 2}), withOpt(dhcpv4.OptionDHCPMessageType, []byte{3, 3}))},
	}
	for _, tt := range tests {
		if got, want := messageType(tt.req.Options), tt.req.MessageType(); got != want {
			t.Errorf("%s: messageType = %v, want %v", tt.name, got, want)
		}
		for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionRequestedIPAddress, dhcpv4.OptionServerIdentifier} {
			got, gotOK := optionAddr(tt.req.Options, code)
			want, wantOK := ipv4Of(dhcpv4.GetIP(code, tt.req.Options))
			if got != want || gotOK != wantOK {
				t.Errorf("%s: optionAddr(%v) = %v %v, want %v %v", tt.name, code, got, gotOK, want, wantOK)
			}
		}
	}
}

func TestReplyReuse(t *testing.T) {
	s, _, _ := fullServer(t, newMemStore())
	req := newPacket(dhcpv4.MessageTypeDiscover, macA, withGiaddr("192.168.10.9"), pxe(7))
	first := s.newReply(req, dhcpv4.MessageTypeOffer)
	putAddr(first.YourIPAddr, netip.MustParseAddr("192.168.10.100"))
	first.BootFileName = "x"
	s.releaseReply(first)
	second := s.newReply(newPacket(dhcpv4.MessageTypeRequest, macB), dhcpv4.MessageTypeAck)
	want := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootReply, HWType: 1, TransactionID: req.TransactionID, Flags: req.Flags,
		ClientIPAddr: net.IPv4zero.To4(), YourIPAddr: net.IPv4zero.To4(), ServerIPAddr: net.IPv4zero.To4(),
		GatewayIPAddr: net.IPv4zero.To4(), ClientHWAddr: macB, Options: dhcpv4.Options{}}
	want.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	want.UpdateOption(dhcpv4.OptServerIdentifier(serverIP.AsSlice()))
	if got := second.ToBytes(); !bytes.Equal(got, want.ToBytes()) {
		t.Errorf("a reused reply keeps what it had:\n%s\nwant\n%s", second.Summary(), want.Summary())
	}
}
