package netif

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Neighbours answers what the kernel's neighbour table (ARP) says of one
// address on one interface, with one netlink request (RTM_GETNEIGH for that
// address): its cost does not grow with the table, where reading
// /proc/net/arp parses every entry, hundreds in a rack that boots at once.
// A kernel that cannot answer one address (before Linux 5.0) is read
// through /proc/net/arp instead. It is safe for concurrent use.
type Neighbours struct {
	ifIndex int

	mu  sync.Mutex
	fd  int // the netlink socket, -1 before the first request or after an error
	seq uint32
	buf []byte
	old bool // the kernel knows no single-address request
}

// NewNeighbours looks up addresses on the interface named name.
func NewNeighbours(name string) (*Neighbours, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("neighbour table of %s: %w", name, err)
	}
	return &Neighbours{ifIndex: ifi.Index, fd: -1, buf: make([]byte, 4096)}, nil
}

// Lookup returns the MAC the neighbour table has for ip now, if it has a
// complete entry.
func (n *Neighbours) Lookup(ip netip.Addr) (net.HardwareAddr, bool) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.old {
		mac, ok, err := n.get(ip)
		if err == nil {
			return mac, ok
		}
		n.close()
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
			return nil, false
		}
		n.old = true
	}
	mac, ok := ReadARP()[ip]
	return mac, ok
}

// Close releases the netlink socket.
func (n *Neighbours) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.close()
	return nil
}

func (n *Neighbours) close() {
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

// Sizes of the netlink request: a message header, an ndmsg, and NDA_DST.
const (
	nlmsgHeaderLen = unix.SizeofNlMsghdr
	ndmsgLen       = unix.SizeofNdMsg
	dstAttrLen     = unix.SizeofRtAttr + 4
	neighRequest   = nlmsgHeaderLen + ndmsgLen + dstAttrLen
)

// get asks the kernel for ip's entry. ENOENT is no entry, not an error.
func (n *Neighbours) get(ip netip.Addr) (net.HardwareAddr, bool, error) {
	if n.fd < 0 {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return nil, false, os.NewSyscallError("socket", err)
		}
		// A reply that does not come in a second is an error, not a hang.
		tv := unix.Timeval{Sec: 1}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return nil, false, os.NewSyscallError("setsockopt", err)
		}
		n.fd = fd
	}
	n.seq++
	var req [neighRequest]byte
	binary.NativeEndian.PutUint32(req[0:], neighRequest)
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETNEIGH)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:], n.seq)
	nd := req[nlmsgHeaderLen:]
	nd[0] = unix.AF_INET
	binary.NativeEndian.PutUint32(nd[4:], uint32(n.ifIndex))
	attr := nd[ndmsgLen:]
	binary.NativeEndian.PutUint16(attr[0:], dstAttrLen)
	binary.NativeEndian.PutUint16(attr[2:], unix.NDA_DST)
	a4 := ip.As4()
	copy(attr[unix.SizeofRtAttr:], a4[:])
	if err := unix.Sendto(n.fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, false, os.NewSyscallError("sendto", err)
	}
	for {
		size, _, err := unix.Recvfrom(n.fd, n.buf, 0)
		if err != nil {
			return nil, false, os.NewSyscallError("recvfrom", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(n.buf[:size])
		if err != nil {
			return nil, false, err
		}
		for _, m := range msgs {
			if m.Header.Seq != n.seq {
				continue // an answer to an earlier request that timed out
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, false, errors.New("netlink: short error message")
				}
				errno := -int32(binary.NativeEndian.Uint32(m.Data))
				if errno == 0 || syscall.Errno(errno) == unix.ENOENT {
					return nil, false, nil
				}
				return nil, false, syscall.Errno(errno)
			case unix.RTM_NEWNEIGH:
				mac, ok := parseNeigh(m.Data)
				return mac, ok, nil
			}
		}
	}
}

// parseNeigh reads an RTM_NEWNEIGH message: the entry's link-layer address
// when the entry is complete (the kernel has heard from the address).
func parseNeigh(b []byte) (net.HardwareAddr, bool) {
	if len(b) < ndmsgLen {
		return nil, false
	}
	nd := (*unix.NdMsg)(unsafe.Pointer(&b[0]))
	if nd.State&(unix.NUD_INCOMPLETE|unix.NUD_FAILED|unix.NUD_NOARP) != 0 || nd.State == unix.NUD_NONE {
		return nil, false
	}
	for rest := b[ndmsgLen:]; len(rest) >= unix.SizeofRtAttr; {
		size := int(binary.NativeEndian.Uint16(rest[0:]))
		if size < unix.SizeofRtAttr || size > len(rest) {
			break
		}
		if binary.NativeEndian.Uint16(rest[2:]) == unix.NDA_LLADDR && size == unix.SizeofRtAttr+6 {
			return net.HardwareAddr(append([]byte(nil), rest[unix.SizeofRtAttr:size]...)), true
		}
		rest = rest[min((size+3)&^3, len(rest)):] // attributes are 4-byte aligned
	}
	return nil, false
}
