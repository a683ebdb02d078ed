package dhcp

import (
	"bytes"
	"context"
	"kickstand/internal/events"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestProxyDecisions(t *testing.T) {
	ignore := func(context.Context, ClientFacts) (BootReply, bool) { return BootReply{Ignore: true}, true }
	none := func(context.Context, ClientFacts) (BootReply, bool) { return BootReply{}, false }
	tests := []struct {
		name   string
		req    *dhcpv4.DHCPv4
		port   int
		boot   BootFunc // nil: bootAll
		noBoot bool     // Boot is nil
		want   dhcpv4.MessageType
	}{
		{name: "non-PXE discover", req: newPacket(dhcpv4.MessageTypeDiscover, macA), port: 67},
		{name: "windows discover", req: newPacket(dhcpv4.MessageTypeDiscover, macA,
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("MSFT 5.0"))), port: 67},
		{name: "PXE discover", req: newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)), port: 67,
			want: dhcpv4.MessageTypeOffer},
		{name: "HTTP boot discover", req: newPacket(dhcpv4.MessageTypeDiscover, macA,
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001"))), port: 67,
			want: dhcpv4.MessageTypeOffer},
		{name: "PXE discover, boot says no", req: newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)), port: 67,
			boot: none},
		{name: "PXE discover, boot says ignore", req: newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)), port: 67,
			boot: ignore},
		{name: "PXE discover, no boot func", req: newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)), port: 67,
			noBoot: true},
		{name: "request to the real server", req: newPacket(dhcpv4.MessageTypeRequest, macA, pxe(0),
			withServerID("192.168.10.250"), withRequested("192.168.10.77")), port: 67},
		{name: "request without server id", req: newPacket(dhcpv4.MessageTypeRequest, macA, pxe(0),
			withRequested("192.168.10.77")), port: 67},
		{name: "request naming us", req: newPacket(dhcpv4.MessageTypeRequest, macA, pxe(0),
			withServerID(serverIP.String()), withRequested("192.168.10.77")), port: 67,
			want: dhcpv4.MessageTypeAck},
		{name: "non-PXE request naming us", req: newPacket(dhcpv4.MessageTypeRequest, macA,
			withServerID(serverIP.String()), withRequested("192.168.10.77")), port: 67},
		{name: "release", req: newPacket(dhcpv4.MessageTypeRelease, macA, pxe(0), withCiaddr("192.168.10.77")), port: 67},
		{name: "decline", req: newPacket(dhcpv4.MessageTypeDecline, macA, pxe(0), withRequested("192.168.10.77")), port: 67},
		{name: "inform on 67", req: newPacket(dhcpv4.MessageTypeInform, macA, pxe(0), withCiaddr("192.168.10.77")), port: 67},
		{name: "4011 request", req: newPacket(dhcpv4.MessageTypeRequest, macA, pxe(7), withCiaddr("192.168.10.77")), port: 4011,
			want: dhcpv4.MessageTypeAck},
		{name: "4011 inform", req: newPacket(dhcpv4.MessageTypeInform, macA, pxe(7), withCiaddr("192.168.10.77")), port: 4011,
			want: dhcpv4.MessageTypeAck},
		{name: "4011 discover", req: newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(7)), port: 4011},
		{name: "4011 non-PXE request", req: newPacket(dhcpv4.MessageTypeRequest, macA, withCiaddr("192.168.10.77")), port: 4011},
		{name: "4011 request, boot says ignore", req: newPacket(dhcpv4.MessageTypeRequest, macA, pxe(7), withCiaddr("192.168.10.77")),
			port: 4011, boot: ignore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ev := proxyServer(t)
			if tt.boot != nil {
				s.Boot = tt.boot
			}
			if tt.noBoot {
				s.Boot = nil
			}
			reply := exchange(t, s, tt.req, tt.port)
			if tt.want == dhcpv4.MessageTypeNone {
				if reply != nil {
					t.Fatalf("want no reply, got %s", reply.MessageType())
				}
				if k := ev.kinds(); slices.ContainsFunc(k, func(s string) bool { return strings.HasPrefix(s, "proxy-") }) {
					t.Errorf("events %v for an ignored client", k)
				}
				return
			}
			if reply == nil {
				t.Fatalf("want %s, got no reply", tt.want)
			}
			if got := reply.MessageType(); got != tt.want {
				t.Errorf("message type = %s, want %s", got, tt.want)
			}
			if !reply.YourIPAddr.Equal(net.IPv4zero) {
				t.Errorf("proxy reply gives address %s", reply.YourIPAddr)
			}
		})
	}
}

