package dhcp

import (
	"net"
	"testing"
	"time"
)

// TestConnRead checks what a worker learns of a request: its bytes, its
// sender, and the interface it came in on (loopback's index), read twice
// through the same worker so that nothing from the first read leaks into
// the second.
func TestConnRead(t *testing.T) {
	conn, _ := listenLoopback(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("SKIPPED: no loopback interface named lo: %v", err)
	}
	w := &worker{in: make([]byte, maxDatagram)}
	for i, payload := range []string{"first request, the longer one", "second"} {
		client, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if _, err := client.WriteTo([]byte(payload), conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, ifIndex, src, err := conn.read(w)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if got := string(w.in[:n]); got != payload {
			t.Errorf("read %d: %q, want %q", i, got, payload)
		}
		if want := client.LocalAddr().(*net.UDPAddr); src == nil || !src.IP.Equal(want.IP) || src.Port != want.Port {
			t.Errorf("read %d: sender %v, want %v", i, src, want)
		}
		if ifIndex != lo.Index {
			t.Errorf("read %d: interface %d, want lo's %d", i, ifIndex, lo.Index)
		}
	}
}
