package dhcp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// packetReader reads one worker's requests with a raw recvmsg(2): the
// sender and the IP_PKTINFO interface come back in buffers kept from one
// request to the next, where x/net allocates a control message and an
// address for each. The socket is non-blocking, so the raw system call
// never blocks; RawConn.Read waits for the next request.
type packetReader struct {
	recv func(fd uintptr) bool // r.recvmsg, bound once: a method value per read would allocate

	iov  unix.Iovec
	msg  unix.Msghdr
	from unix.RawSockaddrInet4
	oob  [128]byte
	n    int
	err  error

	src   net.UDPAddr
	srcIP [4]byte
}

func (r *packetReader) read(raw syscall.RawConn, buf []byte) (int, int, *net.UDPAddr, error) {
	if r.recv == nil {
		r.recv = r.recvmsg
	}
	r.iov.Base = &buf[0]
	r.iov.SetLen(len(buf))
	r.err = nil
	if err := raw.Read(r.recv); err != nil {
		return 0, 0, nil, err
	}
	if r.err != nil {
		return 0, 0, nil, r.err
	}
	r.srcIP = r.from.Addr
	r.src = net.UDPAddr{IP: r.srcIP[:], Port: int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&r.from.Port))[:]))}
	return r.n, r.ifIndex(), &r.src, nil
}

// recvmsg is RawConn.Read's callback: false asks it to wait until the
// socket is readable.
func (r *packetReader) recvmsg(fd uintptr) bool {
	r.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.from)), Namelen: unix.SizeofSockaddrInet4,
		Iov: &r.iov, Iovlen: 1, Control: &r.oob[0]}
	r.msg.SetControllen(len(r.oob))
	for {
		n, _, errno := syscall.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), unix.MSG_DONTWAIT)
		switch errno {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.err = os.NewSyscallError("recvmsg", errno)
		return true
	}
}

// ifIndex finds the interface in the IP_PKTINFO control message; 0 when
// there is none.
func (r *packetReader) ifIndex() int {
	oob := r.oob[:r.msg.Controllen]
	header := unix.CmsgSpace(0)
	for len(oob) >= header {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		size := int(h.Len)
		if size < header || size > len(oob) {
			return 0
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && size >= header+unix.SizeofInet4Pktinfo {
			return int((*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[header])).Ifindex)
		}
		oob = oob[min(unix.CmsgSpace(size-header), len(oob)):]
	}
	return 0
}

// packetWriter sends one worker's replies with a raw sendmsg(2), from a
// message header, address and IP_PKTINFO control message kept from one
// reply to the next: x/net marshals a control message for each.
type packetWriter struct {
	send func(fd uintptr) bool // w.sendmsg, bound once

	iov unix.Iovec
	msg unix.Msghdr
	to  unix.RawSockaddrInet4
	oob [64]byte
	err error
}

// write sends b to dst, through the interface ifIndex when it is not 0.
func (w *packetWriter) write(raw syscall.RawConn, b []byte, ifIndex int, dst netip.AddrPort) error {
	if w.send == nil {
		w.send = w.sendmsg
	}
	w.to = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.Addr().As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&w.to.Port))[:], dst.Port())
	w.iov.Base = &b[0]
	w.iov.SetLen(len(b))
	w.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&w.to)), Namelen: unix.SizeofSockaddrInet4, Iov: &w.iov, Iovlen: 1}
	if ifIndex != 0 {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&w.oob[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		*(*unix.Inet4Pktinfo)(unsafe.Pointer(&w.oob[unix.CmsgLen(0)])) = unix.Inet4Pktinfo{Ifindex: int32(ifIndex)}
		w.msg.Control = &w.oob[0]
		w.msg.SetControllen(unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	}
	w.err = nil
	if err := raw.Write(w.send); err != nil {
		return err
	}
	return w.err
}

// sendmsg is RawConn.Write's callback: false asks it to wait until the
// socket is writable.
func (w *packetWriter) sendmsg(fd uintptr) bool {
	for {
		_, _, errno := syscall.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&w.msg)), unix.MSG_DONTWAIT)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		w.err = os.NewSyscallError("sendmsg", errno)
		return true
	}
}
