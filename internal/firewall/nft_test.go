package firewall

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// kickstandPorts is what kickstand serves by default.
var kickstandPorts = []Port{
	{Proto: "udp", First: 67, Service: "DHCP", Broadcast: true},
	{Proto: "udp", First: 4011, Service: "proxyDHCP"},
	{Proto: "udp", First: 69, Service: "TFTP"},
	{Proto: "tcp", First: 80, Service: "HTTP"},
	{Proto: "tcp", First: 21, Service: "FTP"},
	{Proto: "tcp", First: 30000, Last: 30019, Service: "FTP passive"},
}

var testTarget = Target{
	Interface: "br0",
	ServerIP:  netip.MustParseAddr("192.0.2.1"),
	Subnet:    netip.MustParsePrefix("192.0.2.0/24"),
	Ports:     kickstandPorts,
}

// summary renders a port's result compactly for table tests:
// "69/udp blocked: nftables inet filter input #0 policy drop".
func summary(pr PortResult) string {
	s := pr.Port.String() + " " + pr.Verdict.String()
	for i, b := range pr.Blocks {
		sep := ": "
		if i > 0 {
			sep = " | "
		}
		where := b.Zone
		if where == "" {
			var parts []string
			for _, p := range []string{b.Family, b.Table, b.Chain} {
				if p != "" {
					parts = append(parts, p)
				}
			}
			where = strings.Join(parts, " ")
			if b.RuleChain != "" {
				where += " via " + b.RuleChain
			}
			where += fmt.Sprintf(" #%d", b.Handle+b.Rule)
		}
		s += sep + b.Firewall + " " + where + " " + b.Action
	}
	return s
}

