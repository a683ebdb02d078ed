package dhcp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The network of FuzzProxy and FuzzFull is the end-to-end tests' (test/e2e),
// so that the captured requests, which name 10.213.7.1 and ask for
// 10.213.7.100, reach every path. FuzzFull's pool has four addresses, so
// that the fuzzer exhausts and reuses it; fuzzMACs[4] has a reservation
// inside the pool (so the pool must skip it for others) and fuzzMACs[5] one
// outside.
var (
	fuzzServerIP = netip.MustParseAddr("10.213.7.1")
	fuzzMACs     = []net.HardwareAddr{
		{0x52, 0x54, 0x00, 0x00, 0x00, 0x00}, {0x52, 0x54, 0x00, 0x00, 0x00, 0x01},
		{0x52, 0x54, 0x00, 0x00, 0x00, 0x02}, {0x52, 0x54, 0x00, 0x00, 0x00, 0xff}, // no boot information
		{0x52, 0x54, 0x00, 0x00, 0x00, 0x04}, {0x52, 0x54, 0x00, 0x00, 0x00, 0x05},
	}
	fuzzRange     = [2]netip.Addr{netip.MustParseAddr("10.213.7.100"), netip.MustParseAddr("10.213.7.103")}
	fuzzSubnet    = netip.MustParsePrefix("10.213.7.0/24")
	fuzzRouter    = netip.MustParseAddr("10.213.7.254")
	fuzzLeaseTime = 10 * time.Minute
	fuzzReserved  = map[string]netip.Addr{
		fuzzMACs[4].String(): netip.MustParseAddr("10.213.7.101"),
		fuzzMACs[5].String(): netip.MustParseAddr("10.213.7.20"),
	}
)

// fuzzFullServer is the full-mode server of FuzzFull, on store and clock;
// a restart is a new one on the same store.
func fuzzFullServer(store LeaseStore, clock *fakeClock, boots *fuzzBoot, ev *eventLog) *Server {
	return &Server{
		Mode: ModeFull, ServerIP: fuzzServerIP, Boot: boots.boot, OnEvent: ev.add,
		Range: fuzzRange, Subnet: fuzzSubnet, Router: fuzzRouter, DNS: []netip.Addr{netip.MustParseAddr("10.213.7.53")},
		LeaseTime: fuzzLeaseTime, Leases: store, clock: clock.Now,
		Reservation: func(_ context.Context, mac net.HardwareAddr) (netip.Addr, bool) {
			ip, ok := fuzzReserved[mac.String()]
			return ip, ok
		},
		ReservedFor: func(_ context.Context, ip netip.Addr) (net.HardwareAddr, bool) {
			for mac, r := range fuzzReserved {
				if r == ip {
					m, _ := net.ParseMAC(mac)
					return m, true
				}
			}
			return nil, false
		},
	}
}

// holding is an address the server gave a MAC: offered or acknowledged.
type holding struct {
	ip        netip.Addr
	until     time.Time
	committed bool // acknowledged, so kept in the store across a restart
}

// leaseModel is what the server has told the clients: which MAC may use
// which address until when, and which addresses were declined. The server
// may know less (a lease a client gave up), never more.
type leaseModel struct {
	held     map[string]holding // by MAC: one address per MAC
	declined map[netip.Addr]time.Time
}

func (m *leaseModel) holder(ip netip.Addr, now time.Time) (string, bool) {
	for mac, h := range m.held {
		if h.ip == ip && now.Before(h.until) {
			return mac, true
		}
	}
	return "", false
}

