package dhcp

import "github.com/insomniacslk/dhcp/dhcpv4"

// The message types OnPacket is told: the five a client sends, and two for
// the rest.
const (
	PacketDiscover = "discover"
	PacketRequest  = "request"
	PacketDecline  = "decline"
	PacketRelease  = "release"
	PacketInform   = "inform"
	PacketOther    = "other"   // another message type, or none (BOOTP)
	PacketInvalid  = "invalid" // not a DHCPv4 packet: it does not decode
)

// What became of a packet, as OnPacket is told it.
const (
	OutcomeOffered  = "offered"  // answered with an OFFER
	OutcomeAcked    = "acked"    // answered with an ACK
	OutcomeNak      = "nak"      // answered with a NAK
	OutcomeReleased = "released" // a RELEASE that freed the client's lease
	OutcomeDeclined = "declined" // a DECLINE that set its address aside
	// OutcomeRefused is a PXE client's request left unanswered because the
	// Boot function gave it no boot information (proxy mode and the PXE
	// port; in full mode such a client still gets an address).
	OutcomeRefused = "refused"
	// OutcomeIgnored is every other packet without a reply: not a PXE
	// client (proxy mode), meant for another server, malformed, or not
	// answerable (no free address, a lease store that fails).
	OutcomeIgnored = "ignored"
)

// packet tells OnPacket what became of a packet.
func (s *Server) packet(msgType, outcome string) {
	if s.OnPacket != nil {
		s.OnPacket(msgType, outcome)
	}
}

// packetType names the message type in o, reading the option's byte
// itself: dhcpv4's MessageType allocates, and this runs for every packet.
func packetType(o dhcpv4.Options) string {
	v := o.Get(dhcpv4.OptionDHCPMessageType)
	if len(v) != 1 {
		return PacketOther
	}
	switch dhcpv4.MessageType(v[0]) {
	case dhcpv4.MessageTypeDiscover:
		return PacketDiscover
	case dhcpv4.MessageTypeRequest:
		return PacketRequest
	case dhcpv4.MessageTypeDecline:
		return PacketDecline
	case dhcpv4.MessageTypeRelease:
		return PacketRelease
	case dhcpv4.MessageTypeInform:
		return PacketInform
	}
	return PacketOther
}

// outcomeOf is what became of a request answered with reply; quiet is the
// outcome when there is no reply.
func outcomeOf(reply *dhcpv4.DHCPv4, quiet string) string {
	if reply == nil {
		return quiet
	}
	if v := reply.Options.Get(dhcpv4.OptionDHCPMessageType); len(v) == 1 {
		switch dhcpv4.MessageType(v[0]) {
		case dhcpv4.MessageTypeOffer:
			return OutcomeOffered
		case dhcpv4.MessageTypeAck:
			return OutcomeAcked
		case dhcpv4.MessageTypeNak:
			return OutcomeNak
		}
	}
	return OutcomeIgnored
}
