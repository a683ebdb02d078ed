//go:build linux

package doctor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// probeResend is when the DISCOVER is sent a second time, for a server
// that missed the first (a switch port still learning, a lost packet).
const probeResend = time.Second

// probeDHCP is ProbeDHCP on an AF_PACKET socket: it sends the DISCOVER as
// a broadcast frame from 0.0.0.0:68 and reads every UDP packet to port 68
// that arrives on the interface, whoever else listens there.
func probeDHCP(ctx context.Context, ifi *net.Interface, wait time.Duration) ([]Offer, error) {
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%s has no Ethernet address to send a DISCOVER from", ifi.Name)
	}
	fd, err := packetSocket(ifi.Index)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	discover, err := discoverFor(ifi.HardwareAddr)
	if err != nil {
		return nil, fmt.Errorf("build DISCOVER: %w", err)
	}
	packet := udpPacket(discover.ToBytes(), netip.IPv4Unspecified(), 68, netip.AddrFrom4([4]byte{255, 255, 255, 255}), 67)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}

	start := time.Now()
	deadline := start.Add(wait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	var offers []Offer
	buf := make([]byte, 1<<16)
	for sent := 0; ; {
		if sent < 2 && time.Since(start) >= time.Duration(sent)*probeResend {
			if err := unix.Sendto(fd, packet, 0, to); err != nil {
				return offers, fmt.Errorf("send DISCOVER on %s: %w", ifi.Name, err)
			}
			sent++
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return offers, nil
		}
		// Short polls: the resend and ctx are looked at in between.
		ms := int(min(left, 100*time.Millisecond) / time.Millisecond)
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, max(ms, 1))
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			return offers, fmt.Errorf("wait for offers on %s: %w", ifi.Name, err)
		}
		size, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue // a reply this host sent, to someone else
		}
		if o, ok := parseReply(buf[:size], discover, net.HardwareAddr(ll.Addr[:ll.Halen])); ok {
			offers = addOffer(offers, o)
		}
	}
}

// packetSocket opens an AF_PACKET socket that receives only unfragmented
// IPv4 UDP packets to port 68 arriving on the interface. It is opened for no
// protocol, filtered, then bound, so that nothing unfiltered queues on it.
func packetSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return -1, errors.New("sending a raw DHCP packet needs root (CAP_NET_RAW): run kickstand doctor as root")
	}
	if err != nil {
		return -1, fmt.Errorf("open packet socket: %w", err)
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 9, Size: 1}, // IP protocol
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_UDP, SkipFalse: 6},
		bpf.LoadAbsolute{Off: 6, Size: 2},                           // fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4}, // not the first fragment
		bpf.LoadMemShift{Off: 0},                                    // X = IP header length
		bpf.LoadIndirect{Off: 2, Size: 2},                           // UDP destination port
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 68, SkipFalse: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	})
	if err == nil {
		filter := make([]unix.SockFilter, len(prog))
		for i, ins := range prog {
			filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]})
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifindex})
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set up packet socket: %w", err)
	}
	return fd, nil
}

// parseReply reads an IPv4 packet (from the IP header on) and returns the
// offer in it, if it answers the probe's DISCOVER.
func parseReply(pkt []byte, discover *dhcpv4.DHCPv4, fromMAC net.HardwareAddr) (Offer, bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return Offer{}, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl+8 {
		return Offer{}, false
	}
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	udp := pkt[ihl:]
	udpLen := int(binary.BigEndian.Uint16(udp[4:6]))
	if udpLen < 8 || udpLen > len(udp) {
		return Offer{}, false
	}
	m, err := dhcpv4.FromBytes(udp[8:udpLen])
	if err != nil || m.TransactionID != discover.TransactionID || !bytes.Equal(m.ClientHWAddr, discover.ClientHWAddr) {
		return Offer{}, false
	}
	return offerFrom(m, src, fromMAC)
}

// udpPacket wraps payload in IPv4 and UDP headers, checksums included.
func udpPacket(payload []byte, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	const ipLen, udpLen = 20, 8
	pkt := make([]byte, ipLen+udpLen+len(payload))
	ip, udp := pkt[:ipLen], pkt[ipLen:]
	ip[0] = 0x45 // version 4, header of 5 words
	ip[1] = 0x10 // low delay, as DHCP clients send
	binary.BigEndian.PutUint16(ip[2:], uint16(len(pkt)))
	ip[8] = 64 // TTL
	ip[9] = unix.IPPROTO_UDP
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))

	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen+len(payload)))
	copy(udp[udpLen:], payload)
	// The pseudo-header: addresses, protocol, UDP length.
	pseudo := uint32(unix.IPPROTO_UDP) + uint32(udpLen+len(payload))
	for _, a := range [][4]byte{s4, d4} {
		pseudo += uint32(binary.BigEndian.Uint16(a[0:])) + uint32(binary.BigEndian.Uint16(a[2:]))
	}
	sum := checksum(udp, pseudo)
	if sum == 0 {
		sum = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return pkt
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// htons converts v to network byte order, as AF_PACKET wants protocols.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