// checkPort runs Check for one port on the fake host and returns the
// summaries of its results (a range may be split).
func checkPort(t *testing.T, fake *fakeRunner, target Target, port Port) []string {
	t.Helper()
	target.Ports = []Port{port}
	rep, err := (&Host{Runner: fake}).Check(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, pr := range rep.Ports {
		out = append(out, summary(pr))
	}
	return out
}

func nftHost(t *testing.T, files ...string) *fakeRunner {
	t.Helper()
	return newFake(map[string]string{"nft -j list ruleset": mergeNftJSON(t, files...)})
}

// mergeNftJSON joins the objects of several captured rule sets, as if
// their tables were loaded together.
func mergeNftJSON(t *testing.T, files ...string) string {
	t.Helper()
	var all []json.RawMessage
	for _, f := range files {
		var doc struct {
			Nftables []json.RawMessage `json:"nftables"`
		}
		if err := json.Unmarshal([]byte(readTestdata(t, "nft/"+f+".json")), &doc); err != nil {
			t.Fatal(err)
		}
		all = append(all, doc.Nftables...)
	}
	out, err := json.Marshal(map[string]any{"nftables": all})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

var (
	udp67      = Port{Proto: "udp", First: 67, Broadcast: true}
	udp69      = Port{Proto: "udp", First: 69}
	udp4011    = Port{Proto: "udp", First: 4011}
	tcp21      = Port{Proto: "tcp", First: 21}
	tcp22      = Port{Proto: "tcp", First: 22}
	tcp80      = Port{Proto: "tcp", First: 80}
	tcpPassive = Port{Proto: "tcp", First: 30000, Last: 30019}
)

// TestNftSimulation runs packets through captured `nft -j list ruleset`
// outputs (testdata/nft/*.nft loaded with nft 1.0.6, see
// TestTestdataCaptures) and checks the verdict and the rule named.
func TestNftSimulation(t *testing.T) {
	tests := []struct {
		file string
		port Port
		want []string
	}{
		// firewalld's rule set (RHEL 9) as nftables sees it, firewalld not running.
		{"rhel9-firewalld", udp69, []string{"69/udp blocked: nftables inet firewalld filter_INPUT #51 reject"}},
		{"rhel9-firewalld", tcp22, []string{"22/tcp allowed"}},
		{"rhel9-firewalld", udp67, []string{"67/udp blocked: nftables inet firewalld filter_INPUT #51 reject"}},
		// The tftp service in the zone of br0; another interface's zone accepts all.
		{"firewalld-tftp", udp69, []string{"69/udp allowed"}},
		{"firewalld-tftp", tcp80, []string{"80/tcp blocked: nftables inet firewalld filter_INPUT #12 reject"}},
		// policy drop; established; ssh.
		{"plain-drop", tcp22, []string{"22/tcp allowed"}},
		{"plain-drop", udp69, []string{"69/udp blocked: nftables inet filter input #0 policy drop"}},
		{"plain-drop", tcpPassive, []string{"30000-30019/tcp blocked: nftables inet filter input #0 policy drop"}},
		// Named sets, intervals, a verdict map, jump, goto and return.
		{"sets-ranges", udp67, []string{"67/udp allowed"}},
		{"sets-ranges", udp69, []string{"69/udp allowed"}},
		{"sets-ranges", tcp80, []string{"80/tcp allowed"}},
		{"sets-ranges", tcp21, []string{"21/tcp allowed"}}, // vmap jump to ftp_in: saddr in 192.0.2.0/24
		{"sets-ranges", udp4011, []string{"4011/udp blocked: nftables inet filter input via lan_in #17 drop"}},
		{"sets-ranges", Port{Proto: "udp", First: 5005}, []string{"5005/udp blocked: nftables inet filter input via blackhole #22 drop"}},
		{"sets-ranges", tcpPassive, []string{
			"30000-30009/tcp allowed",
			"30010-30019/tcp blocked: nftables inet filter input #0 policy drop",
		}},
		// An accept in inet filter does not stop ip extra's reject.
		{"two-tables", udp69, []string{"69/udp blocked: nftables ip extra input #4 reject"}},
		{"two-tables", tcp21, []string{"21/tcp blocked: nftables ip extra pre #5 drop"}},
		{"two-tables", tcp80, []string{"80/tcp allowed"}},
		// A mark decides: unknown, and the rule is named; both ways accept: allowed.
		{"undecidable", tcp80, []string{"80/tcp unknown: nftables inet filter input #2 cannot tell whether meta mark 1 matches"}},
		{"undecidable", udp4011, []string{"4011/udp allowed"}},
		// DHCP clients send from 0.0.0.0 to 255.255.255.255: "fib daddr type
		// local ip saddr 192.0.2.0/24" lets TFTP in, not DHCP.
		{"dhcp-broadcast", udp67, []string{"67/udp blocked: nftables inet filter input #0 policy drop"}},
		{"dhcp-broadcast", udp69, []string{"69/udp allowed"}},
		{"dhcp-broadcast", udp4011, []string{"4011/udp allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.port.String(), func(t *testing.T) {
			got := checkPort(t, nftHost(t, tt.file), testTarget, tt.port)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// TestNftIngressDevice: nft 1.0.6 does not print an ingress chain's device
// in JSON; Check asks `nft list chain` for it. The chain of br0 drops TFTP;
// the drop-all chain of another device does not matter. Without the
// device, the verdict is unknown rather than a guess.
func TestNftIngressDevice(t *testing.T) {
	fake := nftHost(t, "ingress")
	fake.outputs["nft list chain netdev edge br0_in"] = fakeResult{out: "table netdev edge {\n\tchain br0_in {\n\t\ttype filter hook ingress device \"br0\" priority -500; policy accept;\n\t\tudp dport 69 drop\n\t}\n}\n"}
	fake.outputs["nft list chain netdev edge other_in"] = fakeResult{out: "table netdev edge {\n\tchain other_in {\n\t\ttype filter hook ingress devices = { \"dummy1\", \"dummy2\" } priority -500; policy drop;\n\t}\n}\n"}
	if got := checkPort(t, fake, testTarget, udp69); got[0] != "69/udp blocked: nftables netdev edge br0_in #3 drop" {
		t.Errorf("got %q", got)
	}
	if got := checkPort(t, fake, testTarget, tcp80); got[0] != "80/tcp allowed" {
		t.Errorf("got %q", got)
	}

	blind := nftHost(t, "ingress") // nft list chain fails: devices unknown
	got := checkPort(t, blind, testTarget, tcp80)
	if !strings.HasPrefix(got[0], "80/tcp unknown: nftables netdev edge other_in #0 policy drop (an ingress chain of a device") {
		t.Errorf("got %q", got)
	}
}

// TestNftSkipsIptablesNftTables: tables iptables-nft made are simulated from
// iptables-save (whose rules nft shows as opaque xt expressions), once.
func TestNftSkipsIptablesNftTables(t *testing.T) {
	fake := nftHost(t, "iptables-nft")
	fake.outputs["iptables-save"] = fakeResult{out: readTestdata(t, "iptables/debian-raw-drop.save")}
	rep, err := (&Host{Runner: fake}).Check(context.Background(), testTarget)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pr := range rep.Ports {
		got = append(got, summary(pr))
	}
	want := []string{
		"67/udp allowed", "4011/udp allowed",
		"69/udp blocked: iptables raw PREROUTING #1 DROP",
		"80/tcp allowed", "21/tcp allowed", "30000-30019/tcp allowed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	var nft Firewall
	for _, fw := range rep.Firewalls {
		if fw.Name == "nftables" {
			nft = fw
		}
	}
	if nft.Active || !strings.Contains(nft.Detail, "ip raw is iptables-nft's") {
		t.Errorf("nftables entry %+v", nft)
	}
}

// TestNftWithoutInterfaceOrSubnet: with every interface served and no
// subnet known, interface and source matches cannot be decided.
func TestNftWithoutInterfaceOrSubnet(t *testing.T) {
	target := Target{Subnet: netip.Prefix{}, ServerIP: netip.MustParseAddr("192.0.2.1")}
	got := checkPort(t, nftHost(t, "sets-ranges"), target, udp69)
	if got[0] != "69/udp unknown: nftables inet filter input #10 cannot tell whether meta iifname lo matches" {
		t.Errorf("got %q", got)
	}
}

// TestNftLargeSet: a blocklist of 50,000 addresses (fail2ban, crowdsec)
// is looked up, not scanned; a client subnet half in it is Unknown.
func TestNftLargeSet(t *testing.T) {
	elems := make([]string, 0, 50001)
	for i := range 50000 {
		elems = append(elems, fmt.Sprintf(`"10.%d.%d.1"`, i/256, i%256))
	}
	ruleset := func(extra string) string {
		return `{"nftables":[{"table":{"family":"inet","name":"guard"}},` +
			`{"set":{"family":"inet","table":"guard","name":"blocklist","type":"ipv4_addr","flags":["interval"],"elem":[` + strings.Join(elems, ",") + extra + `]}},` +
			`{"chain":{"family":"inet","table":"guard","name":"input","type":"filter","hook":"input","prio":-10,"policy":"accept"}},` +
			`{"rule":{"family":"inet","table":"guard","chain":"input","handle":3,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@blocklist"}},{"drop":null}]}}]}`
	}
	start := time.Now()
	got := checkPort(t, newFake(map[string]string{"nft -j list ruleset": ruleset("")}), testTarget, tcpPassive)
	t.Logf("50,000 elements, 20 ports: %v", time.Since(start))
	if got[0] != "30000-30019/tcp allowed" {
		t.Errorf("got %q", got)
	}
	half := `,{"prefix":{"addr":"192.0.2.0","len":25}}`
	got = checkPort(t, newFake(map[string]string{"nft -j list ruleset": ruleset(half)}), testTarget, udp69)
	if got[0] != "69/udp unknown: nftables inet guard input #3 cannot tell whether ip saddr @blocklist matches" {
		t.Errorf("got %q", got)
	}
}

func TestSpanSet(t *testing.T) {
	set := newSpanSet([]span{{30, 40}, {10, 20}, {21, 25}, {100, 100}})
	if !slices.Equal(set, spanSet{{10, 25}, {30, 40}, {100, 100}}) {
		t.Fatalf("merged %v", set)
	}
	for _, tt := range []struct {
		s    span
		want tri
	}{
		{span{10, 25}, yes}, {span{12, 12}, yes}, {span{100, 100}, yes},
		{span{0, 9}, no}, {span{26, 29}, no}, {span{41, 99}, no}, {span{101, 200}, no},
		{span{20, 30}, maybe}, {span{5, 10}, maybe}, {span{99, 101}, maybe},
	} {
		if got := set.cover(tt.s); got != tt.want {
			t.Errorf("cover %v = %v, want %v", tt.s, got, tt.want)
		}
	}
}
