package firewall

import (
	"fmt"
	"slices"
	"strconv"
)

// Compiling nft JSON match expressions ("match": {"op", "left", "right"})
// into conds. The left side becomes a key: what the packet has there; the
// right side becomes values. Anything not understood compiles to a cond
// that is always maybe, with the rule's text, so the verdict says so.

// keyKind is how a key's values compare.
type keyKind int8

const (
	keyNum    keyKind = iota // numbers, ranges, prefixes, named constants
	keyString                // interface names, with a trailing * wildcard
	keyFlags                 // bit masks (ct state, tcp flags): "in" tests bits
	keyConcat                // a . b: elements are concatenations
)

// nftKey is the left side of a match.
type nftKey struct {
	kind    keyKind
	names   map[string]uint64 // symbolic values (tcp, new, local)
	addr    bool              // values are IPv4 addresses or prefixes
	anyBits bool              // flags: "in" holds if any bit is set (ct state)
	parts   []*nftKey         // keyConcat
	get     func(*packet) dom
}

// dom is what a packet has at a key.
type dom struct {
	absent bool // the header is not in this packet: the match fails, as in the kernel
	known  bool
	num    span
	str    string
	parts  []dom // keyConcat
}

func known(s span) dom      { return dom{known: true, num: s} }
func knownStr(s string) dom { return dom{known: s != "", str: s} }

var unknownDom = dom{}
var absentDom = dom{absent: true}

// val is one value of a match's right side or of a set.
type val struct {
	num   span
	str   string
	parts []val
}

