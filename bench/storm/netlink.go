//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// bindToDevice is a net.Dialer/ListenConfig Control that ties a socket to
// one interface: every machine's traffic leaves from its own macvlan (and
// so with its own MAC), whatever the routing table would pick for the
// shared prefix.
func bindToDevice(ifname string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		if ifname == "" {
			return nil // tests, on loopback
		}
		var opErr error
		err := c.Control(func(fd uintptr) {
			opErr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
		if err != nil {
			return err
		}
		if opErr != nil {
			return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, opErr)
		}
		return nil
	}
}

// addAddress adds ip/prefixLen to the interface with index ifindex, as
// `ip addr add` does, over one rtnetlink request.
func addAddress(ifindex int, ip netip.Addr, prefixLen int) error {
	if !ip.Is4() {
		return fmt.Errorf("add address %s: not IPv4", ip)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	// Timeouts: the kernel answers at once, but nothing here may hang.
	tv := unix.Timeval{Sec: 5}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	addr := ip.As4()
	msg := make([]byte, 0, 64)
	msg = binary.NativeEndian.AppendUint32(msg, 0) // length, set below
	msg = binary.NativeEndian.AppendUint16(msg, unix.RTM_NEWADDR)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg = binary.NativeEndian.AppendUint32(msg, 1) // sequence
	msg = binary.NativeEndian.AppendUint32(msg, 0) // port: the kernel
	// struct ifaddrmsg
	msg = append(msg, unix.AF_INET, byte(prefixLen), 0, unix.RT_SCOPE_UNIVERSE)
	msg = binary.NativeEndian.AppendUint32(msg, uint32(ifindex))
	for _, attr := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		msg = binary.NativeEndian.AppendUint16(msg, 8) // struct rtattr + 4 bytes
		msg = binary.NativeEndian.AppendUint16(msg, attr)
		msg = append(msg, addr[:]...)
	}
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			length := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			if length < unix.NLMSG_HDRLEN || length > len(b) {
				return fmt.Errorf("netlink: malformed reply")
			}
			if typ == unix.NLMSG_ERROR && length >= unix.NLMSG_HDRLEN+4 {
				if errno := int32(binary.NativeEndian.Uint32(b[16:20])); errno != 0 {
					return fmt.Errorf("add %s/%d to interface %d: %w", ip, prefixLen, ifindex, syscall.Errno(-errno))
				}
				return nil
			}
			b = b[min(len(b), (length+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		}
	}
}
