package sqlite

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"kickstand/internal/store"
)

// BenchmarkSaveLeases stores batches of new leases the way the DHCP
// server's group commit does, one SaveLeases per batch, and reports the
// process's CPU time per lease (the disk's wall time aside).
//
//	go test -run '^$' -bench SaveLeases ./internal/store/sqlite/
func BenchmarkSaveLeases(b *testing.B) {
	for _, journal := range []bool{false, true} {
		for _, batch := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("journal=%v/batch=%d", journal, batch), func(b *testing.B) {
				benchmarkSaveLeases(b, journal, batch)
			})
		}
	}
}

// benchmarkSaveLeases is one case of BenchmarkSaveLeases; with the
// journal, its CPU includes the background flushes up to Close.
func benchmarkSaveLeases(b *testing.B, journal bool, batch int) {
	dir := b.TempDir()
	db, err := Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	if journal {
		if err := db.EnableLeaseJournal(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
	ls := make([]store.Lease, batch)
	n := 0
	before, _ := processCPU()
	for b.Loop() {
		for i := range ls {
			n++
			ls[i] = store.Lease{MAC: net.HardwareAddr{2, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)},
				IP: netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), Expires: time.Now().Add(time.Hour)}
		}
		if err := db.SaveLeases(context.Background(), ls, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if after, ok := processCPU(); ok {
		b.ReportMetric(float64((after-before).Nanoseconds())/float64(b.N*batch), "cpu-ns/lease")
	}
}
