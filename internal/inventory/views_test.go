package inventory

import (
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// The timeline counts from each power-on: a firmware DHCP discover after
// the install's end (or a registration, a reinstall) starts a new boot.
func TestTimelineSincePowerOn(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ev := func(sec int, kind, detail string) store.Event {
		return store.Event{Time: t0.Add(time.Duration(sec) * time.Second), Kind: events.Kind(kind), Detail: detail}
	}
	evs := []store.Event{
		ev(0, "registered", "profile web"),
		ev(30, "dhcp-discover", `vendor class "PXEClient:Arch:00000"`),
		ev(35, "dhcp-discover", `vendor class "PXEClient:Arch:00000" (iPXE)`), // the same boot
		ev(50, "kickstart", "profile web"),
		ev(90, "phone-home", "installed"),
		ev(120, "dhcp-discover", `vendor class "PXEClient:Arch:00000"`), // powered on again
		ev(121, "boot-config", "installed: boot from local disk"),
		ev(4000, "dhcp-discover", `vendor class "HTTPClient:Arch:00016"`), // an hour later
	}
	want := []time.Duration{0, 0, 5 * time.Second, 20 * time.Second, 60 * time.Second, 0, time.Second, 0}
	for i := range evs {
		if got := SincePowerOn(evs, i); got != want[i] {
			t.Errorf("event %d (%s at +%v): since power-on %v, want %v", i, evs[i].Kind, evs[i].Time.Sub(t0), got, want[i])
		}
	}
}
