package firewall

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The commands that open a port, and the warning lines for the user.

// withFixes fills each block's Fix for port on iface.
func withFixes(blocks []Block, port Port, iface string) []Block {
	if len(blocks) == 0 {
		return nil
	}
	out := make([]Block, len(blocks))
	for i, b := range blocks {
		b.Fix, b.FixPermanent = fixCommands(b, port, iface)
		out[i] = b
	}
	return out
}

func fixCommands(b Block, port Port, iface string) (string, string) {
	switch {
	case b.fix != "":
		return b.fix, ""
	case !b.canOpen:
		return "", ""
	case b.Firewall == "firewalld":
		return "firewall-cmd --zone=" + b.Zone + " --add-port=" + port.String(),
			"firewall-cmd --permanent --zone=" + b.Zone + " --add-port=" + port.String()
	case b.tool == "nft":
		args := append([]string{"nft", "insert", "rule", b.Family, b.Table, b.Chain}, nftRuleSpec(iface, port.Proto, []Port{port}, false)...)
		return strings.Join(args, " "), ""
	}
	args := append([]string{b.tool}, iptInsertArgs(b.Table, b.Chain, iface, port, false)...)
	return strings.Join(args, " "), ""
}

// ruleComment tags every rule Open adds.
const ruleComment = "kickstand"

// nftRuleSpec is the rule that accepts ports: `iifname "br0" udp dport { 67, 69 } accept`.
func nftRuleSpec(iface, proto string, ports []Port, tagged bool) []string {
	var spec []string
	if iface != "" {
		spec = append(spec, "iifname", strconv.Quote(iface))
	}
	values := make([]string, len(ports))
	for i, p := range ports {
		values[i] = p.Range()
	}
	dport := values[0]
	if len(values) > 1 {
		dport = "{ " + strings.Join(values, ", ") + " }"
	}
	spec = append(spec, proto, "dport", dport, "accept")
	if tagged {
		spec = append(spec, "comment", strconv.Quote(ruleComment))
	}
	return spec
}

// iptInsertArgs is `[-t raw] -I INPUT [-i br0] -p udp --dport 69 -j ACCEPT`;
// tagged adds the position (1, the top), -w and the comment Open uses.
func iptInsertArgs(table, chain, iface string, port Port, tagged bool) []string {
	var args []string
	if tagged {
		args = append(args, "-w")
	}
	if tagged || table != "filter" {
		args = append(args, "-t", table)
	}
	args = append(args, "-I", chain)
	if tagged {
		args = append(args, "1")
	}
	return append(args, iptRuleArgs(iface, port, tagged)...)
}

// iptRuleArgs is the rule itself, as -C and -D want it.
func iptRuleArgs(iface string, port Port, tagged bool) []string {
	var args []string
	if iface != "" {
		args = append(args, "-i", iface)
	}
	dport := strconv.Itoa(port.First)
	if port.last() != port.First {
		dport += ":" + strconv.Itoa(port.last())
	}
	args = append(args, "-p", port.Proto, "--dport", dport)
	if tagged {
		args = append(args, "-m", "comment", "--comment", ruleComment)
	}
	return append(args, "-j", "ACCEPT")
}

// Warnings returns one line per port that is not Allowed: what blocks it,
// where, and the commands that open it. openHint, if not empty, is offered
// as the alternative ("run kickstand serve --open-firewall").
func (r *Report) Warnings(openHint string) []string {
	var lines []string
	for _, pr := range r.NotAllowed() {
		lines = append(lines, warning(pr, r.Target.Interface, openHint))
	}
	return lines
}

func warning(pr PortResult, iface, openHint string) string {
	what := pr.Port.String()
	if pr.Port.Service != "" {
		what += " (" + pr.Port.Service + ")"
	}
	on := ""
	if iface != "" {
		on = " on " + iface
	}
	var sb strings.Builder
	sb.WriteString("firewall: ")
	if len(pr.Blocks) == 1 {
		b := pr.Blocks[0]
		if b.Verdict == Unknown {
			fmt.Fprintf(&sb, "cannot tell whether %s lets %s in%s (%s)", b.Firewall, what, on, where(b))
		} else {
			fmt.Fprintf(&sb, "%s %s %s%s (%s)", b.Firewall, verb(b.Action), what, on, where(b))
		}
	} else {
		fmt.Fprintf(&sb, "%s%s is stopped by %d firewalls: ", what, on, len(pr.Blocks))
		for i, b := range pr.Blocks {
			if i > 0 {
				sb.WriteString("; ")
			}
			if b.Verdict == Unknown {
				fmt.Fprintf(&sb, "%s may drop it (%s)", b.Firewall, where(b))
			} else {
				fmt.Fprintf(&sb, "%s %s it (%s)", b.Firewall, verb(b.Action), where(b))
			}
		}
	}
	var fixes []string
	canOpen := false
	for _, b := range pr.Blocks {
		if b.Fix == "" {
			continue
		}
		fix := b.Fix
		if b.FixPermanent != "" {
			fix += ", and to keep it: " + b.FixPermanent
		}
		fixes = append(fixes, fix)
		canOpen = canOpen || b.canOpen
	}
	if len(fixes) > 0 {
		if pr.Verdict == Unknown {
			sb.WriteString("; if clients time out, open it: ")
		} else {
			sb.WriteString("; open it: ")
		}
		sb.WriteString(strings.Join(fixes, " && "))
	}
	if canOpen && openHint != "" {
		sb.WriteString(" — or " + openHint)
	}
	return sb.String()
}

// where names the zone or the table, chain and rule, and what it does.
func where(b Block) string {
	var parts []string
	switch {
	case b.Zone != "":
		parts = append(parts, "zone "+b.Zone)
	case b.Table != "":
		parts = append(parts, strings.Join(slices.DeleteFunc([]string{"table", b.Family, b.Table}, func(s string) bool { return s == "" }), " "))
		if b.RuleChain != "" {
			parts = append(parts, fmt.Sprintf("chain %s (from %s)", b.RuleChain, b.Chain))
		} else if b.Chain != "" {
			parts = append(parts, "chain "+b.Chain)
		}
		switch {
		case b.Handle != 0:
			parts = append(parts, "rule handle "+strconv.Itoa(b.Handle))
		case b.Rule != 0:
			parts = append(parts, "rule "+strconv.Itoa(b.Rule))
		}
	}
	what := b.Action
	if b.Reason != "" {
		what = b.Reason
	}
	if len(parts) == 0 {
		return what
	}
	return strings.Join(parts, ", ") + ": " + what
}

func verb(action string) string {
	a := strings.TrimPrefix(strings.ToLower(action), "policy ")
	if strings.HasPrefix(a, "reject") {
		return "rejects"
	}
	return "drops"
}
