// Package netif finds where kickstand serves: the interface (the default
// route's unless named), its address and MTU, and the URLs clients use.
package netif

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// DefaultRouteInterface returns the interface of the IPv4 default route.
func DefaultRouteInterface() (string, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return "", fmt.Errorf("find the default route: %w (pass --interface)", err)
	}
	defer f.Close()
	if name, ok := ParseDefaultRoute(f); ok {
		return name, nil
	}
	return "", fmt.Errorf("no IPv4 default route: pass --interface NAME")
}

// ParseDefaultRoute returns the interface of the first default route
// (destination and mask 0) in a /proc/net/route table.
func ParseDefaultRoute(r io.Reader) (string, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 8 && f[0] != "Iface" && f[1] == "00000000" && f[7] == "00000000" {
			return f[0], true
		}
	}
	return "", false
}

// IPv4Prefix returns the first IPv4 address of ifi with its prefix length;
// ok is false when it has none.
func IPv4Prefix(ifi *net.Interface) (p netip.Prefix, ok bool, err error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Prefix{}, false, err
	}
	for _, a := range addrs {
		ipn, isNet := a.(*net.IPNet)
		if !isNet || ipn.IP.To4() == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP.To4())
		ones, _ := ipn.Mask.Size()
		return netip.PrefixFrom(ip, ones), true, nil
	}
	return netip.Prefix{}, false, nil
}

// interfaceAddr returns the first IPv4 address and subnet of the named interface.
func interfaceAddr(name string) (netip.Prefix, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %q: %w (list them with: ip -br addr)", name, err)
	}
	p, ok, err := IPv4Prefix(ifi)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %s: %w", name, err)
	}
	if !ok {
		return netip.Prefix{}, fmt.Errorf("interface %s has no IPv4 address: add one or choose another with --interface", name)
	}
	return p, nil
}

// Network is where kickstand serves: the interface, its address and subnet,
// and the address clients are told to use.
type Network struct {
	Interface string
	Prefix    netip.Prefix // the interface's address and subnet
	ServerIP  netip.Addr   // next-server and URL host; --server-ip or the interface's address
	MTU       int          // the interface's MTU (0: unknown)
}

// TFTPBlockSize is BlockSizeForMTU of the interface's MTU, 0 when the MTU
// is not known.
func (n Network) TFTPBlockSize() int {
	if n.MTU <= 32 {
		return 0
	}
	return BlockSizeForMTU(n.MTU)
}

// Sizes of what wraps a TFTP data block in one frame, and RFC 2348's limits.
const (
	ipv4HeaderSize = 20
	udpHeaderSize  = 8
	tftpDataHeader = 4
	minBlockSize   = 8
	maxBlockSize   = 65464
)

// BlockSizeForMTU is the largest TFTP blksize whose DATA packets fit in one
// IPv4 frame of the given MTU: MTU − 20 (IP) − 8 (UDP) − 4 (TFTP), within
// RFC 2348's 8..65464. Larger blocks are fragmented, and fragments are what
// PXE firmware and some firewalls drop: a path that drops them stalls at
// the first full block.
func BlockSizeForMTU(mtu int) int {
	return min(max(mtu-ipv4HeaderSize-udpHeaderSize-tftpDataHeader, minBlockSize), maxBlockSize)
}

// Resolve finds the interface (the default route's unless named) and
// its address.
func Resolve(iface, serverIP string) (Network, error) {
	var err error
	if iface == "" {
		if iface, err = DefaultRouteInterface(); err != nil {
			return Network{}, err
		}
	}
	p, err := interfaceAddr(iface)
	if err != nil {
		return Network{}, err
	}
	n := Network{Interface: iface, Prefix: p, ServerIP: p.Addr()}
	if ifi, err := net.InterfaceByName(iface); err == nil {
		n.MTU = ifi.MTU
	}
	if serverIP != "" {
		if n.ServerIP, err = netip.ParseAddr(serverIP); err != nil {
			return Network{}, fmt.Errorf("--server-ip %q: %w", serverIP, err)
		}
	}
	return n, nil
}

// BaseURL is the HTTP address clients use to reach kickstand.
func BaseURL(ip netip.Addr, port int) string {
	if port == 80 {
		return "http://" + ip.String()
	}
	return fmt.Sprintf("http://%s:%d", ip, port)
}

// FTPBase is the FTP address clients use to reach kickstand.
func FTPBase(ip netip.Addr, port int) string {
	if port == 21 {
		return "ftp://" + ip.String()
	}
	return fmt.Sprintf("ftp://%s:%d", ip, port)
}
