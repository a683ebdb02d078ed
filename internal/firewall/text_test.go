package firewall

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files (and, as root, the captured rule sets)")

// TestWarningsGolden: the warning lines serve and doctor print, for every
// captured rule set, compared with testdata/warnings.golden.
func TestWarningsGolden(t *testing.T) {
	var sb strings.Builder
	hosts := []struct {
		name string
		fake *fakeRunner
	}{
		{"firewalld running (zone public)", firewalldHost(t, publicZone)},
	}
	for _, f := range []string{"rhel9-firewalld", "firewalld-tftp", "plain-drop", "sets-ranges", "two-tables", "undecidable", "dhcp-broadcast"} {
		hosts = append(hosts, struct {
			name string
			fake *fakeRunner
		}{"nft " + f, nftHost(t, f)})
	}
	for _, f := range []string{"rhel7-iptables-services", "debian-ufw", "rhel7-firewalld", "debian-raw-drop"} {
		hosts = append(hosts, struct {
			name string
			fake *fakeRunner
		}{"iptables " + f, iptHost(readTestdata(t, "iptables/"+f+".save"))})
	}
	for _, h := range hosts {
		rep, err := (&Host{Runner: h.fake}).Check(context.Background(), testTarget)
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString("== " + h.name + "\n")
		for _, w := range rep.Warnings("run kickstand serve --open-firewall") {
			sb.WriteString(w + "\n")
		}
	}
	golden := filepath.Join("testdata", "warnings.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if sb.String() != string(want) {
		t.Errorf("warnings differ from %s (go test -update rewrites it):\n%s", golden, sb.String())
	}
}

func TestWarningForms(t *testing.T) {
	nft := Block{Firewall: "nftables", Verdict: Blocked, Action: "policy drop", Family: "inet", Table: "filter", Chain: "input",
		Fix: `nft insert rule inet filter input iifname "br0" udp dport 69 accept`, canOpen: true}
	fwd := Block{Firewall: "firewalld", Verdict: Blocked, Action: "reject", Reason: "no port, service or rich rule of the zone allows it", Zone: "public",
		Fix: "firewall-cmd --zone=public --add-port=69/udp", FixPermanent: "firewall-cmd --permanent --zone=public --add-port=69/udp", canOpen: true}
	tftp := Port{Proto: "udp", First: 69, Service: "TFTP"}
	tests := []struct {
		pr   PortResult
		want string
	}{
		{PortResult{Port: tftp, Verdict: Blocked, Blocks: []Block{nft}},
			`firewall: nftables drops 69/udp (TFTP) on br0 (table inet filter, chain input: policy drop); open it: nft insert rule inet filter input iifname "br0" udp dport 69 accept — or run kickstand serve --open-firewall`},
		{PortResult{Port: tftp, Verdict: Blocked, Blocks: []Block{fwd, nft}},
			`firewall: 69/udp (TFTP) on br0 is stopped by 2 firewalls: firewalld rejects it (zone public: no port, service or rich rule of the zone allows it); nftables drops it (table inet filter, chain input: policy drop); open it: firewall-cmd --zone=public --add-port=69/udp, and to keep it: firewall-cmd --permanent --zone=public --add-port=69/udp && nft insert rule inet filter input iifname "br0" udp dport 69 accept — or run kickstand serve --open-firewall`},
	}
	for _, tt := range tests {
		if got := warning(tt.pr, "br0", "run kickstand serve --open-firewall"); got != tt.want {
			t.Errorf("got\n%s\nwant\n%s", got, tt.want)
		}
	}
}
