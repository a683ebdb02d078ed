package dhcp

import (
	"reflect"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzDecodeMatchesLibrary holds decodeInto to dhcpv4.FromBytes: the same
// packets refused, the same values for the others, also when the DHCPv4 it
// fills held another packet before.
func FuzzDecodeMatchesLibrary(f *testing.F) {
	addDHCPSeeds(f)
	prev := newPacket(dhcpv4.MessageTypeRequest, macB, pxe(7), withRequested("192.168.10.101"),
		withOpt(dhcpv4.OptionRelayAgentInformation, []byte{1, 2, 'a', 'b'})).ToBytes()
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := dhcpv4.FromBytes(b)
		got := &dhcpv4.DHCPv4{}
		if err := decodeInto(got, prev); err != nil {
			t.Fatalf("decoding a valid packet: %v", err)
		}
		err := decodeInto(got, b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeInto error %v; FromBytes error %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeInto gave\n%v\nFromBytes\n%v", got, want)
		}
	})
}

func TestDecodeAllocatesNothing(t *testing.T) {
	b := newPacket(dhcpv4.MessageTypeDiscover, macA, pxe(7), withRequested("192.168.10.105"),
		withOpt(dhcpv4.OptionUserClassInformation, []byte("iPXE"))).ToBytes()
	d := &dhcpv4.DHCPv4{}
	if err := decodeInto(d, b); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = decodeInto(d, b) }); n != 0 {
		t.Errorf("decodeInto made %v allocations a packet, want 0", n)
	}
}
