package firewall

import (
	"cmp"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// tri is a three-valued truth: whether a match holds for every packet a
// client can send to the port, for none of them, or for some or unknown.
type tri int8

const (
	no tri = iota
	yes
	maybe
)

func (t tri) not() tri {
	switch t {
	case yes:
		return no
	case no:
		return yes
	}
	return maybe
}

// and combines the matches of one rule: any no wins, then any maybe.
func and(a, b tri) tri {
	if a == no || b == no {
		return no
	}
	if a == maybe || b == maybe {
		return maybe
	}
	return yes
}

// span is an inclusive range of numbers: ports, IPv4 addresses as uint32.
type span struct{ lo, hi uint64 }

func exact(v uint64) span { return span{v, v} }

func (s span) exact() bool { return s.lo == s.hi }

// covered says whether s lies inside the union of spans, outside all of
// them, or across an edge.
func (s span) covered(by []span) tri { return newSpanSet(by).cover(s) }

// spanSet is a union of spans: sorted, disjoint, not touching.
type spanSet []span

func newSpanSet(spans []span) spanSet {
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	var out spanSet
	for _, s := range spans {
		if n := len(out); n > 0 && (out[n-1].hi == math.MaxUint64 || s.lo <= out[n-1].hi+1) {
			out[n-1].hi = max(out[n-1].hi, s.hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

// cover says whether s lies inside the set, outside it, or across an edge.
func (ss spanSet) cover(s span) tri {
	i, _ := slices.BinarySearchFunc(ss, s.lo, func(e span, lo uint64) int {
		if e.hi < lo {
			return -1
		}
		return 1
	})
	switch {
	case i == len(ss) || ss[i].lo > s.hi:
		return no
	case ss[i].lo <= s.lo && s.hi <= ss[i].hi:
		return yes
	}
	return maybe
}

// Protocol numbers and the names nft and iptables use for them.
const (
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17
)

var protoNames = map[string]uint64{
	"icmp": protoICMP, "igmp": 2, "tcp": protoTCP, "udp": protoUDP, "gre": 47, "esp": 50, "ah": 51,
	"icmpv6": 58, "ipv6-icmp": 58, "sctp": 132, "udplite": 136, "dccp": 33,
}

// Route types, as fib and addrtype name them.
const (
	rtnUnicast   = 1
	rtnLocal     = 2
	rtnBroadcast = 3
)

var rtnNames = map[string]uint64{
	"unspec": 0, "unicast": rtnUnicast, "local": rtnLocal, "broadcast": rtnBroadcast, "anycast": 4,
	"multicast": 5, "blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10, "xresolve": 11,
}

// packet is what a client sends to one port: the first packet of a new
// connection (TCP SYN) or a new UDP flow, as seen on the input path. Fields
// the simulation cannot know are spans over every possible value.
type packet struct {
	iface     string // "" when the target is every interface
	l4proto   uint64
	dport     uint64
	sport     span
	saddr     span // IPv4 as uint32
	daddr     span
	daddrType uint64 // rtnLocal or rtnBroadcast
	broadcast bool   // link-layer broadcast (meta pkttype broadcast)
	ctState   uint64 // ctStateNew; ctStateInvalid before conntrack has seen it
}

// ifaceMatch compares an interface name with a pattern in nft ("eth*") or
// iptables ("eth+") wildcard form.
func ifaceMatch(pattern, iface string, wildcard byte) tri {
	if iface == "" {
		return maybe
	}
	if n := len(pattern); n > 0 && pattern[n-1] == wildcard {
		if strings.HasPrefix(iface, pattern[:n-1]) {
			return yes
		}
		return no
	}
	if pattern == iface {
		return yes
	}
	return no
}

func addrSpan(a netip.Addr) span {
	b := a.As4()
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	return exact(v)
}

func prefixSpan(p netip.Prefix) span {
	p = p.Masked()
	lo := addrSpan(p.Addr()).lo
	size := uint64(1) << (32 - p.Bits())
	return span{lo, lo + size - 1}
}

var anyAddr = span{0, 1<<32 - 1}

// parseAddrOrPrefix reads "192.0.2.1", "192.0.2.0/24" or "192.0.2.0/255.255.255.0".
func parseAddrOrPrefix(s string) (span, bool) {
	addr, mask, hasMask := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return span{}, false
	}
	if !hasMask {
		return addrSpan(a), true
	}
	if m, err := netip.ParseAddr(mask); err == nil && m.Is4() {
		return prefixSpan(netip.PrefixFrom(a, maskBits(m.As4()))), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return span{}, false
	}
	return prefixSpan(p), true
}

// maskBits counts the leading ones of a dotted netmask.
func maskBits(m [4]byte) int {
	bits := 0
	for _, b := range m {
		for i := 7; i >= 0; i-- {
			if b&(1<<i) == 0 {
				return bits
			}
			bits++
		}
	}
	return bits
}

// packetBase is the unicast packet a client of t sends; judgePort sets the
// port and protocol, or turns it into a DHCP broadcast.
func packetBase(t Target) packet {
	p := packet{
		iface:     t.Interface,
		sport:     span{1, 65535},
		saddr:     anyAddr,
		daddr:     anyAddr,
		daddrType: rtnLocal,
		ctState:   ctStateNew,
	}
	if t.ServerIP.IsValid() {
		p.daddr = addrSpan(t.ServerIP)
	}
	subnet := t.Subnet
	if !subnet.IsValid() {
		subnet = interfaceSubnet(t.Interface, t.ServerIP)
	}
	if subnet.IsValid() {
		p.saddr = prefixSpan(subnet)
	}
	return p
}

// interfaceSubnet finds the IPv4 subnet of iface (the one holding server
// if given), or of the interface holding server when iface is "".
func interfaceSubnet(iface string, server netip.Addr) netip.Prefix {
	var ifaces []net.Interface
	if iface != "" {
		i, err := net.InterfaceByName(iface)
		if err != nil {
			return netip.Prefix{}
		}
		ifaces = []net.Interface{*i}
	} else if server.IsValid() {
		all, err := net.Interfaces()
		if err != nil {
			return netip.Prefix{}
		}
		ifaces = all
	}
	var first netip.Prefix
	for _, i := range ifaces {
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok || ipnet.IP.To4() == nil {
				continue
			}
			addr, _ := netip.AddrFromSlice(ipnet.IP.To4())
			bits, _ := ipnet.Mask.Size()
			prefix := netip.PrefixFrom(addr, bits).Masked()
			if server.IsValid() && prefix.Contains(server) {
				return prefix
			}
			if !first.IsValid() && iface != "" {
				first = prefix
			}
		}
	}
	return first
}
