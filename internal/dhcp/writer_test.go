package dhcp

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// slowStore is a memStore whose writes take a while, as a disk does, so
// that concurrent ACKs pile up behind a write.
type slowStore struct {
	*memStore
	delay time.Duration
	mu    sync.Mutex
	sizes []int // changes per SaveLeases call
}

func (s *slowStore) SaveLeases(ctx context.Context, put []Lease, remove []net.HardwareAddr) error {
	time.Sleep(s.delay)
	s.mu.Lock()
	s.sizes = append(s.sizes, len(put)+len(remove))
	s.mu.Unlock()
	return s.memStore.SaveLeases(ctx, put, remove)
}

func TestLeaseWriterBatchesConcurrentWrites(t *testing.T) {
	store := &slowStore{memStore: newMemStore(), delay: 5 * time.Millisecond}
	w := newLeaseWriter(store, time.Now)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			mac := net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}
			l := Lease{MAC: mac, IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Expires: t0}
			if err := w.put(context.Background(), l, nil); err != nil {
				t.Error(err)
			}
			// Once put returns, the lease is stored.
			if _, ok := store.get(mac); !ok {
				t.Errorf("put of %s returned before its lease was stored", mac)
			}
		})
	}
	wg.Wait()
	if len(store.sizes) >= n/2 {
		t.Errorf("%d writes for %d concurrent leases (%v): no group commit", len(store.sizes), n, store.sizes)
	}
}

func TestLeaseWriterLastChangePerMACWins(t *testing.T) {
	store := newMemStore()
	b := &leaseBatch{index: map[macKey]int{}}
	b.add(leaseChange{mac: macKey(macA), lease: Lease{IP: addr("10.0.0.1")}})
	b.add(leaseChange{mac: macKey(macA), isRemove: true})
	b.add(leaseChange{mac: macKey(macB), isRemove: true})
	b.add(leaseChange{mac: macKey(macB), lease: Lease{IP: addr("10.0.0.2")}})
	store.leases[macA.String()] = Lease{MAC: macA, IP: addr("10.0.0.9")}
	put, remove := b.leases()
	if err := store.SaveLeases(context.Background(), put, remove); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.get(macA); ok {
		t.Error("A's removal after its lease did not win")
	}
	if l, ok := store.get(macB); !ok || l.IP != addr("10.0.0.2") || l.MAC.String() != macB.String() {
		t.Errorf("B = %v %v, want its lease after its removal", l, ok)
	}
}

func TestLeaseWriterErrorReachesEveryWaiter(t *testing.T) {
	store := &slowStore{memStore: newMemStore(), delay: 5 * time.Millisecond}
	store.putErr = errStoreDown
	w := newLeaseWriter(store, time.Now)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			l := Lease{MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}, IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}
			if err := w.put(context.Background(), l, nil); err != errStoreDown {
				t.Errorf("put = %v, want the store's error", err)
			}
		})
	}
	wg.Wait()
	store.putErr = nil // the writer recovers once the store does
	if err := w.remove(context.Background(), macA); err != nil {
		t.Errorf("remove after the store recovered = %v", err)
	}
}

// TestFullConcurrentDORAOneAddressOneMAC runs many clients' DISCOVER,
// REQUEST and RELEASE at once on a pool smaller than the clients, with a
// slow store so that ACKs wait for each other's writes: no address is ever
// held by two MACs, every ACK's lease is in the store when the ACK is
// returned, and the leases go to the store in batches.
func TestFullConcurrentDORAOneAddressOneMAC(t *testing.T) {
	store := &slowStore{memStore: newMemStore(), delay: time.Millisecond}
	s, _, _ := fullServer(t, store.memStore)
	s.Leases, s.Logger = store, nil // pool .100-.110: 11 addresses for 40 clients
	var mu sync.Mutex
	holder := map[netip.Addr]string{} // address → MAC acknowledged, until released
	acks := 0
	var wg sync.WaitGroup
	for c := range 40 {
		wg.Go(func() {
			mac := net.HardwareAddr{2, 0, 0, 0, 2, byte(c)}
			for round := range 5 {
				ctx := context.Background()
				offer := s.handle(ctx, newPacket(dhcpv4.MessageTypeDiscover, mac), 67, 1)
				if offer == nil {
					continue // pool busy: try again
				}
				ip, _ := ipv4Of(offer.YourIPAddr)
				ack := s.handle(ctx, newPacket(dhcpv4.MessageTypeRequest, mac,
					withServerID(serverIP.String()), withRequested(ip.String())), 67, 1)
				if ack == nil || messageType(ack.Options) != dhcpv4.MessageTypeAck {
					continue
				}
				if l, ok := store.get(mac); !ok || l.IP != ip {
					t.Errorf("%s: ACK for %s returned before its lease was stored (store has %v)", mac, ip, l)
				}
				mu.Lock()
				if other, held := holder[ip]; held {
					t.Errorf("%s acknowledged to %s while %s holds it", ip, mac, other)
				}
				holder[ip] = mac.String()
				acks++
				mu.Unlock()
				if round%2 == 1 {
					time.Sleep(time.Millisecond) // hold it a while
				}
				mu.Lock()
				delete(holder, ip) // released before the server hears it: never too late
				mu.Unlock()
				s.handle(ctx, newPacket(dhcpv4.MessageTypeRelease, mac, withServerID(serverIP.String()), withCiaddr(ip.String())), 67, 1)
			}
		})
	}
	wg.Wait()
	if acks < 40 {
		t.Errorf("only %d ACKs in 200 tries", acks)
	}
	if len(store.sizes) >= acks*2 {
		t.Errorf("%d writes for %d ACKs and their releases: no group commit", len(store.sizes), acks)
	}
	t.Logf("%d ACKs and their releases in %d writes", acks, len(store.sizes))
}

// ctxStore fails a write whose context has ended, as a database driver
// does.
type ctxStore struct{ *memStore }

func (s ctxStore) SaveLeases(ctx context.Context, put []Lease, remove []net.HardwareAddr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.memStore.SaveLeases(ctx, put, remove)
}

// TestLeaseWriterIgnoresWriterContext checks that a batch is written even
// when the caller writing it has given up: the batch holds other callers'
// leases.
func TestLeaseWriterIgnoresWriterContext(t *testing.T) {
	store := ctxStore{newMemStore()}
	w := newLeaseWriter(store, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l := Lease{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, IP: netip.AddrFrom4([4]byte{10, 0, 0, 1}), Expires: t0}
	if err := w.put(ctx, l, nil); err != nil {
		t.Fatalf("put with an ended context: %v, want the lease written", err)
	}
	got, err := store.Leases(context.Background())
	if err != nil || len(got) != 1 || got[0].IP != l.IP {
		t.Errorf("stored leases %v, %v; want the one put", got, err)
	}
}
