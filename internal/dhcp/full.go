package dhcp

import (
	"bytes"
	"context"
	"errors"
	"kickstand/internal/events"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// handleFull answers a request on port 67 as the network's DHCP server.
func (s *Server) handleFull(ctx context.Context, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog, quiet *string) *dhcpv4.DHCPv4 {
	lans, err := s.lans(ctx)
	if err != nil {
		log.Error("dhcp: full: no leases; not answering", "err", err)
		return nil
	}
	n, gw, ok := lanOf(lans, req)
	if !ok {
		s.unknownRelay(gw, log)
		return nil
	}
	switch f.MessageType {
	case dhcpv4.MessageTypeDiscover:
		return s.fullDiscover(ctx, n, req, f, log)
	case dhcpv4.MessageTypeRequest:
		return s.fullRequest(ctx, n, req, f, log)
	case dhcpv4.MessageTypeDecline:
		if s.fullDecline(ctx, n, req, f, log) {
			*quiet = OutcomeDeclined
		}
	case dhcpv4.MessageTypeRelease:
		if s.fullRelease(ctx, n, req, f, log) {
			*quiet = OutcomeReleased
		}
	case dhcpv4.MessageTypeInform:
		return s.fullInform(ctx, n, req, f, log)
	default:
		log.Debug("dhcp: full: ignoring message type")
	}
	return nil
}

func (s *Server) fullDiscover(ctx context.Context, n *lan, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog) *dhcpv4.DHCPv4 {
	s.emit(f, nil, Event{MAC: f.MAC, Kind: events.DHCPDiscover, Detail: discoverDetail(f)})
	requested, _ := optionAddr(req.Options, dhcpv4.OptionRequestedIPAddress)
	ip, ok := s.chooseAddress(ctx, n, f.MAC, requested, log)
	if !ok {
		log.Warn("dhcp: full: no free address in the pool; no offer (widen the range or shorten the lease time)",
			"range", rangeString(n.Range), "subnet", n.Prefix)
		return nil
	}
	reply := s.newReply(req, dhcpv4.MessageTypeOffer)
	putAddr(reply.YourIPAddr, ip)
	s.addAddressOptions(n, reply, true)
	detail := s.addBootIfAny(ctx, reply, req, f, log)
	if log.debug {
		log.Debug("dhcp: full: sending offer", "ip", ip)
	}
	s.emit(f, reply, Event{MAC: f.MAC, Kind: events.DHCPOffer, Detail: detail, IP: ip})
	return reply
}

// chooseAddress picks the address to offer mac and sets it aside: its
// reservation, else the address it had, else the one it asks for, else
// the first free one in the pool.
func (s *Server) chooseAddress(ctx context.Context, n *lan, mac net.HardwareAddr, requested netip.Addr, log requestLog) (netip.Addr, bool) {
	if r, ok := s.reservation(ctx, n, mac, log); ok {
		if s.tryOffer(ctx, n, mac, r, log) {
			return r, true
		}
		log.Warn("dhcp: full: reserved address is in use by another client or declined; offering from the pool", "reserved", r)
		return s.choosePoolAddress(ctx, n, mac, requested, log)
	}
	ip, ok := s.choosePoolAddress(ctx, n, mac, requested, log)
	if ok {
		n.table.markChecked(mac, ip, s.now()) // for the REQUEST that follows
	}
	return ip, ok
}

// choosePoolAddress is chooseAddress without the reservation.
func (s *Server) choosePoolAddress(ctx context.Context, n *lan, mac net.HardwareAddr, requested netip.Addr, log requestLog) (netip.Addr, bool) {
	if ip, ok := n.table.lookupIP(mac); ok && s.poolFor(ctx, n, mac, ip) && s.tryOffer(ctx, n, mac, ip, log) {
		return ip, true
	}
	if requested.IsValid() && s.poolFor(ctx, n, mac, requested) && s.tryOffer(ctx, n, mac, requested, log) {
		return requested, true
	}
	// Each turn offers an address, or sets one aside that is reserved for
	// another machine, or finds that a concurrent request took it first:
	// the loop ends.
	for {
		ip, ok := n.table.firstFree(s.now())
		if !ok {
			return netip.Addr{}, false
		}
		if !s.poolFor(ctx, n, mac, ip) {
			n.table.setReserved(ip, s.now())
			continue
		}
		if s.tryOffer(ctx, n, mac, ip, log) {
			return ip, true
		}
	}
}

func (s *Server) tryOffer(ctx context.Context, n *lan, mac net.HardwareAddr, ip netip.Addr, log requestLog) bool {
	displaced, ok := n.table.offer(mac, ip, s.now())
	s.forgetStored(ctx, displaced, log)
	return ok
}

// poolFor reports whether ip is a pool address that is not reserved for
// another MAC (whether someone holds it is the lease table's business).
func (s *Server) poolFor(ctx context.Context, n *lan, mac net.HardwareAddr, ip netip.Addr) bool {
	if !n.inRange(ip) {
		return false
	}
	if s.ReservedFor == nil {
		return true
	}
	owner, ok := s.ReservedFor(ctx, ip)
	return !ok || bytes.Equal(owner, mac)
}

// reservation returns mac's reserved address if it has a usable one.
func (s *Server) reservation(ctx context.Context, n *lan, mac net.HardwareAddr, log requestLog) (netip.Addr, bool) {
	if s.Reservation == nil {
		return netip.Addr{}, false
	}
	ip, ok := s.Reservation(ctx, mac)
	if !ok {
		return netip.Addr{}, false
	}
	if !n.hostAddress(ip, s.ServerIP) {
		log.Warn("dhcp: full: ignoring reservation that is not a free host address in the subnet",
			"reserved", ip, "subnet", n.Prefix)
		return netip.Addr{}, false
	}
	return ip, true
}

// canGive reports whether a REQUEST from mac for ip (on our subnet) may be
// acknowledged: its reservation, or a free pool address when it has no
// usable reservation.
func (s *Server) canGive(ctx context.Context, n *lan, mac net.HardwareAddr, ip netip.Addr, log requestLog) bool {
	now := s.now()
	if r, ok := s.reservation(ctx, n, mac, log); ok {
		if ip == r {
			return n.table.available(mac, ip, now)
		}
		if n.table.available(mac, r, now) {
			log.Debug("dhcp: full: client asks for an address other than its reservation", "reserved", r)
			return false
		}
	}
	return s.poolFor(ctx, n, mac, ip) && n.table.available(mac, ip, now)
}

func (s *Server) fullRequest(ctx context.Context, n *lan, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog) *dhcpv4.DHCPv4 {
	if id, ok := optionAddr(req.Options, dhcpv4.OptionServerIdentifier); ok && id != s.ServerIP {
		n.table.dropOffer(f.MAC)
		log.Debug("dhcp: full: client chose another server; staying silent", "server", id)
		return nil
	}
	ip, ok := optionAddr(req.Options, dhcpv4.OptionRequestedIPAddress)
	if !ok {
		ip, ok = ipv4Of(req.ClientIPAddr) // renewing or rebinding
	}
	if !ok {
		log.Debug("dhcp: full: REQUEST names no address; ignoring")
		return nil
	}
	if !n.Prefix.Contains(ip) {
		log.Debug("dhcp: full: REQUEST for an address on another network; staying silent", "ip", ip)
		return nil
	}
	// The OFFER's lookups stand for the REQUEST right after it.
	if !n.table.checkedRecently(f.MAC, ip, s.now()) && !s.canGive(ctx, n, f.MAC, ip, log) {
		return s.nak(req, f, ip, log)
	}
	now := s.now()
	lease := Lease{MAC: f.MAC, IP: ip, Expires: now.Add(s.leaseTime()), Hostname: hostName(req.Options)}
	displaced, ok := n.table.commit(lease, now)
	if !ok {
		return s.nak(req, f, ip, log)
	}
	if err := s.writer.put(ctx, lease, displaced); err != nil {
		var taken *takenError
		if errors.As(err, &taken) {
			// Another server sharing the pool gave it first: this table
			// learns its lease, and the client starts over.
			n.table.learn(taken.holder)
			log.Debug("dhcp: full: another server leased the address first; refusing it", "ip", ip, "holder", taken.holder.MAC.String())
			s.resync(ctx, log)
			return s.nak(req, f, ip, log)
		}
		log.Error("dhcp: full: saving the lease failed; not acknowledging", "ip", ip, "err", err)
		return nil
	}
	reply := s.newReply(req, dhcpv4.MessageTypeAck)
	copyIPv4(reply.ClientIPAddr, req.ClientIPAddr)
	putAddr(reply.YourIPAddr, ip)
	s.addAddressOptions(n, reply, true)
	detail := s.addBootIfAny(ctx, reply, req, f, log)
	if log.debug {
		log.Debug("dhcp: full: sending ack", "ip", ip, "expires", lease.Expires)
	}
	s.emit(f, reply, Event{MAC: f.MAC, Kind: events.DHCPAck, Detail: detail, IP: ip})
	return reply
}

// nak refuses a REQUEST for an address on our subnet that the client can
// not have, so that it starts over with DISCOVER.
func (s *Server) nak(req *dhcpv4.DHCPv4, f ClientFacts, ip netip.Addr, log requestLog) *dhcpv4.DHCPv4 {
	reply := s.newReply(req, dhcpv4.MessageTypeNak)
	reply.Options[dhcpv4.OptionMessage.Code()] = s.options().nakMessage
	if _, relayed := ipv4Of(req.GatewayIPAddr); relayed {
		reply.SetBroadcast() // RFC 2131 4.3.2: the relay must broadcast the NAK
	}
	log.Debug("dhcp: full: sending nak", "ip", ip)
	s.emit(f, nil, Event{MAC: f.MAC, Kind: events.DHCPNak, Detail: "requested " + ip.String() + " not available", IP: ip})
	return reply
}

// fullDecline sets aside the address a client found in use, and reports
// whether it held it.
func (s *Server) fullDecline(ctx context.Context, n *lan, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog) bool {
	if id, ok := optionAddr(req.Options, dhcpv4.OptionServerIdentifier); ok && id != s.ServerIP {
		log.Debug("dhcp: full: DECLINE for another server; ignoring", "server", id)
		return false
	}
	ip, ok := optionAddr(req.Options, dhcpv4.OptionRequestedIPAddress)
	if !ok || !n.table.decline(f.MAC, ip, s.now()) {
		log.Debug("dhcp: full: DECLINE for an address the client does not hold; ignoring", "ip", ip)
		return false
	}
	s.forgetStored(ctx, f.MAC, log)
	log.Warn("dhcp: full: client declined its address, another host seems to use it; not handing it out for a while",
		"ip", ip, "for", declineHold)
	s.emit(f, nil, Event{MAC: f.MAC, Kind: events.DHCPDecline, Detail: "address in use by another host", IP: ip})
	return true
}

// fullRelease frees a client's lease, and reports whether it held one.
func (s *Server) fullRelease(ctx context.Context, n *lan, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog) bool {
	if id, ok := optionAddr(req.Options, dhcpv4.OptionServerIdentifier); ok && id != s.ServerIP {
		log.Debug("dhcp: full: RELEASE for another server; ignoring", "server", id)
		return false
	}
	ip, ok := ipv4Of(req.ClientIPAddr)
	if !ok || !n.table.remove(f.MAC, ip) {
		log.Debug("dhcp: full: RELEASE for an address the client does not hold; ignoring", "ip", ip)
		return false
	}
	s.forgetStored(ctx, f.MAC, log)
	if log.debug {
		log.Debug("dhcp: full: lease released", "ip", ip)
	}
	s.emit(f, nil, Event{MAC: f.MAC, Kind: events.DHCPRelease, IP: ip})
	return true
}

// fullInform answers a client that configured its address itself: the
// network's options, no address and no lease time (RFC 2131 4.3.5).
func (s *Server) fullInform(ctx context.Context, n *lan, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog) *dhcpv4.DHCPv4 {
	ip, ok := ipv4Of(req.ClientIPAddr)
	if ok && !n.Prefix.Contains(ip) {
		log.Debug("dhcp: full: INFORM from another network; ignoring", "ciaddr", ip)
		return nil
	}
	reply := s.newReply(req, dhcpv4.MessageTypeAck)
	copyIPv4(reply.ClientIPAddr, req.ClientIPAddr)
	s.addAddressOptions(n, reply, false)
	detail := s.addBootIfAny(ctx, reply, req, f, log)
	log.Debug("dhcp: full: answering inform", "ciaddr", ip)
	s.emit(f, reply, Event{MAC: f.MAC, Kind: events.DHCPAck, Detail: "inform; " + detail, IP: ip})
	return reply
}

// addAddressOptions adds the network's options, and with lease the lease
// time and its renewal (T1 = 1/2) and rebinding (T2 = 7/8) times.
func (s *Server) addAddressOptions(n *lan, reply *dhcpv4.DHCPv4, lease bool) {
	n.addOptions(reply)
	if lease {
		o := s.options()
		reply.Options[dhcpv4.OptionIPAddressLeaseTime.Code()] = o.leaseTime
		reply.Options[dhcpv4.OptionRenewTimeValue.Code()] = o.renewTime
		reply.Options[dhcpv4.OptionRebindingTimeValue.Code()] = o.rebindTime
	}
}

// resync adopts the leases of the shared store that this server has not
// seen: once another server won an address, it has likely given more that
// this server would offer next. At most once a second.
func (s *Server) resync(ctx context.Context, log requestLog) {
	now := s.now()
	last := s.lastSync.Load()
	if now.UnixNano()-last < int64(time.Second) || !s.lastSync.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	lans, err := s.lans(ctx)
	if err != nil {
		return
	}
	stored, err := s.Leases.Leases(ctx)
	if err != nil {
		log.Warn("dhcp: full: reading the shared store's leases failed", "err", err)
		return
	}
	learned := 0
	for _, l := range stored {
		if l.Expires.After(now) && lanFor(lans, l.IP).table.learn(l) {
			learned++
		}
	}
	log.Debug("dhcp: full: learned the leases of other servers", "count", learned)
}

// unknownRelay notes a request relayed from a network that is not
// configured: logged once per relay, then only at debug level.
func (s *Server) unknownRelay(gw netip.Addr, log requestLog) {
	if _, seen := s.unknownR.LoadOrStore(gw, true); !seen {
		log.Warn("dhcp: full: ignoring requests relayed from a network that is not configured; add it with --dhcp-subnet if this server should give addresses there",
			"giaddr", gw)
		return
	}
	log.Debug("dhcp: full: ignoring request relayed from an unconfigured network", "giaddr", gw)
}

// addBootIfAny adds boot information for PXE clients that get some and
// returns a description for the event.
func (s *Server) addBootIfAny(ctx context.Context, reply, req *dhcpv4.DHCPv4, f ClientFacts, log requestLog) string {
	b, ok := s.bootFor(ctx, f, log)
	if !ok {
		return "address only"
	}
	if b.Ignore {
		log.Debug("dhcp: full: giving an address without boot information")
		return "address only (boot ignored)"
	}
	s.addBoot(reply, req, f, b, log)
	return bootDetail(reply, f)
}

// forgetStored deletes mac's lease from the store; nil mac does nothing.
func (s *Server) forgetStored(ctx context.Context, mac net.HardwareAddr, log requestLog) {
	if mac == nil {
		return
	}
	if err := s.writer.remove(ctx, mac); err != nil {
		log.Warn("dhcp: full: deleting a lease from the store failed", "lease_mac", mac.String(), "err", err)
	}
}

func (s *Server) inRange(ip netip.Addr) bool {
	return ip.Is4() && !ip.Less(s.Range[0]) && !s.Range[1].Less(ip)
}
