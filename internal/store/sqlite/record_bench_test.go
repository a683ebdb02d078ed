package sqlite

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// benchMachines opens a database with n machines and returns their MACs.
func benchMachines(b *testing.B, n int) (*DB, []net.HardwareAddr) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	macs := make([]net.HardwareAddr, n)
	for i := range macs {
		macs[i] = net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}
		if err := db.PutMachine(ctx, store.Machine{MAC: macs[i], State: store.StateNew, Token: fmt.Sprint("t", i)}); err != nil {
			b.Fatal(err)
		}
	}
	return db, macs
}

// benchEvent is the i-th event of a boot storm over macs: mostly file
// transfers, some moving the machine on.
func benchEvent(macs []net.HardwareAddr, i uint64) (store.Event, store.State) {
	steps := [...]store.State{"", "", store.StateBooting, "", store.StateInstalling, ""}
	ev := store.Event{MAC: macs[i%uint64(len(macs))], Kind: events.TFTP, Detail: "lpxelinux.0",
		Fields: events.Fields{File: "lpxelinux.0", Bytes: 46000}}
	return ev, steps[i%uint64(len(steps))]
}

// reportCPU adds the process's CPU time per event since start (cpu-ns/op)
// to b's results: under load it is CPU, not wall time, that runs out.
func reportCPU(b *testing.B, start time.Duration) {
	if end, ok := processCPU(); ok && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkRecordParallel is a boot storm's timeline: many goroutines (the
// DHCP, TFTP and HTTP handlers) recording events of a few hundred machines
// at once, as fast as they can.
func BenchmarkRecordParallel(b *testing.B) {
	db, macs := benchMachines(b, 300)
	batches := countBatches(db)
	ctx := context.Background()
	var next atomic.Uint64
	// A boot storm has hundreds of handlers at once, not one per CPU.
	b.SetParallelism(32)
	start, _ := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ev, step := benchEvent(macs, next.Add(1))
			if _, err := db.Record(ctx, ev, step); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportCPU(b, start)
	reportBatches(b, batches)
}

// BenchmarkRecordRate records events arriving at a steady rate, each from
// a goroutine of its own, as a server's handlers do: the CPU an event
// costs at that rate (cpu-ns/op), and how long its caller waits.
func BenchmarkRecordRate(b *testing.B) {
	for _, perSecond := range []int{1000, 4000} {
		b.Run(fmt.Sprint(perSecond, "/s"), func(b *testing.B) {
			db, macs := benchMachines(b, 300)
			batches := countBatches(db)
			ctx := context.Background()
			const tick = time.Millisecond
			perTick := perSecond / int(time.Second/tick)
			ticker := time.NewTicker(tick)
			defer ticker.Stop()
			var wg sync.WaitGroup
			var waited atomic.Int64
			start, _ := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; {
				<-ticker.C
				for k := 0; k < perTick && i < b.N; k++ {
					ev, step := benchEvent(macs, uint64(i))
					i++
					wg.Go(func() {
						t := time.Now()
						if _, err := db.Record(ctx, ev, step); err != nil {
							b.Error(err)
						}
						waited.Add(int64(time.Since(t)))
					})
				}
			}
			wg.Wait()
			b.StopTimer()
			reportCPU(b, start)
			reportBatches(b, batches)
			b.ReportMetric(float64(waited.Load())/float64(b.N)/1e3, "wait-µs/op")
		})
	}
}

// BenchmarkRecord is one caller at a time: a quiet server, where group
// commit must cost nothing.
func BenchmarkRecord(b *testing.B) {
	db, macs := benchMachines(b, 1)
	ctx := context.Background()
	start, _ := processCPU()
	for b.Loop() {
		if _, err := db.Record(ctx, store.Event{MAC: macs[0], Kind: events.TFTP, Detail: "lpxelinux.0"}, store.StateBooting); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}
