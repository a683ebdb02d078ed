package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// maxBootFileField is the longest name that fits the 128-byte file field
// with its terminating NUL; longer names go in option 67 only.
const maxBootFileField = 127

// handlePacket decodes one datagram received on port and returns the reply
// to send, or nil. Malformed packets are dropped with a debug log. The reply
// may hold slices of b (options echoed from the request): b must stay as it
// is until the reply is sent.
func (s *Server) handlePacket(ctx context.Context, b []byte, port, ifIndex int) *dhcpv4.DHCPv4 {
	req := requests.Get().(*dhcpv4.DHCPv4)
	defer requests.Put(req)
	if err := decodeInto(req, b); err != nil {
		s.logger().Debug("dhcp: dropping malformed packet", "len", len(b), "err", err)
		s.packet(PacketInvalid, OutcomeIgnored)
		return nil
	}
	return s.handle(ctx, req, port, ifIndex)
}

// handle decides the reply to one request received on port (67 or the PXE
// port) through interface ifIndex, and tells OnPacket what became of it;
// nil means send nothing.
func (s *Server) handle(ctx context.Context, req *dhcpv4.DHCPv4, port, ifIndex int) *dhcpv4.DHCPv4 {
	quiet := OutcomeIgnored // the outcome if there is no reply; the handlers may say why
	reply := s.answer(ctx, req, port, ifIndex, &quiet)
	s.packet(packetType(req.Options), outcomeOf(reply, quiet))
	return reply
}

// answer is handle's decision; quiet is set when a request that gets no
// reply was still taken (a RELEASE, a DECLINE) or refused.
func (s *Server) answer(ctx context.Context, req *dhcpv4.DHCPv4, port, ifIndex int, quiet *string) *dhcpv4.DHCPv4 {
	if err := checkRequest(req); err != nil {
		s.logger().Debug("dhcp: dropping packet", "err", err)
		return nil
	}
	f := parseFacts(req, ifIndex, &s.shared)
	log := s.requestLog(ctx, req, f)
	if log.debug {
		log.Debug("dhcp: request", "port", port, "vendor", f.VendorClass,
			"arch", archName(f), "ipxe", f.IPXE, "ciaddr", req.ClientIPAddr, "giaddr", req.GatewayIPAddr)
	}
	if port == s.pxePort() {
		return s.bootServerAck(ctx, req, f, log, quiet)
	}
	switch s.mode() {
	case ModeProxy:
		return s.handleProxy(ctx, req, f, log, quiet)
	case ModeFull:
		return s.handleFull(ctx, req, f, log, quiet)
	}
	return nil
}

// checkRequest rejects what this server does not answer: replies, BOOTP
// (no message type) and hardware other than Ethernet.
func checkRequest(req *dhcpv4.DHCPv4) error {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return fmt.Errorf("op %d is not BOOTREQUEST", req.OpCode)
	}
	if req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return fmt.Errorf("hardware type %d with address length %d is not Ethernet", req.HWType, len(req.ClientHWAddr))
	}
	if messageType(req.Options) == dhcpv4.MessageTypeNone {
		return errors.New("no DHCP message type (plain BOOTP is not answered)")
	}
	return nil
}

func archName(f ClientFacts) string {
	if !f.HasArch {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", f.Arch, iana.Arch(f.Arch))
}

// bootFor asks Boot for a PXE client's boot information; ok=false means
// none. BootReply.Ignore is returned with ok=true for the caller to decide.
func (s *Server) bootFor(ctx context.Context, f ClientFacts, log requestLog) (BootReply, bool) {
	if !f.PXE {
		log.Debug("dhcp: no boot information: not a PXE or HTTP-boot client")
		return BootReply{}, false
	}
	if s.Boot == nil {
		log.Debug("dhcp: no boot information: no boot function configured")
		return BootReply{}, false
	}
	b, ok := s.Boot(ctx, f)
	switch {
	case !ok:
		log.Debug("dhcp: no boot information for this client")
		return BootReply{}, false
	case b.Ignore:
		log.Debug("dhcp: boot function says ignore this client")
		return b, true
	case b.BootFile == "":
		log.Debug("dhcp: no boot information: boot function gave no boot file")
		return BootReply{}, false
	}
	return b, true
}

// addBoot puts boot information into reply: siaddr, file and option 67,
// option 60 echoing the client's kind, option 97 copied from the request,
// and for PXE (not HTTP) clients option 43 telling the firmware to boot the
// file in this packet without boot server discovery.
func (s *Server) addBoot(reply, req *dhcpv4.DHCPv4, f ClientFacts, b BootReply, log requestLog) {
	putAddr(reply.ServerIPAddr, s.nextServer(b, log))
	if len(b.BootFile) <= maxBootFileField {
		reply.BootFileName = b.BootFile
	} else {
		log.Debug("dhcp: boot file name too long for the file field; sent in option 67 only", "len", len(b.BootFile))
	}
	o := s.options()
	reply.Options[dhcpv4.OptionBootfileName.Code()] = []byte(b.BootFile)
	if f.HTTPClient {
		reply.Options[dhcpv4.OptionClassIdentifier.Code()] = o.vendorHTTP
	} else {
		reply.Options[dhcpv4.OptionClassIdentifier.Code()] = o.vendorPXE
		reply.Options[dhcpv4.OptionVendorSpecificInformation.Code()] = o.pxeVendor
	}
	echoOption(reply, req, dhcpv4.OptionClientMachineIdentifier)
}

// nextServer is the boot reply's TFTP server, or ServerIP when it has none
// or it is not an IPv4 address.
func (s *Server) nextServer(b BootReply, log requestLog) netip.Addr {
	if b.NextServer == nil {
		return s.ServerIP
	}
	ip, ok := ipv4Of(b.NextServer)
	if !ok {
		log.Warn("dhcp: boot function gave an unusable next server; using our own address", "next_server", b.NextServer.String())
		return s.ServerIP
	}
	return ip
}

// PXE vendor sub-options (PXE 2.1, section 2.4.1 table 2-1).
const (
	pxeDiscoveryControl = 6
	pxeEnd              = 255
	// pxeBootFileInPacket is PXE_DISCOVERY_CONTROL bit 3: download the
	// boot file in this packet, no boot server discovery (no menu).
	pxeBootFileInPacket = 8
)

// discoverDetail describes a DISCOVER for the timeline.
func discoverDetail(f ClientFacts) string {
	if f.VendorClass == "" {
		return "no vendor class"
	}
	return fmt.Sprintf("vendor class %q, arch %s", f.VendorClass, archName(f))
}

func bootDetail(reply *dhcpv4.DHCPv4, f ClientFacts) string {
	return fmt.Sprintf("boot %q from %s, arch %s", reply.BootFileNameOption(), reply.ServerIPAddr, archName(f))
}

// ipv4Of converts an address field to netip; ok is false for nil, 0.0.0.0
// and anything that is not IPv4.
func ipv4Of(ip net.IP) (netip.Addr, bool) {
	ip4 := ip.To4()
	if ip4 == nil {
		return netip.Addr{}, false
	}
	a := netip.AddrFrom4([4]byte(ip4))
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// ip4Slice returns a 4-byte copy of ip, or 0.0.0.0.
func ip4Slice(ip net.IP) net.IP {
	if ip4 := ip.To4(); ip4 != nil {
		return bytes.Clone(ip4)
	}
	return net.IP{0, 0, 0, 0}
}
