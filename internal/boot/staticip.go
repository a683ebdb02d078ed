package boot

import (
	"net"
	"strings"

	"kickstand/internal/store"
)

// staticIPArgs are the dracut arguments that give the installer a machine's
// static address on the NIC it booted from, so that a machine on a network
// without DHCP still reaches the kickstart and the tree:
//
//	ip=<address>::<gateway>:<netmask>:<hostname>::none nameserver=<dns>...
//
// The interface field is left empty on purpose: BOOTIF, which every config
// carries, then names the NIC. Named ("ip=...:eno1:none"), it would not
// be: NetworkManager's initrd generator (RHEL 8 and later) binds BOOTIF's
// MAC to the ip= connection only when that one names no interface, and
// otherwise adds a second, DHCP connection for the same NIC; dracut's
// network-legacy (RHEL 7) applies an ip= without an interface to the
// interface BOOTIF brings up. Foreman writes the same form.
//
// None when the machine has no static address, when the address is for
// another device than the one it boots from (Network.Device: the kickstart
// sets that one up, the installer keeps DHCP on its boot NIC), or when the
// profile's kernel arguments set ip= (or nameserver=) themselves.
func staticIPArgs(m *store.Machine, profileArgs []string) []string {
	if m == nil || !m.Network.Static() || m.Network.Device != "" || hasArg(profileArgs, "ip") {
		return nil
	}
	n := m.Network
	var gateway string
	if n.Gateway.IsValid() {
		gateway = n.Gateway.String()
	}
	mask := net.IP(net.CIDRMask(n.Address.Bits(), n.Address.Addr().BitLen())).String()
	args := []string{"ip=" + n.Address.Addr().String() + "::" + gateway + ":" + mask + ":" + ipHostname(m.Hostname) + "::none"}
	if !hasArg(profileArgs, "nameserver") {
		for _, dns := range n.DNS {
			args = append(args, "nameserver="+dns.String())
		}
	}
	return args
}

// ipHostname is hostname as the hostname field of ip=, or "" when it would
// not fit there (a colon ends the field, a blank the argument). The
// inventory accepts only names that fit.
func ipHostname(hostname string) string {
	if strings.ContainsFunc(hostname, func(r rune) bool { return r == ':' || r == ' ' || isControl(r) }) {
		return ""
	}
	return hostname
}
