package dhcp

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var benchServerIP = netip.MustParseAddr("10.0.0.1")

// doraClient holds one client's requests as bytes on the wire, rewritten in
// place for each new client so that the loop measures the server alone.
type doraClient struct {
	discover, request, release []byte
	requestedAt                int // offset of option 50's value in request
}

func newDORAClient(b testing.TB) *doraClient {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 0}
	c := &doraClient{
		discover: newPacket(dhcpv4.MessageTypeDiscover, mac).ToBytes(),
		request: newPacket(dhcpv4.MessageTypeRequest, mac,
			withServerID(benchServerIP.String()), withRequested("0.0.0.0")).ToBytes(),
		release: newPacket(dhcpv4.MessageTypeRelease, mac, withServerID(benchServerIP.String())).ToBytes(),
	}
	c.requestedAt = optionOffset(b, c.request, dhcpv4.OptionRequestedIPAddress)
	return c
}

// optionOffset finds the value of option code in an encoded packet.
func optionOffset(b testing.TB, p []byte, code dhcpv4.OptionCode) int {
	for i := 240; i+1 < len(p); {
		switch p[i] {
		case 0:
			i++
			continue
		case 255:
			b.Fatalf("option %d not in packet", code.Code())
		}
		if p[i] == code.Code() {
			return i + 2
		}
		i += 2 + int(p[i+1])
	}
	b.Fatalf("option %d not in packet", code.Code())
	return 0
}

// become makes the requests those of client n.
func (c *doraClient) become(n uint32) {
	for _, p := range [][]byte{c.discover, c.request, c.release} {
		binary.BigEndian.PutUint32(p[30:34], n) // chaddr bytes 2-5
		binary.BigEndian.PutUint32(p[4:8], n)   // xid
	}
}

