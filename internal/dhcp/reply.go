package dhcp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// replyOptions are the option values every reply of a server carries, in
// wire form, made once: a reply shares them rather than encoding its own
// (dhcpv4's option constructors allocate each). Nothing writes to them.
type replyOptions struct {
	messageType [dhcpv4.MessageTypeInform + 1][]byte
	serverID    []byte
	leaseTime   []byte
	renewTime   []byte
	rebindTime  []byte
	nakMessage  []byte
	vendorPXE   []byte
	vendorHTTP  []byte
	pxeVendor   []byte // option 43: boot the file in this packet, no menu
}

// options returns the server's replyOptions, made on first use (the
// server's fields do not change once it serves).
func (s *Server) options() *replyOptions {
	s.optionsOnce.Do(func() {
		o := &replyOptions{
			serverID:   s.ServerIP.AsSlice(),
			nakMessage: []byte("requested address not available"),
			vendorPXE:  []byte(vendorPXEClient),
			vendorHTTP: []byte(vendorHTTPClient),
			pxeVendor:  []byte{pxeDiscoveryControl, 1, pxeBootFileInPacket, pxeEnd},
		}
		for mt := range o.messageType {
			o.messageType[mt] = []byte{byte(mt)}
		}
		lt := s.leaseTime()
		o.leaseTime, o.renewTime, o.rebindTime = seconds(lt), seconds(lt/2), seconds(lt*7/8)
		s.opts = o
	})
	return s.opts
}

// seconds is a time option's value (RFC 2132 9.2): whole seconds, 32 bits.
func seconds(d time.Duration) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))
}

// newReply starts a reply of type mt to req: BOOTREPLY, hops 0, xid, flags,
// chaddr and giaddr copied, server identifier set, and the relay agent
// information (RFC 3046) and client identifier (RFC 6842) echoed. Its
// address fields are 4-byte slices to fill with putAddr; it may be a reply
// given back with releaseReply, so that answering allocates none.
func (s *Server) newReply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	reply, _ := s.replies.Get().(*dhcpv4.DHCPv4)
	if reply == nil {
		reply = &dhcpv4.DHCPv4{ClientIPAddr: make(net.IP, 4), YourIPAddr: make(net.IP, 4), ServerIPAddr: make(net.IP, 4),
			GatewayIPAddr: make(net.IP, 4), ClientHWAddr: make(net.HardwareAddr, 0, 16), Options: make(dhcpv4.Options, 16)}
	}
	ci, yi, si, gi, chaddr, opts := reply.ClientIPAddr, reply.YourIPAddr, reply.ServerIPAddr, reply.GatewayIPAddr,
		reply.ClientHWAddr, reply.Options
	clear(ci)
	clear(yi)
	clear(si)
	copyIPv4(gi, req.GatewayIPAddr)
	*reply = dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  ci,
		YourIPAddr:    yi,
		ServerIPAddr:  si,
		GatewayIPAddr: gi,
		ClientHWAddr:  append(chaddr[:0], req.ClientHWAddr...),
		Options:       opts,
	}
	o := s.options()
	if int(mt) < len(o.messageType) {
		reply.Options[dhcpv4.OptionDHCPMessageType.Code()] = o.messageType[mt]
	}
	reply.Options[dhcpv4.OptionServerIdentifier.Code()] = o.serverID
	echoOption(reply, req, dhcpv4.OptionRelayAgentInformation)
	echoOption(reply, req, dhcpv4.OptionClientIdentifier)
	return reply
}

// releaseReply gives back a reply from newReply once it is sent and no
// longer used.
func (s *Server) releaseReply(reply *dhcpv4.DHCPv4) {
	if len(reply.ClientIPAddr) != 4 || len(reply.YourIPAddr) != 4 || len(reply.ServerIPAddr) != 4 ||
		len(reply.GatewayIPAddr) != 4 || reply.Options == nil {
		return // not one of newReply's
	}
	clear(reply.Options) // the request's values it echoed
	reply.BootFileName, reply.ServerHostName = "", ""
	s.replies.Put(reply)
}

// echoOption copies option code from req to reply, if req has it.
func echoOption(reply, req *dhcpv4.DHCPv4, code dhcpv4.OptionCode) {
	if v := req.Options.Get(code); v != nil {
		reply.Options[code.Code()] = v
	}
}

// putAddr writes a into the 4-byte address field dst.
func putAddr(dst net.IP, a netip.Addr) {
	b := a.As4()
	copy(dst, b[:])
}

// copyIPv4 writes src (0.0.0.0 unless it is IPv4) into the 4-byte address
// field dst.
func copyIPv4(dst, src net.IP) {
	if ip4 := src.To4(); ip4 != nil {
		copy(dst, ip4)
		return
	}
	clear(dst)
}

// hostName is option 12 as req.HostName() reads it.
func hostName(o dhcpv4.Options) string {
	return string(o.Get(dhcpv4.OptionHostName))
}
