package tftp

import (
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkTransfer measures one 16 MiB download over loopback with blksize
// 1468, at lock-step and with windowsize 16. allocs/op covers the server and
// the in-test client; allocs/packet divides them by the DATA packets sent,
// and is 0.00 when nothing is allocated per packet.
func BenchmarkTransfer(b *testing.B) {
	const size, blockSize = 16 << 20, 1468
	file := patterned(size)
	addr := startServer(b, &Server{
		Handler: memFiles(map[string][]byte{"f": file}),
		Logger:  slog.New(slog.DiscardHandler),
	})
	c := newTestClient(b, addr)
	for _, window := range []string{"1", "16"} {
		b.Run("windowsize="+window, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				n, err := c.download(io.Discard, "f", "blksize", strconv.Itoa(blockSize), "windowsize", window)
				if err != nil {
					b.Fatal(err)
				}
				if n != size {
					b.Fatalf("got %d bytes, want %d", n, size)
				}
			}
			runtime.ReadMemStats(&after)
			packets := float64(b.N) * (size/blockSize + 1)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/packets, "allocs/packet")
		})
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
