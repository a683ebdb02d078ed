package dhcp

import (
	"bytes"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestParseFacts(t *testing.T) {
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want ClientFacts
	}{
		{"plain client", nil, ClientFacts{}},
		{"BIOS PXE", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			withOpt(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0}),
		}, ClientFacts{Arch: 0, HasArch: true, VendorClass: "PXEClient:Arch:00000:UNDI:002001", PXE: true}},
		{"EFI x64 PXE", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
			withOpt(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 7, 0, 6}),
		}, ClientFacts{Arch: 7, HasArch: true, VendorClass: "PXEClient:Arch:00007:UNDI:003016", PXE: true}},
		{"HTTP boot", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")),
			withOpt(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 16}),
		}, ClientFacts{Arch: 16, HasArch: true, VendorClass: "HTTPClient:Arch:00016:UNDI:003001", PXE: true, HTTPClient: true}},
		{"short option 93", []dhcpv4.Modifier{
			withOpt(dhcpv4.OptionClientSystemArchitectureType, []byte{7}),
		}, ClientFacts{}},
		{"UUID", []dhcpv4.Modifier{
			withOpt(dhcpv4.OptionClientMachineIdentifier, testUUID),
		}, ClientFacts{UUID: testUUID[1:]}},
		{"UUID option with only the type byte", []dhcpv4.Modifier{
			withOpt(dhcpv4.OptionClientMachineIdentifier, []byte{0}),
		}, ClientFacts{}},
		{"iPXE user class, bare", []dhcpv4.Modifier{
			withOpt(dhcpv4.OptionUserClassInformation, []byte("iPXE")),
		}, ClientFacts{UserClass: "iPXE", IPXE: true}},
		{"iPXE user class, RFC 3004 list", []dhcpv4.Modifier{
			withOpt(dhcpv4.OptionUserClassInformation, []byte("\x04iPXE\x03foo")),
		}, ClientFacts{UserClass: "iPXE", IPXE: true}},
		{"other user class", []dhcpv4.Modifier{
			withOpt(dhcpv4.OptionUserClassInformation, []byte("gPXE")),
		}, ClientFacts{UserClass: "gPXE"}},
		{"iPXE option 175", []dhcpv4.Modifier{
			withOpt(dhcpv4.OptionEtherboot, []byte{0xb1, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00}),
		}, ClientFacts{IPXE: true}},
		{"vendor class not at the start", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("xPXEClient")),
		}, ClientFacts{VendorClass: "xPXEClient"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newPacket(dhcpv4.MessageTypeDiscover, macA, tt.mods...)
			// Through the wire format, as the server sees it.
			decoded, err := dhcpv4.FromBytes(req.ToBytes())
			if err != nil {
				t.Fatal(err)
			}
			got := parseFacts(decoded, 5, new(interned))
			want := tt.want
			want.MAC, want.MessageType, want.IfIndex = macA, dhcpv4.MessageTypeDiscover, 5
			if !factsEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func factsEqual(a, b ClientFacts) bool {
	return bytes.Equal(a.MAC, b.MAC) && bytes.Equal(a.UUID, b.UUID) && a.Arch == b.Arch && a.HasArch == b.HasArch &&
		a.VendorClass == b.VendorClass && a.UserClass == b.UserClass && a.IPXE == b.IPXE && a.PXE == b.PXE &&
		a.HTTPClient == b.HTTPClient && a.MessageType == b.MessageType && a.IfIndex == b.IfIndex
}

func TestFirstUserClass(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"iPXE", "iPXE"},
		{"\x04iPXE", "iPXE"},
		{"\x04iPXE\x02ab", "iPXE"},
		{"\x05iPXE", "\x05iPXE"},         // length runs past the end: bare string
		{"\x04iPXE\x00", "\x04iPXE\x00"}, // zero length: bare string
	}
	for _, tt := range tests {
		if got := firstUserClass([]byte(tt.in)); got != tt.want {
			t.Errorf("firstUserClass(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseFactsCopiesBuffers(t *testing.T) {
	req := newPacket(dhcpv4.MessageTypeDiscover, macA, withOpt(dhcpv4.OptionClientMachineIdentifier, bytes.Clone(testUUID)))
	f := parseFacts(req, 0, new(interned))
	req.ClientHWAddr[0] = 0xff
	req.Options.Get(dhcpv4.OptionClientMachineIdentifier)[1] = 0xff
	if f.MAC[0] == 0xff || f.UUID[0] == 0xff {
		t.Error("facts share memory with the packet")
	}
}
