package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kickstand/internal/api"
	"kickstand/internal/events"
	"kickstand/internal/store"
)

// speedup is how much faster than recorded the time between events of a
// replay runs: the recorded install's 26 s in about 12, with its three
// large files in flight 2.5 s each (see minInFlight).
const speedup = 6

// TestBrowser drives the dashboard in headless Chromium against the real
// handler and store, while a recorded install (testdata/install.sse) is
// replayed into the server: log in; watch a machine go from new to
// installed in the list (state, step and progress bar moving, no reload),
// and another on its own page (its timeline growing); reinstall and edit
// it; see a client's hostile strings stay text; read the server page; keep
// up with a hundred machines booting at once; and find that a read-only
// token's page offers no action, which the API refuses anyway.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t, 0)
	rec := loadRecording(t, "install.sse")
	f.addMachine(t, "52:54:00:00:00:01", "web", "node1")
	f.addMachine(t, "52:54:00:00:00:02", "web", "node2")
	f.addMachine(t, "52:54:00:00:00:66", "db", "evil")
	setHostile(t, f, "52:54:00:00:00:66")

	b.login(t, f.url, f.rw)
	b.screenshot(t, "01-machines")
	for _, step := range []struct {
		name string
		run  func(t *testing.T, b *browser, f *fixture, rec []message)
	}{
		{"list", watchListInstall},
		{"machine page", watchMachineInstall},
		{"actions", reinstallAndEdit},
		{"hostile strings", hostileStrings},
		{"server page", serverPage},
		{"storm", storm},
		{"read-only", readOnly},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.run(t, b, f, rec)
			b.check(t)
		})
	}
}

// setHostile makes a client's hostile string the machine's host name
// (straight into the store: validation would refuse it), its lease's, and
// its first events' vendor class and file name.
func setHostile(t *testing.T, f *fixture, mac string) {
	t.Helper()
	ctx := context.Background()
	hw, _ := store.ParseMAC(mac)
	m, err := f.db.Machine(ctx, hw)
	must(t, err)
	m.Hostname = hostile
	must(t, f.db.PutMachine(ctx, m))
	must(t, f.db.PutLease(ctx, store.Lease{MAC: hw, IP: netip.MustParseAddr("10.213.7.166"), Expires: time.Now().Add(time.Hour), Hostname: hostile}))
	f.record(t, store.Event{MAC: hw, Kind: events.DHCPDiscover, Detail: `vendor class "` + hostile + `"`,
		Fields: events.Fields{VendorClass: hostile, PXE: true}}, store.StateBooting)
	f.record(t, store.Event{MAC: hw, Kind: events.TFTP, Detail: hostile + ": not found",
		Fields: events.Fields{File: hostile, NotFound: true}}, store.StateBooting)
}

// progression checks what a sampled progress bar showed: "value/max"
// samples ("" when hidden), at least three different values of one file,
// never going back.
func progression(t *testing.T, samples []string) {
	t.Helper()
	byMax := map[string][]float64{}
	for _, s := range samples {
		value, total, ok := strings.Cut(s, "/")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v <= 0 {
			continue
		}
		byMax[total] = append(byMax[total], v)
	}
	best := 0
	for total, vs := range byMax {
		for i := 1; i < len(vs); i++ {
			if vs[i] < vs[i-1] {
				t.Errorf("the progress bar of a file of %s bytes went back: %v", total, vs)
			}
		}
		best = max(best, len(vs))
	}
	if best < 3 {
		t.Errorf("the progress bar did not move: it showed %q", samples)
	}
	t.Logf("progress bar: %d files, up to %d values each", len(byMax), best)
}

// states returns the distinct states a sample of "state|..." went through.
func states(samples []string) []string {
	var out []string
	for _, s := range samples {
		st, _, _ := strings.Cut(s, "|")
		if len(out) == 0 || out[len(out)-1] != st {
			out = append(out, st)
		}
	}
	return out
}

