package firewall

import (
	"strconv"
	"strings"
)

// richRule is a firewalld rich rule, as far as it decides whether a packet
// to a port gets in: family, source, destination, one element, an action.
type richRule struct {
	text    string
	family  string
	source  *richAddr
	dest    *richAddr
	element string            // service, port, protocol, source-port, icmp-block, …; "" for none
	attrs   map[string]string // the element's attributes
	action  string            // accept, reject, drop, mark; "" when it only logs
}

type richAddr struct {
	not   bool
	addr  string
	other bool // mac= or ipset=: not simulated
}

// parseRichRule reads `rule family="ipv4" source address="…" port port="69" protocol="udp" accept`.
func parseRichRule(text string) richRule {
	rr := richRule{text: text, attrs: map[string]string{}}
	part := ""
	for _, tok := range richTokens(text) {
		key, value, isAttr := strings.Cut(tok, "=")
		if !isAttr {
			switch tok {
			case "rule":
			case "not", "NOT":
				if part == "source" && rr.source != nil {
					rr.source.not = true
				}
				if part == "destination" && rr.dest != nil {
					rr.dest.not = true
				}
			case "source":
				part, rr.source = tok, &richAddr{}
			case "destination":
				part, rr.dest = tok, &richAddr{}
			case "accept", "reject", "drop", "mark":
				part, rr.action = tok, tok
			case "log", "nflog", "audit", "limit":
				part = tok
			default:
				part, rr.element = tok, tok
			}
			continue
		}
		switch {
		case part == "" && key == "family":
			rr.family = value
		case part == "source" || part == "destination":
			a := rr.source
			if part == "destination" {
				a = rr.dest
			}
			if key == "address" {
				a.addr = value
			} else {
				a.other = true
			}
		case part == rr.element && part != "":
			rr.attrs[key] = value
		}
	}
	return rr
}

// richTokens splits on spaces outside quotes and drops the quotes.
func richTokens(text string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == ' ':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// matches says whether the rule applies to p.
func (rr richRule) matches(z *firewalldZone, p *packet) tri {
	if rr.family == "ipv6" {
		return no
	}
	result := yes
	for _, a := range []struct {
		addr *richAddr
		have span
	}{{rr.source, p.saddr}, {rr.dest, p.daddr}} {
		if a.addr == nil {
			continue
		}
		t := maybe
		if !a.addr.other {
			if s, ok := parseAddrOrPrefix(a.addr.addr); ok {
				t = a.have.covered([]span{s})
			} else if strings.Contains(a.addr.addr, ":") {
				t = no // an IPv6 address
			}
		}
		if a.addr.not {
			t = t.not()
		}
		result = and(result, t)
	}
	proto := protoName(p.l4proto)
	var element tri
	switch rr.element {
	case "":
		element = yes
	case "port", "forward-port":
		ports := parsePortList([]string{strings.ReplaceAll(rr.attrs["port"], ":", "-") + "/" + rr.attrs["protocol"]})
		element = boolTri(len(ports) == 1 && ports[0].proto == proto && ports[0].span.lo <= p.dport && p.dport <= ports[0].span.hi)
		if element == yes && rr.element == "forward-port" {
			element = maybe
		}
	case "protocol":
		element = boolTri(rr.attrs["value"] == proto || rr.attrs["value"] == strconv.FormatUint(p.l4proto, 10))
	case "service":
		element = z.serviceAllows(rr.attrs["name"], p, 0)
	case "icmp-block", "icmp-type", "masquerade":
		element = no
	default:
		element = maybe
	}
	return and(result, element)
}

// richServices lists the services rich rules name, for readZone to fetch.
func richServices(rules []richRule) []string {
	var out []string
	for _, rr := range rules {
		if rr.element == "service" && rr.attrs["name"] != "" {
			out = append(out, rr.attrs["name"])
		}
	}
	return out
}
