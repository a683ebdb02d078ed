package dhcp

import (
	"net/netip"
	"testing"
	"time"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func newTestTable() *leaseTable {
	return newLeaseTable(addr("10.0.0.10"), addr("10.0.0.13"))
}

func TestLeaseTableFirstFree(t *testing.T) {
	tab := newTestTable()
	now := t0
	if ip, ok := tab.firstFree(now); !ok || ip != addr("10.0.0.10") {
		t.Fatalf("empty table: %s %v", ip, ok)
	}
	tab.commit(Lease{MAC: macA, IP: addr("10.0.0.10"), Expires: now.Add(time.Hour)}, now)
	tab.offer(macB, addr("10.0.0.11"), now)
	if ip, _ := tab.firstFree(now); ip != addr("10.0.0.12") {
		t.Errorf("with .10 leased and .11 offered: %s, want .12", ip)
	}
	tab.setReserved(addr("10.0.0.12"), now)
	if ip, _ := tab.firstFree(now); ip != addr("10.0.0.13") {
		t.Errorf("with .12 reserved for another: %s, want .13", ip)
	}
	if ip, _ := tab.firstFree(now.Add(reservedHold)); ip != addr("10.0.0.12") {
		t.Errorf("after reservedHold: %s, want .12 checked again", ip)
	}
}

func TestLeaseTablePrefersNeverUsedThenOldestExpired(t *testing.T) {
	tab := newTestTable()
	now := t0
	for i, ip := range []string{"10.0.0.10", "10.0.0.11", "10.0.0.12"} {
		mac := append(macA[:5:5], byte(i))
		tab.commit(Lease{MAC: mac, IP: addr(ip), Expires: now.Add(time.Duration(3-i) * time.Minute)}, now)
	}
	later := now.Add(time.Hour) // all three expired; .12 expired first
	if ip, _ := tab.firstFree(later); ip != addr("10.0.0.13") {
		t.Errorf("got %s, want the never-used .13", ip)
	}
	tab.commit(Lease{MAC: macB, IP: addr("10.0.0.13"), Expires: later.Add(time.Hour)}, later)
	if ip, _ := tab.firstFree(later); ip != addr("10.0.0.12") {
		t.Errorf("got %s, want .12, the longest expired", ip)
	}
}

func TestLeaseTableFull(t *testing.T) {
	tab := newLeaseTable(addr("10.0.0.10"), addr("10.0.0.10"))
	tab.commit(Lease{MAC: macA, IP: addr("10.0.0.10"), Expires: t0.Add(time.Hour)}, t0)
	if ip, ok := tab.firstFree(t0); ok {
		t.Errorf("full pool gave %s", ip)
	}
}

func TestLeaseTableOfferHold(t *testing.T) {
	tab := newTestTable()
	ip := addr("10.0.0.10")
	if _, ok := tab.offer(macA, ip, t0); !ok {
		t.Fatal("offer failed")
	}
	if _, ok := tab.offer(macB, ip, t0.Add(offerHold/2)); ok {
		t.Error("address offered to A was offered to B during the hold")
	}
	if _, ok := tab.commit(Lease{MAC: macB, IP: ip, Expires: t0.Add(time.Hour)}, t0); ok {
		t.Error("B committed A's offered address")
	}
	if _, ok := tab.offer(macB, ip, t0.Add(offerHold)); !ok {
		t.Error("offer hold did not end")
	}
	if l, ok := tab.lookup(macA); ok {
		t.Errorf("A still has %v after B took its lapsed offer", l)
	}
}

func TestLeaseTableOfferKeepsCommittedLease(t *testing.T) {
	tab := newTestTable()
	ip := addr("10.0.0.10")
	tab.commit(Lease{MAC: macA, IP: ip, Expires: t0.Add(time.Hour)}, t0)
	tab.offer(macA, ip, t0)
	l, _ := tab.lookup(macA)
	if !l.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("re-offering shortened the lease to %s", l.Expires)
	}
	if tab.byMAC[macKey(macA)].offered {
		t.Error("committed lease turned into an offer")
	}
}

