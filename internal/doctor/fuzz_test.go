package doctor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/netif"
	"kickstand/internal/store"
)

// FuzzParseEvent: any detail parses without panicking, and a transfer
// detail written the way internal/app writes it reads back.
func FuzzParseEvent(f *testing.F) {
	for _, e := range join(biosToStage2, uefiShim) {
		f.Add(string(e.Kind), e.Detail, "lpxelinux.0", int64(75072))
	}
	f.Add("tftp", `x 0 bytes in 15s: tftp: send "x": tftp: client stopped answering`, "x", int64(0))
	f.Fuzz(func(t *testing.T, kind, detail, name string, n int64) {
		parseEvent(store.Event{Kind: events.Kind(kind), Detail: detail})
		if n < 0 || name == "" || strings.ContainsAny(name, "\n") || strings.HasPrefix(name, "/") || strings.HasSuffix(name, " ") {
			return
		}
		e := parseEvent(store.Event{Kind: "tftp", Detail: fmt.Sprintf("%s %d bytes in %s", name, n, 75*time.Millisecond)})
		if e.file != name || e.bytes != n || !e.ok() {
			t.Errorf("tftp %q %d bytes read back as %q %d (ok %v)", name, n, e.file, e.bytes, e.ok())
		}
	})
}

// FuzzDiagnose: any timeline is diagnosed without panicking, and every
// event a diagnosis quotes is one of the timeline's.
func FuzzDiagnose(f *testing.F) {
	seed := func(evs []store.Event) string {
		var b strings.Builder
		for _, e := range evs {
			fmt.Fprintf(&b, "%s\t%s\n", e.Kind, e.Detail)
		}
		return b.String()
	}
	for _, evs := range [][]store.Event{biosToStage2, uefiShim, biosToInitrd[:4], join(uefiShim, []store.Event{at(10.1, "tftp", "mmx64.efi: not found")})} {
		f.Add(seed(evs), uint8(10), false)
	}
	f.Fuzz(func(t *testing.T, text string, minutes uint8, registered bool) {
		var evs []store.Event
		for i, line := range strings.Split(text, "\n") {
			kind, detail, _ := strings.Cut(line, "\t")
			evs = append(evs, at(float64(i), kind, detail))
		}
		m := machine(store.StateBooting)
		if !registered {
			m.Profile = ""
		}
		d := Diagnose(m, evs, t0.Add(time.Duration(minutes)*time.Minute))
		seen := map[Evidence]bool{}
		for _, e := range evs {
			seen[Evidence{Time: e.Time, Kind: string(e.Kind), Detail: e.Detail}] = true
		}
		for _, c := range d.Causes {
			for _, e := range c.Events {
				if !seen[e] {
					t.Fatalf("cause %q quotes %+v, not in the timeline", c.Text, e)
				}
			}
		}
	})
}

// FuzzParseProcNet: any table parses or fails without panicking.
func FuzzParseProcNet(f *testing.F) {
	f.Add("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40001 1\n")
	f.Add("h\n 0: 00000000000000000000000001000000:0277 0:0 0A 0 0 0 0 0 60002\n")
	f.Fuzz(func(t *testing.T, table string) {
		parseProcNet(strings.NewReader(table), "tcp")
		netif.ParseDefaultRoute(strings.NewReader(table))
	})
}
