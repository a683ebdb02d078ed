package firewall

import (
	"os"
	"path/filepath"
	"testing"
)

func seedFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// fuzzPackets are the packets every fuzzed rule set is judged for.
func fuzzPackets() []packet {
	base := packetBase(testTarget)
	var out []packet
	for _, port := range kickstandPorts {
		p := base
		p.dport, p.l4proto = uint64(port.First), protoUDP
		if port.Proto == "tcp" {
			p.l4proto = protoTCP
		}
		if port.Broadcast {
			p.saddr, p.daddr, p.sport, p.daddrType, p.broadcast = exact(0), exact(0xffffffff), exact(68), rtnBroadcast, true
		}
		out = append(out, p)
	}
	return out
}

// FuzzNftRuleset: any JSON is parsed, compiled and simulated without a
// panic and within the walk's bounds.
func FuzzNftRuleset(f *testing.F) {
	seedFiles(f, "nft/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := parseNftRuleset(data)
		if err != nil {
			return
		}
		for _, bc := range rs.baseChains("br0", nil) {
			for _, p := range fuzzPackets() {
				bc.rules.judge(bc.chain, &p)
			}
		}
	})
}

// FuzzIptablesSave: any text is parsed, compiled and simulated without a panic.
func FuzzIptablesSave(f *testing.F) {
	seedFiles(f, "iptables/*.save")
	f.Fuzz(func(t *testing.T, data []byte) {
		save, err := parseIptablesSave(data)
		if err != nil {
			return
		}
		for _, bc := range save.baseChains("iptables", "iptables", nil) {
			for _, p := range fuzzPackets() {
				bc.rules.judge(bc.chain, &p)
			}
		}
	})
}

// FuzzFirewallCmd: any firewall-cmd output for a zone is read without a panic.
func FuzzFirewallCmd(f *testing.F) {
	f.Add([]byte(publicZone))
	f.Add([]byte(service("tftp", "69/udp")))
	f.Fuzz(func(t *testing.T, data []byte) {
		zone := parseZone("public", string(data))
		zone.serviceInfo["x"] = parseService(string(data))
		zone.services = append(zone.services, "x")
		zone.sourceZones = parseSourceZones(string(data), "public")
		for _, p := range fuzzPackets() {
			zone.judge(&p)
		}
	})
}
