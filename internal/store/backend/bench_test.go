package backend

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/store/postgres"
	"kickstand/internal/store/postgres/pgtest"
	"kickstand/internal/store/sqlite"
)

// The benchmarks run the same writes on both stores, side by side:
//
//	go test -run '^$' -bench . -benchtime 2s ./internal/store/backend/
//
// PostgreSQL runs with synchronous_commit=off, which like SQLite's WAL
// with synchronous=NORMAL does not wait for the disk at each commit; its
// server's CPU is another process's, not in these figures.

// eachStore runs fn on a new SQLite store and on a new PostgreSQL one.
func eachStore(b *testing.B, fn func(b *testing.B, s store.Store)) {
	b.Run("sqlite", func(b *testing.B) {
		db, err := sqlite.Open(context.Background(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		fn(b, db)
	})
	b.Run("postgres", func(b *testing.B) {
		srv := pgtest.Start(b, "fsync=on", "synchronous_commit=off")
		db, err := postgres.Open(context.Background(), srv.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		fn(b, db)
	})
}

func benchMAC(n uint64) net.HardwareAddr {
	return net.HardwareAddr{2, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// BenchmarkPutMachine is machines written through the API or apply, one
// after another (serial) and from many clients at once (parallel).
func BenchmarkPutMachine(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := map[bool]string{false: "serial", true: "parallel"}[parallel]
		b.Run(name, func(b *testing.B) {
			eachStore(b, func(b *testing.B, s store.Store) {
				ctx := context.Background()
				var n atomic.Uint64
				put := func() error {
					i := n.Add(1)
					return s.PutMachine(ctx, store.Machine{MAC: benchMAC(i), Hostname: fmt.Sprint("node", i),
						State: store.StateNew, Token: fmt.Sprint("t", i), Vars: map[string]string{"rack": "r1"}})
				}
				if parallel {
					b.SetParallelism(8)
					b.ResetTimer() // not the server's start
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := put(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if err := put(); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "machines/s")
			})
		})
	}
}

// BenchmarkRecordParallel is a boot storm's timeline: many handlers
// recording events of 300 machines at once, some moving them on.
func BenchmarkRecordParallel(b *testing.B) {
	eachStore(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		const machines = 300
		for i := range uint64(machines) {
			if err := s.PutMachine(ctx, store.Machine{MAC: benchMAC(i), State: store.StateNew, Token: fmt.Sprint("t", i)}); err != nil {
				b.Fatal(err)
			}
		}
		steps := [...]store.State{"", "", store.StateBooting, "", store.StateInstalling, ""}
		var n atomic.Uint64
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				ev := store.Event{MAC: benchMAC(i % machines), Kind: events.TFTP, Detail: "lpxelinux.0",
					Fields: events.Fields{File: "lpxelinux.0", Bytes: 46000}}
				if _, err := s.Record(ctx, ev, steps[i%uint64(len(steps))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkRecord is one event at a time: a quiet server's latency.
func BenchmarkRecord(b *testing.B) {
	eachStore(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		if err := s.PutMachine(ctx, store.Machine{MAC: benchMAC(0), State: store.StateNew, Token: "t"}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Record(ctx, store.Event{MAC: benchMAC(0), Kind: events.TFTP, Detail: "lpxelinux.0"}, store.StateBooting); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkSaveLeases is the DHCP server's group commit: one SaveLeases of
// batch new leases at a time.
func BenchmarkSaveLeases(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			eachStore(b, func(b *testing.B, s store.Store) {
				ls := make([]store.Lease, batch)
				var n uint64
				for b.Loop() {
					for i := range ls {
						n++
						ls[i] = store.Lease{MAC: benchMAC(n), IP: netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}),
							Expires: time.Now().Add(time.Hour)}
					}
					if err := s.SaveLeases(context.Background(), ls, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "leases/s")
			})
		})
	}
}
