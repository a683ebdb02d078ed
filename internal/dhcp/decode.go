package dhcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// The request is decoded here rather than by dhcpv4.FromBytes, which
// allocates some twenty times per packet (every address, the hardware
// address, every option's value, the option map). decodeInto accepts and
// refuses exactly what FromBytes does and gives the same values
// (FuzzDecodeMatchesLibrary), but into a reused DHCPv4 whose slices point
// into the datagram: a request is valid only while its datagram is, that
// is, until the reply to it is sent. Nothing keeps a request's slices
// beyond that; what outlives the packet (facts, leases, events) is copied.

// bootpHeaderLen is the fixed part of a BOOTP message, up to the options'
// magic cookie.
const bootpHeaderLen = 236

var (
	errShortPacket = errors.New("malformed DHCP packet: shorter than a BOOTP header and magic cookie")
	errBadCookie   = errors.New("malformed DHCP packet: bad magic cookie")
	errBadOption   = errors.New("error collecting options: an option runs past the end of the packet")
)

// requests are the DHCPv4 values decodeInto fills, reused.
var requests = sync.Pool{New: func() any { return &dhcpv4.DHCPv4{Options: dhcpv4.Options{}} }}

// decodeInto decodes b into d as dhcpv4.FromBytes(b) would, without
// copying: d's addresses, hardware address and option values are slices
// of b. d's option map is cleared and reused.
func decodeInto(d *dhcpv4.DHCPv4, b []byte) error {
	if len(b) < bootpHeaderLen+len(magicCookie) {
		return errShortPacket
	}
	d.OpCode = dhcpv4.OpcodeType(b[0])
	d.HWType = iana.HWType(b[1])
	hwLen := min(int(b[2]), 16)
	d.HopCount = b[3]
	d.TransactionID = dhcpv4.TransactionID(b[4:8])
	d.NumSeconds = uint16(b[8])<<8 | uint16(b[9])
	d.Flags = uint16(b[10])<<8 | uint16(b[11])
	d.ClientIPAddr = net.IP(b[12:16:16])
	d.YourIPAddr = net.IP(b[16:20:20])
	d.ServerIPAddr = net.IP(b[20:24:24])
	d.GatewayIPAddr = net.IP(b[24:28:28])
	d.ClientHWAddr = net.HardwareAddr(b[28 : 28+hwLen : 28+hwLen])
	d.ServerHostName = cString(b[44:108])
	d.BootFileName = cString(b[108:236])
	if [4]byte(b[236:240]) != magicCookie {
		return errBadCookie
	}
	if d.Options == nil {
		d.Options = dhcpv4.Options{}
	}
	clear(d.Options)
	return decodeOptions(d.Options, b[240:])
}

// cString is the text of a NUL-terminated field; most are empty, which
// costs no allocation.
func cString(field []byte) string {
	if i := bytes.IndexByte(field, 0); i >= 0 {
		field = field[:i]
	}
	if len(field) == 0 {
		return ""
	}
	return string(field)
}

// decodeOptions reads options into o up to the End option, which must be
// there. An option that appears more than once has its values joined (RFC
// 3396), the only case that copies.
func decodeOptions(o dhcpv4.Options, b []byte) error {
	if len(b) == 0 {
		return nil // FromBytes takes a message without options or End
	}
	for len(b) > 0 {
		code := b[0]
		b = b[1:]
		switch code {
		case dhcpv4.OptionPad.Code():
			continue
		case dhcpv4.OptionEnd.Code():
			return nil
		}
		if len(b) == 0 {
			return io.ErrUnexpectedEOF // an option code without its length
		}
		n := int(b[0])
		b = b[1:]
		if n > len(b) {
			return errBadOption
		}
		v := b[:n:n]
		b = b[n:]
		switch old, ok := o[code]; {
		case ok:
			o[code] = append(old, v...) // old's capacity is its length: this copies
		case n == 0:
			o[code] = nil // as append(nil, nothing...) leaves it
		default:
			o[code] = v
		}
	}
	return io.ErrUnexpectedEOF // no End option
}
