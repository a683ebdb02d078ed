package firewall

import "fmt"

// The simulator: nftables and iptables rule sets are both compiled into
// chains of rules made of conds and an action, and one walker runs a packet
// through a base chain the way the kernel does (jump, goto, return, policy).

// action is what a rule does when all its matches hold.
type action int8

const (
	actNone    action = iota // counter, log, mark: on to the next rule
	actAccept                // final for this base chain only
	actDrop                  // final
	actReject                // final
	actJump                  // into target, back after it
	actGoto                  // into target, not back
	actReturn                // back to the caller, or to the policy
	actUnknown               // queue, dnat, an unknown target: decided elsewhere
)

// cond is one match of a rule.
type cond struct {
	text string // as the rule spells it, for messages
	eval func(*packet) tri
}

// rule is one rule of a chain.
type rule struct {
	id     int // nft handle; iptables rule number in its chain
	conds  []cond
	action action
	target string // chain of a jump or goto
	text   string // actUnknown: what the rule does that is not simulated
}

// match evaluates the rule's conds in order; for maybe it also returns the
// first cond it could not decide.
func (r *rule) match(p *packet) (tri, string) {
	result, why := yes, ""
	for _, c := range r.conds {
		switch c.eval(p) {
		case no:
			return no, ""
		case maybe:
			if result == yes {
				result, why = maybe, c.text
			}
		}
	}
	return result, why
}

// chain is a list of rules; a base chain has a policy.
type chain struct {
	name   string
	rules  []rule
	policy action // actAccept or actDrop
}

// ruleTable holds the chains a jump can reach (an nft table, an iptables table).
type ruleTable struct {
	chains map[string]*chain
}

// result is how one base chain treats a packet.
type result struct {
	action action // actAccept, actDrop, actReject or actUnknown
	chain  string // chain of the deciding rule
	id     int    // the rule's id; 0: the base chain's policy
	why    string // actUnknown: what could not be evaluated
}

func (r result) class() action {
	if r.action == actReject {
		return actDrop
	}
	return r.action
}

// Bounds of one walk: nft itself refuses more than 16 nested jumps; the
// step count bounds the forks taken at undecidable rules.
const (
	maxDepth = 64
	maxSteps = 1 << 14
)

type frame struct {
	chain *chain
	next  int
}

// judge runs p through the base chain.
func (t *ruleTable) judge(base *chain, p *packet) result {
	steps := 0
	return t.walk([]frame{{chain: base}}, base, p, &steps)
}

// walk continues a packet's way from the top frame of stack. At a rule it
// cannot decide, it follows both ways: if they end alike, that is the
// answer; if not, the result is unknown and names that rule.
func (t *ruleTable) walk(stack []frame, base *chain, p *packet, steps *int) result {
	for {
		top := &stack[len(stack)-1]
		if top.next >= len(top.chain.rules) {
			if len(stack) == 1 {
				return result{action: base.policy, chain: base.name}
			}
			stack = stack[:len(stack)-1]
			continue
		}
		r := &top.chain.rules[top.next]
		top.next++
		*steps++
		if *steps > maxSteps {
			return result{action: actUnknown, chain: top.chain.name, id: r.id, why: "too many undecidable rules to follow"}
		}
		m, why := r.match(p)
		if m == no || r.action == actNone {
			continue
		}
		if m == yes {
			res, next, done := t.take(stack, r, base)
			if done {
				return res
			}
			stack = next
			continue
		}
		chainName := top.chain.name
		taken := t.follow(clone(stack), r, base, p, steps)
		skipped := t.walk(clone(stack), base, p, steps)
		if taken.class() == skipped.class() {
			return skipped
		}
		return result{action: actUnknown, chain: chainName, id: r.id, why: fmt.Sprintf("cannot tell whether %s matches", why)}
	}
}

// follow takes r and walks on.
func (t *ruleTable) follow(stack []frame, r *rule, base *chain, p *packet, steps *int) result {
	res, next, done := t.take(stack, r, base)
	if done {
		return res
	}
	return t.walk(next, base, p, steps)
}

// take applies a matching rule's action: a final result, or the new stack.
func (t *ruleTable) take(stack []frame, r *rule, base *chain) (result, []frame, bool) {
	here := stack[len(stack)-1].chain.name
	switch r.action {
	case actAccept, actDrop, actReject, actUnknown:
		return result{action: r.action, chain: here, id: r.id, why: r.text}, nil, true
	case actReturn:
		if len(stack) == 1 {
			return result{action: base.policy, chain: base.name}, nil, true
		}
		return result{}, stack[:len(stack)-1], false
	case actJump, actGoto:
		target, ok := t.chains[r.target]
		if !ok {
			return result{action: actUnknown, chain: here, id: r.id, why: "jump to a missing chain " + r.target}, nil, true
		}
		if len(stack) >= maxDepth {
			return result{action: actUnknown, chain: here, id: r.id, why: "jumps nested too deep"}, nil, true
		}
		if r.action == actGoto {
			stack[len(stack)-1] = frame{chain: target}
			return result{}, stack, false
		}
		return result{}, append(stack, frame{chain: target}), false
	}
	return result{}, stack, false
}

func clone(stack []frame) []frame {
	return append(make([]frame, 0, len(stack)+4), stack...)
}

// hook is where on the way in a base chain sits.
type hook int8

const (
	hookIngress hook = iota
	hookPrerouting
	hookInput
)

// baseChain is a chain the kernel runs packets through on their way to a
// local socket, with the firewall and tool it belongs to.
type baseChain struct {
	firewall string // "nftables", "iptables", "iptables-legacy", "iptables-nft"
	tool     string // the command that adds rules to it: "nft", "iptables", …
	family   string // nft family; "" for iptables
	table    string
	chain    *chain
	rules    *ruleTable
	hook     hook
	prio     int
	// beforeConntrack: the chain runs before conntrack (ingress, or
	// prerouting below priority -200): "ct state" is invalid there.
	beforeConntrack bool
	// deviceUnknown: an ingress chain whose device could not be learnt;
	// what it does is Unknown, since it may be another interface's.
	deviceUnknown bool
}