var (
	ethertypeNames = map[string]uint64{"ip": 0x0800, "arp": 0x0806, "ip6": 0x86dd, "vlan": 0x8100, "8021ad": 0x88a8}
	nfprotoNames   = map[string]uint64{"ipv4": 2, "ipv6": 10}
	pkttypeNames   = map[string]uint64{"host": 0, "unicast": 0, "broadcast": 1, "multicast": 2, "other": 3}
	ctStateNames   = map[string]uint64{"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
	ctStatusNames  = map[string]uint64{
		"expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16, "dnat": 32, "dying": 512,
	}
	ctDirNames   = map[string]uint64{"original": 0, "reply": 1}
	tcpFlagNames = map[string]uint64{
		"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20, "ecn": 0x40, "cwr": 0x80,
	}
)

const (
	ctStateInvalid = 1
	ctStateNew     = 8
	tcpSYN         = 0x02
)

func numKey(names map[string]uint64, get func(*packet) dom) *nftKey {
	return &nftKey{kind: keyNum, names: names, get: get}
}

func constKey(names map[string]uint64, v uint64) *nftKey {
	return numKey(names, func(*packet) dom { return known(exact(v)) })
}

// compileKey returns the key of a left-hand expression, or nil if this
// simulation does not know what a packet holds there.
func compileKey(left any) *nftKey {
	obj, ok := left.(map[string]any)
	if !ok || len(obj) != 1 {
		return nil
	}
	for name, body := range obj {
		switch name {
		case "meta":
			return metaKey(str(body, "key"))
		case "payload":
			return payloadKey(str(body, "protocol"), str(body, "field"))
		case "ct":
			return ctKey(str(body, "key"), body)
		case "fib":
			return fibKey(body)
		case "&":
			return maskKey(body)
		case "concat":
			items, _ := body.([]any)
			key := &nftKey{kind: keyConcat}
			for _, item := range items {
				part := compileKey(item)
				if part == nil || part.kind == keyConcat {
					return nil
				}
				key.parts = append(key.parts, part)
			}
			key.get = func(p *packet) dom {
				d := dom{known: true}
				for _, part := range key.parts {
					d.parts = append(d.parts, part.get(p))
				}
				return d
			}
			return key
		}
	}
	return nil
}

func metaKey(k string) *nftKey {
	switch k {
	case "l4proto":
		return numKey(protoNames, func(p *packet) dom { return known(exact(p.l4proto)) })
	case "protocol":
		return constKey(ethertypeNames, 0x0800)
	case "nfproto":
		return constKey(nfprotoNames, 2)
	case "iifname", "iif":
		return &nftKey{kind: keyString, get: func(p *packet) dom { return knownStr(p.iface) }}
	case "pkttype":
		return numKey(pkttypeNames, func(p *packet) dom {
			if p.broadcast {
				return known(exact(1))
			}
			return known(exact(0))
		})
	case "oif", "oifname", "oiftype", "oifgroup":
		// No output device on the way in: the kernel's expression breaks.
		return &nftKey{kind: keyString, get: func(*packet) dom { return absentDom }}
	}
	return nil
}

func payloadKey(proto, field string) *nftKey {
	switch proto {
	case "ip":
		switch field {
		case "saddr":
			return &nftKey{kind: keyNum, addr: true, get: func(p *packet) dom { return known(p.saddr) }}
		case "daddr":
			return &nftKey{kind: keyNum, addr: true, get: func(p *packet) dom { return known(p.daddr) }}
		case "protocol":
			return numKey(protoNames, func(p *packet) dom { return known(exact(p.l4proto)) })
		case "version":
			return constKey(nil, 4)
		}
		return nil
	case "tcp", "udp", "th":
		var want uint64
		switch proto {
		case "tcp":
			want = protoTCP
		case "udp":
			want = protoUDP
		}
		present := func(p *packet) bool { return want == 0 || p.l4proto == want }
		switch field {
		case "dport":
			return numKey(nil, func(p *packet) dom {
				if !present(p) {
					return absentDom
				}
				return known(exact(p.dport))
			})
		case "sport":
			return numKey(nil, func(p *packet) dom {
				if !present(p) {
					return absentDom
				}
				return known(p.sport)
			})
		case "flags":
			if proto != "tcp" {
				return nil
			}
			return &nftKey{kind: keyFlags, names: tcpFlagNames, get: func(p *packet) dom {
				if !present(p) {
					return absentDom
				}
				return known(exact(tcpSYN))
			}}
		}
		// Other header fields: the packet has them, their values are unknown.
		return numKey(nil, func(p *packet) dom {
			if !present(p) {
				return absentDom
			}
			return unknownDom
		})
	case "ip6", "icmp", "icmpv6", "igmp", "sctp", "dccp", "udplite", "esp", "ah", "comp", "gre":
		// Headers an IPv4 TCP or UDP packet does not have.
		return numKey(nil, func(*packet) dom { return absentDom })
	}
	return nil
}

func ctKey(k string, body any) *nftKey {
	if str(body, "dir") != "" {
		return nil
	}
	switch k {
	case "state":
		return &nftKey{kind: keyFlags, names: ctStateNames, anyBits: true, get: func(p *packet) dom { return known(exact(p.ctState)) }}
	case "status":
		// A new connection is not confirmed, not NATed, before the input hook ends.
		return &nftKey{kind: keyFlags, names: ctStatusNames, anyBits: true, get: func(*packet) dom { return known(exact(0)) }}
	case "direction":
		return constKey(ctDirNames, 0)
	}
	return nil
}

func fibKey(body any) *nftKey {
	flags := strs(field(body, "flags"))
	switch str(body, "result") {
	case "type":
		if slices.Contains(flags, "daddr") {
			return numKey(rtnNames, func(p *packet) dom { return known(exact(p.daddrType)) })
		}
	case "oif", "oifname":
		if slices.Contains(flags, "saddr") {
			// Reverse path filter: a client of the interface's subnet is
			// routed back through it; 0.0.0.0 (DHCP) is for the kernel to say.
			return numKey(nil, func(p *packet) dom {
				if p.saddr.lo == 0 || p.saddr == anyAddr {
					return unknownDom
				}
				return known(exact(1))
			})
		}
	}
	return nil
}

func maskKey(body any) *nftKey {
	args, _ := body.([]any)
	if len(args) != 2 {
		return nil
	}
	inner := compileKey(args[0])
	if inner == nil || inner.kind == keyString || inner.kind == keyConcat {
		return nil
	}
	mask, ok := parseMask(inner, args[1])
	if !ok {
		return nil
	}
	return &nftKey{kind: keyNum, names: inner.names, get: func(p *packet) dom {
		d := inner.get(p)
		if d.absent || !d.known || !d.num.exact() {
			return dom{absent: d.absent}
		}
		return known(exact(d.num.lo & mask))
	}}
}

// parseMask reads a bit mask: a number, a flag name or a list of them.
func parseMask(k *nftKey, x any) (uint64, bool) {
	if list, ok := x.([]any); ok {
		var mask uint64
		for _, item := range list {
			v, ok := parseScalar(k, item)
			if !ok || !v.num.exact() {
				return 0, false
			}
			mask |= v.num.lo
		}
		return mask, true
	}
	v, ok := parseScalar(k, x)
	return v.num.lo, ok && v.num.exact()
}

// parseScalar reads one value for key k: a number, a name, an address.
func parseScalar(k *nftKey, x any) (val, bool) {
	switch x := x.(type) {
	case float64:
		if x < 0 {
			return val{}, false
		}
		return val{num: exact(uint64(x))}, true
	case bool:
		if x {
			return val{num: exact(1)}, true
		}
		return val{num: exact(0)}, true
	case string:
		if k.kind == keyString {
			return val{str: x}, true
		}
		if v, ok := k.names[x]; ok {
			return val{num: exact(v)}, true
		}
		if k.addr {
			s, ok := parseAddrOrPrefix(x)
			return val{num: s}, ok
		}
		if n, err := strconv.ParseUint(x, 0, 64); err == nil {
			return val{num: exact(n)}, true
		}
	}
	return val{}, false
}

// parseValue reads a set element or a right-hand value: a scalar, a range,
// a prefix, a concatenation, or an element wrapped with its options.
func parseValue(k *nftKey, x any) (val, bool) {
	obj, ok := x.(map[string]any)
	if !ok {
		if k.kind == keyConcat {
			return val{}, false
		}
		return parseScalar(k, x)
	}
	switch {
	case obj["elem"] != nil:
		return parseValue(k, field(obj["elem"], "val"))
	case obj["range"] != nil:
		ends, _ := obj["range"].([]any)
		if len(ends) != 2 || k.kind == keyConcat {
			return val{}, false
		}
		lo, ok1 := parseScalar(k, ends[0])
		hi, ok2 := parseScalar(k, ends[1])
		if !ok1 || !ok2 || k.kind == keyString {
			return val{}, false
		}
		return val{num: span{lo.num.lo, hi.num.hi}}, true
	case obj["prefix"] != nil:
		if !k.addr {
			return val{}, false
		}
		s, ok := parseAddrOrPrefix(fmt.Sprintf("%s/%v", str(obj["prefix"], "addr"), field(obj["prefix"], "len")))
		return val{num: s}, ok
	case obj["concat"] != nil:
		items, _ := obj["concat"].([]any)
		if k.kind != keyConcat || len(items) != len(k.parts) {
			return val{}, false
		}
		var v val
		for i, item := range items {
			part, ok := parseValue(k.parts[i], item)
			if !ok {
				return val{}, false
			}
			v.parts = append(v.parts, part)
		}
		return v, true
	}
	return val{}, false
}

// valueSet is the right side of a match: its values, and their numbers
// as one span set, for numeric keys, so that a set of thousands of
// addresses costs a binary search per packet.
type valueSet struct {
	vals []val
	nums spanSet
}

func newValueSet(k *nftKey, vals []val) *valueSet {
	vs := &valueSet{vals: vals}
	if k.kind == keyNum || k.kind == keyFlags {
		spans := make([]span, len(vals))
		for i, v := range vals {
			spans[i] = v.num
		}
		vs.nums = newSpanSet(spans)
	}
	return vs
}

// member says whether what the packet has at k is one of the values.
func member(k *nftKey, d dom, vs *valueSet) tri {
	if d.absent {
		return no
	}
	if !d.known {
		return maybe
	}
	switch k.kind {
	case keyString:
		result := no
		for _, v := range vs.vals {
			switch ifaceMatch(v.str, d.str, '*') {
			case yes:
				return yes
			case maybe:
				result = maybe
			}
		}
		return result
	case keyConcat:
		result := no
		for _, v := range vs.vals {
			all := yes
			for i, part := range k.parts {
				one := &valueSet{vals: []val{v.parts[i]}, nums: spanSet{v.parts[i].num}}
				all = and(all, member(part, d.parts[i], one))
			}
			if all == yes {
				return yes
			}
			if all == maybe {
				result = maybe
			}
		}
		return result
	}
	return vs.nums.cover(d.num)
}

// compare evaluates "left op right" for one packet.
func compare(k *nftKey, op string, vs *valueSet, p *packet) tri {
	d := k.get(p)
	if d.absent {
		return no
	}
	switch op {
	case "==":
		return member(k, d, vs)
	case "!=":
		return member(k, d, vs).not()
	case "in":
		if k.kind != keyFlags || len(vs.vals) != 1 {
			return member(k, d, vs)
		}
		if !d.known || !d.num.exact() {
			return maybe
		}
		mask := vs.vals[0].num.lo
		anySet := d.num.lo&mask != 0
		allSet := d.num.lo&mask == mask
		switch {
		case k.anyBits && anySet, !k.anyBits && anySet && allSet:
			return yes
		case k.anyBits && !anySet, !k.anyBits && !anySet && !allSet:
			return no
		}
		return maybe
	case "<", ">", "<=", ">=":
		if !d.known || len(vs.vals) != 1 || k.kind == keyString || k.kind == keyConcat {
			return maybe
		}
		return order(op, d.num, vs.vals[0].num.lo)
	}
	return maybe
}

// order compares every value of s with v.
func order(op string, s span, v uint64) tri {
	holds := func(x uint64) bool {
		switch op {
		case "<":
			return x < v
		case ">":
			return x > v
		case "<=":
			return x <= v
		}
		return x >= v
	}
	lo, hi := holds(s.lo), holds(s.hi)
	switch {
	case lo && hi:
		return yes
	case !lo && !hi:
		return no
	}
	return maybe
}
