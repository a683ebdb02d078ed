// Package dhcp is kickstand's DHCPv4 server: in proxy mode it adds PXE boot
// information next to the network's existing DHCP server (ports 67 and 4011);
// in full mode it also hands out addresses from a pool, honours reservations
// and keeps leases in a caller-provided store.
//
// The server reads and writes its own socket so that it knows the interface
// each request came in on; packets are encoded and decoded with
// github.com/insomniacslk/dhcp/dhcpv4. Every decision is made by pure handler
// functions (request in, reply or nil out), so almost everything is tested
// without sockets.
package dhcp

import (
	"context"
	"fmt"
	"hash/fnv"
	"kickstand/internal/events"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Mode selects how the server answers.
type Mode string

// The modes a Server can run in.
const (
	// ModeProxy answers only PXE and HTTP-boot clients, with boot
	// information and no address (proxyDHCP). It is the default: the
	// zero Mode means ModeProxy.
	ModeProxy Mode = "proxy"
	// ModeFull is a complete DHCP server with an address pool.
	ModeFull Mode = "full"
	// ModeOff disables the server: Serve returns nil at once, so the
	// caller may run it unconditionally or not at all.
	ModeOff Mode = "off"
)

// DefaultLeaseTime is the lease time used when Server.LeaseTime is zero.
const DefaultLeaseTime = time.Hour

// DefaultPXEPort is the PXE boot server (proxyDHCP) port.
const DefaultPXEPort = 4011

// BootReply is the boot information for one client.
type BootReply struct {
	// BootFile goes into option 67 and the file field; for HTTP-boot
	// clients it is a URL.
	BootFile string
	// NextServer is siaddr, the TFTP server; nil means ServerIP.
	NextServer net.IP
	// Ignore asks for no boot information at all: in proxy mode the
	// client gets no reply, in full mode it still gets an address.
	Ignore bool
}

// BootFunc decides the boot reply for a PXE client; ok=false means no boot
// information for this client.
type BootFunc func(ctx context.Context, f ClientFacts) (BootReply, bool)

// Lease is one address given to one client.
type Lease struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Expires  time.Time
	Hostname string
}

// LeaseStore persists leases, one per MAC; the caller implements it on top
// of the project's database.
type LeaseStore interface {
	// Leases returns every stored lease.
	Leases(ctx context.Context) ([]Lease, error)
	// SaveLeases stores put, each replacing its MAC's lease and any other
	// lease of its address, and deletes the leases of the MACs in remove
	// (no MAC is in both), all in one transaction: when it returns nil,
	// every change survives a crash of the process. The server calls it
	// from one goroutine at a time, with the concurrent ACKs' leases
	// together (group commit); it must not keep the slices.
	SaveLeases(ctx context.Context, put []Lease, remove []net.HardwareAddr) error
}

// LeaseClaimer is a LeaseStore that several servers share (full mode on
// one pool): ClaimLeases is SaveLeases, except that a lease whose address
// another MAC holds, unexpired at now, is not stored. It returns those
// holders' leases; the server then refuses its client that address and
// knows it for what it is.
type LeaseClaimer interface {
	ClaimLeases(ctx context.Context, put []Lease, remove []net.HardwareAddr, now time.Time) (held []Lease, err error)
}

// ReservationFunc returns the fixed address reserved for a MAC, if any.
type ReservationFunc func(ctx context.Context, mac net.HardwareAddr) (netip.Addr, bool)

// ReservedForFunc returns the MAC an address is reserved for, if any.
type ReservedForFunc func(ctx context.Context, ip netip.Addr) (net.HardwareAddr, bool)

// Event is something the server did, for the machine timeline.
type Event struct {
	MAC net.HardwareAddr
	// Kind is one of the DHCP kinds: events.DHCPDiscover ...
	// events.ProxyAck.
	Kind   events.Kind
	Detail string
	// Fields are the client's facts (vendor class, arch, PXE) and, for
	// offers and acks, what it was told to boot.
	Fields events.Fields
	// IP is the client's address: the one offered or acknowledged, or the
	// ciaddr of a proxy REQUEST; zero when not known.
	IP netip.Addr
}

