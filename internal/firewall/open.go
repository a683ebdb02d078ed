package firewall

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Opening blocked ports for the life of the process. Every rule added is
// first recorded in a state file, and tagged (comment "kickstand"; for
// firewalld, runtime only), so that Close, or Cleanup after a crash,
// removes exactly what was added and nothing else.
//
// nftables: an accept in a table of our own would not stop a drop in
// another table's base chain (each base chain decides on its own), so the
// accept rule goes at the top of each base chain that drops the port.
// iptables: at the top of the built-in chain that drops it (filter INPUT,
// raw PREROUTING, …): an ACCEPT there ends that table's verdict, whichever
// user chain would have dropped it further down.

// addedRule is one rule Open adds, as recorded in the state file.
type addedRule struct {
	Kind      string `json:"kind"` // nftables, iptables, firewalld
	Tool      string `json:"tool"` // nft, iptables, iptables-legacy, iptables-nft, firewall-cmd
	Family    string `json:"family,omitempty"`
	Table     string `json:"table,omitempty"`
	Chain     string `json:"chain,omitempty"`
	Zone      string `json:"zone,omitempty"`
	Interface string `json:"interface,omitempty"`
	Proto     string `json:"proto"`
	Ports     []Port `json:"ports"`            // nftables: several; others: one
	Handle    int    `json:"handle,omitempty"` // nftables, once known
	Firewall  string `json:"firewall"`         // the name in reports
}

func (a addedRule) String() string {
	switch a.Kind {
	case "firewalld":
		return fmt.Sprintf("firewalld: zone %s, runtime port %s", a.Zone, a.Ports[0])
	case "nftables":
		s := fmt.Sprintf("nftables: %s %s %s: %s", a.Family, a.Table, a.Chain, strings.Join(nftRuleSpec(a.Interface, a.Proto, a.Ports, true), " "))
		if a.Handle != 0 {
			s += " (handle " + strconv.Itoa(a.Handle) + ")"
		}
		return s
	}
	return a.Firewall + ": " + strings.Join(iptInsertArgs(a.Table, a.Chain, a.Interface, a.Ports[0], true), " ")
}

// Opened is what Open added; Close removes it.
type Opened struct {
	Before *Report  // the check before opening
	After  *Report  // the check after: ports still not Allowed could not be opened
	Added  []string // the rules added, one line each

	host   *Host
	dir    string // the state directory
	mu     sync.Mutex
	rules  []addedRule
	closed bool
}

// CloseTimeout bounds Close, which runs when the serve context is over.
const CloseTimeout = 30 * time.Second

// Open runs Host.Open with this host's tools.
func Open(ctx context.Context, t Target, stateDir string) (*Opened, error) {
	return (&Host{}).Open(ctx, t, stateDir)
}

// Open lets in the ports of t that the firewalls block (or might: Unknown
// verdicts of a chain or zone are opened too) until Close. It first
// removes what a killed earlier run left (Cleanup). Only the blocked ports
// are opened, only where they are blocked, on t.Interface only; what it
// adds is recorded in stateDir/StateFile before it is added.
func (h *Host) Open(ctx context.Context, t Target, stateDir string) (*Opened, error) {
	if err := h.Cleanup(ctx, stateDir); err != nil {
		return nil, err
	}
	before, err := h.Check(ctx, t)
	if err != nil {
		return nil, err
	}
	o := &Opened{Before: before, After: before, host: h, dir: stateDir}
	plan := planOpen(before)
	if len(plan) == 0 {
		return o, nil
	}
	// Recorded before anything is added: a crash at any point leaves a
	// state file that names every rule that may exist.
	if err := writeState(stateDir, plan); err != nil {
		return nil, err
	}
	for i := range plan {
		err := h.add(ctx, &plan[i])
		if err == nil && plan[i].Handle != 0 {
			err = writeState(stateDir, plan)
		}
		if err != nil {
			o.rules = plan[:i+1]
			if cerr := o.close(context.WithoutCancel(ctx)); cerr != nil {
				return nil, fmt.Errorf("firewall: open %s: %w (and undoing: %v)", plan[i], err, cerr)
			}
			return nil, fmt.Errorf("firewall: open %s: %w", plan[i], err)
		}
		o.Added = append(o.Added, plan[i].String())
		h.logger().Info("firewall: opened", "rule", plan[i].String())
	}
	o.rules = plan
	after, err := h.Check(ctx, t)
	if err != nil {
		if cerr := o.close(context.WithoutCancel(ctx)); cerr != nil {
			return nil, fmt.Errorf("firewall: check after opening: %w (and undoing: %v)", err, cerr)
		}
		return nil, fmt.Errorf("firewall: check after opening: %w", err)
	}
	o.After = after
	return o, nil
}

// Close removes the rules Open added. It is safe to call more than once.
func (o *Opened) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	return o.close(ctx)
}

func (o *Opened) close(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || len(o.rules) == 0 {
		o.closed = true
		return nil
	}
	o.closed = true
	return o.host.removeRecorded(ctx, o.dir, o.rules)
}

