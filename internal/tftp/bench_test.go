package tftp

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkTransfer measures one 16 MiB download over loopback with blksize 1468
// and windowsize 16; allocs/op covers the server and the in-test client.
func BenchmarkTransfer(b *testing.B) {
	const size = 16 << 20
	file := patterned(size)
	addr := startServer(b, &Server{
		Handler: memFiles(map[string][]byte{"f": file}),
		Logger:  slog.New(slog.DiscardHandler),
	})
	c := newTestClient(b, addr)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		n, err := c.download(io.Discard, "f", "blksize", "1468", "windowsize", "16")
		if err != nil {
			b.Fatal(err)
		}
		if n != size {
			b.Fatalf("got %d bytes, want %d", n, size)
		}
	}
}

// TestNoPerPacketAllocations checks that a transfer's allocations do not grow with
// the number of packets: a 4 MiB download sends 64 times the packets of a 64 KiB one.
func TestNoPerPacketAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	small, large := patterned(64<<10), patterned(4<<20)
	addr := startServer(t, &Server{
		Handler: memFiles(map[string][]byte{"small": small, "large": large}),
		Logger:  slog.New(slog.DiscardHandler),
	})
	c := newTestClient(t, addr)
	allocs := func(name string) float64 {
		return testing.AllocsPerRun(5, func() {
			if _, err := c.download(io.Discard, name, "blksize", "1468", "windowsize", "16"); err != nil {
				t.Fatal(err)
			}
		})
	}
	perSmall, perLarge := allocs("small"), allocs("large")
	if perLarge-perSmall > 20 {
		t.Fatalf("%v allocations for 4 MiB, %v for 64 KiB: something allocates per packet", perLarge, perSmall)
	}
	t.Logf("%v allocations for 4 MiB, %v for 64 KiB", perLarge, perSmall)
}
