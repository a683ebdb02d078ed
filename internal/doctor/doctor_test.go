package doctor

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"kickstand/internal/config"
)

// The firewall seam gets what kickstand serves and where; its checks are
// reported in their place, and a FAIL among them fails the doctor.
func TestFirewallSeam(t *testing.T) {
	cfg := config.Default()
	cfg.Interface, cfg.DataDir = "lo", t.TempDir()
	var got Served
	d := &Doctor{Config: cfg, DHCPWait: -1, Firewall: func(_ context.Context, s Served) []Check {
		got = s
		return []Check{{Name: "firewall", Status: Fail, Text: "69/udp blocked by nftables inet filter input (policy drop): nft add rule inet filter input udp dport 69 accept"}}
	}}
	checks := d.Run(context.Background())
	if got.Interface != "lo" || got.ServerIP != netip.MustParseAddr("127.0.0.1") || got.Subnet != netip.MustParsePrefix("127.0.0.0/8") ||
		PortList(got.Ports) != "67/udp, 4011/udp, 69/udp, 80/tcp, 21/tcp, 30000-30019/tcp" || !got.Ports[0].Broadcast || got.Ports[1].Broadcast {
		t.Errorf("the seam got %+v", got)
	}
	if !Failed(checks) {
		t.Error("a failed firewall check did not fail the doctor")
	}
	var names []string
	for _, c := range checks {
		if len(names) == 0 || names[len(names)-1] != c.Name {
			names = append(names, c.Name)
		}
	}
	if strings.Join(names, " ") != "interface port firewall dhcp loader distro data-dir selinux" {
		t.Errorf("checks in the order %v", names)
	}
	if n := Count(checks); n[Pass]+n[Warn]+n[Fail] != len(checks) {
		t.Errorf("counts %v for %d checks", n, len(checks))
	}
	d.Firewall = nil
	for _, c := range d.Run(context.Background()) {
		if c.Name == "firewall" && (c.Status != Warn || !strings.Contains(c.Text, "not checked")) {
			t.Errorf("no seam: %+v", c)
		}
	}
}

func TestWriteChecks(t *testing.T) {
	var b strings.Builder
	WriteChecks(&b, []Check{{"port", Pass, "69/udp (TFTP) free"}, {"dhcp", Fail, "two DHCP servers"}, {"selinux", Warn, "x"}})
	want := "PASS  port: 69/udp (TFTP) free\nFAIL  dhcp: two DHCP servers\nWARN  selinux: x\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
