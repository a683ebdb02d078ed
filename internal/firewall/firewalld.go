package firewall

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// firewalld, asked through firewall-cmd. When it runs, its zone
// configuration is the authority for its own rules: its nftables table (or
// its iptables chains) is not simulated; other tables still are.

// firewalldZone is the runtime configuration of the zone of the interface.
type firewalldZone struct {
	name         string
	target       string // default, ACCEPT, DROP, %%REJECT%%, REJECT
	ports        []portRange
	protocols    []string
	services     []string                     // services the zone allows
	serviceInfo  map[string]*firewalldService // what each service allows, also those rich rules name
	richRules    []richRule
	forwardPorts []portRange
	sourceZones  []sourceZone // other zones bound to source addresses
}

type portRange struct {
	proto string
	span  span
}

type firewalldService struct {
	ports       []portRange
	protocols   []string
	destination bool     // restricted to a destination address
	includes    []string // services it includes
}

type sourceZone struct {
	zone    string
	sources []string
}

// Bound on services followed through "includes".
const maxServices = 64

// readFirewalld returns the zone of iface, nil if firewalld does not run,
// and the Firewall entry for the report (nil if firewall-cmd is missing).
func readFirewalld(ctx context.Context, r Runner, iface string) (*firewalldZone, *Firewall, error) {
	out, err := r.Run(ctx, nil, "firewall-cmd", "--state")
	switch {
	case errors.Is(err, ErrNotInstalled):
		return nil, nil, nil
	case ctx.Err() != nil:
		return nil, nil, ctx.Err()
	case exitCode(err) == 252 || (err == nil && strings.TrimSpace(string(out)) != "running"):
		return nil, &Firewall{Name: "firewalld", Detail: "installed, not running"}, nil
	case err != nil:
		return nil, &Firewall{Name: "firewalld", Err: "firewall-cmd --state: " + err.Error()}, nil
	}
	zone, err := readZone(ctx, r, iface)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, &Firewall{Name: "firewalld", Active: true, Err: err.Error()}, nil
	}
	detail := fmt.Sprintf("running; zone %s (target %s)", zone.name, zone.target)
	if iface != "" {
		detail = fmt.Sprintf("running; %s is in zone %s (target %s)", iface, zone.name, zone.target)
	}
	return zone, &Firewall{Name: "firewalld", Active: true, Detail: detail}, nil
}

func readZone(ctx context.Context, r Runner, iface string) (*firewalldZone, error) {
	name := ""
	if iface != "" {
		out, err := r.Run(ctx, nil, "firewall-cmd", "--get-zone-of-interface="+iface)
		if err == nil {
			name = strings.TrimSpace(string(out))
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if name == "" || name == "no zone" {
		out, err := r.Run(ctx, nil, "firewall-cmd", "--get-default-zone")
		if err != nil {
			return nil, fmt.Errorf("firewall-cmd --get-default-zone: %w", err)
		}
		name = strings.TrimSpace(string(out))
	}
	out, err := r.Run(ctx, nil, "firewall-cmd", "--zone="+name, "--list-all")
	if err != nil {
		return nil, fmt.Errorf("firewall-cmd --zone=%s --list-all: %w", name, err)
	}
	zone := parseZone(name, string(out))
	pending := append(append([]string(nil), zone.services...), richServices(zone.richRules)...)
	for len(pending) > 0 && len(zone.serviceInfo) < maxServices {
		svc := pending[0]
		pending = pending[1:]
		if _, seen := zone.serviceInfo[svc]; seen {
			continue
		}
		out, err := r.Run(ctx, nil, "firewall-cmd", "--info-service="+svc)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			zone.serviceInfo[svc] = nil // unknown service: its ports are unknown
			continue
		}
		s := parseService(string(out))
		zone.serviceInfo[svc] = s
		pending = append(pending, s.includes...)
	}
	if out, err := r.Run(ctx, nil, "firewall-cmd", "--get-active-zones"); err == nil {
		zone.sourceZones = parseSourceZones(string(out), name)
	}
	return zone, nil
}

// listAll parses the "key: value" lines of firewall-cmd output. Indented
// lines that are not "key:" lines (rich rules, forward-ports in newer
// versions) are values of the key before them.
func listAll(text string) map[string][]string {
	out := map[string][]string{}
	last := ""
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if ok && listKey.MatchString(key) {
			last = key
			out[key] = append(out[key], strings.Fields(value)...)
			continue
		}
		if last != "" && (line[0] == ' ' || line[0] == '\t') {
			out[last] = append(out[last], trimmed)
		}
	}
	return out
}

var listKey = regexp.MustCompile(`^[a-z][a-z -]*$`)

func parseZone(name, text string) *firewalldZone {
	fields := listAll(text)
	zone := &firewalldZone{name: name, target: "default", serviceInfo: map[string]*firewalldService{}}
	if t := fields["target"]; len(t) > 0 {
		zone.target = t[0]
	}
	zone.ports = parsePortList(fields["ports"])
	zone.protocols = fields["protocols"]
	zone.services = fields["services"]
	for _, fp := range fields["forward-ports"] {
		// port=69:proto=udp:toport=…:toaddr=…
		opts := map[string]string{}
		for _, kv := range strings.Split(fp, ":") {
			k, v, _ := strings.Cut(kv, "=")
			opts[k] = v
		}
		zone.forwardPorts = append(zone.forwardPorts, parsePortList([]string{opts["port"] + "/" + opts["proto"]})...)
	}
	for _, rr := range fields["rich rules"] {
		zone.richRules = append(zone.richRules, parseRichRule(rr))
	}
	return zone
}

