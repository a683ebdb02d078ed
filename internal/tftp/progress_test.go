package tftp

import (
	"testing"
	"time"

	"kickstand/internal/transfers"
)

// A transfer in flight is tracked with the bytes its client acknowledged
// and the file's size, and is gone once it ends.
func TestProgressIsTracked(t *testing.T) {
	file := patterned(20 * 512)
	tracker := &transfers.Tracker{}
	reports := newTransfers()
	addr := startServer(t, &Server{Handler: memFiles(map[string][]byte{"big.bin": file}), Transfers: tracker, OnTransfer: reports.report})
	c := newTestClient(t, addr)
	c.request(opRRQ, "/big.bin")
	for block := uint16(1); block <= 5; block++ {
		c.mustReceiveData(block, 2*time.Second)
		c.ack(block)
	}
	c.mustReceiveData(6, 2*time.Second) // sent after the fifth ACK was taken
	got := tracker.Snapshot()
	if len(got) != 1 || got[0].Proto != "tftp" || got[0].File != "big.bin" || got[0].Bytes != 5*512 || got[0].Total != int64(len(file)) {
		t.Fatalf("in flight after 5 ACKs: %+v, want big.bin at %d of %d bytes", got, 5*512, len(file))
	}
	for block := uint16(6); block < 21; block++ {
		c.ack(block)
		c.mustReceiveData(block+1, 2*time.Second)
	}
	c.ack(21)
	reports.next(t)
	if got := tracker.Snapshot(); len(got) != 0 {
		t.Fatalf("after the transfer: %+v", got)
	}
}
