package dhcp

import (
	"context"
	"net/netip"

	"kickstand/internal/events"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// handleProxy answers a request on port 67 in proxy mode. The network's
// own DHCP server gives the address; we only add boot information for PXE
// and HTTP-boot clients, so we never set yiaddr and never NAK.
func (s *Server) handleProxy(ctx context.Context, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog, quiet *string) *dhcpv4.DHCPv4 {
	if !f.PXE {
		log.Debug("dhcp: proxy: ignoring client that is not PXE or HTTP boot")
		return nil
	}
	switch f.MessageType {
	case dhcpv4.MessageTypeDiscover:
		s.emit(f, nil, Event{MAC: f.MAC, Kind: events.DHCPDiscover, Detail: discoverDetail(f)})
		return s.proxyReply(ctx, req, f, dhcpv4.MessageTypeOffer, events.ProxyOffer, log, quiet)
	case dhcpv4.MessageTypeRequest:
		// A REQUEST on port 67 is the client taking the real server's
		// offer; it is ours only when it names us as the server, which
		// some firmwares do after picking our proxy offer.
		if id, ok := optionAddr(req.Options, dhcpv4.OptionServerIdentifier); !ok || id != s.ServerIP {
			s.relayedRequest(req, f, id, log)
			return nil
		}
		return s.proxyReply(ctx, req, f, dhcpv4.MessageTypeAck, events.ProxyAck, log, quiet)
	}
	log.Debug("dhcp: proxy: ignoring message type")
	return nil
}

// relayedRequest notes a REQUEST meant for the network's DHCP server that
// a relay agent forwarded to us too: on another network, behind a router,
// kickstand sees neither the machine's ARP nor the server's ACK, and this
// is how it learns the address the machine's boot files will be fetched
// from (as a proxy REQUEST's ciaddr tells it on port 4011). Nothing is
// sent.
func (s *Server) relayedRequest(req *dhcpv4.DHCPv4, f ClientFacts, server netip.Addr, log requestLog) {
	gw, relayed := ipv4Of(req.GatewayIPAddr)
	ip, ok := optionAddr(req.Options, dhcpv4.OptionRequestedIPAddress)
	if !ok {
		ip, ok = ipv4Of(req.ClientIPAddr)
	}
	if !relayed || !ok {
		log.Debug("dhcp: proxy: ignoring REQUEST meant for the network's DHCP server")
		return
	}
	detail := "asked " + server.String() + " for " + ip.String() + ", relayed by " + gw.String()
	log.Debug("dhcp: proxy: relayed REQUEST for the network's DHCP server", "ip", ip, "giaddr", gw)
	s.emit(f, nil, Event{MAC: f.MAC, Kind: events.DHCPRequest, Detail: detail, IP: ip})
}

// bootServerAck answers a request on the PXE boot server port (4011), in
// proxy and full mode alike: the client already has an address and asks
// only for boot information (iPXE sends a ProxyDHCP REQUEST here after it
// has seen a proxy offer; UEFI firmware does for BINL offers).
func (s *Server) bootServerAck(ctx context.Context, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog, quiet *string) *dhcpv4.DHCPv4 {
	if !f.PXE {
		log.Debug("dhcp: boot server: ignoring client that is not PXE or HTTP boot")
		return nil
	}
	if f.MessageType != dhcpv4.MessageTypeRequest && f.MessageType != dhcpv4.MessageTypeInform {
		log.Debug("dhcp: boot server: ignoring message type other than REQUEST and INFORM")
		return nil
	}
	return s.proxyReply(ctx, req, f, dhcpv4.MessageTypeAck, events.ProxyAck, log, quiet)
}

// proxyReply builds an address-less reply carrying only boot information,
// or nil when the client gets none (refused, says quiet).
func (s *Server) proxyReply(ctx context.Context, req *dhcpv4.DHCPv4, f ClientFacts, mt dhcpv4.MessageType, kind events.Kind, log requestLog, quiet *string) *dhcpv4.DHCPv4 {
	b, ok := s.bootFor(ctx, f, log)
	if !ok || b.Ignore {
		*quiet = OutcomeRefused
		return nil
	}
	reply := s.newReply(req, mt)
	if mt == dhcpv4.MessageTypeAck {
		copyIPv4(reply.ClientIPAddr, req.ClientIPAddr)
	}
	_, relayed := ipv4Of(req.GatewayIPAddr)
	if _, known := ipv4Of(reply.ClientIPAddr); relayed && !known {
		// The reply carries no address the relay agent could unicast it
		// to: it must broadcast it on the client's network (dnsmasq's
		// relay drops it otherwise), as RFC 2131 4.3.2 has a NAK.
		reply.SetBroadcast()
	}
	s.addBoot(reply, req, f, b, log)
	if log.debug {
		log.Debug("dhcp: sending "+string(kind), "file", b.BootFile, "next_server", reply.ServerIPAddr)
	}
	ciaddr, _ := ipv4Of(req.ClientIPAddr)
	s.emit(f, reply, Event{MAC: f.MAC, Kind: kind, Detail: bootDetail(reply, f), IP: ciaddr})
	return reply
}
