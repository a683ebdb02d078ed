// Package netif finds where kickstand serves: the interface (the default
// route's unless named), its address and MTU, and the URLs clients use.
package netif

import (
	"bufio"
	"fmt"
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
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[1] == "00000000" && fields[2] != "Destination" {
			return fields[0], nil
		}
	}
	return "", fmt.Errorf("no IPv4 default route: pass --interface NAME")
}

// interfaceAddr returns the first IPv4 address and subnet of the named interface.
func interfaceAddr(name string) (netip.Prefix, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %q: %w (list them with: ip -br addr)", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP.To4())
		ones, _ := ipn.Mask.Size()
		return netip.PrefixFrom(ip, ones), nil
	}
	return netip.Prefix{}, fmt.Errorf("interface %s has no IPv4 address: add one or choose another with --interface", name)
}

// Network is where kickstand serves: the interface, its address and subnet,
// and the address clients are told to use.
type Network struct {
	Interface string
	Prefix    netip.Prefix // the interface's address and subnet
	ServerIP  netip.Addr   // next-server and URL host; --server-ip or the interface's address
	MTU       int          // the interface's MTU (0: unknown)
}

// TFTPBlockSize is the largest TFTP block that fits one frame of the
// interface (IPv4 20, UDP 8 and TFTP 4 bytes of headers): a larger block
// is fragmented, and a path that drops fragments stalls at the first
// full block. 0 when the MTU is not known.
func (n Network) TFTPBlockSize() int {
	if n.MTU <= 32 {
		return 0
	}
	return n.MTU - 32
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
