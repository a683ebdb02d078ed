package dhcp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

var (
	serverIP = netip.MustParseAddr("192.168.10.1")
	tftpIP   = net.IPv4(192, 168, 10, 2).To4()
	macA     = net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a}
	macB     = net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x0b}
	macC     = net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x0c}
	testUUID = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16} // type 0 + GUID
	// t0 is the test clock's start.
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// memStore is an in-memory LeaseStore.
type memStore struct {
	mu      sync.Mutex
	leases  map[string]Lease
	putErr  error
	batches int // SaveLeases calls that succeeded
}

func newMemStore() *memStore { return &memStore{leases: make(map[string]Lease)} }

func (m *memStore) Leases(context.Context) ([]Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Lease, 0, len(m.leases))
	for _, l := range m.leases {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out, nil
}

func (m *memStore) SaveLeases(_ context.Context, put []Lease, remove []net.HardwareAddr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.putErr != nil {
		return m.putErr
	}
	m.batches++
	for _, mac := range remove {
		delete(m.leases, mac.String())
	}
	for _, l := range put {
		l.MAC = bytes.Clone(l.MAC)
		m.leases[l.MAC.String()] = l
	}
	return nil
}

func (m *memStore) get(mac net.HardwareAddr) (Lease, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[mac.String()]
	return l, ok
}

// eventLog records OnEvent calls.
type eventLog struct {
	mu   sync.Mutex
	list []Event
}

func (e *eventLog) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *eventLog) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var k []string
	for _, ev := range e.list {
		k = append(k, string(ev.Kind))
	}
	return k
}

// fakeClock is a settable clock for lease expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// bootAll gives every PXE client the same boot file.
func bootAll(file string) BootFunc {
	return func(context.Context, ClientFacts) (BootReply, bool) {
		return BootReply{BootFile: file, NextServer: tftpIP}, true
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// proxyServer is a proxy-mode Server that boots every PXE client.
func proxyServer(t *testing.T) (*Server, *eventLog) {
	ev := &eventLog{}
	return &Server{
		Mode:     ModeProxy,
		ServerIP: serverIP,
		Boot:     bootAll("pxelinux.0"),
		OnEvent:  ev.add,
		Logger:   testLogger(t),
	}, ev
}

// fullServer is a full-mode Server on 192.168.10.0/24 with pool
// .100-.110, a test clock and an in-memory store.
func fullServer(t *testing.T, store *memStore) (*Server, *eventLog, *fakeClock) {
	ev := &eventLog{}
	clock := &fakeClock{now: t0}
	s := &Server{
		Mode:      ModeFull,
		ServerIP:  serverIP,
		OnEvent:   ev.add,
		Logger:    testLogger(t),
		Range:     [2]netip.Addr{netip.MustParseAddr("192.168.10.100"), netip.MustParseAddr("192.168.10.110")},
		Subnet:    netip.MustParsePrefix("192.168.10.0/24"),
		Router:    netip.MustParseAddr("192.168.10.254"),
		DNS:       []netip.Addr{netip.MustParseAddr("192.168.10.53")},
		LeaseTime: 2 * time.Hour,
		Leases:    store,
		clock:     clock.Now,
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("test server does not validate: %v", err)
	}
	return s, ev, clock
}

// newPacket builds a client message; mods adjust it.
func newPacket(mt dhcpv4.MessageType, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	p := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		TransactionID: dhcpv4.TransactionID{0xde, 0xad, 0xbe, 0xef},
		Flags:         0x8000,
		ClientIPAddr:  net.IPv4zero.To4(),
		YourIPAddr:    net.IPv4zero.To4(),
		ServerIPAddr:  net.IPv4zero.To4(),
		GatewayIPAddr: net.IPv4zero.To4(),
		ClientHWAddr:  bytes.Clone(mac),
		Options:       dhcpv4.Options{},
	}
	p.UpdateOption(dhcpv4.OptMessageType(mt))
	for _, m := range mods {
		m(p)
	}
	return p
}

// pxe makes the packet come from PXE firmware of the given architecture.
func pxe(arch uint16) dhcpv4.Modifier {
	return func(p *dhcpv4.DHCPv4) {
		p.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
		p.UpdateOption(dhcpv4.OptClientArch(iana.Arch(arch)))
		p.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, testUUID))
	}
}

func withOpt(code dhcpv4.OptionCode, v []byte) dhcpv4.Modifier {
	return func(p *dhcpv4.DHCPv4) { p.UpdateOption(dhcpv4.OptGeneric(code, v)) }
}

func withServerID(ip string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(ip).To4()))
}

func withRequested(ip string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(ip).To4()))
}

func withCiaddr(ip string) dhcpv4.Modifier {
	return func(p *dhcpv4.DHCPv4) { p.ClientIPAddr = net.ParseIP(ip).To4() }
}

func withGiaddr(ip string) dhcpv4.Modifier {
	return func(p *dhcpv4.DHCPv4) { p.GatewayIPAddr = net.ParseIP(ip).To4() }
}

// exchange sends req through the same path as the socket loop (encode,
// decode, handle) and decodes the encoded reply, as a client would.
func exchange(t *testing.T, s *Server, req *dhcpv4.DHCPv4, port int) *dhcpv4.DHCPv4 {
	t.Helper()
	reply := s.handlePacket(context.Background(), req.ToBytes(), port, 3)
	if reply == nil {
		return nil
	}
	b := appendPacket(nil, reply)
	if want := reply.ToBytes(); !bytes.Equal(b, want) {
		t.Fatalf("appendPacket differs from ToBytes:\n got %x\nwant %x", b, want)
	}
	s.releaseReply(reply) // as Serve does: the next reply reuses it
	got, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	return got
}

// lease runs DISCOVER and REQUEST for mac and returns the acknowledged
// address.
func lease(t *testing.T, s *Server, mac net.HardwareAddr) netip.Addr {
	t.Helper()
	offer := exchange(t, s, newPacket(dhcpv4.MessageTypeDiscover, mac), 67)
	if offer == nil {
		t.Fatalf("no offer for %s", mac)
	}
	ack := exchange(t, s, newPacket(dhcpv4.MessageTypeRequest, mac,
		withServerID(serverIP.String()), withRequested(offer.YourIPAddr.String())), 67)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("no ack for %s: %v", mac, ack)
	}
	ip, _ := ipv4Of(ack.YourIPAddr)
	return ip
}

func yiaddr(t *testing.T, reply *dhcpv4.DHCPv4) string {
	t.Helper()
	if reply == nil {
		t.Fatal("no reply")
	}
	return reply.YourIPAddr.String()
}

var errStoreDown = errors.New("store down")