// Server is a DHCPv4 server; its zero value (plus ServerIP) is a proxyDHCP
// server that gives no boot information.
//
// One Server may Serve several conns at once (port 67 and port 4011); they
// share its state. The funcs it is given (Boot, Reservation, ReservedFor,
// OnEvent, the LeaseStore) may be called from several goroutines and must
// not call back into the Server. Its fields must not change once it serves.
type Server struct {
	// Mode is proxy (default), full or off.
	Mode Mode
	// ServerIP is our address on the interface: the server identifier
	// (option 54) and the default next-server.
	ServerIP netip.Addr
	// Boot decides the boot information; nil means none.
	Boot BootFunc
	// OnEvent, if set, is told about every offer, ack, nak, release and
	// decline.
	OnEvent func(Event)
	// OnPacket, if set, is told of every packet received: its message type
	// (PacketDiscover ... PacketInvalid) and what became of it
	// (OutcomeOffered ... OutcomeIgnored), also of those that make no
	// Event. It is called for every packet, floods included: keep it quick.
	OnPacket func(msgType, outcome string)
	// Logger receives every decision at debug level; nil discards.
	Logger *slog.Logger
	// PXEPort is the port whose conn is answered as the PXE boot server
	// (proxyDHCP REQUEST/INFORM → ACK to the sender); zero means 4011.
	PXEPort int
	// Workers is how many requests Serve answers at once on one conn;
	// zero means DefaultWorkers.
	Workers int

	// Range is the pool, first and last inclusive, inside Subnet
	// (full mode only).
	Range [2]netip.Addr
	// Subnet is the interface's subnet; the subnet mask comes from it
	// (full mode only).
	Subnet netip.Prefix
	// Router is option 3; zero means none (full mode only).
	Router netip.Addr
	// DNS is option 6; empty means none (full mode only).
	DNS []netip.Addr
	// Relayed are the networks behind DHCP relay agents that full mode
	// also gives addresses on, each with its pool, router and DNS servers;
	// a relayed request from a network not among them, nor Subnet, is
	// ignored (full mode only).
	Relayed []Subnet
	// LeaseTime is option 51; zero means DefaultLeaseTime (full mode only).
	LeaseTime time.Duration
	// Leases persists leases; required in full mode.
	Leases LeaseStore
	// Reservation gives a MAC's fixed address; optional (full mode only).
	// A reserved address may lie outside Range but must be inside Subnet.
	Reservation ReservationFunc
	// ReservedFor tells which MAC, if any, an address in Range is reserved
	// for, so the pool does not give it to another client; optional. Without
	// it, keep reserved addresses outside Range.
	ReservedFor ReservedForFunc

	mu       sync.Mutex   // guards lans and writer
	lanList  []*lan       // the server's own LAN, then Relayed; their tables loaded from Leases on first use
	writer   *leaseWriter // writes to Leases, for every lan's table
	unknownR sync.Map     // relay addresses (netip.Addr) already logged as on no configured network
	lastSync atomic.Int64 // when resync last read a shared store's leases, in ns
	clock    func() time.Time

	optionsOnce sync.Once
	opts        *replyOptions // see options
	replies     sync.Pool     // of *dhcpv4.DHCPv4, see newReply
	shared      interned      // MACs and vendor classes of recent requests
}

func (s *Server) mode() Mode {
	if s.Mode == "" {
		return ModeProxy
	}
	return s.Mode
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return discard
	}
	return s.Logger
}

func (s *Server) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

func (s *Server) leaseTime() time.Duration {
	if s.LeaseTime <= 0 {
		return DefaultLeaseTime
	}
	return s.LeaseTime
}

func (s *Server) pxePort() int {
	if s.PXEPort == 0 {
		return DefaultPXEPort
	}
	return s.PXEPort
}

// emit reports e, with the client's facts and what reply (nil for none)
// told it to boot.
func (s *Server) emit(f ClientFacts, reply *dhcpv4.DHCPv4, e Event) {
	e.Fields.VendorClass, e.Fields.PXE = f.VendorClass, f.PXE
	if f.HasArch {
		arch := f.Arch
		e.Fields.Arch = &arch
	}
	if reply != nil {
		if file := reply.BootFileNameOption(); file != "" {
			e.Fields.BootFile, e.Fields.NextServer = file, reply.ServerIPAddr.String()
		}
	}
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

// leases returns the server's own LAN's lease table (see lans).
func (s *Server) leases(ctx context.Context) (*leaseTable, error) {
	lans, err := s.lans(ctx)
	if err != nil {
		return nil, err
	}
	return lans[0].table, nil
}

// lans returns the networks full mode serves, the server's own first,
// loading their leases from the LeaseStore the first time, so that
// addresses given before a restart are honoured.
func (s *Server) lans(ctx context.Context) ([]*lan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lanList != nil {
		return s.lanList, nil
	}
	if s.Leases == nil {
		return nil, errNoLeaseStore
	}
	stored, err := s.Leases.Leases(ctx)
	if err != nil {
		return nil, fmt.Errorf("dhcp: load leases: %w", err)
	}
	lans := []*lan{newLAN(Subnet{Prefix: s.Subnet, Range: s.Range, Router: s.Router, DNS: s.DNS}, true)}
	for _, sub := range s.Relayed {
		lans = append(lans, newLAN(sub, false))
	}
	byLAN := make(map[*lan][]Lease, len(lans))
	for _, l := range stored {
		n := lanFor(lans, l.IP)
		byLAN[n] = append(byLAN[n], l)
	}
	for _, n := range lans {
		n.table.load(byLAN[n])
	}
	s.lanList, s.writer = lans, newLeaseWriter(s.Leases, s.now)
	if s.writer.claim != nil {
		// Servers sharing the pool search it each from its own point.
		h := fnv.New32a()
		h.Write(s.ServerIP.AsSlice())
		for _, n := range lans {
			if size := len(n.table.slots); size > 0 {
				n.table.start = int(h.Sum32() % uint32(size))
			}
		}
	}
	s.logger().Debug("dhcp: leases loaded", "count", len(stored), "networks", len(lans))
	return lans, nil
}