func wantStates(t *testing.T, got []string, want ...string) {
	t.Helper()
	i := 0
	for _, s := range got {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	if i < len(want) || got[0] != want[0] {
		t.Errorf("the page showed the states %v; want %v in that order", got, want)
	}
}

// watchListInstall replays an install of node1 while the list is open.
func watchListInstall(t *testing.T, b *browser, f *fixture, rec []message) {
	b.open(t, f.url+"/ui/")
	row := `document.querySelector('tr[data-mac="52:54:00:00:00:01"]')`
	stop := make(chan struct{})
	samples := b.sample(`((r, p) => r.dataset.state + "|" + (p.hidden ? "" : p.value + "/" + p.max) + "|" + r.querySelector(".kind").textContent)(`+
		row+`, `+row+`.querySelector("progress"))`, stop)
	wait := replayIn(f, rec, "52:54:00:00:00:01", "10.213.7.101", speedup)
	b.waitFor(t, "the first file in flight", row+`.querySelector("progress").value > 0`, 20*time.Second)
	n := wait(t)
	b.waitFor(t, "node1 installed", row+`.dataset.state === "installed"`, 10*time.Second)
	close(stop)
	got := <-samples
	b.screenshot(t, "02-list-installed")
	wantStates(t, states(got), "new", "booting", "installing", "installed")
	var progress []string
	steps := map[string]bool{}
	for _, s := range got {
		parts := strings.SplitN(s, "|", 3)
		progress = append(progress, parts[1])
		steps[parts[2]] = true
	}
	progression(t, progress)
	if len(steps) < 5 {
		t.Errorf("the current step showed only %d kinds of event, want the install's many: %v", len(steps), steps)
	}
	if !eval[bool](t, b, "window.notReloaded === true") {
		t.Error("the page reloaded")
	}
	if got := b.text(t, `tr[data-mac="52:54:00:00:00:01"] .kind`); got != "phone-home" {
		t.Errorf("node1's current step is %q, want phone-home", got)
	}
	t.Logf("replayed %d events; the list showed %d states of node1", n, len(got))

	// A machine registered while the list is open joins it.
	f.addMachine(t, "52:54:00:00:00:99", "db", "late")
	late := `document.querySelector('tr[data-mac="52:54:00:00:00:99"]')`
	b.waitFor(t, "the new machine's row", late+` && `+late+`.querySelector(".hostname").textContent === "late"`, 10*time.Second)
	if got := b.text(t, `tr[data-mac="52:54:00:00:00:99"] .kind`); got != "registered" {
		t.Errorf("the new machine's current step is %q, want registered", got)
	}
	if !eval[bool](t, b, "window.notReloaded === true") {
		t.Error("the page reloaded")
	}
}

// watchMachineInstall replays an install of node2 while its page is open.
func watchMachineInstall(t *testing.T, b *browser, f *fixture, rec []message) {
	b.open(t, f.url+"/ui/machines/52:54:00:00:00:02")
	before := eval[int](t, b, `document.querySelectorAll("#timeline tr").length`)
	stop := make(chan struct{})
	samples := b.sample(`((s, p) => s.dataset.state + "|" + (p.hidden ? "" : p.value + "/" + p.max) + "|" + document.querySelectorAll("#timeline tr").length)(`+
		`document.getElementById("machine"), document.querySelector("#machine progress"))`, stop)
	wait := replayIn(f, rec, "52:54:00:00:00:02", "10.213.7.102", speedup)
	b.waitFor(t, "a file in flight", `document.querySelector("#machine progress").value > 0`, 20*time.Second)
	b.screenshot(t, "03-machine-loading")
	n := wait(t)
	b.waitFor(t, "the whole timeline", fmt.Sprintf(`document.querySelectorAll("#timeline tr").length === %d`, before+n), 10*time.Second)
	b.waitFor(t, "node2 installed", `document.getElementById("machine").dataset.state === "installed"`, 10*time.Second)
	close(stop)
	got := <-samples
	b.screenshot(t, "04-machine-installed")
	wantStates(t, states(got), "new", "booting", "installing", "installed")
	var progress []string
	lengths := map[string]bool{}
	for _, s := range got {
		parts := strings.SplitN(s, "|", 3)
		progress = append(progress, parts[1])
		lengths[parts[2]] = true
	}
	progression(t, progress)
	if len(lengths) < 5 {
		t.Errorf("the timeline grew in %d steps, want it to grow as the events came", len(lengths))
	}
	if !eval[bool](t, b, "window.notReloaded === true") {
		t.Error("the page reloaded")
	}
	// The live rows read as the server renders them: a power-on marked,
	// the time since it counted, the kind and detail.
	last := eval[[]string](t, b, `Array.from(document.querySelector("#timeline tr:last-child").cells, c => c.textContent)`)
	if len(last) != 4 || !strings.HasPrefix(last[1], "+") || last[2] != "phone-home" || last[3] != "installed" {
		t.Errorf("the timeline's last row is %q, want the time, +since power-on, phone-home, installed", last)
	}
	// One power-on, after the registration: the firmware's first discover.
	boots := eval[[]string](t, b, `Array.from(document.querySelectorAll("#timeline tr.boot"), r => r.cells[1].textContent + " " + r.cells[2].textContent)`)
	if len(boots) != 1 || boots[0] != "*+0s dhcp-discover" {
		t.Errorf("rows marked as a power-on: %q; want the first discover's alone, as *+0s", boots)
	}
	t.Logf("the timeline grew from %d to %d rows in %d steps", before, before+n, len(lengths))
}

// reinstallAndEdit presses reinstall (twice: the second click confirms)
// and renames node2 on its page.
func reinstallAndEdit(t *testing.T, b *browser, f *fixture, _ []message) {
	b.open(t, f.url+"/ui/machines/52:54:00:00:00:02")
	b.do(t, chromedp.Click(chromedp.ID("reinstall")))
	if got := b.text(t, "#reinstall"); !strings.Contains(got, "confirm") {
		t.Errorf("after one click the button reads %q, want it to ask for a confirming click", got)
	}
	b.do(t, chromedp.Click(chromedp.ID("reinstall")))
	b.waitFor(t, "the reinstall's answer", `document.getElementById("action-result").textContent !== ""`, 10*time.Second)
	if got := b.text(t, "#action-result"); !strings.Contains(got, "Sent back to new (it was installed)") {
		t.Errorf("after reinstall the page says %q", got)
	}
	b.waitFor(t, "the state new, live", `document.getElementById("machine").dataset.state === "new"`, 10*time.Second)

	b.do(t,
		chromedp.SetValue(chromedp.CSS(`#edit input[name="hostname"]`), "node2b"),
		chromedp.SetValue(chromedp.CSS(`#edit select[name="profile"]`), "db"),
		chromedp.Click(chromedp.ID("save")),
	)
	b.waitFor(t, "the edit's answer", `document.getElementById("action-result").textContent.startsWith("Saved")`, 10*time.Second)
	b.waitFor(t, "the new host name, live", `document.getElementById("hostname").textContent === "node2b"`, 10*time.Second)
	b.screenshot(t, "05-machine-edited")
	m, err := f.db.Machine(context.Background(), mustMAC(t, "52:54:00:00:00:02"))
	must(t, err)
	if m.Hostname != "node2b" || m.Profile != "db" || m.State != store.StateNew {
		t.Errorf("after the page's reinstall and edit the store has %s, %s, %s; want node2b, db, new", m.Hostname, m.Profile, m.State)
	}
	if got := b.text(t, "#timeline tr:last-child td:nth-child(3)"); got != "edited" {
		t.Errorf("the timeline's last event is %q, want edited", got)
	}
}

func mustMAC(t testing.TB, s string) []byte {
	hw, err := store.ParseMAC(s)
	must(t, err)
	return hw
}

// hostileStrings checks that what a client sent is text on every page,
// server-rendered and live.
func hostileStrings(t *testing.T, b *browser, f *fixture, _ []message) {
	const mac = "52:54:00:00:00:66"
	b.open(t, f.url+"/ui/machines/"+mac)
	if got := b.text(t, "#hostname"); got != hostile {
		t.Errorf("the machine page shows the host name as %q, want the text %q", got, hostile)
	}
	if got := b.text(t, "#timeline tr:nth-child(2) td:nth-child(4)"); got != `vendor class "`+hostile+`"` {
		t.Errorf("the timeline shows the discover as %q, want the text %q in it", got, hostile)
	}
	// Live: an event and a file in flight with the string.
	f.record(t, store.Event{MAC: mustMAC(t, mac), Kind: events.TFTP, Detail: hostile + " 512 bytes in 1ms",
		Fields: events.Fields{File: hostile, Bytes: 512}}, store.StateBooting)
	f.live.set(api.TransferJSON{MAC: mac, IP: "10.213.7.166", Proto: "tftp", File: hostile, Bytes: 100, Total: 512, Started: time.Now()})
	b.waitFor(t, "the live event", `document.querySelector("#timeline tr:last-child td:nth-child(4)").textContent.includes("onerror")`, 10*time.Second)
	b.waitFor(t, "the live file", `document.querySelector("#machine .file").textContent.includes("onerror")`, 10*time.Second)
	b.screenshot(t, "06-hostile-machine")
	f.live.set()
	for _, page := range []struct{ url, selector string }{
		{"/ui/", `tr[data-mac="` + mac + `"] .hostname`},
		{"/ui/leases", "#leases .hostname"},
	} {
		b.do(t, chromedp.Navigate(f.url+page.url), chromedp.WaitReady(chromedp.CSS(page.selector)))
		if got := b.text(t, page.selector); got != hostile {
			t.Errorf("%s shows the host name as %q, want the text %q", page.url, got, hostile)
		}
		if n := eval[int](t, b, `document.querySelectorAll("img").length`); n != 0 {
			t.Errorf("%s has %d <img> elements: a client's string became markup", page.url, n)
		}
	}
	b.screenshot(t, "07-hostile-leases")

	// Were markup to get in after all, the policy stops its script.
	eval[chromedp.Void](t, b, `document.querySelector("main").insertAdjacentHTML("beforeend", '<img src="/nonexistent" onerror="alert(1)">')`)
	deadline := time.Now().Add(5 * time.Second)
	var violations []string
	for len(violations) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		violations = b.takeViolations()
	}
	if len(violations) == 0 || !strings.Contains(violations[0], "inline event handler") {
		t.Errorf("an injected onerror handler was not refused by the Content-Security-Policy (violations: %q)", violations)
	}
	// No alert ran: b.check, after this step, fails on any dialog.
}

