//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// dhcpTimeouts is how long a machine waits for an answer after each
// transmission of a DISCOVER or REQUEST: 4, 8, 16 and 32 seconds (PXE
// specification 2.1), each randomized by up to a second either way (RFC
// 2131, 4.1), so that machines that lost their first DISCOVER in the same
// burst do not all send the next one in the same millisecond.
var dhcpTimeouts = []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}

// pxeClassID is option 60 of BIOS PXE firmware (architecture 0, UNDI 2.1).
const pxeClassID = "PXEClient:Arch:00000:UNDI:002001"

// errDHCPTimeout is a DORA step that got no answer after every retransmission.
var errDHCPTimeout = errors.New("no answer after every retransmission")

// dhcpPort is the DHCP client side of every machine: one socket on port 68
// of the lower interface. Servers broadcast their replies (the machines set
// the broadcast flag, as firmware does before it has an address), so one
// socket reads them all and hands each to its machine by transaction ID.
type dhcpPort struct {
	conn *net.UDPConn

	mu      sync.Mutex
	waiting map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4
}

// openDHCP binds 0.0.0.0:68 on the interface lower and starts reading.
func openDHCP(ctx context.Context, lower string) (*dhcpPort, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		if err := bindToDevice(lower)(network, address, c); err != nil {
			return err
		}
		var opErr error
		err := c.Control(func(fd uintptr) {
			// A burst of a thousand replies must not overflow the default buffer.
			opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		})
		if err != nil {
			return err
		}
		return opErr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:68")
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s port 68: %w", lower, err)
	}
	p := &dhcpPort{conn: pc.(*net.UDPConn), waiting: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}}
	go p.read()
	return p, nil
}

func (p *dhcpPort) Close() error { return p.conn.Close() }

func (p *dhcpPort) read() {
	buf := make([]byte, 65536)
	for {
		n, _, err := p.conn.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		msg, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || msg.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		p.mu.Lock()
		ch := p.waiting[msg.TransactionID]
		p.mu.Unlock()
		if ch != nil {
			select {
			case ch <- msg:
			default: // the machine is not reading: a duplicate it will not miss
			}
		}
	}
}

// lease is what a machine learned from its ACK.
type lease struct {
	ip         netip.Addr
	prefixLen  int
	tftpServer netip.Addr // next-server (siaddr), else option 66, else the server identifier
	bootFile   string     // the file field, else option 67
	configFile string     // option 209, pxelinux's config file
	pathPrefix string     // option 210, pxelinux's path prefix
	sends      int        // DISCOVERs and REQUESTs sent
}

// dora gets a lease for mac the way PXE firmware does: DISCOVER, the first
// OFFER that names a boot file, REQUEST, ACK; each retransmitted after
// dhcpTimeouts without an answer.
func (p *dhcpPort) dora(ctx context.Context, mac net.HardwareAddr, guid [16]byte, xid dhcpv4.TransactionID) (lease, error) {
	ch := make(chan *dhcpv4.DHCPv4, 16)
	p.mu.Lock()
	p.waiting[xid] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, xid)
		p.mu.Unlock()
	}()

	var l lease
	start := time.Now()
	discover := pxeRequest(mac, guid, xid, dhcpv4.MessageTypeDiscover)
	offer, err := p.exchange(ctx, discover, ch, start, &l.sends, func(r *dhcpv4.DHCPv4) bool {
		return r.MessageType() == dhcpv4.MessageTypeOffer && sameMAC(r.ClientHWAddr, mac)
	})
	if err != nil {
		return l, fmt.Errorf("discover: %w", err)
	}
	if bootFileOf(offer) == "" {
		return l, fmt.Errorf("offer of %s names no boot file", offer.YourIPAddr)
	}
	request := pxeRequest(mac, guid, xid, dhcpv4.MessageTypeRequest,
		dhcpv4.OptRequestedIPAddress(offer.YourIPAddr), dhcpv4.OptServerIdentifier(offer.ServerIdentifier()))
	ack, err := p.exchange(ctx, request, ch, start, &l.sends, func(r *dhcpv4.DHCPv4) bool {
		t := r.MessageType()
		return (t == dhcpv4.MessageTypeAck || t == dhcpv4.MessageTypeNak) && sameMAC(r.ClientHWAddr, mac)
	})
	if err != nil {
		return l, fmt.Errorf("request: %w", err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return l, fmt.Errorf("request: NAK: %s", ack.Message())
	}
	return leaseOf(ack, l.sends)
}

