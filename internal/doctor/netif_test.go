package doctor

import (
	"net/netip"
	"strings"
	"testing"
)

func TestMTUCheck(t *testing.T) {
	if c := mtuCheck("br0", 1500); c.Status != Pass || !strings.Contains(c.Text, "1468") {
		t.Errorf("MTU 1500: %+v", c)
	}
	if c := mtuCheck("br0", 9000); c.Status != Pass {
		t.Errorf("MTU 9000: %+v", c)
	}
	c := mtuCheck("vxlan0", 1450)
	if c.Status != Warn || !strings.Contains(c.Text, "over 1418 bytes") || !strings.Contains(c.Text, "cap TFTP blocks at 1418") {
		t.Errorf("MTU 1450: %+v", c)
	}
}

func TestServerIPCheck(t *testing.T) {
	local := map[netip.Addr]string{netip.MustParseAddr("10.0.0.1"): "br0", netip.MustParseAddr("192.168.1.5"): "eth0"}
	p := netip.MustParsePrefix("10.0.0.1/24")
	for _, tc := range []struct {
		serverIP string
		prefix   netip.Prefix
		status   Status
		text     string
	}{
		{"", p, Pass, "server IP 10.0.0.1 (br0's address)"},
		{"", netip.Prefix{}, Fail, "no server IP"},
		{"10.0.0.1", p, Pass, "is br0's"},
		{"192.168.1.5", p, Warn, "an address of eth0, not of br0"},
		{"10.0.0.99", p, Warn, "not an address of this host"},
		{"fe80::1", p, Fail, "not an IPv4 address"},
	} {
		c := serverIPCheck(tc.serverIP, "br0", tc.prefix, local)
		if c.Status != tc.status || !strings.Contains(c.Text, tc.text) {
			t.Errorf("server IP %q: %+v, want %s with %q", tc.serverIP, c, tc.status, tc.text)
		}
	}
}
