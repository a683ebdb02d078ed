package tftp

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestAckReaderPolls checks the polling read: it returns the datagram and
// its sender, gives the right to poll back after every read, and after a
// poll that found nothing sleeps through the next reads without polling.
func TestAckReaderPolls(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	spin := &spinner{budget: time.Second} // long enough to catch the answer however slow the machine
	spin.free.Store(1)
	r := newAckReader(conn, spin)
	buf := make([]byte, recvBufferSize)

	// An answer that comes while the read polls.
	go func() {
		time.Sleep(time.Millisecond)
		client.Write([]byte{0, 4, 0, 1})
	}()
	n, from, err := r.read(buf)
	if err != nil || n != 4 || buf[3] != 1 {
		t.Fatalf("read: %d bytes %v, %v; want the ACK of block 1", n, buf[:n], err)
	}
	if want := client.LocalAddr().(*net.UDPAddr).AddrPort(); from != want {
		t.Errorf("sender %v, want %v", from, want)
	}
	if r.skip != 0 || spin.free.Load() != 1 {
		t.Errorf("after a poll that caught its datagram: skip %d, free %d; want 0 and 1", r.skip, spin.free.Load())
	}

	// Nothing comes: the poll runs out, the read sleeps until its deadline.
	spin.budget = time.Millisecond
	conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := r.read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing to read: %v, want the deadline", err)
	}
	if r.skip != missBackoff || spin.free.Load() != 1 {
		t.Errorf("after a poll that found nothing: skip %d, free %d; want %d and 1", r.skip, spin.free.Load(), missBackoff)
	}

	// The next read sleeps without polling, and still gets its datagram.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	client.Write([]byte{0, 4, 0, 2})
	if n, _, err := r.read(buf); err != nil || n != 4 || buf[3] != 2 {
		t.Fatalf("read after the miss: %d bytes %v, %v", n, buf[:n], err)
	}
	if r.skip != missBackoff-1 {
		t.Errorf("skip %d after one more read, want %d", r.skip, missBackoff-1)
	}
}

// TestSpinnerShares checks that one CPU is always left to others: on n CPUs
// at most n-1 transfers poll at once, none while more than n-1 are in
// flight, and none on one CPU.
func TestSpinnerShares(t *testing.T) {
	if newSpinner(0) != nil || newSpinner(-time.Second) != nil {
		t.Error("a budget of 0 or less still polls")
	}
	s := &spinner{budget: time.Millisecond, spare: 2}
	s.free.Store(2)
	for i, want := range []bool{true, true, false} {
		if got := s.acquire(); got != want {
			t.Fatalf("two slots: acquire %d = %v, want %v", i+1, got, want)
		}
	}
	s.release()
	if !s.acquire() {
		t.Error("a released slot is not handed out again")
	}
	s.release()
	// More transfers in flight than spare CPUs: nobody polls.
	for range 3 {
		s.enter()
	}
	if s.acquire() {
		t.Error("three transfers in flight on two spare CPUs, and one polls")
	}
	s.leave()
	if !s.acquire() {
		t.Error("two transfers in flight on two spare CPUs, and none may poll")
	}
	var none *spinner
	none.enter()
	none.leave()
	if none.acquire() {
		t.Error("a nil spinner polls")
	}
}
