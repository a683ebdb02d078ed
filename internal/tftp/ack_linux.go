package tftp

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// ackReader reads a transfer's socket through its raw descriptor, so that the
// wait for an acknowledgement can poll before it sleeps (see spinner). A
// non-blocking recvfrom(2) cannot block, so it is made as a raw system call:
// an ordinary one would wake the runtime's monitor thread whenever every
// other goroutine sleeps, which between two blocks of a lock-step transfer
// they do. Nothing is allocated per datagram.
type ackReader struct {
	conn *net.UDPConn
	raw  syscall.RawConn // nil: read through conn
	spin *spinner
	try  func(fd uintptr) bool // r.recv, bound once: a method value per read would allocate

	buf     []byte
	n       int
	err     error
	from    syscall.RawSockaddrAny
	fromLen uint32

	polling bool      // this read holds the right to poll
	start   time.Time // when this read began
	skip    int       // reads left to sleep through without polling
}

func newAckReader(conn *net.UDPConn, spin *spinner) *ackReader {
	r := &ackReader{conn: conn, spin: spin}
	if raw, err := conn.SyscallConn(); err == nil {
		r.raw = raw
		r.try = r.recv
	}
	return r
}

// read returns the next datagram's length and sender; at the socket's read
// deadline, an error matching os.ErrDeadlineExceeded.
func (r *ackReader) read(buf []byte) (int, netip.AddrPort, error) {
	if r.raw == nil {
		return r.conn.ReadFromUDPAddrPort(buf)
	}
	r.buf, r.err = buf, nil
	if r.skip > 0 {
		r.skip--
	} else if r.polling = r.spin.acquire(); r.polling {
		r.start = time.Now()
	}
	err := r.raw.Read(r.try)
	r.stopPolling()
	if err == nil {
		err = r.err
	}
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return r.n, r.sender(), nil
}

// recv is RawConn.Read's callback: it reads one datagram if one is there,
// polls for one while the budget lasts, and otherwise asks Read to sleep
// until the socket is readable.
func (r *ackReader) recv(fd uintptr) bool {
	for {
		r.fromLen = syscall.SizeofSockaddrAny
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
			syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&r.fromLen)))
		switch errno {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if r.polling && time.Since(r.start) < r.spin.budget {
				continue
			}
			if r.polling {
				r.stopPolling()
				r.skip = missBackoff
			}
			return false
		}
		r.err = os.NewSyscallError("recvfrom", errno)
		return true
	}
}

func (r *ackReader) stopPolling() {
	if r.polling {
		r.polling = false
		r.spin.release()
	}
}

// sender decodes the address of the last datagram read. An IPv6 sender's
// interface becomes a numeric zone.
func (r *ackReader) sender() netip.AddrPort {
	switch r.from.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.from))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), networkOrder(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&r.from))
		addr := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			addr = addr.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(addr, networkOrder(sa.Port))
	}
	return netip.AddrPort{}
}

// networkOrder reads a port as the kernel stores it, most significant byte first.
func networkOrder(port uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&port))
	return uint16(b[0])<<8 | uint16(b[1])
}
