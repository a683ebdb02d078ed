// Package firewall finds out whether the host's firewalls (firewalld,
// nftables, iptables legacy or nf_tables) would drop what kickstand serves,
// says which rule does and the command that opens the port, and can open
// the blocked ports for the life of the process (Open, Close, Cleanup).
//
// Rules are read with the firewalls' own tools through a Runner
// (firewall-cmd, nft -j list ruleset, iptables-save) and the packet a client
// sends is simulated through every chain on its way in: netdev ingress,
// prerouting and input, in priority order, following jumps. A rule the
// simulation cannot evaluate makes the answer Unknown, never a guess.
// IPv4 only.
package firewall

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Port is a port or a range of ports kickstand serves.
type Port struct {
	Proto   string `json:"proto"` // "udp" or "tcp"
	First   int    `json:"first"`
	Last    int    `json:"last,omitempty"`    // the last of a range; 0 for one port
	Service string `json:"service,omitempty"` // what is served there, for messages: "TFTP"
	// Broadcast: clients send to 255.255.255.255 from 0.0.0.0:68, as DHCP
	// clients do to port 67, so rules on source address or destination
	// type see that packet, not a unicast one.
	Broadcast bool `json:"broadcast,omitempty"`
}

func (p Port) last() int {
	if p.Last == 0 {
		return p.First
	}
	return p.Last
}

// Range renders the port number or range: "69", "30000-30019".
func (p Port) Range() string {
	if p.last() == p.First {
		return strconv.Itoa(p.First)
	}
	return fmt.Sprintf("%d-%d", p.First, p.last())
}

// String renders the port as firewalld does: "69/udp", "30000-30019/tcp".
func (p Port) String() string { return p.Range() + "/" + p.Proto }

// Target is what kickstand serves and where.
type Target struct {
	Interface string       `json:"interface,omitempty"` // "" for every interface
	ServerIP  netip.Addr   `json:"server_ip"`           // the IPv4 address clients reach; zero if not known
	Subnet    netip.Prefix `json:"subnet"`              // the clients' subnet; zero: the interface's, looked up in this network namespace
	Ports     []Port       `json:"ports"`
}

func (t Target) validate() error {
	if t.ServerIP.IsValid() && !t.ServerIP.Is4() {
		return fmt.Errorf("firewall: server address %s is not IPv4", t.ServerIP)
	}
	if t.Subnet.IsValid() && !t.Subnet.Addr().Is4() {
		return fmt.Errorf("firewall: subnet %s is not IPv4", t.Subnet)
	}
	for _, p := range t.Ports {
		if p.Proto != "udp" && p.Proto != "tcp" {
			return fmt.Errorf("firewall: port %d: protocol %q is not udp or tcp", p.First, p.Proto)
		}
		if p.First < 1 || p.last() < p.First || p.last() > 65535 {
			return fmt.Errorf("firewall: bad port range %d-%d", p.First, p.Last)
		}
	}
	return nil
}

// Verdict is what the firewalls do with a client's packet to a port.
type Verdict int

const (
	Allowed Verdict = iota // every firewall lets it in
	Blocked                // a firewall drops or rejects it
	Unknown                // a rule on its way could not be evaluated, or rules could not be read
)

var verdictNames = []string{"allowed", "blocked", "unknown"}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return "verdict(" + strconv.Itoa(int(v)) + ")"
	}
	return verdictNames[v]
}

// MarshalText renders the verdict as "allowed", "blocked" or "unknown".
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (v *Verdict) UnmarshalText(b []byte) error {
	i := slices.Index(verdictNames, string(b))
	if i < 0 {
		return fmt.Errorf("firewall: unknown verdict %q", b)
	}
	*v = Verdict(i)
	return nil
}

// Block is one firewall, zone or base chain that drops or rejects a port,
// or whose verdict could not be told.
type Block struct {
	Firewall  string  `json:"firewall"`         // firewalld, nftables, iptables, iptables-legacy, iptables-nft
	Verdict   Verdict `json:"verdict"`          // Blocked or Unknown
	Action    string  `json:"action"`           // "policy drop", "reject", "DROP", …; for Unknown, what could not be told
	Reason    string  `json:"reason,omitempty"` // why, in words, where Action alone does not say (firewalld)
	Zone      string  `json:"zone,omitempty"`
	Family    string  `json:"family,omitempty"` // nftables
	Table     string  `json:"table,omitempty"`
	Chain     string  `json:"chain,omitempty"`      // the base chain, where the fix goes
	RuleChain string  `json:"rule_chain,omitempty"` // the chain of the deciding rule, if not Chain
	Handle    int     `json:"handle,omitempty"`     // nftables rule handle; 0 for the policy
	Rule      int     `json:"rule,omitempty"`       // iptables rule number in its chain; 0 for the policy
	// Fix is the command that lets the port in here, for the life of the
	// rule set; FixPermanent is firewalld's variant that survives a reload.
	Fix          string `json:"fix,omitempty"`
	FixPermanent string `json:"fix_permanent,omitempty"`

	tool    string // the command that adds rules here
	canOpen bool   // Open can let the port in here
	fix     string // a fix other than adding a rule (firewalld rich rules)
}

// PortResult is the verdict on one port or on a part of a range: a range
// whose ports fare differently is split.
type PortResult struct {
	Port    Port    `json:"port"`
	Verdict Verdict `json:"verdict"`
	Blocks  []Block `json:"blocks,omitempty"` // on the packet's way in, in order; empty when Allowed
}