// serverPage reads what the API says of the server.
func serverPage(t *testing.T, b *browser, f *fixture, _ []message) {
	b.open(t, f.url+"/ui/server")
	b.waitFor(t, "the server's facts", `document.getElementById("version").textContent !== "…"`, 10*time.Second)
	if got := b.text(t, "#version"); got != "v0.0.0-test <b>bold</b>" {
		t.Errorf("the server page shows the version as %q, want it as text", got)
	}
	if got := eval[int](t, b, `document.querySelectorAll("#listeners tr").length`); got != 3 {
		t.Errorf("the server page lists %d listeners, want 3", got)
	}
	if got := b.text(t, "#stream-dropped"); got != "5" {
		t.Errorf("the server page shows %q events dropped by the stream, want 5", got)
	}
	f.live.set(api.TransferJSON{MAC: "52:54:00:00:00:01", IP: "10.213.7.101", Proto: "http", File: "distros/rocky9/images/install.img",
		Bytes: 300 << 20, Total: 840 << 20, Started: time.Now().Add(-3 * time.Second)})
	b.waitFor(t, "the file in flight", `document.querySelectorAll("#transfers tr").length === 1`, 10*time.Second)
	b.screenshot(t, "08-server")
	f.live.set()
	b.waitFor(t, "no file in flight", `document.querySelectorAll("#transfers tr").length === 0`, 10*time.Second)
}

