package dhcp

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// maxReplySize is the largest reply that fits one Ethernet frame (1500
// bytes less the IP and UDP headers): PXE ROMs do not reassemble fragments.
const maxReplySize = 1472

// fuzzBoot is the boot function of the fuzz targets: it decides by the MAC's
// last byte, so that every outcome a BootFunc has is reachable, and it
// records what it gave, for the targets to compare with the reply.
type fuzzBoot struct {
	given map[string]BootReply // by MAC, the last answer with ok=true
}

func (b *fuzzBoot) boot(_ context.Context, f ClientFacts) (BootReply, bool) {
	var r BootReply
	switch last := f.MAC[5]; {
	case last == 0xff:
		return BootReply{}, false
	case last == 0xfe:
		r = BootReply{Ignore: true}
	case last == 0xfd:
		r = BootReply{} // no boot file: as good as no answer
	case last == 0xfc:
		r = BootReply{BootFile: strings.Repeat("x", 200), NextServer: net.IP{1, 2, 3}} // too long for the file field; unusable next server
	case f.HTTPClient:
		r = BootReply{BootFile: "http://10.213.7.1:8080/ipxe/snponly.efi"}
	case f.IPXE:
		r = BootReply{BootFile: "http://10.213.7.1:8080/ipxe/01-" + strings.ReplaceAll(f.MAC.String(), ":", "-") + ".ipxe"}
	case f.HasArch && f.Arch == 7:
		r = BootReply{BootFile: "BOOTX64.EFI", NextServer: tftpIP}
	default:
		r = BootReply{BootFile: "lpxelinux.0"}
	}
	b.given[f.MAC.String()] = r
	return r, true
}

// FuzzProxy feeds raw datagrams to a proxyDHCP server on port 67 and on the
// PXE port (4011). Besides encoding and having somewhere to go, a reply
// must: echo the request (xid, chaddr, htype, flags, giaddr); never give an
// address (yiaddr 0.0.0.0, no lease time, mask or router) and never NAK;
// answer only a PXE or HTTP-boot client, a DISCOVER (port 67) with an OFFER
// and a REQUEST (port 67 naming us; port 4011) or INFORM (port 4011) with an
// ACK; name us in option 54; carry what the boot function gave and nothing
// when it gave nothing; and fit one Ethernet frame.
func FuzzProxy(f *testing.F) {
	addDHCPSeeds(f)
	boots := &fuzzBoot{given: map[string]BootReply{}}
	s := &Server{ServerIP: fuzzServerIP, Boot: boots.boot}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, decodeErr := dhcpv4.FromBytes(b)
		for _, port := range []int{67, DefaultPXEPort} {
			clear(boots.given)
			reply := s.handlePacket(context.Background(), b, port, 2)
			if reply == nil {
				continue
			}
			if decodeErr != nil {
				t.Fatalf("port %d: a reply to a packet that does not decode (%v)", port, decodeErr)
			}
			checkReply(t, s, req, reply, port)
			checkProxyReply(t, s, req, reply, port, boots)
		}
	})
}

// checkReply checks what every reply must be: decodable, small enough, a
// BOOTREPLY to req from us with somewhere to go.
func checkReply(t *testing.T, s *Server, req, reply *dhcpv4.DHCPv4, port int) {
	t.Helper()
	wire := reply.ToBytes()
	decoded, err := dhcpv4.FromBytes(wire)
	if err != nil {
		t.Fatalf("port %d: reply does not decode: %v", port, err)
	}
	if len(wire) > maxReplySize {
		t.Fatalf("port %d: reply of %d bytes does not fit one Ethernet frame", port, len(wire))
	}
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 ||
		req.MessageType() == dhcpv4.MessageTypeNone {
		t.Fatalf("port %d: a reply to a request that is not a DHCP request from Ethernet: %v", port, req.Summary())
	}
	if decoded.OpCode != dhcpv4.OpcodeBootReply || decoded.TransactionID != req.TransactionID ||
		!bytes.Equal(decoded.ClientHWAddr, req.ClientHWAddr) || decoded.HWType != req.HWType || decoded.Flags&0x7fff != req.Flags&0x7fff {
		t.Fatalf("port %d: reply %v does not answer request %v", port, decoded.Summary(), req.Summary())
	}
	if giaddr := ip4Slice(req.GatewayIPAddr); !decoded.GatewayIPAddr.Equal(giaddr) {
		t.Fatalf("port %d: reply giaddr %v, request %v", port, decoded.GatewayIPAddr, req.GatewayIPAddr)
	}
	if id, ok := ipv4Of(decoded.ServerIdentifier()); !ok || id != s.ServerIP {
		t.Fatalf("port %d: reply names server %v", port, decoded.ServerIdentifier())
	}
	src := &net.UDPAddr{IP: net.IPv4(192, 168, 10, 77), Port: 68}
	if dst, _ := replyAddr(reply, src, port == DefaultPXEPort); dst == nil {
		t.Fatalf("port %d: reply without destination", port)
	}
}