// Cleanup runs Host.Cleanup with this host's tools.
func Cleanup(ctx context.Context, stateDir string) error {
	return (&Host{}).Cleanup(ctx, stateDir)
}

// Cleanup removes what a killed run of Open left, as its state file in
// stateDir names it, and only what is still ours there; nothing if there
// is no state file. Call it at start whether or not the ports will be
// opened. What cannot be removed stays recorded, and the error says what.
func (h *Host) Cleanup(ctx context.Context, stateDir string) error {
	rules, err := readState(stateDir)
	if err != nil || rules == nil {
		return err
	}
	h.logger().Info("firewall: removing the rules a previous run added", "rules", len(rules))
	return h.removeRecorded(ctx, stateDir, rules)
}

// removeRecorded removes rules, newest first, then the state file; what
// could not be removed stays recorded for the next Cleanup.
func (h *Host) removeRecorded(ctx context.Context, dir string, rules []addedRule) error {
	var errs []error
	var left []addedRule
	for i := len(rules) - 1; i >= 0; i-- {
		if err := h.remove(ctx, rules[i]); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", rules[i], err))
			left = append([]addedRule{rules[i]}, left...)
			continue
		}
		h.logger().Info("firewall: removed", "rule", rules[i].String())
	}
	if len(left) == 0 {
		if err := removeState(dir); err != nil {
			errs = append(errs, err)
		}
	} else if err := writeState(dir, left); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	return nil
}

// planOpen lists the rules that open every port of rep that a chain or
// zone blocks: one firewalld port or iptables rule per port, one nftables
// rule per base chain and protocol.
func planOpen(rep *Report) []addedRule {
	var plan []addedRule
	iface := rep.Target.Interface
	nftIndex := map[string]int{}
	seen := map[string]bool{}
	for _, pr := range rep.NotAllowed() {
		port := pr.Port
		port.Service, port.Broadcast = "", false
		for _, b := range pr.Blocks {
			if !b.canOpen || b.fix != "" {
				continue
			}
			switch {
			case b.Firewall == "firewalld":
				a := addedRule{Kind: "firewalld", Tool: "firewall-cmd", Firewall: b.Firewall, Zone: b.Zone, Proto: port.Proto, Ports: []Port{port}}
				if key := a.String(); !seen[key] {
					seen[key] = true
					plan = append(plan, a)
				}
			case b.tool == "nft":
				key := strings.Join([]string{b.Family, b.Table, b.Chain, port.Proto}, " ")
				i, ok := nftIndex[key]
				if !ok {
					i = len(plan)
					nftIndex[key] = i
					plan = append(plan, addedRule{
						Kind: "nftables", Tool: "nft", Firewall: b.Firewall, Family: b.Family, Table: b.Table,
						Chain: b.Chain, Interface: iface, Proto: port.Proto,
					})
				}
				if !slices.Contains(plan[i].Ports, port) {
					plan[i].Ports = append(plan[i].Ports, port)
				}
			default:
				a := addedRule{
					Kind: "iptables", Tool: b.tool, Firewall: b.Firewall, Table: b.Table, Chain: b.Chain,
					Interface: iface, Proto: port.Proto, Ports: []Port{port},
				}
				if key := a.String(); !seen[key] {
					seen[key] = true
					plan = append(plan, a)
				}
			}
		}
	}
	for i := range plan {
		slices.SortFunc(plan[i].Ports, func(a, b Port) int { return cmp.Compare(a.First, b.First) })
	}
	return plan
}

var nftHandle = regexp.MustCompile(`# handle (\d+)`)

// add adds one rule; for nftables it learns the rule's handle.
func (h *Host) add(ctx context.Context, a *addedRule) error {
	r := h.runner()
	switch a.Kind {
	case "firewalld":
		_, err := r.Run(ctx, nil, "firewall-cmd", "--zone="+a.Zone, "--add-port="+a.Ports[0].String())
		return err
	case "nftables":
		args := append([]string{"--echo", "--handle", "insert", "rule", a.Family, a.Table, a.Chain},
			nftRuleSpec(a.Interface, a.Proto, a.Ports, true)...)
		out, err := r.Run(ctx, nil, "nft", args...)
		if err != nil {
			return err
		}
		if m := nftHandle.FindSubmatch(out); m != nil {
			a.Handle, _ = strconv.Atoi(string(m[1]))
		}
		return nil
	}
	_, err := r.Run(ctx, nil, a.Tool, iptInsertArgs(a.Table, a.Chain, a.Interface, a.Ports[0], true)...)
	return err
}

// remove removes one recorded rule if it is still there and still ours.
func (h *Host) remove(ctx context.Context, a addedRule) error {
	switch a.Kind {
	case "firewalld":
		return h.removeFirewalld(ctx, a)
	case "nftables":
		return h.removeNft(ctx, a)
	case "iptables":
		return h.removeIptables(ctx, a)
	}
	return fmt.Errorf("unknown kind %q", a.Kind)
}

