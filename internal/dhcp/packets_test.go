package dhcp

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// packetLog records OnPacket calls as "type/outcome".
type packetLog struct {
	mu   sync.Mutex
	list []string
}

func (p *packetLog) add(msgType, outcome string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, msgType+"/"+outcome)
}

func (p *packetLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

// Every packet received is counted once, with what became of it: also the
// ones that make no event (ignored, refused) and the ones that do not
// decode.
func TestOnPacketOutcomes(t *testing.T) {
	noBoot := func(context.Context, ClientFacts) (BootReply, bool) { return BootReply{}, false }
	ignore := func(context.Context, ClientFacts) (BootReply, bool) { return BootReply{Ignore: true}, true }
	t.Run("proxy", func(t *testing.T) {
		s, _ := proxyServer(t)
		log := &packetLog{}
		s.OnPacket = log.add
		for _, c := range []struct {
			name string
			boot BootFunc
			req  *dhcpv4.DHCPv4
			port int
			want string
		}{
			{"PXE discover", nil, newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0)), 67, "discover/offered"},
			{"laptop discover", nil, newPacket(dhcpv4.MessageTypeDiscover, macA), 67, "discover/ignored"},
			{"request for the LAN's server", nil, newPacket(dhcpv4.MessageTypeRequest, macA, pxe(0), withServerID("192.168.10.9")), 67, "request/ignored"},
			{"request naming us", nil, newPacket(dhcpv4.MessageTypeRequest, macA, pxe(0), withServerID(serverIP.String())), 67, "request/acked"},
			{"boot server request", nil, newPacket(dhcpv4.MessageTypeRequest, macA, pxe(7), withCiaddr("192.168.10.50")), DefaultPXEPort, "request/acked"},
			{"boot server inform", nil, newPacket(dhcpv4.MessageTypeInform, macA, pxe(7), withCiaddr("192.168.10.50")), DefaultPXEPort, "inform/acked"},
			{"no boot for it", noBoot, newPacket(dhcpv4.MessageTypeDiscover, macB, pxe(0)), 67, "discover/refused"},
			{"told to ignore it", ignore, newPacket(dhcpv4.MessageTypeDiscover, macB, pxe(0)), 67, "discover/refused"},
			{"boot server, no boot", noBoot, newPacket(dhcpv4.MessageTypeRequest, macB, pxe(7)), DefaultPXEPort, "request/refused"},
			{"release in proxy mode", nil, newPacket(dhcpv4.MessageTypeRelease, macA, pxe(0)), 67, "release/ignored"},
			{"a reply sent to us", nil, newPacket(dhcpv4.MessageTypeOffer, macA, pxe(0)), 67, "other/ignored"},
		} {
			s.Boot = bootAll("pxelinux.0")
			if c.boot != nil {
				s.Boot = c.boot
			}
			exchange(t, s, c.req, c.port)
			if got := log.take(); !slices.Equal(got, []string{c.want}) {
				t.Errorf("%s: OnPacket told %q, want %q", c.name, got, c.want)
			}
		}
		s.handlePacket(context.Background(), []byte{1, 2, 3}, 67, 1)
		if got := log.take(); !slices.Equal(got, []string{"invalid/ignored"}) {
			t.Errorf("3 bytes of junk: OnPacket told %q, want invalid/ignored", got)
		}
	})
	t.Run("full", func(t *testing.T) {
		s, _, _ := fullServer(t, newMemStore())
		log := &packetLog{}
		s.OnPacket = log.add
		ip := lease(t, s, macA).String()
		if got := log.take(); !slices.Equal(got, []string{"discover/offered", "request/acked"}) {
			t.Errorf("DISCOVER and REQUEST: OnPacket told %q", got)
		}
		for _, c := range []struct {
			name string
			req  *dhcpv4.DHCPv4
			want string
		}{
			{"request for a taken address", newPacket(dhcpv4.MessageTypeRequest, macB, withServerID(serverIP.String()), withRequested(ip)), "request/nak"},
			{"inform", newPacket(dhcpv4.MessageTypeInform, macB, withCiaddr("192.168.10.7")), "inform/acked"},
			{"decline of another's address", newPacket(dhcpv4.MessageTypeDecline, macB, withServerID(serverIP.String()), withRequested(ip)), "decline/ignored"},
			{"release of another's address", newPacket(dhcpv4.MessageTypeRelease, macB, withServerID(serverIP.String()), withCiaddr(ip)), "release/ignored"},
			{"release", newPacket(dhcpv4.MessageTypeRelease, macA, withServerID(serverIP.String()), withCiaddr(ip)), "release/released"},
		} {
			exchange(t, s, c.req, 67)
			if got := log.take(); !slices.Equal(got, []string{c.want}) {
				t.Errorf("%s: OnPacket told %q, want %q", c.name, got, c.want)
			}
		}
		ip = lease(t, s, macC).String()
		log.take()
		exchange(t, s, newPacket(dhcpv4.MessageTypeDecline, macC, withServerID(serverIP.String()), withRequested(ip)), 67)
		if got := log.take(); !slices.Equal(got, []string{"decline/declined"}) {
			t.Errorf("decline of its own address: OnPacket told %q, want decline/declined", got)
		}
	})
}

// Telling OnPacket allocates nothing: it runs for every packet of a flood.
func TestOnPacketAllocatesNothing(t *testing.T) {
	s := &Server{OnPacket: func(string, string) {}}
	req := newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(0))
	reply := newPacket(dhcpv4.MessageTypeOffer, macA)
	quiet := OutcomeIgnored
	if n := testing.AllocsPerRun(100, func() {
		s.packet(packetType(req.Options), outcomeOf(reply, quiet))
		s.packet(packetType(req.Options), outcomeOf(nil, quiet))
	}); n != 0 {
		t.Errorf("telling OnPacket: %.0f allocations, want 0", n)
	}
}
