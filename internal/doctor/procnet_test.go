package doctor

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"kickstand/internal/config"
	"kickstand/internal/netif"
)

// littleEndian: /proc prints addresses in the host's byte order, and the
// testdata tables come from little-endian hosts.
func littleEndian(t *testing.T) {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	if b[0] != 1 {
		t.Skip("SKIPPED: testdata /proc tables are from a little-endian host")
	}
}

func TestParseHexAddrPort(t *testing.T) {
	littleEndian(t)
	for in, want := range map[string]string{
		"00000000:0043":                         "0.0.0.0:67",
		"0100007F:0035":                         "127.0.0.1:53",
		"0107D50A:0044":                         "10.213.7.1:68",
		"00000000000000000000000000000000:0045": "[::]:69",
		"00000000000000000000000001000000:0277": "[::1]:631",
		"0000000000000000FFFF00000107D50A:0050": "10.213.7.1:80", // v4-mapped
	} {
		got, err := parseHexAddrPort(in)
		if err != nil || got.String() != want {
			t.Errorf("parseHexAddrPort(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:", "0100007F:1FFFFF", "ZZ00007F:0035", "01007F:0035"} {
		if got, err := parseHexAddrPort(bad); err == nil {
			t.Errorf("parseHexAddrPort(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseProcNet(t *testing.T) {
	littleEndian(t)
	f, err := os.Open("testdata/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	socks, err := parseProcNet(f, "udp")
	if err != nil {
		t.Fatal(err)
	}
	want := []socket{
		{"udp", netip.MustParseAddrPort("0.0.0.0:67"), 7, 0, 31337},
		{"udp", netip.MustParseAddrPort("0.0.0.0:4011"), 7, 0, 31338},
		{"udp", netip.MustParseAddrPort("127.0.0.1:53"), 7, 101, 20441},
		{"udp", netip.MustParseAddrPort("10.213.7.1:68"), 1, 0, 20987},
	}
	if !slices.Equal(socks, want) {
		t.Errorf("got %+v\nwant %+v", socks, want)
	}
	if _, err := parseProcNet(strings.NewReader("header\n 0: 00000000:0043 00000000:0000 07\n"), "udp"); err == nil {
		t.Error("a short line parsed without error")
	}
}

func TestParseDefaultRoute(t *testing.T) {
	f, err := os.Open("testdata/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if name, ok := netif.ParseDefaultRoute(f); !ok || name != "eth0" {
		t.Errorf("default route interface %q, %v; want eth0", name, ok)
	}
	if _, ok := netif.ParseDefaultRoute(strings.NewReader("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nbr0\t0007D50A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n")); ok {
		t.Error("found a default route in a table without one")
	}
}

// fakeProc builds a /proc with the testdata socket tables and processes
// holding some of the sockets (fd links, comm, cmdline).
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "net"), os.DirFS("testdata/proc/net")); err != nil {
		t.Fatal(err)
	}
	procs := []struct {
		pid     int
		comm    string
		args    []string
		sockets []int
	}{
		{1, "systemd", []string{"/sbin/init"}, []int{50001}},          // tftp.socket, [::]:69
		{812, "dnsmasq", []string{"/usr/sbin/dnsmasq"}, []int{31337}}, // 0.0.0.0:67
		{900, "nginx", []string{"nginx: master process"}, []int{40001}},
		{901, "nginx", []string{"nginx: worker process"}, []int{40001}},
		{4242, "kickstand", []string{"/usr/bin/kickstand", "serve", "--iso", "rocky.iso"}, []int{31338, 60001}},
		{5000, "bash", []string{"-bash"}, nil},
	}
	for _, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(p.pid))
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "comm"), []byte(p.comm+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(p.args, "\x00")+"\x00"), 0o644)
		os.Symlink("/dev/null", filepath.Join(dir, "fd", "0"))
		for i, inode := range p.sockets {
			if err := os.Symlink("socket:["+strconv.Itoa(inode)+"]", filepath.Join(dir, "fd", strconv.Itoa(3+i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestPortChecks(t *testing.T) {
	littleEndian(t)
	d := &Doctor{Config: config.Default(), ProcRoot: fakeProc(t)}
	got := d.checkPorts(Ports(d.Config))
	want := []Check{
		{"port", Fail, "67/udp (DHCP) held by dnsmasq (pid 812): another DHCP server on this host answers the same clients; stop it, or keep it and run kickstand with --dhcp off (point its next-server and filename at kickstand)"},
		{"port", Pass, "4011/udp (PXE boot server) in use by kickstand serve (pid 4242)"},
		{"port", Fail, "69/udp (TFTP) held by systemd (pid 1): stop it, or move kickstand's TFTP with --tftp-port"},
		{"port", Fail, "80/tcp (HTTP) held by nginx (pid 900, 901): stop it, or move kickstand's HTTP with --http-port"},
		{"port", Fail, "21/tcp (FTP) held by a process of uid 0 that this user cannot see (run kickstand doctor as root to name it): stop it, or move kickstand's FTP with --ftp-port (0 turns FTP off)"},
		{"port", Pass, "30000-30019/tcp (FTP passive) in use by kickstand serve (pid 4242)"},
	}
	if !slices.Equal(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Check
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("check %d:\n got %+v\nwant %+v", i, g, w)
			}
		}
	}
}

func TestPortsFollowConfig(t *testing.T) {
	cfg := config.Default()
	cfg.DHCP, cfg.FTPPort, cfg.TFTPPort, cfg.HTTPPort = "off", 0, 6969, 8080
	if got := PortList(Ports(cfg)); got != "6969/udp, 8080/tcp" {
		t.Errorf("ports with --dhcp off --ftp-port 0: %s", got)
	}
	if got := PortList(Ports(config.Default())); got != "67/udp, 4011/udp, 69/udp, 80/tcp, 21/tcp, 30000-30019/tcp" {
		t.Errorf("default ports: %s", got)
	}
}

func TestKickstandServe(t *testing.T) {
	for _, tc := range []struct {
		p    Process
		want bool
	}{
		{Process{Name: "kickstand", Args: []string{"/usr/bin/kickstand", "serve"}}, true},
		{Process{Name: "ks", Args: []string{"./ks", "serve"}, SameBinary: true}, true},
		{Process{Name: "kickstand", Args: []string{"kickstand", "doctor"}}, false},
		{Process{Name: "nginx", Args: []string{"nginx", "serve"}}, false},
	} {
		if got := tc.p.KickstandServe(); got != tc.want {
			t.Errorf("%+v: KickstandServe %v, want %v", tc.p, got, tc.want)
		}
	}
}
