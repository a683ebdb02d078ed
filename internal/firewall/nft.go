package firewall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The nftables rule set as `nft -j list ruleset` prints it, compiled into
// the simulator's chains.

type nftObject struct {
	Table *nftTableJSON `json:"table"`
	Chain *nftChainJSON `json:"chain"`
	Rule  *nftRuleJSON  `json:"rule"`
	Set   *nftSetJSON   `json:"set"`
	Map   *nftSetJSON   `json:"map"`
}

type nftTableJSON struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

type nftChainJSON struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Hook   string `json:"hook"`
	Prio   any    `json:"prio"`
	Policy string `json:"policy"`
	Dev    any    `json:"dev"`
}

type nftRuleJSON struct {
	Family  string `json:"family"`
	Table   string `json:"table"`
	Chain   string `json:"chain"`
	Handle  int    `json:"handle"`
	Comment string `json:"comment"`
	Expr    []any  `json:"expr"`
}

type nftSetJSON struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Name   string `json:"name"`
	Elem   []any  `json:"elem"`
}

// nftTable is one table of the rule set, in listing order.
type nftTable struct {
	family, name string
	sets         map[string]*nftSetJSON
	chains       []*nftChainJSON
	rules        map[string][]*nftRuleJSON
}

// nftRuleset is a parsed `nft -j list ruleset`.
type nftRuleset struct {
	tables []*nftTable
}

// Bounds for what is parsed: a rule set this large is not a host's firewall.
const maxNftObjects = 200000