// Firewall says what was found of one firewall tool.
type Firewall struct {
	Name   string `json:"name"`   // firewalld, nftables, iptables, iptables-legacy, iptables-nft
	Active bool   `json:"active"` // running, or with chains on the way in
	Detail string `json:"detail,omitempty"`
	Err    string `json:"error,omitempty"` // its rules could not be read: ports are Unknown
}

// Report is the result of Check.
type Report struct {
	Target    Target       `json:"target"`
	Firewalls []Firewall   `json:"firewalls"` // the tools present on the host
	Ports     []PortResult `json:"ports"`
}

// NotAllowed returns the results of ports that are not Allowed.
func (r *Report) NotAllowed() []PortResult {
	var out []PortResult
	for _, p := range r.Ports {
		if p.Verdict != Allowed {
			out = append(out, p)
		}
	}
	return out
}

// Host is the host's firewalls, reached through Runner. The zero value
// runs the real tools.
type Host struct {
	Runner Runner       // nil: ExecRunner{}
	Logger *slog.Logger // nil: discard
}

func (h *Host) runner() Runner {
	if h.Runner == nil {
		return ExecRunner{}
	}
	return h.Runner
}

func (h *Host) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return h.Logger
}

// Check runs Host.Check with this host's tools.
func Check(ctx context.Context, t Target) (*Report, error) {
	return (&Host{}).Check(ctx, t)
}

// Check reports, for each port of t, whether a client's new connection or
// datagram would get in, and if not, what stops it and the command that
// opens it. A missing tool is a firewall not present; a tool that fails
// makes the ports Unknown (Firewall.Err). The error is for a bad Target or
// a cancelled ctx.
func (h *Host) Check(ctx context.Context, t Target) (*Report, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	snap, err := h.inspect(ctx, t.Interface)
	if err != nil {
		return nil, err
	}
	return snap.report(t), nil
}

// report judges every port of t.
func (s *snapshot) report(t Target) *Report {
	rep := &Report{Target: t, Firewalls: s.firewalls}
	base := packetBase(t)
	for _, port := range t.Ports {
		rep.Ports = append(rep.Ports, s.judgePort(t, base, port)...)
	}
	return rep
}

// judgePort simulates each port number of a range and joins the numbers
// that fare alike.
func (s *snapshot) judgePort(t Target, base packet, port Port) []PortResult {
	var out []PortResult
	var prev []Block
	for n := port.First; n <= port.last(); n++ {
		p := base
		p.dport = uint64(n)
		p.l4proto = protoUDP
		if port.Proto == "tcp" {
			p.l4proto = protoTCP
		}
		if port.Broadcast {
			p.saddr, p.daddr, p.sport = exact(0), exact(0xffffffff), exact(68)
			p.daddrType, p.broadcast = rtnBroadcast, true
		}
		blocks := s.judge(&p)
		if n > port.First && slices.Equal(blocks, prev) {
			out[len(out)-1].Port.Last = n
			continue
		}
		sub := port
		sub.First, sub.Last = n, 0
		out = append(out, PortResult{Port: sub, Verdict: worst(blocks), Blocks: blocks})
		prev = blocks
	}
	for i := range out {
		if out[i].Port.Last == out[i].Port.First {
			out[i].Port.Last = 0
		}
		out[i].Blocks = withFixes(out[i].Blocks, out[i].Port, t.Interface)
	}
	return out
}

// judge runs one packet past every firewall.
func (s *snapshot) judge(p *packet) []Block {
	var blocks []Block
	for _, fw := range s.firewalls {
		if fw.Err != "" {
			blocks = append(blocks, Block{Firewall: fw.Name, Verdict: Unknown, Action: "cannot read its rules: " + fw.Err})
		}
	}
	if s.zone != nil {
		if b := s.zone.judge(p); b != nil {
			blocks = append(blocks, *b)
		}
	}
	for _, bc := range s.chains {
		seen := *p
		if bc.beforeConntrack {
			seen.ctState = ctStateInvalid
		}
		res := bc.rules.judge(bc.chain, &seen)
		if res.action == actAccept {
			continue
		}
		b := Block{
			Firewall: bc.firewall, Family: bc.family, Table: bc.table, Chain: bc.chain.name,
			Verdict: Blocked, tool: bc.tool, canOpen: true,
		}
		if res.chain != bc.chain.name {
			b.RuleChain = res.chain
		}
		if bc.tool == "nft" {
			b.Handle = res.id
		} else {
			b.Rule = res.id
		}
		b.Action = actionText(res, bc.tool == "nft")
		if res.action == actUnknown {
			b.Verdict = Unknown
		}
		if bc.deviceUnknown {
			b.Verdict = Unknown
			b.Action += " (an ingress chain of a device nft did not name)"
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func actionText(res result, nft bool) string {
	if res.action == actUnknown {
		return res.why
	}
	var text string
	switch res.action {
	case actDrop:
		text = "drop"
	case actReject:
		text = "reject"
	}
	if nft {
		if res.id == 0 {
			return "policy " + text
		}
		return text
	}
	if res.id == 0 {
		return "policy " + strings.ToUpper(text)
	}
	return strings.ToUpper(text)
}

func worst(blocks []Block) Verdict {
	v := Allowed
	for _, b := range blocks {
		if b.Verdict == Blocked {
			return Blocked
		}
		v = Unknown
	}
	return v
}
