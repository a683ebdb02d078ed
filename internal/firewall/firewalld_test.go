package firewall

import (
	"context"
	"strings"
	"testing"
)

const publicZone = `public (active)
  target: default
  icmp-block-inversion: no
  interfaces: br0
  sources: 
  services: cockpit dhcpv6-client ssh tftp
  ports: 30000-30019/tcp
  protocols: 
  forward: yes
  masquerade: no
  forward-ports: 
  source-ports: 
  icmp-blocks: 
  rich rules: 
	rule family="ipv4" source address="192.0.2.0/24" port port="80" protocol="tcp" accept
	rule family="ipv4" source address="198.51.100.0/24" port port="21" protocol="tcp" accept
`

func service(name, ports string) string {
	return name + "\n  ports: " + ports + "\n  protocols: \n  source-ports: \n  modules: \n  destination: \n  includes: \n  helpers: \n"
}

// firewalldHost is a RHEL 9 host: firewalld running, br0 in zone public,
// its nftables table present (and not simulated while firewalld runs).
func firewalldHost(t *testing.T, zone string) *fakeRunner {
	fake := newFake(map[string]string{
		"firewall-cmd --state":                      "running\n",
		"firewall-cmd --get-zone-of-interface=br0":  "public\n",
		"firewall-cmd --zone=public --list-all":     zone,
		"firewall-cmd --info-service=ssh":           service("ssh", "22/tcp"),
		"firewall-cmd --info-service=cockpit":       service("cockpit", "9090/tcp"),
		"firewall-cmd --info-service=dhcpv6-client": service("dhcpv6-client", "546/udp"),
		"firewall-cmd --info-service=tftp":          service("tftp", "69/udp"),
		"firewall-cmd --info-service=http":          service("http", "80/tcp"),
		"firewall-cmd --get-active-zones":           "public\n  interfaces: br0\n",
		"nft -j list ruleset":                       mergeNftJSON(t, "rhel9-firewalld"),
	})
	return fake
}

