package doctor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// recorded is `kickstand machine show MAC -o json` of a machine that booted
// in QEMU through kickstand serve, broken on purpose.
type recorded struct {
	MAC     string `json:"mac"`
	Profile string `json:"profile"`
	State   string `json:"state"`
	Events  []struct {
		Time   time.Time `json:"time"`
		Kind   string    `json:"kind"`
		Detail string    `json:"detail"`
	} `json:"events"`
}

// Timelines recorded from real boots (a BIOS QEMU with its iPXE ROM, kickstand
// serve in a network namespace): nftables dropping 69/udp; the client's
// port with an MTU of 1000 behind a 1500-byte bridge; --dhcp off with
// dnsmasq giving the boot file as pxelinux/lpxelinux.0.
func TestDiagnoseRecordedTimelines(t *testing.T) {
	for name, want := range map[string]struct {
		outcome Outcome
		cause   string
	}{
		"firewall-drops-tftp":      {OutcomeStuck, "a firewall on this host drops TFTP (69/udp)"},
		"mtu-1000-on-the-path":     {OutcomeStuck, "TFTP stalled at the first block: 0 bytes of lpxelinux.0 acknowledged"},
		"boot-file-with-directory": {OutcomeStuck, "the firmware asked for its boot program as pxelinux/lpxelinux.0"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "timelines", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var r recorded
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			mac, err := store.ParseMAC(r.MAC)
			if err != nil {
				t.Fatal(err)
			}
			m := store.Machine{MAC: mac, Profile: r.Profile, State: store.State(r.State)}
			var evs []store.Event
			for _, e := range r.Events {
				evs = append(evs, store.Event{MAC: mac, Time: e.Time, Kind: events.Kind(e.Kind), Detail: e.Detail})
			}
			d := Diagnose(m, evs, evs[len(evs)-1].Time.Add(10*time.Minute))
			if d.Outcome != want.outcome || len(d.Causes) == 0 || !strings.Contains(d.Causes[0].Text, want.cause) {
				var buf strings.Builder
				WriteDiagnosis(&buf, d, time.UTC)
				t.Errorf("want %s, first cause %q; got:\n%s", want.outcome, want.cause, buf.String())
			}
		})
	}
}
