package tftp

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

// A request repeated from the same port while its transfer runs (it crossed
// our first DATA on the wire) must not start a second transfer.
func TestRepeatedRequestIsIgnoredWhileTransferRuns(t *testing.T) {
	done := newTransfers()
	server := startServer(t, &Server{Handler: memFiles(map[string][]byte{"ldlinux.c32": patterned(100)}),
		OnTransfer: done.report, Timeout: 200 * time.Millisecond, Retries: 2})
	c := newTestClient(t, server)
	c.request(opRRQ, "ldlinux.c32")
	c.request(opRRQ, "ldlinux.c32")
	c.mustReceiveData(1, 2*time.Second)
	first := c.peer
	// A second transfer would send its own DATA 1 from another port within a
	// moment; the first one's retransmission comes from the same port.
	for {
		packet, err := c.receive(150 * time.Millisecond)
		if err != nil {
			break
		}
		if c.from != first {
			t.Fatalf("a second transfer answered from port %d with %s", c.from.Port(), describe(packet))
		}
	}
	c.ack(1)
	if tr := done.next(t); tr.Err != nil || tr.Bytes != 100 {
		t.Fatalf("transfer = %+v", tr)
	}
	select {
	case tr := <-done:
		t.Fatalf("a second transfer ran: %+v", tr)
	case <-time.After(700 * time.Millisecond):
	}
	// Once the transfer is over, the same client may ask again.
	c.peer = netip.AddrPort{}
	c.request(opRRQ, "ldlinux.c32")
	c.mustReceiveData(1, 2*time.Second)
	c.ack(1)
	if tr := done.next(t); tr.Err != nil {
		t.Fatalf("second request after the first ended: %+v", tr)
	}
}

// Firmware asks for a file's size, aborts with error 8, and asks again at
// once from the same port: the second request is a new download, not a repeat.
func TestRequestAfterAbortIsServed(t *testing.T) {
	server := startServer(t, &Server{Handler: memFiles(map[string][]byte{"BOOTX64.EFI": patterned(3000)}),
		Timeout: 200 * time.Millisecond})
	c := newTestClient(t, server)
	for range 20 {
		c.peer = netip.AddrPort{}
		c.request(opRRQ, "BOOTX64.EFI", "tsize", "0", "blksize", "1468")
		if packet := c.mustReceive(2 * time.Second); opcodeOf(packet) != opOACK {
			t.Fatalf("got %s, want OACK", describe(packet))
		}
		c.sendTo(c.peer, appendError(nil, errCodeOptionsDenied, "size only"))
		n, err := c.download(io.Discard, "BOOTX64.EFI", "blksize", "1468")
		if err != nil || n != 3000 {
			t.Fatalf("download right after the size query: %d bytes, %v", n, err)
		}
	}
}