// TestFirewalld: ports, services and rich rules of the interface's zone;
// firewalld's own nftables table is not simulated while it runs.
func TestFirewalld(t *testing.T) {
	fake := firewalldHost(t, publicZone)
	rep, err := (&Host{Runner: fake}).Check(context.Background(), testTarget)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pr := range rep.Ports {
		got = append(got, summary(pr))
	}
	reject := "firewalld public reject"
	want := []string{
		"67/udp blocked: " + reject,
		"4011/udp blocked: " + reject,
		"69/udp allowed",            // service tftp
		"80/tcp allowed",            // rich rule for the clients' subnet
		"21/tcp blocked: " + reject, // rich rule for another subnet
		"30000-30019/tcp allowed",   // port range
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	b := rep.Ports[0].Blocks[0]
	if b.Fix != "firewall-cmd --zone=public --add-port=67/udp" || b.FixPermanent != "firewall-cmd --permanent --zone=public --add-port=67/udp" {
		t.Errorf("fix %q / %q", b.Fix, b.FixPermanent)
	}
	if fw := rep.Firewalls; len(fw) != 2 || fw[0].Detail != "running; br0 is in zone public (target default)" ||
		!strings.Contains(fw[1].Detail, "inet firewalld is firewalld's") || fw[1].Active {
		t.Errorf("firewalls %+v", fw)
	}
}

// TestFirewalldWithAnotherTable: with firewalld running, a drop in a
// table of someone else's still counts, after firewalld's verdict.
func TestFirewalldWithAnotherTable(t *testing.T) {
	fake := firewalldHost(t, publicZone)
	fake.outputs["nft -j list ruleset"] = fakeResult{out: mergeNftJSON(t, "rhel9-firewalld", "two-tables")}
	got := checkPort(t, fake, testTarget, udp4011)
	want := "4011/udp blocked: firewalld public reject | nftables ip extra input #4 reject"
	if got[0] != want {
		t.Errorf("got %q\nwant %q", got[0], want)
	}
}

func TestFirewalldZones(t *testing.T) {
	zone := func(target, extra string) string {
		return strings.Replace(strings.Replace(publicZone, "target: default", "target: "+target, 1),
			"  rich rules: \n", "  rich rules: \n"+extra, 1)
	}
	tests := []struct {
		name  string
		setup func(f *fakeRunner)
		port  Port
		want  string
	}{
		{"trusted zone", func(f *fakeRunner) {
			f.outputs["firewall-cmd --zone=public --list-all"] = fakeResult{out: zone("ACCEPT", "")}
		}, udp4011, "4011/udp allowed"},
		{"drop zone", func(f *fakeRunner) {
			f.outputs["firewall-cmd --zone=public --list-all"] = fakeResult{out: zone("DROP", "")}
		}, udp4011, "4011/udp blocked: firewalld public drop"},
		{"deny rich rule", func(f *fakeRunner) {
			f.outputs["firewall-cmd --zone=public --list-all"] = fakeResult{out: zone("default", "\trule family=\"ipv4\" service name=\"tftp\" reject\n")}
		}, udp69, `69/udp blocked: firewalld public reject`},
		{"rich rule for a part of the subnet", func(f *fakeRunner) {
			f.outputs["firewall-cmd --zone=public --list-all"] = fakeResult{out: strings.Replace(publicZone,
				`source address="192.0.2.0/24" port port="80" protocol="tcp"`, `source address="192.0.2.0/25" service name="http"`, 1)}
		}, tcp80, `80/tcp unknown: firewalld public cannot tell whether rich rule rule family="ipv4" source address="192.0.2.0/25" service name="http" accept matches`},
		{"forward port", func(f *fakeRunner) {
			f.outputs["firewall-cmd --zone=public --list-all"] = fakeResult{out: strings.Replace(publicZone, "  forward-ports: \n", "  forward-ports: \n\tport=69:proto=udp:toport=69:toaddr=192.0.2.9\n", 1)}
		}, udp69, "69/udp unknown: firewalld public a forward-port of the zone sends it elsewhere"},
		{"source zone", func(f *fakeRunner) {
			f.outputs["firewall-cmd --get-active-zones"] = fakeResult{out: "public\n  interfaces: br0\ntrusted\n  sources: 192.0.2.128/25\n"}
		}, udp4011, "4011/udp unknown: firewalld public zone trusted is bound to source 192.0.2.128/25, which may take the clients"},
		{"interface in no zone", func(f *fakeRunner) {
			f.fail("firewall-cmd --get-zone-of-interface=br0", 2, "Error: no zone")
			f.outputs["firewall-cmd --get-default-zone"] = fakeResult{out: "public\n"}
		}, udp69, "69/udp allowed"},
		{"not running", func(f *fakeRunner) {
			f.fail("firewall-cmd --state", 252, "not running")
		}, udp69, "69/udp blocked: nftables inet firewalld filter_INPUT #51 reject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := firewalldHost(t, publicZone)
			tt.setup(fake)
			if got := checkPort(t, fake, testTarget, tt.port); got[0] != tt.want {
				t.Errorf("got  %q\nwant %q", got[0], tt.want)
			}
		})
	}
}

// TestFirewalldIptablesBackend: firewalld on RHEL 7 keeps its rules in
// iptables; while it runs its answer stands for them.
func TestFirewalldIptablesBackend(t *testing.T) {
	fake := firewalldHost(t, publicZone)
	delete(fake.outputs, "nft -j list ruleset")
	fake.outputs["iptables-save"] = fakeResult{out: readTestdata(t, "iptables/rhel7-firewalld.save")}
	if got := checkPort(t, fake, testTarget, tcp80); got[0] != "80/tcp allowed" {
		t.Errorf("got %q", got)
	}
	if got := checkPort(t, fake, testTarget, udp4011); got[0] != "4011/udp blocked: firewalld public reject" {
		t.Errorf("got %q", got)
	}
}

func TestParseRichRule(t *testing.T) {
	rr := parseRichRule(`rule family="ipv4" source NOT address="10.0.0.0/8" port port="69" protocol="udp" log prefix="tftp " level="info" limit value="1/m" drop`)
	if rr.family != "ipv4" || rr.source == nil || !rr.source.not || rr.source.addr != "10.0.0.0/8" ||
		rr.element != "port" || rr.attrs["port"] != "69" || rr.attrs["protocol"] != "udp" || rr.action != "drop" {
		t.Errorf("%+v", rr)
	}
}