// storm sends a hundred machines' installs at 1,000 events a second to the
// open list, and measures how far behind the page falls.
func storm(t *testing.T, b *browser, f *fixture, rec []message) {
	const machines = 100
	var macs [][]byte
	var names []string
	for i := range machines {
		mac := fmt.Sprintf("52:54:00:10:00:%02x", i)
		f.addMachine(t, mac, "web", fmt.Sprintf("storm%02d", i))
		macs, names = append(macs, mustMAC(t, mac)), append(names, mac)
	}
	var evs []streamEvent
	for _, m := range rec {
		if m.event != "progress" {
			var e streamEvent
			must(t, json.Unmarshal([]byte(m.data), &e))
			evs = append(evs, e)
		}
	}
	b.open(t, f.url+"/ui/")
	b.waitFor(t, "the storm's rows", fmt.Sprintf(`document.querySelectorAll('tr[data-state="new"]').length >= %d`, machines), 10*time.Second)
	before := eval[map[string]float64](t, b, `window.kickstand.stats`)

	// Event by event of the recording, each to every machine: 1,000 a
	// second, in ticks of 10 ms. Straight to the feed: this measures the
	// stream and the page, not the store's write rate.
	const perTick, tick = 10, 10 * time.Millisecond
	start := time.Now()
	sent := 0
	next := start
	for _, e := range evs {
		for _, mac := range macs {
			f.feed.Send(events.Event{Time: time.Now(), MAC: mac, Kind: events.Kind(e.Kind), Detail: e.Detail, Fields: e.Fields, Step: e.State})
			if sent++; sent%perTick == 0 {
				next = next.Add(tick)
				time.Sleep(time.Until(next))
			}
			if sent%(machines*2) == 0 { // a progress message now and then, for every machine
				var xs []api.TransferJSON
				for _, m := range names {
					xs = append(xs, api.TransferJSON{MAC: m, IP: "10.0.0.1", Proto: "http", File: "images/install.img", Bytes: int64(sent), Total: 1 << 30, Started: start})
				}
				f.live.set(xs...)
			}
		}
	}
	f.live.set()
	sendTime := time.Since(start)
	allInstalled := fmt.Sprintf(`document.querySelectorAll('tr[data-mac^="52:54:00:10:00:"][data-state="installed"]').length === %d`, machines)
	b.waitFor(t, "every storm machine installed", allInstalled, 30*time.Second)
	lag := time.Since(start) - sendTime
	after := eval[map[string]float64](t, b, `window.kickstand.stats`)
	b.screenshot(t, "09-storm")
	rate := float64(sent) / sendTime.Seconds()
	events := after["events"] - before["events"]
	frames := after["frames"] - before["frames"]
	t.Logf("storm: %d events to %d machines in %v (%.0f events/s); the page showed the last %v after it was sent; "+
		"it took in %.0f events in %.0f frames (at most %.0f messages in one), %.0f dropped, %.0f resyncs",
		sent, machines, sendTime.Round(time.Millisecond), rate, lag.Round(time.Millisecond), events, frames, after["maxBatch"],
		after["dropped"]-before["dropped"], after["resyncs"]-before["resyncs"])
	if rate < 800 {
		t.Logf("the sender reached only %.0f events/s on this machine", rate)
	}
	if events < float64(sent) {
		t.Errorf("the page took in %.0f events of the %d sent", events, sent)
	}
	if lag > 2*time.Second {
		t.Errorf("the page showed the storm's end %v after it was sent, want it within 2 s", lag)
	}
}

