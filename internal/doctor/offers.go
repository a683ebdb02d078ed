package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// ProbeVendorClass is what the probe's DISCOVER says it is: a BIOS PXE
// client (option 60), as the firmware that matters most sends it.
const ProbeVendorClass = "PXEClient:Arch:00000:UNDI:002001"

// ErrProbeNotSupported is returned by ProbeDHCP where raw sockets are not
// available (anything but Linux).
var ErrProbeNotSupported = errors.New("the DHCP probe needs Linux")

// Offer is one DHCPOFFER heard in answer to the probe.
type Offer struct {
	// ServerID is the server identifier (option 54), or the sender's
	// address when the offer has none.
	ServerID netip.Addr `json:"server_id"`
	// From is the offer's IP source address, FromMAC its Ethernet source.
	From    netip.Addr `json:"from"`
	FromMAC string     `json:"from_mac,omitempty"`
	// Address is the address offered (yiaddr); zero in a proxyDHCP offer,
	// which gives boot information only.
	Address netip.Addr `json:"address,omitzero"`
	// NextServer is siaddr: the TFTP server, if the offer names one.
	NextServer netip.Addr `json:"next_server,omitzero"`
	// BootFile is the file field or option 67.
	BootFile string `json:"boot_file,omitempty"`
	// TFTPServer is option 66 or the sname field.
	TFTPServer string `json:"tftp_server,omitempty"`
	// PXEClient is whether the offer carries option 60 "PXEClient": an
	// answer meant for PXE firmware (a PXE or proxyDHCP server).
	PXEClient bool `json:"pxe_client"`
}

// GivesAddress reports whether the offer lends an address.
func (o Offer) GivesAddress() bool { return o.Address.IsValid() && !o.Address.IsUnspecified() }

// GivesBoot reports whether the offer tells PXE firmware what to boot: a
// boot file, or a PXE answer (option 60 PXEClient). A next-server alone
// does not: many servers set siaddr to themselves.
func (o Offer) GivesBoot() bool { return o.BootFile != "" || o.PXEClient }

// offerFrom reads an offer out of a reply to the probe (xid and chaddr
// already matched); ok is false for anything but an OFFER.
func offerFrom(m *dhcpv4.DHCPv4, from netip.Addr, fromMAC net.HardwareAddr) (Offer, bool) {
	if m.OpCode != dhcpv4.OpcodeBootReply || m.MessageType() != dhcpv4.MessageTypeOffer {
		return Offer{}, false
	}
	o := Offer{From: from, ServerID: from, Address: addr4(m.YourIPAddr), NextServer: addr4(m.ServerIPAddr),
		PXEClient: strings.HasPrefix(m.ClassIdentifier(), "PXEClient")}
	if len(fromMAC) > 0 {
		o.FromMAC = fromMAC.String()
	}
	if id := addr4(m.ServerIdentifier()); id.IsValid() {
		o.ServerID = id
	}
	o.BootFile = strings.TrimRight(m.BootFileName, "\x00")
	if o.BootFile == "" {
		o.BootFile = m.BootFileNameOption()
	}
	o.TFTPServer = m.TFTPServerName()
	if o.TFTPServer == "" {
		o.TFTPServer = strings.TrimRight(m.ServerHostName, "\x00")
	}
	return o, true
}

// addr4 converts an IPv4 field; 0.0.0.0 and anything else give the zero Addr.
func addr4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// ProbeDHCP broadcasts a PXE DHCPDISCOVER (option 60 ProbeVendorClass,
// option 93 arch 0) on the interface, from its own MAC, and returns every
// OFFER heard within wait (or until ctx ends), one per server and address.
// It sends from a raw socket, so it works while a DHCP client holds port
// 68, and needs root (CAP_NET_RAW). It requests nothing: no server commits
// a lease to a DISCOVER.
func ProbeDHCP(ctx context.Context, ifi *net.Interface, wait time.Duration) ([]Offer, error) {
	return probeDHCP(ctx, ifi, wait)
}

// discoverFor builds the probe's DISCOVER from mac: broadcast flag set, so
// every answer comes back broadcast whatever address it offers.
func discoverFor(mac net.HardwareAddr) (*dhcpv4.DHCPv4, error) {
	return dhcpv4.NewDiscovery(mac,
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(ProbeVendorClass)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0}),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1472)),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName,
			dhcpv4.OptionClassIdentifier, dhcpv4.OptionVendorSpecificInformation),
	)
}

// addOffer appends o unless the same server already offered the same thing
// (the probe sends its DISCOVER twice).
func addOffer(offers []Offer, o Offer) []Offer {
	if slices.Contains(offers, o) {
		return offers
	}
	return append(offers, o)
}

func (d *Doctor) checkDHCP(ctx context.Context, ifc iface) []Check {
	wait := d.dhcpWait()
	switch {
	case wait < 0:
		return []Check{{Name: "dhcp", Status: Warn, Text: "other DHCP servers not looked for (probe turned off)"}}
	case !ifc.usable:
		return []Check{{Name: "dhcp", Status: Warn, Text: "other DHCP servers not looked for: the interface is not usable"}}
	}
	offers, err := probeDHCP(ctx, ifc.ifi, wait)
	if err != nil {
		return []Check{{Name: "dhcp", Status: Warn, Text: fmt.Sprintf("other DHCP servers not looked for on %s: %v", ifc.name, err)}}
	}
	serverIP := ifc.prefix.Addr()
	if ip, err := netip.ParseAddr(d.Config.ServerIP); err == nil {
		serverIP = ip
	}
	return InterpretOffers(d.Config.DHCP, ifc.name, serverIP, wait, offers)
}

