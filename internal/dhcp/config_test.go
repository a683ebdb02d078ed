package dhcp

import (
	"net/netip"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "192.168.1.100-192.168.1.200", want: "192.168.1.100-192.168.1.200"},
		{in: " 10.0.0.1 - 10.0.0.1 ", want: "10.0.0.1-10.0.0.1"},
		{in: "10.0.0.0-10.0.255.255", want: "10.0.0.0-10.0.255.255"}, // exactly 65536
		{in: "10.0.0.5-10.0.0.2", wantErr: "dhcp: range 10.0.0.5-10.0.0.2 is reversed"},
		{in: "10.0.0.0-10.1.0.0", wantErr: "dhcp: range 10.0.0.0-10.1.0.0 has 65537 addresses; at most 65536 are allowed"},
		{in: "10.0.0.5", wantErr: `dhcp: range "10.0.0.5" is not of the form FIRST-LAST (e.g. 192.168.1.100-192.168.1.200)`},
		{in: "fe80::1-fe80::2", wantErr: `dhcp: range "fe80::1-fe80::2": "fe80::1" is not an IPv4 address`},
		{in: "10.0.0.1-::ffff:10.0.0.9", wantErr: `dhcp: range "10.0.0.1-::ffff:10.0.0.9": "::ffff:10.0.0.9" is not an IPv4 address`},
		{in: "10.0.0.1-host", wantErr: `dhcp: range "10.0.0.1-host": "host" is not an IPv4 address`},
		{in: "", wantErr: `dhcp: range "" is not of the form FIRST-LAST (e.g. 192.168.1.100-192.168.1.200)`},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseRange(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tt.in, err)
		} else if got := rangeString(r); got != tt.want {
			t.Errorf("ParseRange(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	a := netip.MustParseAddr
	good := func() *Server {
		return &Server{
			Mode: ModeFull, ServerIP: a("192.168.1.1"),
			Range:  [2]netip.Addr{a("192.168.1.100"), a("192.168.1.200")},
			Subnet: netip.MustParsePrefix("192.168.1.0/24"), Router: a("192.168.1.254"),
			Leases: newMemStore(),
		}
	}
	tests := []struct {
		name    string
		change  func(s *Server)
		wantErr string
	}{
		{"full mode ok", func(*Server) {}, ""},
		{"subnet given as interface address", func(s *Server) { s.Subnet = netip.MustParsePrefix("192.168.1.1/24") }, ""},
		{"proxy needs only the server address", func(s *Server) { *s = Server{ServerIP: a("10.0.0.1")} }, ""},
		{"off needs nothing", func(s *Server) { *s = Server{Mode: ModeOff} }, ""},
		{"unknown mode", func(s *Server) { s.Mode = "relay" }, `dhcp: unknown mode "relay"; use proxy, full or off`},
		{"no server address", func(s *Server) { s.ServerIP = netip.Addr{} },
			"dhcp: the server address is not set; give this host's IPv4 address on the boot network"},
		{"IPv6 server address", func(s *Server) { s.ServerIP = a("fe80::1") }, "dhcp: server address fe80::1 is not an IPv4 address"},
		{"bad PXE port", func(s *Server) { s.PXEPort = 67 }, "dhcp: PXE port 67 is not usable; leave it at 4011"},
		{"no subnet", func(s *Server) { s.Subnet = netip.Prefix{} },
			"dhcp: full mode needs the interface's IPv4 subnet (e.g. 192.168.1.0/24)"},
		{"tiny subnet", func(s *Server) { s.Subnet = netip.MustParsePrefix("192.168.1.0/31") },
			"dhcp: subnet 192.168.1.0/31 is too small for a DHCP pool; use /30 or larger"},
		{"server outside subnet", func(s *Server) { s.ServerIP = a("10.0.0.1") },
			"dhcp: server address 10.0.0.1 is not inside subnet 192.168.1.0/24"},
		{"no range", func(s *Server) { s.Range = [2]netip.Addr{} },
			"dhcp: full mode needs an address range (e.g. 192.168.1.100-192.168.1.200)"},
		{"reversed range", func(s *Server) { s.Range = [2]netip.Addr{a("192.168.1.5"), a("192.168.1.2")} },
			"dhcp: range 192.168.1.5-192.168.1.2 is reversed"},
		{"range outside subnet", func(s *Server) { s.Range = [2]netip.Addr{a("192.168.2.5"), a("192.168.2.9")} },
			"dhcp: range 192.168.2.5-192.168.2.9 is not inside subnet 192.168.1.0/24"},
		{"range with broadcast", func(s *Server) { s.Range = [2]netip.Addr{a("192.168.1.100"), a("192.168.1.255")} },
			"dhcp: range 192.168.1.100-192.168.1.255 includes the network or broadcast address of 192.168.1.0/24; start at 192.168.1.1 at the lowest and end at 192.168.1.254 at the highest"},
		{"range with server", func(s *Server) { s.ServerIP = a("192.168.1.150") },
			"dhcp: range 192.168.1.100-192.168.1.200 contains this server's own address 192.168.1.150; move the range"},
		{"router outside subnet", func(s *Server) { s.Router = a("10.0.0.1") },
			"dhcp: router 10.0.0.1 is not inside subnet 192.168.1.0/24"},
		{"router in range", func(s *Server) { s.Router = a("192.168.1.120") },
			"dhcp: range 192.168.1.100-192.168.1.200 contains the router 192.168.1.120; move the range or the router"},
		{"IPv6 DNS", func(s *Server) { s.DNS = []netip.Addr{a("2001:db8::53")} },
			"dhcp: DNS server 2001:db8::53 is not an IPv4 address"},
		{"negative lease", func(s *Server) { s.LeaseTime = -time.Minute }, "dhcp: lease time -1m0s is negative"},
		{"no lease store", func(s *Server) { s.Leases = nil },
			"dhcp: full mode needs a lease store (internal error: Server.Leases is nil)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.change(s)
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Validate error = %v\nwant %s", err, tt.wantErr)
			}
		})
	}
}

func TestLastAddr(t *testing.T) {
	tests := map[string]string{
		"192.168.1.0/24": "192.168.1.255",
		"10.0.0.0/8":     "10.255.255.255",
		"10.1.2.3/30":    "10.1.2.3",
		"0.0.0.0/0":      "255.255.255.255",
	}
	for p, want := range tests {
		if got := lastAddr(netip.MustParsePrefix(p)).String(); got != want {
			t.Errorf("lastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}