func parseService(text string) *firewalldService {
	fields := listAll(text)
	return &firewalldService{
		ports:       parsePortList(fields["ports"]),
		protocols:   fields["protocols"],
		destination: len(fields["destination"]) > 0,
		includes:    fields["includes"],
	}
}

// parsePortList reads "69/udp 30000-30019/tcp".
func parsePortList(items []string) []portRange {
	var out []portRange
	for _, item := range items {
		ports, proto, ok := strings.Cut(item, "/")
		if !ok {
			continue
		}
		lo, hi, isRange := strings.Cut(ports, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 == nil && err2 == nil {
			out = append(out, portRange{proto: proto, span: span{a, b}})
		}
	}
	return out
}

func parseSourceZones(text, except string) []sourceZone {
	var out []sourceZone
	zone := ""
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			zone = strings.TrimSpace(line)
			continue
		}
		key, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		if key == "sources" && zone != except && len(strings.Fields(value)) > 0 {
			out = append(out, sourceZone{zone: zone, sources: strings.Fields(value)})
		}
	}
	return out
}

// portAllowed says whether the zone's ports, services or protocols allow p.
func (z *firewalldZone) portAllowed(p *packet) tri {
	result := portIn(p, z.ports, z.protocols)
	for _, name := range z.services {
		if result == yes {
			break
		}
		if t := z.serviceAllows(name, p, 0); t != no {
			result = t
		}
	}
	return result
}

// serviceAllows says whether a service (with what it includes) allows p.
func (z *firewalldZone) serviceAllows(name string, p *packet, depth int) tri {
	s, known := z.serviceInfo[name]
	if !known || s == nil || depth > 8 {
		return maybe
	}
	result := portIn(p, s.ports, s.protocols)
	if result == yes && s.destination {
		result = maybe // only for one destination address
	}
	for _, inc := range s.includes {
		if result == yes {
			break
		}
		if t := z.serviceAllows(inc, p, depth+1); t != no {
			result = t
		}
	}
	return result
}

func portIn(p *packet, ports []portRange, protocols []string) tri {
	proto := protoName(p.l4proto)
	for _, pr := range ports {
		if pr.proto == proto && pr.span.lo <= p.dport && p.dport <= pr.span.hi {
			return yes
		}
	}
	return boolTri(slices.Contains(protocols, proto))
}

// judge says how firewalld treats p; nil when it lets p in.
func (z *firewalldZone) judge(p *packet) *Block {
	b := &Block{Firewall: "firewalld", Zone: z.name, canOpen: true}
	unknown := func(why string) *Block {
		b.Verdict, b.Action = Unknown, why
		return b
	}
	for _, fp := range z.forwardPorts {
		if fp.proto == protoName(p.l4proto) && fp.span.lo <= p.dport && p.dport <= fp.span.hi {
			return unknown("a forward-port of the zone sends it elsewhere")
		}
	}
	for _, sz := range z.sourceZones {
		for _, src := range sz.sources {
			if s, ok := parseAddrOrPrefix(src); ok && p.saddr.covered([]span{s}) == no {
				continue
			}
			return unknown(fmt.Sprintf("zone %s is bound to source %s, which may take the clients", sz.zone, src))
		}
	}
	for _, rr := range z.richRules {
		if rr.action != "drop" && rr.action != "reject" {
			continue
		}
		switch rr.matches(z, p) {
		case yes:
			b.Verdict, b.Action, b.Reason, b.canOpen = Blocked, rr.action, "rich rule "+rr.text, false
			b.fix = "firewall-cmd --zone=" + z.name + " --remove-rich-rule='" + rr.text + "'"
			return b
		case maybe:
			return unknown("cannot tell whether rich rule " + rr.text + " matches")
		}
	}
	if strings.EqualFold(z.target, "ACCEPT") {
		return nil
	}
	allowed := z.portAllowed(p)
	for _, rr := range z.richRules {
		if rr.action == "accept" && allowed != yes {
			switch rr.matches(z, p) {
			case yes:
				allowed = yes
			case maybe:
				return unknown("cannot tell whether rich rule " + rr.text + " matches")
			}
		}
	}
	switch allowed {
	case yes:
		return nil
	case maybe:
		return unknown("cannot tell whether a service of the zone allows it (unknown service, or one for a single destination address)")
	}
	b.Verdict = Blocked
	if strings.EqualFold(z.target, "DROP") {
		b.Action, b.Reason = "drop", "no port, service or rich rule of the zone allows it, and its target is DROP"
	} else {
		b.Action, b.Reason = "reject", "no port, service or rich rule of the zone allows it"
	}
	return b
}

func protoName(n uint64) string {
	switch n {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	}
	return strconv.FormatUint(n, 10)
}