// parseNftRuleset reads the JSON output of nft list ruleset (or list chain).
func parseNftRuleset(data []byte) (*nftRuleset, error) {
	var doc struct {
		Nftables []nftObject `json:"nftables"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse nft JSON: %w", err)
	}
	if len(doc.Nftables) > maxNftObjects {
		return nil, fmt.Errorf("parse nft JSON: %d objects, more than %d", len(doc.Nftables), maxNftObjects)
	}
	rs := &nftRuleset{}
	byName := map[string]*nftTable{}
	table := func(family, name string) *nftTable {
		key := family + " " + name
		t := byName[key]
		if t == nil {
			t = &nftTable{family: family, name: name, sets: map[string]*nftSetJSON{}, rules: map[string][]*nftRuleJSON{}}
			byName[key] = t
			rs.tables = append(rs.tables, t)
		}
		return t
	}
	for _, obj := range doc.Nftables {
		switch {
		case obj.Table != nil:
			table(obj.Table.Family, obj.Table.Name)
		case obj.Chain != nil:
			t := table(obj.Chain.Family, obj.Chain.Table)
			t.chains = append(t.chains, obj.Chain)
		case obj.Rule != nil:
			t := table(obj.Rule.Family, obj.Rule.Table)
			t.rules[obj.Rule.Chain] = append(t.rules[obj.Rule.Chain], obj.Rule)
		case obj.Set != nil:
			table(obj.Set.Family, obj.Set.Table).sets[obj.Set.Name] = obj.Set
		case obj.Map != nil:
			table(obj.Map.Family, obj.Map.Table).sets[obj.Map.Name] = obj.Map
		}
	}
	return rs, nil
}

// conntrackPrio is where conntrack runs on prerouting (NF_IP_PRI_CONNTRACK).
const conntrackPrio = -200

// Standard priority names nft may print instead of numbers.
var nftPrioNames = map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

func nftPrio(x any) int {
	switch x := x.(type) {
	case float64:
		return int(x)
	case string:
		name, offset, _ := strings.Cut(strings.ReplaceAll(x, " ", ""), "+")
		n, _ := strconv.Atoi(offset)
		if base, ok := nftPrioNames[name]; ok {
			return base + n
		}
		n, _ = strconv.Atoi(x)
		return n
	}
	return 0
}

// baseChains compiles the tables that skip does not exclude and returns
// their base chains on the way in to a local socket on iface ("" for any).
func (rs *nftRuleset) baseChains(iface string, skip func(family, table string) bool) []baseChain {
	var out []baseChain
	for _, t := range rs.tables {
		if t.family != "ip" && t.family != "inet" && t.family != "netdev" {
			continue
		}
		if skip != nil && skip(t.family, t.name) {
			continue
		}
		compiled := compileNftTable(t)
		for _, c := range t.chains {
			h, ok := nftHook(t.family, c, iface)
			if !ok {
				continue
			}
			out = append(out, baseChain{
				firewall: "nftables", tool: "nft", family: t.family, table: t.name,
				chain: compiled.chains[c.Name], rules: compiled, hook: h, prio: nftPrio(c.Prio),
				deviceUnknown:   h == hookIngress && c.Dev == nil,
				beforeConntrack: h == hookIngress || (h == hookPrerouting && nftPrio(c.Prio) < conntrackPrio),
			})
		}
	}
	return out
}

// chainsWithoutDevice lists ingress chains whose device the JSON does not
// show (nft 1.0.6 omits it); inspect asks nft's text output for it.
func (rs *nftRuleset) chainsWithoutDevice() []*nftChainJSON {
	var out []*nftChainJSON
	for _, t := range rs.tables {
		for _, c := range t.chains {
			if c.Hook == "ingress" && c.Dev == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

var nftDevices = regexp.MustCompile(`hook ingress (?:device "?([^";\s]+)"?|devices = \{ ([^}]*) \})`)

// parseChainDevices reads the device(s) of an ingress chain from `nft list chain`.
func parseChainDevices(text string) []any {
	m := nftDevices.FindStringSubmatch(text)
	if m == nil {
		return nil
	}
	if m[1] != "" {
		return []any{m[1]}
	}
	var devs []any
	for _, d := range strings.Split(m[2], ",") {
		devs = append(devs, strings.Trim(strings.TrimSpace(d), `"`))
	}
	return devs
}

// nftHook says whether a chain sees packets coming in on iface, and where.
func nftHook(family string, c *nftChainJSON, iface string) (hook, bool) {
	switch {
	case c.Hook == "input" && family != "netdev":
		return hookInput, true
	case c.Hook == "prerouting" && family != "netdev":
		return hookPrerouting, true
	case c.Hook == "ingress":
		devs := strs(c.Dev)
		if iface == "" || len(devs) == 0 {
			return hookIngress, true
		}
		for _, d := range devs {
			if d == iface {
				return hookIngress, true
			}
		}
	}
	return 0, false
}

// compileNftTable turns a table's chains and rules into the simulator's.
func compileNftTable(t *nftTable) *ruleTable {
	rt := &ruleTable{chains: map[string]*chain{}}
	for _, c := range t.chains {
		ch := &chain{name: c.Name, policy: actAccept}
		if c.Policy == "drop" {
			ch.policy = actDrop
		}
		for _, r := range t.rules[c.Name] {
			ch.rules = append(ch.rules, compileNftRule(t, r)...)
		}
		rt.chains[c.Name] = ch
	}
	return rt
}

// compileNftRule compiles one rule; a verdict map becomes one rule per element.
func compileNftRule(t *nftTable, r *nftRuleJSON) []rule {
	out := rule{id: r.Handle}
	for _, e := range r.Expr {
		obj, ok := e.(map[string]any)
		if !ok || len(obj) != 1 {
			continue
		}
		for name, body := range obj {
			switch name {
			case "match":
				out.conds = append(out.conds, compileMatch(t, body))
			case "limit", "quota":
				// Assumed under the limit: "limit rate 5/second accept" accepts,
				// "limit rate over 5/second drop" does not drop.
				inv, _ := field(body, "inv").(bool)
				text := name
				if inv {
					text += " over"
				}
				holds := yes
				if inv {
					holds = no
				}
				out.conds = append(out.conds, cond{text: text, eval: func(*packet) tri { return holds }})
			case "xt":
				text := "iptables extension " + str(body, "name")
				if str(body, "type") == "target" {
					out.action, out.text = actUnknown, text+" (use the iptables tools for this table)"
				} else {
					out.conds = append(out.conds, alwaysMaybe(text))
				}
			case "vmap":
				return compileVmap(t, out, body)
			default:
				if a, target, text, ok := nftVerdict(name, body); ok {
					out.action, out.target, out.text = a, target, text
				}
				// Anything else (counter, log, meta/ct set, notrack) does not decide.
			}
		}
	}
	return []rule{out}
}

// nftVerdict reads a verdict or a statement that decides a packet's fate.
func nftVerdict(name string, body any) (action, string, string, bool) {
	switch name {
	case "accept":
		return actAccept, "", "", true
	case "drop":
		return actDrop, "", "", true
	case "reject":
		return actReject, "", "", true
	case "return":
		return actReturn, "", "", true
	case "continue":
		return actNone, "", "", true
	case "jump":
		return actJump, str(body, "target"), "", true
	case "goto":
		return actGoto, str(body, "target"), "", true
	case "queue":
		return actUnknown, "", "queue: a userspace program decides", true
	case "dnat", "redirect", "tproxy":
		return actUnknown, "", name + " sends the packet somewhere else", true
	case "fwd":
		return actUnknown, "", "fwd sends the packet out another device", true
	case "synproxy":
		return actUnknown, "", "synproxy answers the handshake itself", true
	}
	return 0, "", "", false
}

func alwaysMaybe(text string) cond {
	return cond{text: text, eval: func(*packet) tri { return maybe }}
}

// compileMatch compiles {"op", "left", "right"}.
func compileMatch(t *nftTable, body any) cond {
	op, _ := field(body, "op").(string)
	left, right := field(body, "left"), field(body, "right")
	text := matchText(op, left, right)
	k := compileKey(left)
	if k == nil {
		return alwaysMaybe(text)
	}
	vals, ok := compileValues(t, k, right)
	if !ok {
		// Values this simulation cannot read (icmpv6 types, marks): the
		// match still fails where the header is absent.
		return cond{text: text, eval: func(p *packet) tri {
			if k.get(p).absent {
				return no
			}
			return maybe
		}}
	}
	vs := newValueSet(k, vals)
	return cond{text: text, eval: func(p *packet) tri { return compare(k, op, vs, p) }}
}

// compileValues reads a right-hand side: a value, a flag list, an
// anonymous set or a named one (@name).
func compileValues(t *nftTable, k *nftKey, right any) ([]val, bool) {
	if s, ok := right.(string); ok && strings.HasPrefix(s, "@") {
		set := t.sets[s[1:]]
		if set == nil {
			return nil, false
		}
		return parseValues(k, set.Elem)
	}
	if list, ok := right.([]any); ok {
		if k.kind == keyFlags {
			mask, ok := parseMask(k, list)
			return []val{{num: exact(mask)}}, ok
		}
		return parseValues(k, list)
	}
	if elems := field(right, "set"); elems != nil {
		list, _ := elems.([]any)
		return parseValues(k, list)
	}
	v, ok := parseValue(k, right)
	return []val{v}, ok
}

func parseValues(k *nftKey, list []any) ([]val, bool) {
	vals := make([]val, 0, len(list))
	for _, item := range list {
		v, ok := parseValue(k, item)
		if !ok {
			return nil, false
		}
		vals = append(vals, v)
	}
	return vals, true
}

// compileVmap expands "key vmap { a : verdict, … }" into one rule per
// element, each with the rule's matches so far plus "key == a".
func compileVmap(t *nftTable, prefix rule, body any) []rule {
	k := compileKey(field(body, "key"))
	data := field(body, "data")
	var elems []any
	if s, ok := data.(string); ok && strings.HasPrefix(s, "@") {
		if m := t.sets[s[1:]]; m != nil {
			elems = m.Elem
		}
	} else {
		elems, _ = field(data, "set").([]any)
	}
	text := "vmap on " + exprText(field(body, "key"))
	var out []rule
	for _, e := range elems {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			continue
		}
		r := prefix
		r.conds = append(append([]cond(nil), prefix.conds...), vmapCond(k, pair[0], text))
		obj, _ := pair[1].(map[string]any)
		for name, body := range obj {
			if a, target, why, ok := nftVerdict(name, body); ok {
				r.action, r.target, r.text = a, target, why
			}
		}
		out = append(out, r)
	}
	return out
}

func vmapCond(k *nftKey, elem any, text string) cond {
	if k == nil {
		return alwaysMaybe(text)
	}
	v, ok := parseValue(k, elem)
	if !ok {
		return alwaysMaybe(text)
	}
	text = fmt.Sprintf("%s element %s", text, exprText(elem))
	vs := newValueSet(k, []val{v})
	return cond{text: text, eval: func(p *packet) tri { return compare(k, "==", vs, p) }}
}