// FuzzFull runs a sequence of requests through a full-mode server (the
// fuzzer's bytes are a program: DHCP messages of six clients built from a
// few bytes each, raw datagrams, clock steps and restarts on the same lease
// store) and holds every reply against a model of the leases it gave. Every
// reply is a BOOTREPLY that echoes its request (FuzzProxy's checkReply); an
// OFFER or ACK gives an address of the pool, or the client's reservation,
// that is a host address of the subnet, not ours or the router's, not
// declined, and not held by another client (no address to two MACs); it
// carries the lease time, mask and router. A NAK gives no address; INFORM
// gets no lease; DECLINE and RELEASE get nothing; the PXE port never gives
// an address (checkProxyReply). A REQUEST of a client without reservation
// for a pool address nobody holds is acknowledged, not refused.
func FuzzFull(f *testing.F) {
	addFullSeeds(f)
	f.Fuzz(func(t *testing.T, program []byte) {
		ctx := context.Background()
		store, clock, boots, ev := newMemStore(), &fakeClock{now: t0}, &fuzzBoot{given: map[string]BootReply{}}, &eventLog{}
		s := fuzzFullServer(store, clock, boots, ev)
		model := &leaseModel{held: map[string]holding{}, declined: map[netip.Addr]time.Time{}}
		restarted := false
		for step := 0; len(program) > 0 && step < 64; step++ {
			op := program[0]
			program = program[1:]
			var packet []byte
			port := 67
			switch op % 8 {
			case 5: // the clock moves on, up to two hours
				if len(program) > 0 {
					clock.Advance(time.Duration(program[0]) * 30 * time.Second)
					program = program[1:]
				}
				continue
			case 6: // restart: offers and declines are forgotten, leases come back from the store
				s = fuzzFullServer(store, clock, boots, ev)
				restarted = true
				for mac, h := range model.held {
					if !h.committed {
						delete(model.held, mac)
					}
				}
				clear(model.declined)
				continue
			case 7: // a raw datagram of a 16-bit length
				if len(program) < 2 {
					program = nil
					continue
				}
				n := min(int(program[0])<<8|int(program[1]), len(program)-2)
				packet, program = program[2:2+n], program[2+n:]
			default:
				var args [4]byte
				n := copy(args[:], program)
				program = program[n:]
				packet = fuzzMessage(op, args).ToBytes()
			}
			if op&0x80 != 0 {
				port = DefaultPXEPort
			}
			clear(boots.given)
			ev.list = nil
			reply := s.handlePacket(ctx, packet, port, 2)
			req, err := dhcpv4.FromBytes(packet)
			if err != nil {
				if reply != nil {
					t.Fatalf("step %d: a reply to a packet that does not decode (%v)", step, err)
				}
				continue
			}
			checkFull(t, step, s, model, req, reply, port, clock.Now(), ev.list, boots, !restarted)
		}
	})
}

// fuzzMessage builds a message of type op%8 (DISCOVER, REQUEST, DECLINE,
// RELEASE, INFORM) from four bytes: the client (and whether it is a PXE
// client), the requested address, ciaddr, and server identifier and giaddr.
func fuzzMessage(op byte, a [4]byte) *dhcpv4.DHCPv4 {
	types := []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeDecline,
		dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeInform}
	mac := fuzzMACs[int(a[0]&0x7f)%len(fuzzMACs)]
	var mods []dhcpv4.Modifier
	if a[0]&0x80 != 0 {
		mods = append(mods, pxe(uint16(op>>3&0x0f)))
	}
	addr := func(b byte) string {
		if b >= 0xf0 {
			return fmt.Sprintf("10.0.0.%d", b) // another network
		}
		return fmt.Sprintf("10.213.7.%d", b)
	}
	if a[1] != 0 {
		mods = append(mods, withRequested(addr(a[1])))
	}
	if a[2] != 0 {
		mods = append(mods, withCiaddr(addr(a[2])))
	}
	switch a[3] & 3 {
	case 1:
		mods = append(mods, withServerID(fuzzServerIP.String()))
	case 2:
		mods = append(mods, withServerID("10.213.7.2"))
	}
	switch a[3] >> 2 & 3 {
	case 1:
		mods = append(mods, withGiaddr("10.213.7.254"))
	case 2:
		mods = append(mods, withGiaddr("10.9.9.9"))
	}
	p := newPacket(types[int(op%8)%len(types)], mac, mods...)
	p.TransactionID = dhcpv4.TransactionID{op, a[0], a[1], a[2]}
	return p
}

