package firewall

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeNft keeps the rules inserted by `nft --echo --handle insert rule` on
// top of a captured rule set, lists them, and deletes them by handle.
type fakeNft struct {
	t        *testing.T
	base     string           // captured rule set file
	inserted []map[string]any // rule objects, newest first
	next     int
	onInsert func(line string) // called before answering an insert
	failOn   int               // fail the n-th insert (1-based); 0: never
	inserts  int
}

var insertLine = regexp.MustCompile(`^nft --echo --handle insert rule (\S+) (\S+) (\S+) iifname "(\S+)" (udp|tcp) dport (\{ [^}]+ \}|\S+) accept comment "kickstand"$`)

func (n *fakeNft) hook(line string) (string, error, bool) {
	switch {
	case strings.HasPrefix(line, "nft --echo --handle insert rule "):
		n.inserts++
		if n.onInsert != nil {
			n.onInsert(line)
		}
		if n.inserts == n.failOn {
			return "", &ExitError{Code: 1, Stderr: "Error: Could not process rule: No such file or directory"}, true
		}
		m := insertLine.FindStringSubmatch(line)
		if m == nil {
			n.t.Fatalf("unexpected insert %q", line)
		}
		n.next++
		handle := 100 + n.next
		n.inserted = append([]map[string]any{nftRule(m[1], m[2], m[3], handle, "kickstand", m[4], m[5], m[6])}, n.inserted...)
		return strings.TrimPrefix(line, "nft --echo --handle ") + " # handle " + strconv.Itoa(handle) + "\n", nil, true
	case line == "nft -j list ruleset":
		return n.listing(""), nil, true
	case strings.HasPrefix(line, "nft -j list chain "):
		f := strings.Fields(line)
		return n.listing(f[6]), nil, true
	case strings.HasPrefix(line, "nft delete rule "):
		f := strings.Fields(line)
		h, _ := strconv.Atoi(f[len(f)-1])
		for i, r := range n.inserted {
			if int(r["rule"].(map[string]any)["handle"].(float64)) == h {
				n.inserted = slices.Delete(n.inserted, i, i+1)
				return "", nil, true
			}
		}
		return "", &ExitError{Code: 1, Stderr: "Error: Could not process rule: No such file or directory"}, true
	}
	return "", nil, false
}

