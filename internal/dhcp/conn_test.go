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

// TestConnWrite sends replies the way a worker does: to the client's
// address and port, with and without an interface to leave through
// (loopback's; an interface that does not exist must fail, which shows the
// interface is really asked for), twice through the same worker.
func TestConnWrite(t *testing.T) {
	conn, _ := listenLoopback(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("SKIPPED: no loopback interface named lo: %v", err)
	}
	client, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	dst := client.LocalAddr().(*net.UDPAddr).AddrPort()
	w := &worker{}
	buf := make([]byte, 1500)
	for i, tc := range []struct {
		payload string
		ifIndex int
	}{{"an offer, the longer one", 0}, {"an ack", lo.Index}} {
		if err := conn.write(w, []byte(tc.payload), tc.ifIndex, dst); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := client.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if got := string(buf[:n]); got != tc.payload {
			t.Errorf("reply %d: %q, want %q", i, got, tc.payload)
		}
		if from.(*net.UDPAddr).Port != conn.LocalAddr().(*net.UDPAddr).Port {
			t.Errorf("reply %d came from %v, not the server's port", i, from)
		}
	}
	if err := conn.write(w, []byte("nowhere"), 1<<20, dst); err == nil {
		t.Error("a reply through an interface that does not exist was sent")
	}
}
