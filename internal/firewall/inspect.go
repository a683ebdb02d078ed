package firewall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Reading the host's firewalls: firewalld's zone, iptables-save of each
// backend, nft's rule set; and the base chains an incoming packet passes.

// snapshot is what was read of the host's firewalls.
type snapshot struct {
	firewalls []Firewall
	zone      *firewalldZone // nil unless firewalld runs
	chains    []baseChain    // in the order packets pass them
}

// inspect reads every firewall present.
func (h *Host) inspect(ctx context.Context, iface string) (*snapshot, error) {
	r := h.runner()
	s := &snapshot{}
	zone, fw, err := readFirewalld(ctx, r, iface)
	if err != nil {
		return nil, err
	}
	firewalldRuns := fw != nil && fw.Active
	if fw != nil {
		s.firewalls = append(s.firewalls, *fw)
	}
	s.zone = zone
	claimed, err := s.addIptables(ctx, r, firewalldRuns)
	if err != nil {
		return nil, err
	}
	if err := s.addNft(ctx, r, iface, claimed, firewalldRuns); err != nil {
		return nil, err
	}
	slices.SortStableFunc(s.chains, func(a, b baseChain) int {
		if a.hook != b.hook {
			return int(a.hook) - int(b.hook)
		}
		return a.prio - b.prio
	})
	h.logger().Debug("firewall: inspected", "firewalls", len(s.firewalls), "base_chains", len(s.chains))
	return s, nil
}

// addIptables adds the chains of each iptables backend and returns the
// nft tables iptables-nft shows: those are simulated from its output.
func (s *snapshot) addIptables(ctx context.Context, r Runner, firewalldRuns bool) (map[string]bool, error) {
	ipts, err := readIptables(ctx, r)
	if err != nil {
		return nil, err
	}
	claimed := map[string]bool{}
	for _, src := range ipts {
		if src.save == nil {
			s.firewalls = append(s.firewalls, Firewall{Name: src.name, Err: src.err})
			continue
		}
		if src.save.backend == "nf_tables" {
			for _, t := range src.save.tables {
				if !src.save.incompatible[t.name] {
					claimed["ip "+t.name] = true
				}
			}
		}
		chains := src.save.baseChains(src.name, src.tool, func(t *iptTable) bool {
			return firewalldRuns && firewalldIptables(t)
		})
		s.chains = append(s.chains, chains...)
		s.firewalls = append(s.firewalls, Firewall{Name: src.name, Active: anyFilters(chains), Detail: iptDetail(src.save, chains)})
	}
	return claimed, nil
}

// addNft adds the base chains of the nftables rule set, but for the tables
// iptables-nft claimed and firewalld's own while it runs.
func (s *snapshot) addNft(ctx context.Context, r Runner, iface string, claimed map[string]bool, firewalldRuns bool) error {
	out, err := r.Run(ctx, nil, "nft", "-j", "list", "ruleset")
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case isNotInstalled(err):
		return nil
	case err != nil:
		s.firewalls = append(s.firewalls, Firewall{Name: "nftables", Err: "nft -j list ruleset: " + err.Error() + rootHint(err)})
		return nil
	}
	rs, err := parseNftRuleset(out)
	if err != nil {
		s.firewalls = append(s.firewalls, Firewall{Name: "nftables", Err: err.Error()})
		return nil
	}
	for _, c := range rs.chainsWithoutDevice() {
		if text, err := r.Run(ctx, nil, "nft", "list", "chain", c.Family, c.Table, c.Name); err == nil {
			if devs := parseChainDevices(string(text)); devs != nil {
				c.Dev = devs
			}
		}
	}
	chains := rs.baseChains(iface, func(family, table string) bool {
		return claimed[family+" "+table] || (firewalldRuns && table == "firewalld")
	})
	s.chains = append(s.chains, chains...)
	s.firewalls = append(s.firewalls, Firewall{Name: "nftables", Active: anyFilters(chains), Detail: nftDetail(rs, chains, claimed, firewalldRuns)})
	return nil
}