// listing is the captured rule set with the inserted rules at the top of
// their chains; chain != "" lists only that chain's rules.
func (n *fakeNft) listing(chain string) string {
	var doc struct {
		Nftables []map[string]any `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(readTestdata(n.t, "nft/"+n.base+".json")), &doc); err != nil {
		n.t.Fatal(err)
	}
	var out []map[string]any
	done := map[string]bool{}
	for _, obj := range doc.Nftables {
		if r, ok := obj["rule"].(map[string]any); ok {
			if chain != "" && r["chain"] != chain {
				continue
			}
			if !done[r["chain"].(string)] {
				done[r["chain"].(string)] = true
				for _, ins := range n.inserted {
					if ins["rule"].(map[string]any)["chain"] == r["chain"] {
						out = append(out, ins)
					}
				}
			}
		}
		out = append(out, obj)
	}
	data, err := json.Marshal(map[string]any{"nftables": out})
	if err != nil {
		n.t.Fatal(err)
	}
	return string(data)
}

// nftRule builds the JSON nft lists for `iifname IFACE PROTO dport VALUE accept`.
func nftRule(family, table, chain string, handle int, comment, iface, proto, value string) map[string]any {
	var right any
	elem := func(s string) any {
		if lo, hi, ok := strings.Cut(s, "-"); ok {
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			return map[string]any{"range": []any{float64(a), float64(b)}}
		}
		v, _ := strconv.Atoi(s)
		return float64(v)
	}
	if strings.HasPrefix(value, "{") {
		var items []any
		for _, s := range strings.Split(strings.Trim(value, "{} "), ", ") {
			items = append(items, elem(s))
		}
		right = map[string]any{"set": items}
	} else {
		right = elem(value)
	}
	rule := map[string]any{
		"family": family, "table": table, "chain": chain, "handle": float64(handle),
		"expr": []any{
			map[string]any{"match": map[string]any{"op": "==", "left": map[string]any{"meta": map[string]any{"key": "iifname"}}, "right": iface}},
			map[string]any{"match": map[string]any{"op": "==", "left": map[string]any{"payload": map[string]any{"protocol": proto, "field": "dport"}}, "right": right}},
			map[string]any{"accept": nil},
		},
	}
	if comment != "" {
		rule["comment"] = comment
	}
	return map[string]any{"rule": rule}
}

func stateRules(t *testing.T, dir string) []addedRule {
	t.Helper()
	rules, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// TestOpenCloseNftables: Open records the rules before adding each, adds
// one accept per base chain and protocol at the top of the chain that
// drops, learns the handles; Close deletes exactly those and the record.
func TestOpenCloseNftables(t *testing.T) {
	dir := t.TempDir()
	fake := newFake(nil)
	nft := &fakeNft{t: t, base: "plain-drop"}
	nft.onInsert = func(string) {
		if rules := stateRules(t, dir); len(rules) != 2 {
			t.Errorf("state before insert: %+v", rules)
		}
	}
	fake.hook = nft.hook
	h := &Host{Runner: fake}
	o, err := h.Open(context.Background(), testTarget, dir)
	if err != nil {
		t.Fatal(err)
	}
	wantInserts := []string{
		`nft --echo --handle insert rule inet filter input iifname "br0" udp dport { 67, 69, 4011 } accept comment "kickstand"`,
		`nft --echo --handle insert rule inet filter input iifname "br0" tcp dport { 21, 80, 30000-30019 } accept comment "kickstand"`,
	}
	var inserts []string
	for _, c := range fake.called() {
		if strings.Contains(c, " insert ") {
			inserts = append(inserts, c)
		}
	}
	if strings.Join(inserts, "\n") != strings.Join(wantInserts, "\n") {
		t.Errorf("inserts:\n%s", strings.Join(inserts, "\n"))
	}
	if n := len(o.Before.NotAllowed()); n != 6 {
		t.Errorf("before: %d ports not allowed", n)
	}
	if w := o.After.Warnings(""); len(w) != 0 {
		t.Errorf("after opening: %q", w)
	}
	if rules := stateRules(t, dir); len(rules) != 2 || rules[0].Handle != 101 || rules[1].Handle != 102 {
		t.Errorf("state after open: %+v", rules)
	}
	if len(o.Added) != 2 || !strings.HasSuffix(o.Added[0], "(handle 101)") {
		t.Errorf("added %q", o.Added)
	}

	before := len(fake.called())
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	var deletes []string
	for _, c := range fake.called()[before:] {
		if strings.HasPrefix(c, "nft delete") {
			deletes = append(deletes, c)
		}
	}
	if strings.Join(deletes, "\n") != "nft delete rule inet filter input handle 102\nnft delete rule inet filter input handle 101" {
		t.Errorf("deletes: %q", deletes)
	}
	if len(nft.inserted) != 0 {
		t.Errorf("left: %v", nft.inserted)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after close: %v", err)
	}
	calls := len(fake.called())
	if err := o.Close(); err != nil || len(fake.called()) != calls {
		t.Errorf("second close: %v, %d calls", err, len(fake.called())-calls)
	}
}

// TestCleanupNftOwnership: Cleanup deletes a recorded rule only if it is
// still ours (comment and content); without a recorded handle (killed
// between adding and recording), the rule that is ours by content.
func TestCleanupNftOwnership(t *testing.T) {
	ours := addedRule{Kind: "nftables", Tool: "nft", Firewall: "nftables", Family: "inet", Table: "filter", Chain: "input",
		Interface: "br0", Proto: "udp", Ports: []Port{{Proto: "udp", First: 67}, {Proto: "udp", First: 69}}}
	setup := func(t *testing.T, handle int) (*fakeRunner, *fakeNft, string) {
		dir := t.TempDir()
		a := ours
		a.Handle = handle
		if err := writeState(dir, []addedRule{a}); err != nil {
			t.Fatal(err)
		}
		nft := &fakeNft{t: t, base: "plain-drop"}
		nft.inserted = []map[string]any{
			nftRule("inet", "filter", "input", 7, "", "br0", "udp", "{ 67, 69 }"),            // the user's, same content
			nftRule("inet", "filter", "input", 8, "kickstand", "br0", "udp", "{ 67, 4011 }"), // tagged, other ports
			nftRule("inet", "filter", "input", 9, "kickstand", "br0", "udp", "{ 69, 67 }"),   // ours by content
		}
		fake := newFake(nil)
		fake.hook = nft.hook
		return fake, nft, dir
	}
	handles := func(nft *fakeNft) []int {
		var out []int
		for _, r := range nft.inserted {
			out = append(out, int(r["rule"].(map[string]any)["handle"].(float64)))
		}
		return out
	}

	fake, nft, dir := setup(t, 7) // recorded handle 7 now holds the user's rule
	if err := (&Host{Runner: fake}).Cleanup(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := handles(nft); !slices.Equal(got, []int{7, 8, 9}) {
		t.Errorf("handle 7 recorded: left %v, want all", got)
	}
	if rules := stateRules(t, dir); rules != nil {
		t.Errorf("state left: %+v", rules)
	}

	fake, nft, dir = setup(t, 0)
	if err := (&Host{Runner: fake}).Cleanup(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := handles(nft); !slices.Equal(got, []int{7, 8}) {
		t.Errorf("no handle recorded: left %v, want 7 8", got)
	}
}

// TestOpenFailureUndoes: when adding a rule fails, what was added is
// removed and nothing stays recorded.
func TestOpenFailureUndoes(t *testing.T) {
	dir := t.TempDir()
	fake := newFake(nil)
	nft := &fakeNft{t: t, base: "plain-drop", failOn: 2}
	fake.hook = nft.hook
	_, err := (&Host{Runner: fake}).Open(context.Background(), testTarget, dir)
	if err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Fatalf("err %v", err)
	}
	if len(nft.inserted) != 0 {
		t.Errorf("left: %v", nft.inserted)
	}
	if rules := stateRules(t, dir); rules != nil {
		t.Errorf("state left: %+v", rules)
	}
}

// TestOpenCloseIptables: one tagged ACCEPT per blocked port at the top of
// the built-in chain; removed with -D after -C finds it.
func TestOpenCloseIptables(t *testing.T) {
	dir := t.TempDir()
	fake := iptHost(readTestdata(t, "iptables/debian-ufw.save"))
	fake.hook = func(line string) (string, error, bool) {
		if strings.HasPrefix(line, "iptables -w ") {
			return "", nil, true
		}
		return "", nil, false
	}
	o, err := (&Host{Runner: fake}).Open(context.Background(), testTarget, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range fake.called() {
		if strings.HasPrefix(c, "iptables -w") {
			got = append(got, c)
		}
	}
	var want []string
	ports := []string{"udp --dport 67", "udp --dport 4011", "tcp --dport 80", "tcp --dport 21", "tcp --dport 30010:30019"}
	for _, p := range ports {
		want = append(want, "iptables -w -t filter -I INPUT 1 -i br0 -p "+p+" -m comment --comment kickstand -j ACCEPT")
	}
	for i := len(ports) - 1; i >= 0; i-- {
		for _, op := range []string{"-C", "-D"} {
			want = append(want, "iptables -w -t filter "+op+" INPUT -i br0 -p "+ports[i]+" -m comment --comment kickstand -j ACCEPT")
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOpenCloseFirewalld: runtime ports in the interface's zone, never
// --permanent; on close a port someone made permanent meanwhile stays.
func TestOpenCloseFirewalld(t *testing.T) {
	dir := t.TempDir()
	fake := firewalldHost(t, publicZone)
	fake.hook = func(line string) (string, error, bool) {
		switch {
		case strings.Contains(line, "--add-port="), strings.Contains(line, "--remove-port="):
			return "success\n", nil, true
		case line == "firewall-cmd --permanent --zone=public --query-port=21/tcp":
			return "yes\n", nil, true
		case strings.Contains(line, "--permanent --zone=public --query-port="):
			return "no\n", &ExitError{Code: 1}, true
		case strings.Contains(line, "--query-port="):
			return "yes\n", nil, true
		}
		return "", nil, false
	}
	o, err := (&Host{Runner: fake}).Open(context.Background(), testTarget, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range fake.called() {
		if strings.Contains(c, "-port=") {
			got = append(got, c)
		}
	}
	want := []string{
		"firewall-cmd --zone=public --add-port=67/udp",
		"firewall-cmd --zone=public --add-port=4011/udp",
		"firewall-cmd --zone=public --add-port=21/tcp",
		"firewall-cmd --zone=public --query-port=21/tcp",
		"firewall-cmd --permanent --zone=public --query-port=21/tcp",
		"firewall-cmd --zone=public --query-port=4011/udp",
		"firewall-cmd --permanent --zone=public --query-port=4011/udp",
		"firewall-cmd --zone=public --remove-port=4011/udp",
		"firewall-cmd --zone=public --query-port=67/udp",
		"firewall-cmd --permanent --zone=public --query-port=67/udp",
		"firewall-cmd --zone=public --remove-port=67/udp",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCleanupKeepsWhatFails: a rule that cannot be removed stays recorded
// for the next Cleanup, and the error says which.
func TestCleanupKeepsWhatFails(t *testing.T) {
	dir := t.TempDir()
	a := addedRule{Kind: "iptables", Tool: "iptables", Firewall: "iptables", Table: "filter", Chain: "INPUT",
		Interface: "br0", Proto: "udp", Ports: []Port{{Proto: "udp", First: 69}}}
	b := a
	b.Ports = []Port{{Proto: "udp", First: 67}}
	if err := writeState(dir, []addedRule{a, b}); err != nil {
		t.Fatal(err)
	}
	fake := newFake(nil)
	fake.hook = func(line string) (string, error, bool) {
		switch {
		case strings.Contains(line, "--dport 69") && strings.Contains(line, " -D "):
			return "", &ExitError{Code: 4, Stderr: "iptables: Resource temporarily unavailable."}, true
		case strings.HasPrefix(line, "iptables "):
			return "", nil, true
		}
		return "", nil, false
	}
	err := (&Host{Runner: fake}).Cleanup(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "--dport 69") {
		t.Fatalf("err %v", err)
	}
	if rules := stateRules(t, dir); len(rules) != 1 || rules[0].Ports[0].First != 69 {
		t.Errorf("state %+v", rules)
	}
}

func TestCleanupWithoutState(t *testing.T) {
	fake := newFake(nil)
	if err := (&Host{Runner: fake}).Cleanup(context.Background(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if len(fake.called()) != 0 {
		t.Errorf("calls %q", fake.called())
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Host{Runner: fake}).Cleanup(context.Background(), dir); err == nil {
		t.Error("a damaged state file: no error")
	}
}