func TestProxyOfferFields(t *testing.T) {
	s, ev := proxyServer(t)
	req := newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0), withGiaddr("0.0.0.0"),
		withOpt(dhcpv4.OptionRelayAgentInformation, []byte{1, 3, 'e', 't', 'h'}))
	req.HopCount = 0
	reply := exchange(t, s, req, 67)
	if reply == nil {
		t.Fatal("no offer")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"op", reply.OpCode, dhcpv4.OpcodeBootReply},
		{"type", reply.MessageType(), dhcpv4.MessageTypeOffer},
		{"xid", reply.TransactionID, req.TransactionID},
		{"flags", reply.Flags, req.Flags},
		{"chaddr", reply.ClientHWAddr.String(), macA.String()},
		{"hops", reply.HopCount, uint8(0)},
		{"yiaddr", reply.YourIPAddr.String(), "0.0.0.0"},
		{"siaddr", reply.ServerIPAddr.String(), tftpIP.String()},
		{"file", reply.BootFileName, "pxelinux.0"},
		{"option 67", reply.BootFileNameOption(), "pxelinux.0"},
		{"option 54", reply.ServerIdentifier().String(), serverIP.String()},
		{"option 60", reply.ClassIdentifier(), "PXEClient"},
		{"option 43", reply.Options.Get(dhcpv4.OptionVendorSpecificInformation), []byte{6, 1, 8, 255}},
		{"option 97", reply.Options.Get(dhcpv4.OptionClientMachineIdentifier), testUUID},
		{"option 82", reply.Options.Get(dhcpv4.OptionRelayAgentInformation), []byte{1, 3, 'e', 't', 'h'}},
		{"option 51", reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime), false},
		{"events", ev.kinds(), []string{"dhcp-discover", "proxy-offer"}},
	}
	// The events carry the client's facts and its answer as fields.
	ev.mu.Lock()
	for _, e := range ev.list {
		f := e.Fields
		if f.VendorClass != "PXEClient:Arch:00000:UNDI:002001" || !f.PXE || f.Arch == nil || *f.Arch != 0 {
			t.Errorf("%s fields: %+v, want the client's vendor class, PXE, arch 0", e.Kind, f)
		}
		if e.Kind == events.ProxyOffer && (f.BootFile != "pxelinux.0" || f.NextServer != tftpIP.String()) {
			t.Errorf("proxy-offer fields: %+v, want boot file pxelinux.0 from %s", f, tftpIP)
		}
	}
	ev.mu.Unlock()
	for _, c := range checks {
		if !equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestProxyHTTPClientOffer(t *testing.T) {
	s, _ := proxyServer(t)
	s.Boot = func(_ context.Context, f ClientFacts) (BootReply, bool) {
		if !f.HTTPClient {
			t.Errorf("facts do not say HTTP client: %+v", f)
		}
		return BootReply{BootFile: "http://192.168.10.1/boot/shimx64.efi"}, true
	}
	req := newPacket(dhcpv4.MessageTypeDiscover, macA,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")))
	reply := exchange(t, s, req, 67)
	if reply == nil {
		t.Fatal("no offer")
	}
	if got := reply.ClassIdentifier(); got != "HTTPClient" {
		t.Errorf("option 60 = %q, want HTTPClient", got)
	}
	if got := reply.BootFileNameOption(); got != "http://192.168.10.1/boot/shimx64.efi" {
		t.Errorf("option 67 = %q", got)
	}
	if reply.Options.Has(dhcpv4.OptionVendorSpecificInformation) {
		t.Error("HTTP boot offer carries PXE option 43")
	}
	if got := reply.ServerIPAddr.String(); got != serverIP.String() {
		t.Errorf("siaddr = %s, want our address %s when Boot gives no next server", got, serverIP)
	}
}

func TestBootServerAckFields(t *testing.T) {
	s, ev := proxyServer(t)
	req := newPacket(dhcpv4.MessageTypeRequest, macA, pxe(7), withCiaddr("192.168.10.77"))
	reply := exchange(t, s, req, 4011)
	if reply == nil {
		t.Fatal("no ack")
	}
	if reply.MessageType() != dhcpv4.MessageTypeAck || reply.BootFileName != "pxelinux.0" ||
		!reply.ServerIPAddr.Equal(tftpIP) || reply.ServerIdentifier().String() != serverIP.String() {
		t.Errorf("ack = %s", reply.Summary())
	}
	if got := reply.ClientIPAddr.String(); got != "192.168.10.77" {
		t.Errorf("ciaddr = %s, want the client's", got)
	}
	if !reply.YourIPAddr.Equal(net.IPv4zero) {
		t.Errorf("yiaddr = %s, want 0.0.0.0", reply.YourIPAddr)
	}
	if got := ev.kinds(); !slices.Equal(got, []string{"proxy-ack"}) {
		t.Errorf("events = %v", got)
	}
}

func TestProxyBootFileTooLongForFileField(t *testing.T) {
	s, _ := proxyServer(t)
	long := "http://192.168.10.1/" + strings.Repeat("x", 200) + ".efi"
	s.Boot = func(context.Context, ClientFacts) (BootReply, bool) { return BootReply{BootFile: long}, true }
	reply := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(7)), 67)
	if reply == nil {
		t.Fatal("no offer")
	}
	if reply.BootFileName != "" {
		t.Errorf("file field = %q, want empty rather than truncated", reply.BootFileName)
	}
	if reply.BootFileNameOption() != long {
		t.Errorf("option 67 = %q, want the whole name", reply.BootFileNameOption())
	}
}

func TestProxyBadNextServerFallsBack(t *testing.T) {
	s, _ := proxyServer(t)
	s.Boot = func(context.Context, ClientFacts) (BootReply, bool) {
		return BootReply{BootFile: "x", NextServer: net.ParseIP("2001:db8::1")}, true
	}
	reply := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)), 67)
	if reply == nil || reply.ServerIPAddr.String() != serverIP.String() {
		t.Fatalf("siaddr = %v, want %s", reply, serverIP)
	}
}

func TestBootSeesFacts(t *testing.T) {
	s, _ := proxyServer(t)
	var got ClientFacts
	s.Boot = func(_ context.Context, f ClientFacts) (BootReply, bool) {
		got = f
		return BootReply{BootFile: "x"}, true
	}
	exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(7)), 67)
	if !got.PXE || !got.HasArch || got.Arch != 7 || !bytes.Equal(got.MAC, macA) || got.IfIndex != 3 ||
		got.MessageType != dhcpv4.MessageTypeDiscover {
		t.Errorf("facts = %+v", got)
	}
}

func equal(a, b any) bool {
	switch av := a.(type) {
	case []byte:
		bv, ok := b.([]byte)
		return ok && bytes.Equal(av, bv)
	case []string:
		bv, ok := b.([]string)
		return ok && slices.Equal(av, bv)
	}
	return a == b
}