func isNotInstalled(err error) bool { return errors.Is(err, ErrNotInstalled) }

func rootHint(err error) string {
	if strings.Contains(strings.ToLower(err.Error()), "permission denied") ||
		strings.Contains(strings.ToLower(err.Error()), "operation not permitted") {
		return " (reading the rule set needs root)"
	}
	return ""
}

// firewalldIptables says whether an iptables table is firewalld's own
// (its iptables backend): then firewalld's answer stands for it.
func firewalldIptables(t *iptTable) bool {
	for _, c := range t.chains {
		if c == "INPUT_ZONES" || c == "PREROUTING_ZONES" || c == "INPUT_direct" {
			return true
		}
	}
	return false
}

// anyFilters says whether any chain has a rule or a drop policy.
func anyFilters(chains []baseChain) bool {
	for _, c := range chains {
		if len(c.chain.rules) > 0 || c.chain.policy != actAccept {
			return true
		}
	}
	return false
}

func chainNames(chains []baseChain) string {
	var names []string
	for _, c := range chains {
		name := strings.TrimSpace(c.family + " " + c.table + " " + c.chain.name)
		if c.chain.policy == actDrop {
			name += " (policy drop)"
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

func iptDetail(save *iptSave, chains []baseChain) string {
	backend := save.backend
	if backend == "" {
		backend = "legacy"
	}
	if len(chains) == 0 {
		return backend + "; no chains on the way in"
	}
	return backend + "; chains on the way in: " + chainNames(chains)
}

func nftDetail(rs *nftRuleset, chains []baseChain, claimed map[string]bool, firewalldRuns bool) string {
	var notes []string
	for _, t := range rs.tables {
		switch {
		case claimed[t.family+" "+t.name]:
			notes = append(notes, fmt.Sprintf("%s %s is iptables-nft's", t.family, t.name))
		case firewalldRuns && t.name == "firewalld":
			notes = append(notes, fmt.Sprintf("%s %s is firewalld's", t.family, t.name))
		}
	}
	detail := "no base chains on the way in"
	if len(chains) > 0 {
		detail = "base chains on the way in: " + chainNames(chains)
	}
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, ", ")
	}
	return detail
}

// iptSource is one iptables backend's rule set.
type iptSource struct {
	name, tool string // "iptables" for the default backend
	save       *iptSave
	err        string
}

// readIptables reads iptables-save, and the other backend's save tool if
// it is installed: legacy and nf_tables rules both apply.
func readIptables(ctx context.Context, r Runner) ([]iptSource, error) {
	var out []iptSource
	read := func(name, tool, cmd string) *iptSave {
		data, err := r.Run(ctx, nil, cmd)
		switch {
		case ctx.Err() != nil, isNotInstalled(err):
			return nil
		case err != nil:
			out = append(out, iptSource{name: name, tool: tool, err: cmd + ": " + err.Error() + rootHint(err)})
			return nil
		}
		save, err := parseIptablesSave(data)
		if err != nil {
			out = append(out, iptSource{name: name, tool: tool, err: err.Error()})
			return nil
		}
		if len(save.tables) > 0 {
			out = append(out, iptSource{name: name, tool: tool, save: save})
		}
		return save
	}
	first := read("iptables", "iptables", "iptables-save")
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	backend := ""
	if first != nil {
		backend = first.backend
	}
	if first != nil && backend == "" { // no tables, so no header: ask the tool
		if out, err := r.Run(ctx, nil, "iptables", "-V"); err == nil {
			backend = "legacy"
			if strings.Contains(string(out), "nf_tables") {
				backend = "nf_tables"
			}
		}
	}
	switch backend {
	case "nf_tables":
		read("iptables-legacy", "iptables-legacy", "iptables-legacy-save")
	case "legacy":
		read("iptables-nft", "iptables-nft", "iptables-nft-save")
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}