// readOnly logs in with the read-only token: no actions on the page, and
// the API refuses them when forced.
func readOnly(t *testing.T, b *browser, f *fixture, _ []message) {
	b.do(t,
		chromedp.Navigate(f.url+"/ui/distros"),
		chromedp.Click(chromedp.CSS(`header form button`)),
		chromedp.WaitVisible(chromedp.ID("login-token")),
	)
	b.login(t, f.url, f.ro)
	b.open(t, f.url+"/ui/machines/52:54:00:00:00:01")
	b.screenshot(t, "10-read-only")
	if eval[bool](t, b, `document.getElementById("reinstall") !== null || document.getElementById("edit") !== null`) {
		t.Error("the read-only token's page offers reinstall or edit")
	}
	if got := b.text(t, "#read-only"); !strings.Contains(got, "auditor") {
		t.Errorf("the read-only page says %q, want it to name the read-only token", got)
	}
	// Forced, with the page's own CSRF value: the API refuses.
	for _, req := range []string{
		`fetch("/api/v1/machines/52:54:00:00:00:01/reinstall", {method: "POST", headers: {"X-Kickstand-CSRF": document.querySelector('meta[name="ks-csrf"]').content}})`,
		`fetch("/api/v1/machines/52:54:00:00:00:01", {method: "PATCH", headers: {"X-Kickstand-CSRF": document.querySelector('meta[name="ks-csrf"]').content, "Content-Type": "application/json"}, body: '{"hostname": "pwned"}'})`,
	} {
		if status := eval[int](t, b, req+`.then(r => r.status)`); status != 403 {
			t.Errorf("%s: %d, want 403", req, status)
		}
	}
	m, err := f.db.Machine(context.Background(), mustMAC(t, "52:54:00:00:00:01"))
	must(t, err)
	if m.State != store.StateInstalled || m.Hostname != "node1" {
		t.Errorf("after the read-only token's forced requests node1 is %s, %s; want installed, node1", m.State, m.Hostname)
	}
}