func TestLeaseTableCommitDisplacesExpired(t *testing.T) {
	tab := newTestTable()
	ip := addr("10.0.0.10")
	tab.commit(Lease{MAC: macA, IP: ip, Expires: t0.Add(time.Hour)}, t0)
	later := t0.Add(2 * time.Hour)
	displaced, ok := tab.commit(Lease{MAC: macB, IP: ip, Expires: later.Add(time.Hour)}, later)
	if !ok || displaced.String() != macA.String() {
		t.Fatalf("commit = %v, %v; want A displaced", displaced, ok)
	}
	if _, ok := tab.lookup(macA); ok {
		t.Error("A still in the table")
	}
}

func TestLeaseTableMoveFreesOldAddress(t *testing.T) {
	tab := newTestTable()
	tab.commit(Lease{MAC: macA, IP: addr("10.0.0.10"), Expires: t0.Add(time.Hour)}, t0)
	tab.commit(Lease{MAC: macA, IP: addr("10.0.0.12"), Expires: t0.Add(time.Hour)}, t0)
	if !tab.available(macB, addr("10.0.0.10"), t0) {
		t.Error("A's old address is still held")
	}
}

func TestLeaseTableDecline(t *testing.T) {
	tab := newTestTable()
	ip := addr("10.0.0.10")
	tab.commit(Lease{MAC: macA, IP: ip, Expires: t0.Add(time.Hour)}, t0)
	if tab.decline(macB, ip, t0) {
		t.Error("B declined A's address")
	}
	if !tab.decline(macA, ip, t0) {
		t.Fatal("A could not decline its address")
	}
	if tab.available(macA, ip, t0.Add(declineHold-time.Second)) {
		t.Error("declined address available during quarantine")
	}
	if got, _ := tab.firstFree(t0); got == ip {
		t.Error("firstFree returned a declined address")
	}
	if !tab.available(macB, ip, t0.Add(declineHold)) {
		t.Error("declined address never comes back")
	}
}

func TestLeaseTableRemoveAndDropOffer(t *testing.T) {
	tab := newTestTable()
	tab.commit(Lease{MAC: macA, IP: addr("10.0.0.10"), Expires: t0.Add(time.Hour)}, t0)
	if tab.remove(macA, addr("10.0.0.11")) {
		t.Error("removed a lease for the wrong address")
	}
	if !tab.remove(macA, addr("10.0.0.10")) {
		t.Error("remove failed")
	}
	tab.offer(macB, addr("10.0.0.11"), t0)
	tab.commit(Lease{MAC: macC, IP: addr("10.0.0.12"), Expires: t0.Add(time.Hour)}, t0)
	tab.dropOffer(macB)
	tab.dropOffer(macC)
	if _, ok := tab.lookup(macB); ok {
		t.Error("offer not dropped")
	}
	if _, ok := tab.lookup(macC); !ok {
		t.Error("dropOffer removed a committed lease")
	}
}

func TestLeaseTableLoadConflicts(t *testing.T) {
	tab := newTestTable()
	tab.load([]Lease{
		{MAC: macB, IP: addr("10.0.0.10"), Expires: t0.Add(2 * time.Hour)}, // same IP, later: wins
		{MAC: macA, IP: addr("10.0.0.10"), Expires: t0.Add(time.Hour)},
		{MAC: macC, IP: addr("10.0.0.11"), Expires: t0.Add(3 * time.Hour)},
		{MAC: macC, IP: addr("10.0.0.12"), Expires: t0.Add(time.Hour)}, // same MAC, earlier: loses
		{MAC: nil, IP: addr("10.0.0.13")},                              // invalid: skipped
		{MAC: macA, IP: netip.Addr{}},                                  // invalid: skipped
	})
	if l, _ := tab.lookup(macB); l.IP != addr("10.0.0.10") {
		t.Errorf("B = %v", l)
	}
	if _, ok := tab.lookup(macA); ok {
		t.Error("A kept the address B holds later")
	}
	if l, _ := tab.lookup(macC); l.IP != addr("10.0.0.11") {
		t.Errorf("C = %v", l)
	}
	held := 0
	for _, e := range tab.slots {
		if e != nil {
			held++
		}
	}
	if held != len(tab.byMAC) || len(tab.expiry) != held {
		t.Errorf("indexes disagree: %d addresses, %d MACs, %d in the expiry heap", held, len(tab.byMAC), len(tab.expiry))
	}
}