// InterpretOffers says what the offers heard on iface mean for kickstand in
// DHCP mode (proxy, full or off) at serverIP. With --dhcp proxy a server
// lending addresses is what proxy mode needs, and one that also gives a
// boot file makes two boot answers (warn). With --dhcp full any other
// server lending addresses fails: two DHCP servers on one LAN. With --dhcp
// off the LAN's server must send PXE clients to kickstand.
func InterpretOffers(mode, iface string, serverIP netip.Addr, waited time.Duration, offers []Offer) []Check {
	var checks []Check
	lenders := 0
	for _, o := range offers {
		switch {
		case o.GivesAddress():
			lenders++
			checks = append(checks, judgeLender(mode, iface, serverIP, o))
		case o.GivesBoot():
			checks = append(checks, Check{Name: "dhcp", Status: Warn, Text: fmt.Sprintf(
				"%s is another PXE server on %s (proxyDHCP%s): PXE clients get two boot answers and may follow either; stop one of them", o.who(), iface, o.bootText())})
		}
	}
	if lenders > 0 {
		return checks
	}
	c := Check{Name: "dhcp", Status: Warn}
	waitText := waited.Round(100 * time.Millisecond).String()
	switch mode {
	case "full":
		c.Status, c.Text = Pass, fmt.Sprintf("no other DHCP server offered an address on %s within %s", iface, waitText)
	case "off":
		c.Text = fmt.Sprintf("no DHCP server offered an address on %s within %s: with --dhcp off another server must lend addresses and point PXE clients at kickstand (or use --dhcp full)",
			iface, waitText)
	default:
		c.Text = fmt.Sprintf("no DHCP server offered an address on %s within %s: with --dhcp proxy the LAN's server lends PXE clients their address; without one use --dhcp full --dhcp-range FIRST-LAST",
			iface, waitText)
	}
	return append(checks, c)
}

// judgeLender says what a server lending addresses means in a DHCP mode.
func judgeLender(mode, iface string, serverIP netip.Addr, o Offer) Check {
	c := Check{Name: "dhcp", Status: Warn}
	lends := fmt.Sprintf("%s offers addresses on %s (%s", o.who(), iface, o.Address)
	switch {
	case mode == "full":
		c.Status, c.Text = Fail, lends+o.bootText()+") while --dhcp full: two DHCP servers on one LAN; stop one or use --dhcp proxy"
	case mode == "off" && o.GivesBoot() && o.pointsAt(serverIP) && servedBootFile(o.BootFile) != "":
		c.Text = lends + ") and sends PXE clients to kickstand" + o.bootText() + ", but " + servedBootFile(o.BootFile)
	case mode == "off" && o.GivesBoot() && o.pointsAt(serverIP):
		c.Status, c.Text = Pass, lends+") and sends PXE clients to kickstand"+o.bootText()+", as --dhcp off needs"
	case mode == "off" && o.GivesBoot():
		c.Text = fmt.Sprintf("%s) but sends PXE clients elsewhere%s: with --dhcp off set its next-server to %s and its filename to lpxelinux.0", lends, o.bootText(), serverIP)
	case mode == "off":
		c.Text = fmt.Sprintf("%s) but no boot file: with --dhcp off set its next-server to %s and its filename to lpxelinux.0", lends, serverIP)
	case o.GivesBoot(): // proxy
		c.Text = lends + ") and a boot answer too" + o.bootText() + ": PXE clients get two boot answers and may follow either; " +
			"remove its next-server and filename (options 66/67), or run kickstand with --dhcp off and point them at it"
	default:
		c.Status, c.Text = Pass, lends+o.bootText()+"): the LAN's DHCP server, without a boot answer, as --dhcp proxy expects"
	}
	return c
}

// who names the server: its identifier, and the address and MAC it sent from.
func (o Offer) who() string {
	s := o.ServerID.String()
	if o.From.IsValid() && o.From != o.ServerID {
		s += " (via " + o.From.String() + ")"
	}
	if o.FromMAC != "" {
		s += " [" + o.FromMAC + "]"
	}
	return s
}

// bootText lists the boot information of an offer: "; boot file "x",
// next-server y, option 60 PXEClient", or "; next-server y, no boot file".
func (o Offer) bootText() string {
	var parts []string
	if o.BootFile != "" {
		parts = append(parts, fmt.Sprintf("boot file %q", o.BootFile))
	}
	if o.NextServer.IsValid() {
		parts = append(parts, "next-server "+o.NextServer.String())
	}
	if o.TFTPServer != "" {
		parts = append(parts, "TFTP server "+o.TFTPServer)
	}
	if o.PXEClient {
		parts = append(parts, "option 60 PXEClient")
	}
	if len(parts) > 0 && !o.GivesBoot() {
		parts = append(parts, "no boot file") // a next-server alone boots nothing
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

// servedBootFile says what is wrong with a boot file name another DHCP
// server gives for kickstand to serve, or "" when kickstand serves it.
func servedBootFile(name string) string {
	switch {
	case name == "", strings.Contains(name, "://"):
		return ""
	case strings.Contains(strings.Trim(name, "/"), "/"):
		return fmt.Sprintf("kickstand serves boot programs at the TFTP root: set the filename to %s, without the directory", path.Base(name))
	case !slices.Contains(firstStageLoaders, strings.TrimPrefix(name, "/")):
		return fmt.Sprintf("kickstand does not serve %s: set the filename to lpxelinux.0 (BIOS; UEFI: BOOTX64.EFI or snponly.efi)", name)
	}
	return ""
}

// pointsAt reports whether the offer sends PXE clients to ip for TFTP.
func (o Offer) pointsAt(ip netip.Addr) bool {
	return o.NextServer == ip || o.TFTPServer == ip.String() ||
		o.NextServer == (netip.Addr{}) && o.TFTPServer == "" && o.ServerID == ip
}
