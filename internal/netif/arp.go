package netif

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ReadARP reads the kernel's whole IPv4 neighbour table from /proc/net/arp:
// the complete entries, by address.
func ReadARP() map[netip.Addr]net.HardwareAddr {
	out := map[netip.Addr]net.HardwareAddr{}
	f, err := os.Open("/proc/net/arp")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// IP address  HW type  Flags  HW address  Mask  Device
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[2] == "0x0" {
			continue
		}
		ip, err1 := netip.ParseAddr(fields[0])
		mac, err2 := net.ParseMAC(fields[3])
		if err1 == nil && err2 == nil && len(mac) == 6 {
			out[ip] = mac
		}
	}
	return out
}
