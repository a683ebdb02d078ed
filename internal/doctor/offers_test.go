package doctor

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var (
	lanServer = Offer{ServerID: netip.MustParseAddr("10.213.7.2"), From: netip.MustParseAddr("10.213.7.2"), FromMAC: "52:54:00:aa:bb:cc",
		Address: netip.MustParseAddr("10.213.7.57"), NextServer: netip.MustParseAddr("10.213.7.2")}
	lanServerWithBoot = func() Offer { o := lanServer; o.BootFile = "pxelinux.0"; return o }()
	otherProxy        = Offer{ServerID: netip.MustParseAddr("10.213.7.9"), From: netip.MustParseAddr("10.213.7.9"),
		NextServer: netip.MustParseAddr("10.213.7.9"), BootFile: "undionly.kpxe", PXEClient: true}
	pointsAtUs = func() Offer {
		o := lanServer
		o.NextServer, o.BootFile = netip.MustParseAddr("10.213.7.1"), "lpxelinux.0"
		return o
	}()
	us = netip.MustParseAddr("10.213.7.1")
)

func TestInterpretOffers(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		offers     []Offer
		want       []Status
		text       []string // in each check, in order
	}{
		{"proxy: the LAN's server", "proxy", []Offer{lanServer}, []Status{Pass},
			[]string{"10.213.7.2 [52:54:00:aa:bb:cc] offers addresses on br0 (10.213.7.57; next-server 10.213.7.2, no boot file): the LAN's DHCP server"}},
		{"proxy: the LAN's server boots too", "proxy", []Offer{lanServerWithBoot}, []Status{Warn},
			[]string{`boot file "pxelinux.0", next-server 10.213.7.2: PXE clients get two boot answers`}},
		{"proxy: nobody lends addresses", "proxy", nil, []Status{Warn}, []string{"no DHCP server offered an address on br0 within 3s"}},
		{"proxy: another proxyDHCP", "proxy", []Offer{lanServer, otherProxy}, []Status{Pass, Warn},
			[]string{"offers addresses", "10.213.7.9 is another PXE server on br0"}},
		{"full: another server", "full", []Offer{lanServer}, []Status{Fail},
			[]string{"10.213.7.2 [52:54:00:aa:bb:cc] offers addresses on br0 (10.213.7.57; next-server 10.213.7.2, no boot file) while --dhcp full: two DHCP servers on one LAN; stop one or use --dhcp proxy"}},
		{"full: alone", "full", nil, []Status{Pass}, []string{"no other DHCP server offered an address on br0 within 3s"}},
		{"full: a proxyDHCP beside", "full", []Offer{otherProxy}, []Status{Warn, Pass}, []string{"another PXE server", "no other DHCP server"}},
		{"off: pointed at kickstand", "off", []Offer{pointsAtUs}, []Status{Pass}, []string{"sends PXE clients to kickstand"}},
		{"off: pointed at a directory", "off", []Offer{func() Offer { o := pointsAtUs; o.BootFile = "pxelinux/lpxelinux.0"; return o }()}, []Status{Warn},
			[]string{"set the filename to lpxelinux.0, without the directory"}},
		{"off: a file kickstand lacks", "off", []Offer{func() Offer { o := pointsAtUs; o.BootFile = "boot/grub/i386-pc/core.0"; return o }()}, []Status{Warn},
			[]string{"without the directory"}},
		{"off: pxelinux.0 at the root", "off", []Offer{func() Offer { o := pointsAtUs; o.BootFile = "pxelinux.0"; return o }()}, []Status{Pass},
			[]string{"as --dhcp off needs"}},
		{"off: a name kickstand does not serve", "off", []Offer{func() Offer { o := pointsAtUs; o.BootFile = "gpxelinux.0"; return o }()}, []Status{Warn},
			[]string{"kickstand does not serve gpxelinux.0"}},
		{"off: pointed elsewhere", "off", []Offer{lanServerWithBoot}, []Status{Warn}, []string{"set its next-server to 10.213.7.1"}},
		{"off: no boot file", "off", []Offer{lanServer}, []Status{Warn}, []string{"but no boot file"}},
		{"off: nobody", "off", nil, []Status{Warn}, []string{"no DHCP server offered an address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := InterpretOffers(tc.mode, "br0", us, 3*time.Second, tc.offers)
			if len(got) != len(tc.want) {
				t.Fatalf("%d checks, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, c := range got {
				if c.Name != "dhcp" || c.Status != tc.want[i] || !strings.Contains(c.Text, tc.text[i]) {
					t.Errorf("check %d: %+v, want %s with %q", i, c, tc.want[i], tc.text[i])
				}
			}
		})
	}
}

// offerFrom reads what dnsmasq and ISC dhcpd put in an offer: the boot file
// in the file field or option 67, the TFTP server in option 66 or sname.
func TestOfferFrom(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	disc, err := discoverFor(mac)
	if err != nil {
		t.Fatal(err)
	}
	if disc.ClassIdentifier() != ProbeVendorClass || !disc.IsBroadcast() || len(disc.Options.Get(dhcpv4.OptionClientSystemArchitectureType)) != 2 {
		t.Fatalf("probe DISCOVER: %s", disc.Summary())
	}
	reply, err := dhcpv4.NewReplyFromRequest(disc,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithYourIP(net.IPv4(10, 213, 7, 57)),
		dhcpv4.WithServerIP(net.IPv4(10, 213, 7, 2)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 213, 7, 2))),
		dhcpv4.WithOption(dhcpv4.OptBootFileName("pxelinux.0")),
		dhcpv4.WithOption(dhcpv4.OptTFTPServerName("boot.lan")),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")),
	)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offerFrom(reply, netip.MustParseAddr("10.213.7.3"), net.HardwareAddr{2, 0, 0, 0, 0, 1})
	want := Offer{ServerID: netip.MustParseAddr("10.213.7.2"), From: netip.MustParseAddr("10.213.7.3"), FromMAC: "02:00:00:00:00:01",
		Address: netip.MustParseAddr("10.213.7.57"), NextServer: netip.MustParseAddr("10.213.7.2"), BootFile: "pxelinux.0", TFTPServer: "boot.lan", PXEClient: true}
	if !ok || o != want {
		t.Errorf("offerFrom = %+v, %v\nwant %+v", o, ok, want)
	}
	if !strings.Contains(o.who(), "(via 10.213.7.3)") {
		t.Errorf("who() = %q: a relayed offer names the relay", o.who())
	}
	reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	if _, ok := offerFrom(reply, netip.Addr{}, nil); ok {
		t.Error("an ACK was taken for an offer")
	}
}
