package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"testing"

	"kickstand/internal/boot"
	"kickstand/internal/bootfs"
	"kickstand/internal/dhcp"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// BenchmarkOfferPath is what full-mode DHCP asks the store for one
// DISCOVER of a registered PXE client: its reservation, whether the address
// it would get is reserved for another, and its boot reply. The cost must
// not grow with the number of machines (junk ones included).
//
//	go test -run '^$' -bench OfferPath -benchtime 2000x ./internal/app/
func BenchmarkOfferPath(b *testing.B) {
	for _, n := range []int{10, 15000} {
		b.Run(fmt.Sprintf("machines=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "data"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: b.TempDir(), Kernel: "k", Initrd: "i"})
			db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"})
			for i := range n {
				m := store.Machine{MAC: net.HardwareAddr{0x52, 0x54, 2, byte(i >> 16), byte(i >> 8), byte(i)},
					State: store.StateNew, Token: fmt.Sprint("t", i)}
				if i%2 == 0 {
					m.Profile, m.IP = "web", netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
				}
				if err := db.PutMachine(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			log := slog.New(slog.DiscardHandler)
			a := &App{log: log, store: db, net: netif.Network{ServerIP: netip.MustParseAddr("10.0.0.1")},
				tree: &bootfs.Tree{Loaders: map[string]string{}}}
			a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1", log: log}
			client := net.HardwareAddr{0x52, 0x54, 2, 0, 0, 0} // machine 0: registered
			facts := dhcp.ClientFacts{MAC: client, PXE: true}
			free := netip.MustParseAddr("10.9.0.5")
			b.ResetTimer()
			for b.Loop() {
				a.reservation(ctx, client)
				if _, taken := a.reservedFor(ctx, free); taken {
					b.Fatal("a free address is reserved")
				}
				if _, ok := a.bootReply(ctx, facts); !ok {
					b.Fatal("no boot reply")
				}
			}
		})
	}
}
