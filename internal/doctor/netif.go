package doctor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"kickstand/internal/netif"
	"kickstand/internal/tftp"
)

// iface is what the interface checks found, for the DHCP probe.
type iface struct {
	checks []Check
	name   string
	ifi    *net.Interface // nil when it does not exist
	prefix netip.Prefix   // its IPv4 address and subnet; invalid if none
	usable bool           // it exists and is up: the probe can run
}

// checkInterface checks the interface kickstand serves on: it exists and is
// up, has an IPv4 address, the server IP is this host's, and its MTU fits
// full TFTP blocks.
func (d *Doctor) checkInterface() iface {
	res := iface{name: d.Config.Interface}
	add := func(s Status, format string, args ...any) {
		res.checks = append(res.checks, Check{Name: "interface", Status: s, Text: fmt.Sprintf(format, args...)})
	}
	if res.name == "" {
		name, err := defaultRouteInterface(d.procRoot())
		if err != nil {
			add(Fail, "%v: pass --interface NAME (list them with: ip -br addr)", err)
			return res
		}
		res.name = name
	}
	ifi, err := net.InterfaceByName(res.name)
	if err != nil {
		add(Fail, "%s does not exist (list them with: ip -br link): pass --interface NAME", res.name)
		return res
	}
	res.ifi = ifi
	if ifi.Flags&net.FlagUp == 0 {
		add(Fail, "%s is down: ip link set %s up", res.name, res.name)
		return res
	}
	res.usable = true
	switch state := operState(d.sysRoot(), res.name); state {
	case "down", "lowerlayerdown", "notpresent":
		add(Fail, "%s is up but has no link (operstate %s): check its cable and switch port", res.name, state)
	case "dormant", "testing":
		add(Warn, "%s is %s: it may not pass traffic yet", res.name, state)
	}
	res.prefix, _, _ = netif.IPv4Prefix(ifi)
	if !res.prefix.IsValid() {
		add(Fail, "%s has no IPv4 address: add one (ip addr add 10.0.0.1/24 dev %s) or pass --interface with another", res.name, res.name)
	} else {
		mac := ""
		if len(ifi.HardwareAddr) > 0 {
			mac = ", MAC " + ifi.HardwareAddr.String()
		}
		add(Pass, "%s is up, %s%s", res.name, res.prefix, mac)
	}
	res.checks = append(res.checks, serverIPCheck(d.Config.ServerIP, res.name, res.prefix, localAddrs()))
	res.checks = append(res.checks, mtuCheck(res.name, ifi.MTU))
	return res
}

// serverIPCheck says whether the address clients are sent to (next-server,
// URLs) is one of this host's, on the interface's subnet.
func serverIPCheck(serverIP, name string, prefix netip.Prefix, local map[netip.Addr]string) Check {
	c := Check{Name: "interface"}
	if serverIP == "" {
		if !prefix.IsValid() {
			c.Status, c.Text = Fail, "no server IP: "+name+" has no IPv4 address and --server-ip is not set"
			return c
		}
		c.Status, c.Text = Pass, fmt.Sprintf("server IP %s (%s's address): clients fetch boot files and installs from it", prefix.Addr(), name)
		return c
	}
	ip, err := netip.ParseAddr(serverIP)
	if err != nil || !ip.Is4() {
		c.Status, c.Text = Fail, fmt.Sprintf("--server-ip %q is not an IPv4 address", serverIP)
		return c
	}
	owner, isLocal := local[ip]
	switch {
	case !isLocal:
		c.Status, c.Text = Warn, fmt.Sprintf("--server-ip %s is not an address of this host: clients are sent there for TFTP and HTTP; right only if it forwards to this host (NAT)", ip)
	case owner != name:
		c.Status, c.Text = Warn, fmt.Sprintf("--server-ip %s is an address of %s, not of %s: clients on %s's LAN need a route to it", ip, owner, name, name)
	case prefix.IsValid() && !prefix.Masked().Contains(ip):
		c.Status, c.Text = Warn, fmt.Sprintf("--server-ip %s is outside %s's subnet %s: clients need a route to it", ip, name, prefix.Masked())
	default:
		c.Status, c.Text = Pass, fmt.Sprintf("server IP %s is %s's: clients fetch boot files and installs from it", ip, name)
	}
	return c
}

// mtuCheck says which TFTP block size fits the interface's MTU. kickstand
// grants at most tftp.DefaultMaxBlockSize, which fits a 1500-byte MTU.
func mtuCheck(name string, mtu int) Check {
	fits := netif.BlockSizeForMTU(mtu)
	if fits >= tftp.DefaultMaxBlockSize {
		return Check{Name: "interface", Status: Pass, Text: fmt.Sprintf("%s MTU %d: TFTP blocks up to %d bytes fit one frame (kickstand grants at most %d)",
			name, mtu, fits, tftp.DefaultMaxBlockSize)}
	}
	return Check{Name: "interface", Status: Warn, Text: fmt.Sprintf("%s MTU %d: TFTP blocks over %d bytes do not fit one frame, and firmware asks for %d: "+
		"its transfers stall at the first block where fragments are dropped; raise the MTU to 1500 or cap TFTP blocks at %d",
		name, mtu, fits, tftp.DefaultMaxBlockSize, fits)}
}

// localAddrs maps every address of this host to its interface.
func localAddrs() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	ifs, _ := net.Interfaces()
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
					out[ip.Unmap()] = ifi.Name
				}
			}
		}
	}
	return out
}

// operState is the interface's RFC 2863 state ("up", "down", "unknown"...)
// from /sys, or "" when it cannot be read.
func operState(sysRoot, name string) string {
	b, err := os.ReadFile(filepath.Join(sysRoot, "class", "net", name, "operstate"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// defaultRouteInterface returns the interface of the IPv4 default route.
func defaultRouteInterface(procRoot string) (string, error) {
	f, err := os.Open(filepath.Join(netDir(procRoot), "route"))
	if err != nil {
		return "", fmt.Errorf("cannot read the routing table: %w", err)
	}
	defer f.Close()
	if name, ok := netif.ParseDefaultRoute(f); ok {
		return name, nil
	}
	return "", fmt.Errorf("no IPv4 default route")
}
