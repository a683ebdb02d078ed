package dhcp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// maxRangeSize is the largest pool ParseRange and Validate accept.
const maxRangeSize = 65536

var errNoLeaseStore = errors.New("dhcp: full mode needs a lease store (internal error: Server.Leases is nil)")

// errBadMAC is a lease for a hardware address that is not Ethernet's (the
// server answers no other).
var errBadMAC = errors.New("dhcp: lease for a hardware address that is not six bytes long")

// Validate checks the Server's settings and returns an error a sysadmin
// understands.
func (s *Server) Validate() error {
	switch s.Mode {
	case ModeOff:
		return nil
	case "", ModeProxy, ModeFull:
	default:
		return fmt.Errorf("dhcp: unknown mode %q; use proxy, full or off", s.Mode)
	}
	if !s.ServerIP.IsValid() || s.ServerIP.IsUnspecified() {
		return errors.New("dhcp: the server address is not set; give this host's IPv4 address on the boot network")
	}
	if !s.ServerIP.Is4() {
		return fmt.Errorf("dhcp: server address %s is not an IPv4 address", s.ServerIP)
	}
	if s.PXEPort < 0 || s.PXEPort > 65535 || s.PXEPort == 67 {
		return fmt.Errorf("dhcp: PXE port %d is not usable; leave it at 4011", s.PXEPort)
	}
	if s.mode() == ModeFull {
		return s.validateFull()
	}
	return nil
}

func (s *Server) validateFull() error {
	p := s.Subnet
	if !p.IsValid() || !p.Addr().Is4() {
		return errors.New("dhcp: full mode needs the interface's IPv4 subnet (e.g. 192.168.1.0/24)")
	}
	p = p.Masked()
	if p.Bits() > 30 {
		return fmt.Errorf("dhcp: subnet %s is too small for a DHCP pool; use /30 or larger", p)
	}
	if !p.Contains(s.ServerIP) {
		return fmt.Errorf("dhcp: server address %s is not inside subnet %s", s.ServerIP, p)
	}
	if err := s.validateRange(p); err != nil {
		return err
	}
	if err := checkOptions(Subnet{Prefix: p, Range: s.Range, Router: s.Router, DNS: s.DNS}); err != nil {
		return err
	}
	if s.LeaseTime < 0 {
		return fmt.Errorf("dhcp: lease time %s is negative", s.LeaseTime)
	}
	if s.Leases == nil {
		return errNoLeaseStore
	}
	return s.validateRelayed(p)
}

func (s *Server) validateRange(p netip.Prefix) error {
	if !s.Range[0].IsValid() || !s.Range[1].IsValid() {
		return errors.New("dhcp: full mode needs an address range (e.g. 192.168.1.100-192.168.1.200)")
	}
	if err := validatePool(s.Range, p); err != nil {
		return err
	}
	if s.inRange(s.ServerIP) {
		return fmt.Errorf("dhcp: range %s contains this server's own address %s; move the range", rangeString(s.Range), s.ServerIP)
	}
	return nil
}

// checkOptions checks sub's router (inside its network, outside its pool)
// and DNS servers (IPv4).
func checkOptions(sub Subnet) error {
	if r := sub.Router; r.IsValid() {
		if !r.Is4() || !sub.Prefix.Contains(r) {
			return fmt.Errorf("dhcp: router %s is not inside subnet %s", r, sub.Prefix)
		}
		if !r.Less(sub.Range[0]) && !sub.Range[1].Less(r) {
			return fmt.Errorf("dhcp: range %s contains the router %s; move the range or the router", rangeString(sub.Range), r)
		}
	}
	for _, d := range sub.DNS {
		if !d.Is4() {
			return fmt.Errorf("dhcp: DNS server %s is not an IPv4 address", d)
		}
	}
	return nil
}

// validatePool checks a pool r for the network p.
func validatePool(r [2]netip.Addr, p netip.Prefix) error {
	first, last := r[0], r[1]
	if !first.IsValid() || !last.IsValid() {
		return fmt.Errorf("dhcp: %s needs an address range (e.g. %s-%s)", p, p.Addr().Next(), lastAddr(p).Prev())
	}
	if err := checkRange(first, last); err != nil {
		return err
	}
	if !p.Contains(first) || !p.Contains(last) {
		return fmt.Errorf("dhcp: range %s is not inside subnet %s", rangeString(r), p)
	}
	if first == p.Addr() || last == lastAddr(p) {
		return fmt.Errorf("dhcp: range %s includes the network or broadcast address of %s; start at %s at the lowest and end at %s at the highest",
			rangeString(r), p, p.Addr().Next(), lastAddr(p).Prev())
	}
	return nil
}

// ParseRange parses "FIRST-LAST" (e.g. "192.168.1.100-192.168.1.200") into
// two IPv4 addresses, first and last inclusive.
func ParseRange(s string) ([2]netip.Addr, error) {
	var r [2]netip.Addr
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return r, fmt.Errorf("dhcp: range %q is not of the form FIRST-LAST (e.g. 192.168.1.100-192.168.1.200)", s)
	}
	for i, part := range []string{a, b} {
		ip, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil || !ip.Is4() {
			return r, fmt.Errorf("dhcp: range %q: %q is not an IPv4 address", s, strings.TrimSpace(part))
		}
		r[i] = ip
	}
	return r, checkRange(r[0], r[1])
}

// checkRange rejects reversed and oversized ranges.
func checkRange(first, last netip.Addr) error {
	if !first.Is4() || !last.Is4() {
		return fmt.Errorf("dhcp: range %s-%s is not IPv4", first, last)
	}
	if last.Less(first) {
		return fmt.Errorf("dhcp: range %s-%s is reversed", first, last)
	}
	if n := rangeSize(first, last); n > maxRangeSize {
		return fmt.Errorf("dhcp: range %s-%s has %d addresses; at most %d are allowed", first, last, n, maxRangeSize)
	}
	return nil
}

func rangeSize(first, last netip.Addr) uint64 {
	return uint64(addrUint(last)) - uint64(addrUint(first)) + 1
}

func addrUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func rangeString(r [2]netip.Addr) string {
	return r[0].String() + "-" + r[1].String()
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := addrUint(netip.AddrFrom4(b)) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}
