package dhcp

import (
	"bytes"
	"net"
	"testing"
)

func TestInterned(t *testing.T) {
	var shared interned
	wire := []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	first := shared.mac(wire)
	if again := shared.mac(wire); &again[0] != &first[0] {
		t.Error("the same MAC twice: two copies, want one shared")
	}
	wire[5] = 0x57 // the request buffer is reused for the next packet
	if !bytes.Equal(first, net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}) {
		t.Fatalf("the MAC handed out changed with the buffer it came from: %v", first)
	}
	second := shared.mac(wire)
	if second.String() != "52:54:00:12:34:57" {
		t.Errorf("another MAC: %v", second)
	}
	// Every slot taken by other MACs: the values handed out stay as they were.
	for i := range 2 * internMACSlots {
		shared.mac([]byte{2, 0, 0, 0, byte(i >> 8), byte(i)})
	}
	if first.String() != "52:54:00:12:34:56" || second.String() != "52:54:00:12:34:57" {
		t.Errorf("MACs handed out changed when their slots were reused: %v, %v", first, second)
	}
	long := bytes.Repeat([]byte{7}, 20) // InfiniBand
	got := shared.mac(long)
	long[0] = 8
	if got[0] != 7 || len(got) != 20 {
		t.Errorf("a 20-byte hardware address: %v", got)
	}

	if v := shared.vendor(nil); v != "" {
		t.Errorf("no vendor class: %q", v)
	}
	class := []byte("PXEClient:Arch:00007:UNDI:003016")
	v := shared.vendor(class)
	class[0] = 'X'
	if v != "PXEClient:Arch:00007:UNDI:003016" || shared.vendor(class) != "XXEClient:Arch:00007:UNDI:003016" {
		t.Errorf("vendor classes: %q, %q", v, shared.vendor(class))
	}
}