// checkFull checks one reply of a full-mode server against the model and
// updates the model with what the server gave and what it was told.
func checkFull(t *testing.T, step int, s *Server, m *leaseModel, req, reply *dhcpv4.DHCPv4, port int, now time.Time, evs []Event, boots *fuzzBoot, exact bool) {
	t.Helper()
	mac := req.ClientHWAddr.String()
	for _, e := range evs {
		switch e.Kind {
		case "dhcp-release", "dhcp-decline":
			if h, ok := m.held[e.MAC.String()]; ok && h.ip == e.IP {
				delete(m.held, e.MAC.String())
			}
			if e.Kind == "dhcp-decline" {
				m.declined[e.IP] = now.Add(declineHold)
			}
		}
	}
	if reply == nil {
		// A client that chose another server gives up the offer.
		if id, ok := ipv4Of(req.ServerIdentifier()); ok && id != fuzzServerIP && port == 67 &&
			req.MessageType() == dhcpv4.MessageTypeRequest && checkRequest(req) == nil && fromOurSubnet(req) {
			if h, ok := m.held[mac]; ok && !h.committed {
				delete(m.held, mac)
			}
		}
		checkNotRefusedSilently(t, step, m, req, port, now, exact)
		return
	}
	checkReply(t, s, req, reply, port)
	if port == DefaultPXEPort {
		checkProxyReply(t, s, req, reply, port, boots)
		return
	}
	reqType, mt := req.MessageType(), reply.MessageType()
	switch {
	case reqType == dhcpv4.MessageTypeDiscover && mt == dhcpv4.MessageTypeOffer,
		reqType == dhcpv4.MessageTypeRequest && mt == dhcpv4.MessageTypeAck:
		ip, ok := ipv4Of(reply.YourIPAddr)
		if !ok {
			t.Fatalf("step %d: %v gives no address", step, reply.Summary())
		}
		checkGrant(t, step, m, mac, ip, now)
		if reply.IPAddressLeaseTime(0) != fuzzLeaseTime || net.IP(reply.SubnetMask()).String() != "255.255.255.0" ||
			len(reply.Router()) != 1 || !reply.Router()[0].Equal(fuzzRouter.AsSlice()) {
			t.Fatalf("step %d: %v lacks the lease time, mask or router", step, reply.Summary())
		}
		h := holding{ip: ip, until: now.Add(offerHold)}
		if old, ok := m.held[mac]; ok && old.ip == ip && mt == dhcpv4.MessageTypeOffer {
			h.committed = old.committed
			if old.until.After(h.until) {
				h.until = old.until
			}
		}
		if mt == dhcpv4.MessageTypeAck {
			h = holding{ip: ip, until: now.Add(fuzzLeaseTime), committed: true}
		}
		m.held[mac] = h
	case reqType == dhcpv4.MessageTypeRequest && mt == dhcpv4.MessageTypeNak:
		if !reply.YourIPAddr.Equal(net.IPv4zero) || reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
			t.Fatalf("step %d: NAK %v gives an address", step, reply.Summary())
		}
		checkNAKNeeded(t, step, m, req, now, exact)
	case reqType == dhcpv4.MessageTypeInform && mt == dhcpv4.MessageTypeAck:
		if !reply.YourIPAddr.Equal(net.IPv4zero) || reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
			t.Fatalf("step %d: INFORM answered with a lease: %v", step, reply.Summary())
		}
	default:
		t.Fatalf("step %d: %v answered with %v", step, reqType, reply.Summary())
	}
}

// checkGrant fails unless ip may be given to mac now.
func checkGrant(t *testing.T, step int, m *leaseModel, mac string, ip netip.Addr, now time.Time) {
	t.Helper()
	reserved, hasReservation := fuzzReserved[mac]
	inPool := !ip.Less(fuzzRange[0]) && !fuzzRange[1].Less(ip)
	if !fuzzSubnet.Contains(ip) || ip == fuzzSubnet.Addr() || ip == lastAddr(fuzzSubnet) || ip == fuzzServerIP || ip == fuzzRouter ||
		!(inPool || hasReservation && ip == reserved) {
		t.Fatalf("step %d: %s given %v, outside the pool and not its reservation", step, mac, ip)
	}
	for other, r := range fuzzReserved {
		if r == ip && other != mac {
			t.Fatalf("step %d: %s given %v, reserved for %s", step, mac, ip, other)
		}
	}
	if holder, ok := m.holder(ip, now); ok && holder != mac {
		t.Fatalf("step %d: %s given %v, which %s holds until %v (now %v)", step, mac, ip, holder, m.held[holder].until, now)
	}
	if until, ok := m.declined[ip]; ok && now.Before(until) {
		t.Fatalf("step %d: %s given %v, declined until %v", step, mac, ip, until)
	}
}

// requestFor returns the address a REQUEST on port 67 asks for, if the
// server must decide it: a client without reservation asking us (or nobody)
// for a pool address that is nobody's reservation.
func requestFor(req *dhcpv4.DHCPv4) (netip.Addr, bool) {
	if req.MessageType() != dhcpv4.MessageTypeRequest || checkRequest(req) != nil || !fromOurSubnet(req) {
		return netip.Addr{}, false
	}
	if id, ok := ipv4Of(req.ServerIdentifier()); ok && id != fuzzServerIP {
		return netip.Addr{}, false
	}
	if _, reserved := fuzzReserved[req.ClientHWAddr.String()]; reserved {
		return netip.Addr{}, false
	}
	ip, ok := ipv4Of(req.RequestedIPAddress())
	if !ok {
		ip, ok = ipv4Of(req.ClientIPAddr)
	}
	if !ok || ip.Less(fuzzRange[0]) || fuzzRange[1].Less(ip) {
		return netip.Addr{}, false
	}
	for _, r := range fuzzReserved {
		if r == ip {
			return netip.Addr{}, false
		}
	}
	return ip, true
}