// benchServer is a full-mode server on 10.0.0.0/16 whose pool holds size
// addresses, the first half of them leased to other clients; leases is its
// store.
func benchServer(b testing.TB, size int, leases LeaseStore) *Server {
	ctx := context.Background()
	first := netip.MustParseAddr("10.0.0.10")
	last := first
	for range size - 1 {
		last = last.Next()
	}
	var held []Lease
	ip := first
	for i := range size / 2 {
		held = append(held, Lease{MAC: net.HardwareAddr{4, 0, 0, 0, byte(i >> 8), byte(i)}, IP: ip, Expires: time.Now().Add(time.Hour)})
		ip = ip.Next()
	}
	if err := leases.SaveLeases(ctx, held, nil); err != nil {
		b.Fatal(err)
	}
	s := &Server{
		Mode:     ModeFull,
		ServerIP: benchServerIP,
		Range:    [2]netip.Addr{first, last},
		Subnet:   netip.MustParsePrefix("10.0.0.0/16"),
		Router:   netip.MustParseAddr("10.0.0.1"),
		DNS:      []netip.Addr{netip.MustParseAddr("10.0.0.1")},
		Leases:   leases,
	}
	if err := s.Validate(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.leases(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

// dora runs one client's DISCOVER, REQUEST and RELEASE through the server
// as Serve's workers do: decode, decide, encode the reply into a buffer
// kept from packet to packet, give the reply back.
func dora(b *testing.B, s *Server, c *doraClient, out []byte) []byte {
	ctx := context.Background()
	offer := s.handlePacket(ctx, c.discover, serverPort, 2)
	if offer == nil {
		b.Fatal("no offer")
	}
	out = appendPacket(out[:0], offer)
	yiaddr := [4]byte(offer.YourIPAddr)
	s.releaseReply(offer)
	copy(c.request[c.requestedAt:c.requestedAt+4], yiaddr[:])
	ack := s.handlePacket(ctx, c.request, serverPort, 2)
	if ack == nil || messageType(ack.Options) != dhcpv4.MessageTypeAck {
		b.Fatalf("no ack: %v", ack)
	}
	out = appendPacket(out[:0], ack)
	s.releaseReply(ack)
	copy(c.release[12:16], yiaddr[:]) // ciaddr
	s.handlePacket(ctx, c.release, serverPort, 2)
	return out
}

// discardStore is a LeaseStore that keeps nothing, so that the benchmark
// counts the server's own work.
type discardStore struct{ loaded []Lease }

func (d *discardStore) Leases(context.Context) ([]Lease, error) { return d.loaded, nil }

func (d *discardStore) SaveLeases(_ context.Context, put []Lease, _ []net.HardwareAddr) error {
	if d.loaded == nil {
		d.loaded = append([]Lease(nil), put...)
	}
	return nil
}

// BenchmarkDORA is the full-mode decision path of one new client:
// DISCOVER → OFFER, REQUEST → ACK (the lease stored), and a RELEASE that
// keeps the pool as full as before. The pool is half leased; its size must
// not change the cost.
//
//	go test -run '^$' -bench DORA -benchmem ./internal/dhcp/
func BenchmarkDORA(b *testing.B) {
	for _, size := range []int{256, 65000} {
		b.Run(fmt.Sprintf("pool=%d", size), func(b *testing.B) {
			s := benchServer(b, size, &discardStore{})
			c := newDORAClient(b)
			n := uint32(0)
			out := make([]byte, 0, 1500)
			for b.Loop() {
				n++
				c.become(n)
				out = dora(b, s, c, out)
			}
		})
	}
}

// renewal is a client that holds a lease, and its REQUEST renewing it
// (ciaddr set, RFC 2131 4.3.2), as bytes on the wire.
func renewal(tb testing.TB, s *Server) []byte {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	offer := s.handlePacket(context.Background(), newPacket(dhcpv4.MessageTypeDiscover, mac).ToBytes(), serverPort, 2)
	if offer == nil {
		tb.Fatal("no offer")
	}
	yiaddr := offer.YourIPAddr.String()
	s.releaseReply(offer)
	request := newPacket(dhcpv4.MessageTypeRequest, mac, withServerID(benchServerIP.String()), withRequested(yiaddr)).ToBytes()
	if ack := s.handlePacket(context.Background(), request, serverPort, 2); ack == nil || messageType(ack.Options) != dhcpv4.MessageTypeAck {
		tb.Fatalf("no ack: %v", ack)
	}
	return newPacket(dhcpv4.MessageTypeRequest, mac, withCiaddr(yiaddr)).ToBytes()
}

// renew runs one renewal through the server as Serve's workers do.
func renew(tb testing.TB, s *Server, request, out []byte) []byte {
	ack := s.handlePacket(context.Background(), request, serverPort, 2)
	if ack == nil || messageType(ack.Options) != dhcpv4.MessageTypeAck {
		tb.Fatalf("no ack: %v", ack)
	}
	out = appendPacket(out[:0], ack)
	s.releaseReply(ack)
	return out
}

// BenchmarkRenew is the steady state of a LAN: a client renews its lease,
// REQUEST → ACK, the lease stored again.
//
//	go test -run '^$' -bench Renew -benchmem ./internal/dhcp/
func BenchmarkRenew(b *testing.B) {
	s := benchServer(b, 65000, &discardStore{})
	request, out := renewal(b, s), make([]byte, 0, 1500)
	for b.Loop() {
		out = renew(b, s, request, out)
	}
}

// TestRenewAllocatesNothing holds the decision path of the steady state to
// no allocation per packet: decoding, the lease, the store's batch, the
// reply and its encoding all reuse what the packet before them used.
func TestRenewAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchServer(t, 65000, &discardStore{})
	request, out := renewal(t, s), make([]byte, 0, 1500)
	if n := testing.AllocsPerRun(1000, func() { out = renew(t, s, request, out) }); n != 0 {
		t.Errorf("a renewal allocates %v times, want 0", n)
	}
}
