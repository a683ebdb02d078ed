package dhcp

import (
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The request's options are read here rather than through dhcpv4's
// getters, which allocate: these run for every packet. Each accepts
// exactly what the getter it replaces accepts.

// messageType is req.MessageType(): option 53 if it is one byte long.
func messageType(o dhcpv4.Options) dhcpv4.MessageType {
	v := o.Get(dhcpv4.OptionDHCPMessageType)
	if len(v) != 1 {
		return dhcpv4.MessageTypeNone
	}
	return dhcpv4.MessageType(v[0])
}

// optionAddr is an IPv4 address option (server identifier, requested
// address) as ipv4Of(req.ServerIdentifier()) reads it: four bytes, not
// 0.0.0.0.
func optionAddr(o dhcpv4.Options, code dhcpv4.OptionCode) (netip.Addr, bool) {
	v := o.Get(code)
	if len(v) != net.IPv4len {
		return netip.Addr{}, false
	}
	a := netip.AddrFrom4([4]byte(v))
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// bootpMinLen is the shortest BOOTP message (RFC 951); some relays drop
// shorter ones, so replies are padded to it.
const bootpMinLen = 300

var magicCookie = [4]byte{99, 130, 83, 99}

// appendPacket appends d encoded to b and returns it: the bytes of
// d.ToBytes(), without its allocations (a buffer, the sorted option codes,
// the padding) when b has room. Options come in the order of their codes,
// but relay agent information (82) last (RFC 3046 2.1); a value longer
// than 255 bytes is split into several options (RFC 3396).
func appendPacket(b []byte, d *dhcpv4.DHCPv4) []byte {
	b = append(b, byte(d.OpCode), byte(d.HWType), byte(len(d.ClientHWAddr)), d.HopCount)
	b = append(b, d.TransactionID[:]...)
	b = binary.BigEndian.AppendUint16(b, d.NumSeconds)
	b = binary.BigEndian.AppendUint16(b, d.Flags)
	for _, ip := range []net.IP{d.ClientIPAddr, d.YourIPAddr, d.ServerIPAddr, d.GatewayIPAddr} {
		b = appendIPv4(b, ip)
	}
	b = appendField(b, d.ClientHWAddr, 16, 16)
	b = appendField(b, d.ServerHostName, 63, 64)
	b = appendField(b, d.BootFileName, 127, 128)
	b = append(b, magicCookie[:]...)
	var present [4]uint64
	for code := range d.Options {
		present[code/64] |= 1 << (code % 64)
	}
	const agentInfo = 82
	for w, word := range present {
		for word != 0 {
			code := uint8(w*64 + bits.TrailingZeros64(word))
			word &= word - 1
			if code != agentInfo && code != dhcpv4.OptionPad.Code() && code != dhcpv4.OptionEnd.Code() {
				b = appendOption(b, code, d.Options[code])
			}
		}
	}
	if v, ok := d.Options[agentInfo]; ok {
		b = appendOption(b, agentInfo, v)
	}
	b = append(b, dhcpv4.OptionEnd.Code())
	for len(b) < bootpMinLen {
		b = append(b, dhcpv4.OptionPad.Code())
	}
	return b
}

func appendIPv4(b []byte, ip net.IP) []byte {
	if ip4 := ip.To4(); ip4 != nil {
		return append(b, ip4...)
	}
	return append(b, 0, 0, 0, 0)
}

// appendField appends v cut to max bytes and zero-padded to size.
func appendField[T ~string | ~[]byte](b []byte, v T, max, size int) []byte {
	n := min(len(v), max)
	b = append(b, v[:n]...)
	for range size - n {
		b = append(b, 0)
	}
	return b
}

func appendOption(b []byte, code uint8, v []byte) []byte {
	if len(v) == 0 {
		return append(b, code, 0)
	}
	for len(v) > 0 {
		n := min(len(v), 255)
		b = append(b, code, byte(n))
		b = append(b, v[:n]...)
		v = v[n:]
	}
	return b
}