// free reports whether the model has ip free for mac now.
func (m *leaseModel) free(mac string, ip netip.Addr, now time.Time) bool {
	holder, held := m.holder(ip, now)
	until, declined := m.declined[ip]
	return (!held || holder == mac) && (!declined || !now.Before(until))
}

// checkNAKNeeded fails when the server refused a REQUEST it had to grant.
// After a restart the server may know of leases the model forgot (a client
// that moved on keeps its stored lease until it expires), so only a run
// without restarts is held to it.
func checkNAKNeeded(t *testing.T, step int, m *leaseModel, req *dhcpv4.DHCPv4, now time.Time, exact bool) {
	t.Helper()
	if ip, ok := requestFor(req); ok && exact && m.free(req.ClientHWAddr.String(), ip, now) {
		t.Fatalf("step %d: NAK for %v, which nobody holds: %v", step, ip, req.Summary())
	}
}

// checkNotRefusedSilently fails when the server did not answer a REQUEST
// it had to grant, or a DISCOVER while it had a free address.
func checkNotRefusedSilently(t *testing.T, step int, m *leaseModel, req *dhcpv4.DHCPv4, port int, now time.Time, exact bool) {
	t.Helper()
	if port != 67 || !exact {
		return
	}
	mac := req.ClientHWAddr.String()
	if ip, ok := requestFor(req); ok && m.free(mac, ip, now) {
		t.Fatalf("step %d: no answer to a REQUEST for %v, which nobody holds: %v", step, ip, req.Summary())
	}
	if req.MessageType() != dhcpv4.MessageTypeDiscover || checkRequest(req) != nil || !fromOurSubnet(req) {
		return
	}
	for ip := fuzzRange[0]; !fuzzRange[1].Less(ip); ip = ip.Next() {
		if r, ok := reservedFor(ip); (!ok || r == mac) && m.free(mac, ip, now) {
			t.Fatalf("step %d: no offer, though %v is free: %v", step, ip, req.Summary())
		}
	}
}

// reservedFor returns the MAC ip is reserved for, if any.
func reservedFor(ip netip.Addr) (string, bool) {
	for mac, r := range fuzzReserved {
		if r == ip {
			return mac, true
		}
	}
	return "", false
}

// fromOurSubnet reports whether the request came directly or through a
// relay on the server's subnet.
func fromOurSubnet(req *dhcpv4.DHCPv4) bool {
	gw, relayed := ipv4Of(req.GatewayIPAddr)
	return !relayed || fuzzSubnet.Contains(gw)
}

// addFullSeeds are programs: each client's DISCOVER and REQUEST (DORA),
// two clients racing for the last address, a decline, a release, the
// reserved clients, expiry, a restart, the PXE port, and the captured
// datagrams as raw steps to port 67 and to the PXE port.
func addFullSeeds(f *testing.F) {
	const (
		discover, request, decline, release, inform, wait, restart, raw = 0, 1, 2, 3, 4, 5, 6, 7
		pxePort                                                         = 0x80
		ours, other                                                     = 1, 2
	)
	dora := func(client byte, ip byte) []byte {
		return []byte{discover, client | 0x80, 0, 0, 0, request, client | 0x80, ip, 0, ours}
	}
	var all []byte
	for c := byte(0); c < 6; c++ {
		all = append(all, dora(c, 100+c)...)
	}
	f.Add(all)
	f.Add(append(append(dora(0, 100), dora(1, 100)...), wait, 40, discover, 2, 0, 0, 0))
	f.Add(append(dora(0, 100), decline, 0, 100, 0, ours, discover, 1, 0, 0, 0, wait, 21, discover, 1, 0, 0, 0))
	f.Add(append(dora(0, 101), release, 0, 0, 101, ours, discover, 1, 101, 0, 0))
	f.Add(append(append(dora(4, 101), dora(5, 20)...), discover, 1, 101, 0, 0, request, 1, 101, 0, 0))
	f.Add(append(dora(0, 100), restart, request, 0, 0, 100, 0, request, 1, 100, 0, 0, wait, 255, request, 1, 100, 0, 0))
	f.Add([]byte{discover, 0x80, 0, 0, 0, request, 0x80, 100, 0, other, request, 0x81, 100, 0, ours})
	f.Add([]byte{inform, 0x80, 0, 7, 0, request | pxePort, 0x80, 0, 7, 0, inform | pxePort, 0x81, 0, 8, 0})
	f.Add([]byte{request, 0x80, 100, 0, ours | 8, request, 0x80, 100, 0, ours | 4})
	for _, c := range dhcpCaptures(f) {
		for _, op := range []byte{raw, raw | pxePort} {
			f.Add(append([]byte{op, byte(len(c.packet) >> 8), byte(len(c.packet))}, c.packet...))
		}
	}
}