// checkProxyReply checks a reply that must carry boot information and no
// address: every reply of a proxy, and a full server's on the PXE port.
func checkProxyReply(t *testing.T, s *Server, req, reply *dhcpv4.DHCPv4, port int, boots *fuzzBoot) {
	t.Helper()
	mt, vendor := reply.MessageType(), string(req.Options.Get(dhcpv4.OptionClassIdentifier))
	if !reply.YourIPAddr.Equal(net.IPv4zero) || mt == dhcpv4.MessageTypeNak {
		t.Fatalf("port %d: boot-only reply %v gives an address or NAKs", port, reply.Summary())
	}
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter} {
		if reply.Options.Has(code) {
			t.Fatalf("port %d: boot-only reply has option %v", port, code)
		}
	}
	if !strings.HasPrefix(vendor, "PXEClient") && !strings.HasPrefix(vendor, "HTTPClient") {
		t.Fatalf("port %d: boot-only reply to a client of vendor class %q", port, vendor)
	}
	reqType := req.MessageType()
	switch {
	case port == 67 && reqType == dhcpv4.MessageTypeDiscover:
		if mt != dhcpv4.MessageTypeOffer || !reply.ClientIPAddr.Equal(net.IPv4zero) {
			t.Fatalf("port 67: DISCOVER answered with %v", reply.Summary())
		}
	case port == 67 && reqType == dhcpv4.MessageTypeRequest:
		if id, ok := ipv4Of(req.ServerIdentifier()); !ok || id != s.ServerIP || mt != dhcpv4.MessageTypeAck {
			t.Fatalf("port 67: REQUEST for server %v answered with %v", req.ServerIdentifier(), reply.Summary())
		}
	case port == DefaultPXEPort && (reqType == dhcpv4.MessageTypeRequest || reqType == dhcpv4.MessageTypeInform):
		if mt != dhcpv4.MessageTypeAck {
			t.Fatalf("port %d: %v answered with %v", port, reqType, reply.Summary())
		}
	default:
		t.Fatalf("port %d: %v answered with %v", port, reqType, reply.Summary())
	}
	if mt == dhcpv4.MessageTypeAck && !reply.ClientIPAddr.Equal(ip4Slice(req.ClientIPAddr)) {
		t.Fatalf("port %d: ACK ciaddr %v, request %v", port, reply.ClientIPAddr, req.ClientIPAddr)
	}
	b, ok := boots.given[req.ClientHWAddr.String()]
	if !ok || b.Ignore || b.BootFile == "" {
		t.Fatalf("port %d: boot-only reply %v, but the boot function gave %+v, %v", port, reply.Summary(), b, ok)
	}
	if got := reply.BootFileNameOption(); got != b.BootFile {
		t.Fatalf("port %d: option 67 %q, the boot function gave %q", port, got, b.BootFile)
	}
	if want := b.BootFile; len(want) > maxBootFileField {
		if reply.BootFileName != "" {
			t.Fatalf("port %d: a boot file name of %d bytes in the file field", port, len(want))
		}
	} else if reply.BootFileName != want {
		t.Fatalf("port %d: file field %q, want %q", port, reply.BootFileName, want)
	}
	wantNext := net.IP(s.ServerIP.AsSlice())
	if ip := b.NextServer.To4(); ip != nil && !ip.IsUnspecified() {
		wantNext = ip
	}
	if !reply.ServerIPAddr.Equal(wantNext) {
		t.Fatalf("port %d: siaddr %v, want %v", port, reply.ServerIPAddr, wantNext)
	}
	http := strings.HasPrefix(vendor, "HTTPClient")
	if reply.ClassIdentifier() != map[bool]string{true: "HTTPClient", false: "PXEClient"}[http] ||
		reply.Options.Has(dhcpv4.OptionVendorSpecificInformation) == http {
		t.Fatalf("port %d: option 60 %q and option 43 %v for vendor class %q", port, reply.ClassIdentifier(),
			reply.Options.Has(dhcpv4.OptionVendorSpecificInformation), vendor)
	}
}