func (h *Host) removeFirewalld(ctx context.Context, a addedRule) error {
	r := h.runner()
	port := a.Ports[0].String()
	out, err := r.Run(ctx, nil, "firewall-cmd", "--state")
	if isNotInstalled(err) || exitCode(err) == 252 || (err == nil && strings.TrimSpace(string(out)) != "running") {
		return nil // not running: its runtime configuration is gone
	}
	if err != nil {
		return err
	}
	out, err = r.Run(ctx, nil, "firewall-cmd", "--zone="+a.Zone, "--query-port="+port)
	if exitCode(err) == 1 || (err == nil && strings.TrimSpace(string(out)) == "no") {
		return nil
	}
	if err != nil {
		return err
	}
	// Someone made the port permanent meanwhile: the runtime port is theirs too.
	out, err = r.Run(ctx, nil, "firewall-cmd", "--permanent", "--zone="+a.Zone, "--query-port="+port)
	if err == nil && strings.TrimSpace(string(out)) == "yes" {
		h.logger().Info("firewall: port is in the permanent configuration, left open", "zone", a.Zone, "port", port)
		return nil
	}
	_, err = r.Run(ctx, nil, "firewall-cmd", "--zone="+a.Zone, "--remove-port="+port)
	return err
}

func (h *Host) removeIptables(ctx context.Context, a addedRule) error {
	r := h.runner()
	rule := iptRuleArgs(a.Interface, a.Ports[0], true)
	check := append([]string{"-w", "-t", a.Table, "-C", a.Chain}, rule...)
	_, err := r.Run(ctx, nil, a.Tool, check...)
	switch {
	case isNotInstalled(err), exitCode(err) == 1:
		return nil // not there (the rule, or the chain)
	case err != nil:
		return err
	}
	del := append([]string{"-w", "-t", a.Table, "-D", a.Chain}, rule...)
	_, err = r.Run(ctx, nil, a.Tool, del...)
	return err
}

func (h *Host) removeNft(ctx context.Context, a addedRule) error {
	r := h.runner()
	out, err := r.Run(ctx, nil, "nft", "-j", "list", "chain", a.Family, a.Table, a.Chain)
	if isNotInstalled(err) {
		return nil
	}
	if err != nil {
		var e *ExitError
		if errors.As(err, &e) && strings.Contains(e.Stderr, "No such file or directory") {
			return nil // the table or chain is gone, and our rule with it
		}
		return err
	}
	rs, err := parseNftRuleset(out)
	if err != nil {
		return err
	}
	handle := 0
	for _, t := range rs.tables {
		for _, rule := range t.rules[a.Chain] {
			if !nftRuleIsOurs(rule, a) {
				continue
			}
			// A recorded handle names the rule: handles are not reused while
			// a table lives. Without one (killed between adding and
			// recording), the first rule that is ours by tag and content.
			if a.Handle == 0 || rule.Handle == a.Handle {
				handle = rule.Handle
				break
			}
		}
	}
	if handle == 0 {
		return nil
	}
	_, err = r.Run(ctx, nil, "nft", "delete", "rule", a.Family, a.Table, a.Chain, "handle", strconv.Itoa(handle))
	return err
}

// nftRuleIsOurs says whether a listed rule is exactly one Open adds for a:
// the kickstand comment, the interface, the protocol's ports, accept.
func nftRuleIsOurs(rule *nftRuleJSON, a addedRule) bool {
	if rule.Comment != ruleComment {
		return false
	}
	var sawIface, sawPorts, sawAccept bool
	for _, e := range rule.Expr {
		obj, _ := e.(map[string]any)
		for name, body := range obj {
			switch name {
			case "accept":
				sawAccept = true
			case "counter":
			case "match":
				left, right := field(body, "left"), field(body, "right")
				switch {
				case str(field(left, "meta"), "key") == "iifname":
					sawIface = right == a.Interface && str(body, "op") == "=="
				case str(field(left, "meta"), "key") == "l4proto", str(field(left, "meta"), "key") == "nfproto",
					str(field(left, "meta"), "key") == "protocol":
				case str(field(left, "payload"), "protocol") == a.Proto && str(field(left, "payload"), "field") == "dport":
					sawPorts = str(body, "op") == "==" && samePorts(right, a.Ports)
				default:
					return false
				}
			default:
				return false
			}
		}
	}
	return sawAccept && sawPorts && (sawIface || a.Interface == "")
}

// samePorts compares an nft JSON dport value with ports, as sets of
// numbers: nft may list set elements in its own order.
func samePorts(right any, ports []Port) bool {
	items, ok := field(right, "set").([]any)
	if !ok {
		items = []any{right}
	}
	key := numKey(nil, nil)
	var listed, want []span
	for _, item := range items {
		v, ok := parseValue(key, item)
		if !ok {
			return false
		}
		listed = append(listed, v.num)
	}
	for _, p := range ports {
		want = append(want, span{uint64(p.First), uint64(p.last())})
	}
	return slices.Equal(newSpanSet(listed), newSpanSet(want))
}
