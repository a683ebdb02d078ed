package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Subnet is a network full mode gives addresses on besides the server's
// own: one behind a DHCP relay agent (RFC 1542), whose requests arrive with
// a giaddr (the relay's address on it) inside Prefix, and whose replies go
// back to that relay on port 67.
type Subnet struct {
	// Prefix is the network; the subnet mask comes from it.
	Prefix netip.Prefix
	// Range is the pool, first and last inclusive, inside Prefix.
	Range [2]netip.Addr
	// Router is option 3; zero means none (usually the relay's address).
	Router netip.Addr
	// DNS is option 6; empty means none.
	DNS []netip.Addr
}

// lan is one network full mode serves, with its pool: the server's own
// (lans[0], from Server.Subnet, Range, Router and DNS) or a relayed Subnet.
type lan struct {
	Subnet
	own   bool         // the server's own LAN, which holds ServerIP
	table *leaseTable  // its leases and offers
	opts  subnetOption // its options, encoded once
}

// subnetOption is what a lan's replies carry of it.
type subnetOption struct{ mask, router, dns []byte }

func newLAN(sub Subnet, own bool) *lan {
	sub.Prefix = sub.Prefix.Masked()
	n := &lan{Subnet: sub, own: own, table: newLeaseTable(sub.Range[0], sub.Range[1])}
	n.opts.mask = net.CIDRMask(sub.Prefix.Bits(), 32)
	if sub.Router.IsValid() {
		n.opts.router = sub.Router.AsSlice()
	}
	for _, a := range sub.DNS {
		n.opts.dns = append(n.opts.dns, a.AsSlice()...)
	}
	return n
}

func (n *lan) inRange(ip netip.Addr) bool {
	return ip.Is4() && !ip.Less(n.Range[0]) && !n.Range[1].Less(ip)
}

// hostAddress reports whether ip may be given to a client on n: inside the
// subnet, and neither its network or broadcast address nor the router's
// (nor the server's own, on its LAN).
func (n *lan) hostAddress(ip, server netip.Addr) bool {
	p := n.Prefix
	return ip.Is4() && p.Contains(ip) && ip != p.Addr() && ip != lastAddr(p) &&
		!(n.own && ip == server) && ip != n.Router
}

// addOptions adds n's subnet mask, router and DNS servers to reply.
func (n *lan) addOptions(reply *dhcpv4.DHCPv4) {
	reply.Options[dhcpv4.OptionSubnetMask.Code()] = n.opts.mask
	if n.opts.router != nil {
		reply.Options[dhcpv4.OptionRouter.Code()] = n.opts.router
	}
	if n.opts.dns != nil {
		reply.Options[dhcpv4.OptionDomainNameServer.Code()] = n.opts.dns
	}
}

// lanOf picks the network a request is about: through a relay, the one
// holding its giaddr; from a client that unicasts to renew (no giaddr), the
// one holding its ciaddr; otherwise the server's own. ok is false for a
// relay on a network that is not configured.
func lanOf(lans []*lan, req *dhcpv4.DHCPv4) (n *lan, gw netip.Addr, ok bool) {
	if gw, relayed := ipv4Of(req.GatewayIPAddr); relayed {
		for _, n := range lans {
			if n.Prefix.Contains(gw) {
				return n, gw, true
			}
		}
		return nil, gw, false
	}
	if ci, ok := ipv4Of(req.ClientIPAddr); ok {
		for _, n := range lans[1:] {
			if n.Prefix.Contains(ci) {
				return n, netip.Addr{}, true
			}
		}
	}
	return lans[0], netip.Addr{}, true
}

// lanFor returns the network whose pool or subnet holds ip; lans[0] when
// none does.
func lanFor(lans []*lan, ip netip.Addr) *lan {
	for _, n := range lans[1:] {
		if n.Prefix.Contains(ip) {
			return n
		}
	}
	return lans[0]
}

// validateRelayed checks the relayed subnets: each a usable IPv4 network
// with its pool (and router) inside, none overlapping the server's own or
// another.
func (s *Server) validateRelayed(own netip.Prefix) error {
	seen := []netip.Prefix{own}
	for _, sub := range s.Relayed {
		p := sub.Prefix
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("dhcp: relayed subnet %q: want an IPv4 network such as 10.1.2.0/24", p)
		}
		p = p.Masked()
		if p.Bits() > 30 {
			return fmt.Errorf("dhcp: relayed subnet %s is too small for a DHCP pool; use /30 or larger", p)
		}
		for _, q := range seen {
			if p.Overlaps(q) {
				return fmt.Errorf("dhcp: relayed subnet %s overlaps %s; each network may be configured once", p, q)
			}
		}
		seen = append(seen, p)
		if err := validatePool(sub.Range, p); err != nil {
			return err
		}
		sub.Prefix = p
		if err := checkOptions(sub); err != nil {
			return err
		}
	}
	return nil
}

// ParseSubnet parses a relayed network as --dhcp-subnet takes it:
// "PREFIX,range=FIRST-LAST[,router=IP][,dns=IP]...", e.g.
// "10.9.0.0/24,range=10.9.0.100-10.9.0.200,router=10.9.0.1,dns=10.9.0.53".
func ParseSubnet(text string) (Subnet, error) {
	parts := strings.Split(text, ",")
	bad := func(format string, a ...any) (Subnet, error) {
		return Subnet{}, fmt.Errorf("--dhcp-subnet %q: "+format+" (want PREFIX,range=FIRST-LAST[,router=IP][,dns=IP]...)", append([]any{text}, a...)...)
	}
	var sub Subnet
	p, err := netip.ParsePrefix(strings.TrimSpace(parts[0]))
	if err != nil || !p.Addr().Is4() {
		return bad("%q is not an IPv4 network such as 10.9.0.0/24", parts[0])
	}
	sub.Prefix = p.Masked()
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "range":
			if sub.Range, err = ParseRange(v); err != nil {
				return bad("%v", err)
			}
		case "router":
			if sub.Router, err = netip.ParseAddr(v); err != nil || !sub.Router.Is4() {
				return bad("router %q is not an IPv4 address", v)
			}
		case "dns":
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return bad("dns %q is not an IPv4 address", v)
			}
			sub.DNS = append(sub.DNS, a)
		default:
			return bad("unknown part %q", kv)
		}
	}
	if !sub.Range[0].IsValid() {
		return bad("no range=")
	}
	return sub, nil
}