// exchange sends msg, retransmitting it, until a reply on ch passes match.
func (p *dhcpPort) exchange(ctx context.Context, msg *dhcpv4.DHCPv4, ch chan *dhcpv4.DHCPv4, start time.Time,
	sends *int, match func(*dhcpv4.DHCPv4) bool) (*dhcpv4.DHCPv4, error) {
	to := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}
	for _, wait := range dhcpTimeouts {
		msg.NumSeconds = uint16(time.Since(start) / time.Second)
		if _, err := p.conn.WriteToUDP(msg.ToBytes(), to); err != nil {
			return nil, fmt.Errorf("send %s: %w", msg.MessageType(), err)
		}
		*sends++
		timer := time.NewTimer(wait - time.Second + rand.N(2*time.Second))
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			case r := <-ch:
				if match(r) {
					timer.Stop()
					return r, nil
				}
			case <-timer.C:
				break wait
			}
		}
	}
	return nil, errDHCPTimeout
}

// pxeRequest is a DISCOVER or REQUEST as BIOS PXE firmware sends it.
func pxeRequest(mac net.HardwareAddr, guid [16]byte, xid dhcpv4.TransactionID, typ dhcpv4.MessageType, extra ...dhcpv4.Option) *dhcpv4.DHCPv4 {
	arch := make([]byte, 2) // option 93: 0, Intel x86PC
	msg, _ := dhcpv4.New(
		dhcpv4.WithTransactionID(xid),
		dhcpv4.WithHwAddr(mac),
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1260)),
		dhcpv4.WithRequestedOptions(
			dhcpv4.OptionSubnetMask, dhcpv4.OptionTimeOffset, dhcpv4.OptionRouter, dhcpv4.OptionTimeServer,
			dhcpv4.OptionNameServer, dhcpv4.OptionDomainNameServer, dhcpv4.OptionHostName, dhcpv4.OptionBootFileSize,
			dhcpv4.OptionDomainName, dhcpv4.OptionRootPath, dhcpv4.OptionVendorSpecificInformation,
			dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName, dhcpv4.OptionClientMachineIdentifier,
			dhcpv4.OptionClassIdentifier, dhcpv4.OptionPXELinuxConfigFile, dhcpv4.OptionPXELinuxPathPrefix),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(pxeClassID)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, arch),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}), // UNDI 2.1
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, guid[:]...)),
	)
	for _, o := range extra {
		msg.UpdateOption(o)
	}
	return msg
}

func bootFileOf(r *dhcpv4.DHCPv4) string {
	if r.BootFileName != "" {
		return r.BootFileName
	}
	return r.BootFileNameOption()
}

// leaseOf reads what the machine needs from its ACK.
func leaseOf(ack *dhcpv4.DHCPv4, sends int) (lease, error) {
	l := lease{sends: sends, bootFile: bootFileOf(ack),
		configFile: dhcpv4.GetString(dhcpv4.OptionPXELinuxConfigFile, ack.Options),
		pathPrefix: dhcpv4.GetString(dhcpv4.OptionPXELinuxPathPrefix, ack.Options)}
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return l, fmt.Errorf("ack without an address")
	}
	l.ip = ip
	l.prefixLen = 24
	if mask := ack.SubnetMask(); mask != nil {
		l.prefixLen, _ = mask.Size()
	}
	if l.bootFile == "" {
		return l, fmt.Errorf("ack for %s names no boot file", ip)
	}
	for _, candidate := range []net.IP{ack.ServerIPAddr, net.ParseIP(ack.TFTPServerName()), ack.ServerIdentifier()} {
		if a, ok := netip.AddrFromSlice(candidate.To4()); ok && !a.IsUnspecified() {
			l.tftpServer = a
			break
		}
	}
	if !l.tftpServer.IsValid() {
		return l, fmt.Errorf("ack for %s names no TFTP server", ip)
	}
	return l, nil
}

func sameMAC(chaddr, mac net.HardwareAddr) bool {
	return len(chaddr) >= len(mac) && bytes.Equal(chaddr[:len(mac)], mac)
}
