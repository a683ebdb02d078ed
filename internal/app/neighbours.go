package app

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
)

// neighbours maps client addresses to MACs so that TFTP and HTTP transfers,
// which only know an IP, land on the right machine's timeline. DHCP teaches
// it; the kernel's ARP table is the fallback (proxy mode, where the LAN's
// DHCP server gave the address).
type neighbours struct {
	mu    sync.Mutex
	byIP  map[netip.Addr]net.HardwareAddr
	arpFn func() map[netip.Addr]net.HardwareAddr
}

func newNeighbours() *neighbours {
	return &neighbours{byIP: map[netip.Addr]net.HardwareAddr{}, arpFn: readARP}
}

// maxLearned bounds the learned addresses: anything on the LAN can send a
// proxy REQUEST with any ciaddr.
const maxLearned = 65536

// learn records that ip belongs to mac.
func (n *neighbours) learn(ip netip.Addr, mac net.HardwareAddr) {
	if !ip.IsValid() || ip.IsUnspecified() || len(mac) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.byIP[ip]; !ok && len(n.byIP) >= maxLearned {
		for old := range n.byIP { // any one: a full table is a flood
			delete(n.byIP, old)
			break
		}
	}
	n.byIP[ip] = mac
}

// learned returns the MAC DHCP (or a served kickstart) tied ip to, without
// the kernel's neighbour table.
func (n *neighbours) learned(ip netip.Addr) (net.HardwareAddr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mac, ok := n.byIP[ip]
	return mac, ok
}

// lookup returns the MAC behind ip, if known.
func (n *neighbours) lookup(ip netip.Addr) (net.HardwareAddr, bool) {
	if mac, ok := n.learned(ip); ok {
		return mac, true
	}
	mac, ok := n.arpFn()[ip]
	if ok {
		n.learn(ip, mac)
	}
	return mac, ok
}

// current returns the MAC the kernel's neighbour table has for ip now,
// without the learned addresses, which may be stale.
func (n *neighbours) current(ip netip.Addr) (net.HardwareAddr, bool) {
	mac, ok := n.arpFn()[ip]
	return mac, ok
}

// readARP reads the kernel's IPv4 neighbour table.
func readARP() map[netip.Addr]net.HardwareAddr {
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
