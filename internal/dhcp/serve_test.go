package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// listenLoopback opens a server conn on 127.0.0.1 port 0 the way Listen
// does, minus the privileged socket options.
func listenLoopback(t *testing.T) (*Conn, int) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	conn, err := NewConn(pc)
	if err != nil {
		t.Fatal(err)
	}
	return conn, pc.LocalAddr().(*net.UDPAddr).Port
}

func TestServeAnswersBootServerRequest(t *testing.T) {
	conn, port := listenLoopback(t)
	s, ev := proxyServer(t)
	s.ServerIP = serverIP
	s.PXEPort = port // this conn plays port 4011

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()

	client, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// Noise first: the server must drop it and carry on.
	if _, err := client.WriteTo([]byte("not dhcp"), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	req := newPacket(dhcpv4.MessageTypeRequest, macA, pxe(7), withCiaddr("127.0.0.1"))
	if _, err := client.WriteTo(req.ToBytes(), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if err := client.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, from, err := client.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no reply at the client's port: %v", err)
	}
	reply, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	if reply.MessageType() != dhcpv4.MessageTypeAck || reply.TransactionID != req.TransactionID ||
		reply.BootFileName != "pxelinux.0" {
		t.Errorf("reply = %s", reply.Summary())
	}
	if from.(*net.UDPAddr).Port != port {
		t.Errorf("reply came from port %d, want the server's %d (iPXE checks this)", from.(*net.UDPAddr).Port, port)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if k := ev.kinds(); len(k) != 1 || k[0] != "proxy-ack" {
		t.Errorf("events = %v", k)
	}
}

func TestServeOffReturnsAtOnce(t *testing.T) {
	conn, _ := listenLoopback(t)
	s := &Server{Mode: ModeOff}
	if err := s.Serve(context.Background(), conn); err != nil {
		t.Errorf("Serve in off mode = %v", err)
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	conn, _ := listenLoopback(t)
	s := &Server{Mode: ModeFull, ServerIP: serverIP}
	err := s.Serve(context.Background(), conn)
	if err == nil {
		t.Fatal("Serve accepted a full-mode server without subnet")
	}
}

func TestServeFullFailsWhenLeasesCannotLoad(t *testing.T) {
	conn, _ := listenLoopback(t)
	s, _, _ := fullServer(t, newMemStore())
	s.Leases = failingStore{}
	if err := s.Serve(context.Background(), conn); !errors.Is(err, errStoreDown) {
		t.Errorf("Serve = %v, want the store's error", err)
	}
}

type failingStore struct{}

func (failingStore) Leases(context.Context) ([]Lease, error) { return nil, errStoreDown }
func (failingStore) SaveLeases(context.Context, []Lease, []net.HardwareAddr) error {
	return errStoreDown
}

func TestReplyAddr(t *testing.T) {
	src := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4011}
	tests := []struct {
		name      string
		reply     *dhcpv4.DHCPv4
		src       *net.UDPAddr
		pxePort   bool
		want      string
		broadcast bool
	}{
		{"no address yet", newPacket(dhcpv4.MessageTypeOffer, macA), nil, false, "255.255.255.255:68", true},
		{"renewing", newPacket(dhcpv4.MessageTypeAck, macA, withCiaddr("10.0.0.9")), nil, false, "10.0.0.9:68", false},
		{"relayed", newPacket(dhcpv4.MessageTypeOffer, macA, withGiaddr("10.1.0.1"), withCiaddr("10.0.0.9")), nil, false, "10.1.0.1:67", false},
		{"NAK", newPacket(dhcpv4.MessageTypeNak, macA, withCiaddr("10.0.0.9")), nil, false, "255.255.255.255:68", true},
		{"relayed NAK", newPacket(dhcpv4.MessageTypeNak, macA, withGiaddr("10.1.0.1")), nil, false, "10.1.0.1:67", false},
		{"PXE port", newPacket(dhcpv4.MessageTypeAck, macA, withGiaddr("10.1.0.1")), src, true, "10.0.0.9:4011", false},
		{"PXE port, sender without address", newPacket(dhcpv4.MessageTypeAck, macA),
			&net.UDPAddr{IP: net.IPv4zero, Port: 68}, true, "255.255.255.255:68", true},
		{"PXE port, unknown sender", newPacket(dhcpv4.MessageTypeAck, macA), nil, true, "<nil>", false},
	}
	for _, tt := range tests {
		dst, broadcast := replyAddr(tt.reply, tt.src, tt.pxePort)
		if dst.String() != tt.want || broadcast != tt.broadcast {
			t.Errorf("%s: replyAddr = %s, %v; want %s, %v", tt.name, dst, broadcast, tt.want, tt.broadcast)
		}
	}
}

func TestMalformedPacketsDropped(t *testing.T) {
	valid := newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0))
	noType := newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0))
	noType.Options.Del(dhcpv4.OptionDHCPMessageType)
	reply := newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0))
	reply.OpCode = dhcpv4.OpcodeBootReply
	longMAC := newPacket(dhcpv4.MessageTypeDiscover, append(macA, 1, 2), pxe(0))
	noCookie := valid.ToBytes()
	noCookie[236] = 0
	badOption := append(valid.ToBytes()[:240], 53, 9, 1) // length runs past the end
	tests := map[string][]byte{
		"empty":           nil,
		"too short":       valid.ToBytes()[:100],
		"no cookie":       noCookie,
		"bad option":      badOption,
		"no end option":   valid.ToBytes()[:243],
		"no type":         noType.ToBytes(),
		"BOOTREPLY":       reply.ToBytes(),
		"8-byte chaddr":   longMAC.ToBytes(),
		"garbage":         []byte("GET / HTTP/1.1\r\n\r\n"),
		"valid (control)": valid.ToBytes(),
	}
	for name, b := range tests {
		s, _ := proxyServer(t)
		got := s.handlePacket(context.Background(), b, 67, 1)
		if name == "valid (control)" {
			if got == nil {
				t.Errorf("%s: no reply", name)
			}
			continue
		}
		if got != nil {
			t.Errorf("%s: answered with %s", name, got.MessageType())
		}
	}
}

func TestCheckRequest(t *testing.T) {
	noType := newPacket(dhcpv4.MessageTypeDiscover, macA)
	noType.Options.Del(dhcpv4.OptionDHCPMessageType)
	reply := newPacket(dhcpv4.MessageTypeOffer, macA)
	reply.OpCode = dhcpv4.OpcodeBootReply
	tokenRing := newPacket(dhcpv4.MessageTypeDiscover, macA)
	tokenRing.HWType = 6
	tests := []struct {
		name string
		req  *dhcpv4.DHCPv4
		want string
	}{
		{"ok", newPacket(dhcpv4.MessageTypeDiscover, macA), ""},
		{"no message type", noType, "no DHCP message type (plain BOOTP is not answered)"},
		{"reply", reply, "op 2 is not BOOTREQUEST"},
		{"short chaddr", newPacket(dhcpv4.MessageTypeDiscover, macA[:4]), "hardware type 1 with address length 4 is not Ethernet"},
		{"not Ethernet", tokenRing, "hardware type 6 with address length 6 is not Ethernet"},
	}
	for _, tt := range tests {
		err := checkRequest(tt.req)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("%s: checkRequest = %v, want %q", tt.name, err, tt.want)
		}
	}
}
