package dhcp

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// ClientFacts is what a request says about the client.
type ClientFacts struct {
	MAC net.HardwareAddr
	// Arch is the first value of option 93 (0 BIOS, 7 EFI x64, ...); 0 if
	// absent, see HasArch.
	Arch    uint16
	HasArch bool
	// VendorClass is option 60, e.g. "PXEClient:Arch:00007:UNDI:003016".
	VendorClass string
	// UUID is option 97 without its leading type byte; nil if absent.
	UUID []byte
	// UserClass is the first user class of option 77 as text, e.g. "iPXE".
	UserClass string
	// IPXE is set when option 77 is "iPXE" or option 175 is present.
	IPXE bool
	// PXE is set when option 60 starts with "PXEClient" or "HTTPClient".
	PXE bool
	// HTTPClient is set when option 60 starts with "HTTPClient" (UEFI
	// HTTP Boot).
	HTTPClient  bool
	MessageType dhcpv4.MessageType
	// IfIndex is the index of the interface the request came in on; 0 if
	// unknown.
	IfIndex int
}

const (
	vendorPXEClient  = "PXEClient"
	vendorHTTPClient = "HTTPClient"
)

// parseFacts extracts the ClientFacts from a request. It never fails: an
// option it can not read counts as absent.
func parseFacts(req *dhcpv4.DHCPv4, ifIndex int, shared *interned) ClientFacts {
	f := ClientFacts{
		MAC:         shared.mac(req.ClientHWAddr),
		VendorClass: shared.vendor(req.Options.Get(dhcpv4.OptionClassIdentifier)),
		MessageType: messageType(req.Options),
		IfIndex:     ifIndex,
	}
	if arch := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(arch) >= 2 {
		f.Arch = binary.BigEndian.Uint16(arch)
		f.HasArch = true
	}
	if uuid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(uuid) > 1 {
		f.UUID = bytes.Clone(uuid[1:])
	}
	f.UserClass = firstUserClass(req.Options.Get(dhcpv4.OptionUserClassInformation))
	f.IPXE = f.UserClass == "iPXE" || req.Options.Has(dhcpv4.OptionEtherboot)
	f.HTTPClient = strings.HasPrefix(f.VendorClass, vendorHTTPClient)
	f.PXE = f.HTTPClient || strings.HasPrefix(f.VendorClass, vendorPXEClient)
	return f
}

// firstUserClass reads option 77. RFC 3004 makes it a list of
// length-prefixed strings, but iPXE and many firmwares send one bare
// string ("iPXE"), so the list form is used only when it parses exactly.
func firstUserClass(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	var first string
	for rest := v; len(rest) > 0; {
		n := int(rest[0])
		if n == 0 || n > len(rest)-1 {
			return string(v)
		}
		if first == "" {
			first = string(rest[1 : 1+n])
		}
		rest = rest[1+n:]
	}
	return first
}
