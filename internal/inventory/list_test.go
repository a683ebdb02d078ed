package inventory

import (
	"context"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// The list's newest event counts its time since power-on from the start of
// its boot, as the machine's own timeline does (the dashboard's elapsed
// time), not from itself.
func TestMachinesSincePowerOn(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mac, _ := store.ParseMAC("52:54:00:00:00:01")
	if err := db.PutMachine(ctx, store.Machine{MAC: mac, State: store.StateNew, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	for _, e := range []struct {
		sec    int
		kind   events.Kind
		fields events.Fields
	}{
		{0, events.Registered, events.Fields{}},
		{30, events.DHCPDiscover, events.Fields{PXE: true}}, // powered on
		{31, events.TFTP, events.Fields{File: "lpxelinux.0"}},
		{75, events.Kickstart, events.Fields{}},
	} {
		ev := store.Event{MAC: mac, Time: t0.Add(time.Duration(e.sec) * time.Second), Kind: e.kind, Fields: e.fields}
		if _, err := db.Record(ctx, ev, ""); err != nil {
			t.Fatal(err)
		}
	}
	list, err := Service{Inv: &Inventory{Store: db}}.Machines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].LastEvent == nil {
		t.Fatalf("Machines: %+v, want the machine with its newest event", list)
	}
	if e := list[0].LastEvent; e.Kind != string(events.Kickstart) || e.SincePowerOn != 45 || e.PowerOn || list[0].Events != nil {
		t.Errorf("newest event %s, %v s since power-on (power-on %v), events %d; want kickstart, 45 s, false, none listed",
			e.Kind, e.SincePowerOn, e.PowerOn, len(list[0].Events))
	}
}
