package web

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// hostile is what a client on the LAN may send as a host name, a vendor
// class or a file name.
const hostile = `<img src=x onerror=alert(1)>`

// Every answer under /ui/ (pages, the login form, assets, redirects,
// errors) carries the Content-Security-Policy and nosniff.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, 0)
	c := f.client()
	anon := f.client()
	f.login(t, c, f.rw)
	for _, tc := range []struct {
		client *http.Client
		path   string
		status int
	}{
		{anon, "/", http.StatusFound},
		{anon, "/ui/", http.StatusSeeOther},
		{anon, "/ui/login", http.StatusOK},
		{anon, "/ui/static/app.js", http.StatusOK},
		{c, "/ui/", http.StatusOK},
		{c, "/ui/server", http.StatusOK},
		{c, "/ui/machines/52:54:00:99:99:99", http.StatusNotFound},
		{c, "/ui/nothing", http.StatusNotFound},
	} {
		resp, _ := f.get(t, tc.client, tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %s, want %d", tc.path, resp.Status, tc.status)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
			"base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: Content-Security-Policy %q allows inline script or eval", tc.path, csp)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", tc.path, got)
		}
	}
	// The pages have no inline script, style or event handler that the
	// policy would have to allow.
	_, body := f.get(t, c, "/ui/")
	for _, re := range []string{`<script>`, `<script [^>]*>[^<]`, `<style`, ` style=`, ` on[a-z]+=`} {
		if regexp.MustCompile(re).MatchString(body) {
			t.Errorf("GET /ui/ has inline code (%s):\n%s", re, body)
		}
	}
}

// The login form checks the token like the API does, and sets a cookie
// that is HttpOnly, SameSite=Strict, for every path, not Secure over plain
// HTTP; the pages and the API then take it.
func TestLogin(t *testing.T) {
	f := newFixture(t, 0)
	c := f.client()
	resp, _ := f.get(t, c, "/ui/machines/52:54:00:00:00:01")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/ui/login?next="+url.QueryEscape("/ui/machines/52:54:00:00:00:01") {
		t.Errorf("GET a page without a session: %s to %q; want 303 to the login form", resp.Status, loc)
	}

	for _, bad := range []string{"", "ks_000000000000_" + strings.Repeat("0", 48), f.rw + "x", "Bearer " + f.rw} {
		resp, body := f.do(t, c, "POST", "/ui/login", url.Values{"token": {bad}}.Encode(), formHeader())
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `id="login-error"`) || len(resp.Cookies()) > 0 {
			t.Errorf("log in with %q: %s, cookies %v; want 401, the form with an error, no cookie", bad, resp.Status, resp.Cookies())
		}
	}

	resp, _ = f.do(t, c, "POST", "/ui/login", url.Values{"token": {f.rw}, "next": {"/ui/leases"}}.Encode(), formHeader())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/leases" {
		t.Fatalf("log in: %s to %q, want 303 to /ui/leases", resp.Status, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("log in set %d cookies, want 1", len(cookies))
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure || len(ck.Value) < 40 {
		t.Errorf("session cookie %s: want HttpOnly, SameSite=Strict, Path=/, not Secure over HTTP, a long random value", ck)
	}
	resp, body := f.get(t, c, "/ui/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<b id="session-token">admin</b>`) {
		t.Errorf("GET /ui/ after login: %s\n%s", resp.Status, body)
	}
	if resp, body := f.get(t, c, "/api/v1/machines"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1/machines by session cookie: %s %s", resp.Status, body)
	}

	// Somewhere else to go after logging in is not followed.
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/ui\\evil", "javascript:alert(1)"} {
		resp, _ := f.do(t, f.client(), "POST", "/ui/login", url.Values{"token": {f.rw}, "next": {next}}.Encode(), formHeader())
		if loc := resp.Header.Get("Location"); loc != "/ui/" {
			t.Errorf("log in with next=%q: to %q, want /ui/", next, loc)
		}
	}
}

func formHeader() http.Header {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
}

// Logging in is limited like bearer tokens, by the same count: ten refused
// tokens from an address, and it is refused for a minute, API included.
func TestLoginFailureLimit(t *testing.T) {
	f := newFixture(t, 0)
	c := f.client()
	for i := range 10 {
		resp, _ := f.do(t, c, "POST", "/ui/login", url.Values{"token": {"ks_000000000000_" + strings.Repeat("0", 48)}}.Encode(), formHeader())
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("refused login %d: %s, want 401", i+1, resp.Status)
		}
	}
	resp, body := f.do(t, c, "POST", "/ui/login", url.Values{"token": {f.rw}}.Encode(), formHeader())
	if resp.StatusCode != http.StatusTooManyRequests || len(resp.Cookies()) > 0 {
		t.Errorf("login with a good token after ten refused: %s %v, want 429 and no cookie\n%s", resp.Status, resp.Cookies(), body)
	}
	resp, _ = f.do(t, c, "GET", "/api/v1/machines", "", http.Header{"Authorization": {"Bearer " + f.rw}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("API request after ten refused logins: %s, want 429", resp.Status)
	}
}

// A mutation by session cookie needs the page's CSRF value; a read-only
// session may change nothing even with it.
func TestCSRFAndReadOnly(t *testing.T) {
	f := newFixture(t, 0)
	f.addMachine(t, "52:54:00:00:00:01", "web", "node1")
	rw, ro := f.client(), f.client()
	rwCSRF, roCSRF := f.login(t, rw, f.rw), f.login(t, ro, f.ro)
	if rwCSRF == roCSRF {
		t.Fatal("two sessions have the same CSRF value")
	}
	reinstall := "/api/v1/machines/52:54:00:00:00:01/reinstall"
	for _, tc := range []struct {
		name   string
		client *http.Client
		header http.Header
		status int
	}{
		{"no CSRF header", rw, nil, http.StatusForbidden},
		{"another session's CSRF value", rw, http.Header{"X-Kickstand-Csrf": {roCSRF}}, http.StatusForbidden},
		{"read-only, its own CSRF value", ro, http.Header{"X-Kickstand-Csrf": {roCSRF}}, http.StatusForbidden},
		{"read-write, its own CSRF value", rw, http.Header{"X-Kickstand-Csrf": {rwCSRF}}, http.StatusOK},
	} {
		resp, body := f.do(t, tc.client, "POST", reinstall, "", tc.header)
		if resp.StatusCode != tc.status {
			t.Errorf("POST reinstall by session cookie, %s: %s %s; want %d", tc.name, resp.Status, body, tc.status)
		}
	}
	patch := `{"hostname": "renamed"}`
	if resp, body := f.do(t, ro, "PATCH", "/api/v1/machines/52:54:00:00:00:01", patch, http.Header{"X-Kickstand-Csrf": {roCSRF}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PATCH by the read-only session: %s %s, want 403", resp.Status, body)
	}
	if resp, body := f.do(t, rw, "PATCH", "/api/v1/machines/52:54:00:00:00:01", patch, http.Header{"X-Kickstand-Csrf": {rwCSRF}}); resp.StatusCode != http.StatusOK {
		t.Errorf("PATCH by the read-write session: %s %s, want 200", resp.Status, body)
	}

	// The read-only page has no actions; the read-write one has.
	_, roPage := f.get(t, ro, "/ui/machines/52:54:00:00:00:01")
	_, rwPage := f.get(t, rw, "/ui/machines/52:54:00:00:00:01")
	if strings.Contains(roPage, `id="reinstall"`) || strings.Contains(roPage, `id="edit"`) || !strings.Contains(roPage, `id="read-only"`) {
		t.Errorf("the read-only session's machine page offers actions:\n%s", roPage)
	}
	if !strings.Contains(rwPage, `id="reinstall"`) || !strings.Contains(rwPage, `id="edit"`) {
		t.Errorf("the read-write session's machine page lacks its actions:\n%s", rwPage)
	}
}

// Logging out needs the page's CSRF value and comes from the dashboard's
// own origin; it ends the session for the pages and the API.
func TestLogout(t *testing.T) {
	f := newFixture(t, 0)
	c := f.client()
	csrf := f.login(t, c, f.rw)
	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"without the CSRF value", url.Values{}, formHeader()},
		{"from another site", url.Values{"csrf": {csrf}}, http.Header{"Content-Type": formHeader()["Content-Type"], "Sec-Fetch-Site": {"cross-site"}}},
		{"from another origin", url.Values{"csrf": {csrf}}, http.Header{"Content-Type": formHeader()["Content-Type"], "Origin": {"http://evil.example"}}},
	} {
		resp, _ := f.do(t, c, "POST", "/ui/logout", tc.form.Encode(), tc.header)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("logout %s: %s, want 403", tc.name, resp.Status)
		}
	}
	if resp, _ := f.get(t, c, "/ui/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after refused logouts, GET /ui/: %s, want 200", resp.Status)
	}
	resp, _ := f.do(t, c, "POST", "/ui/logout", url.Values{"csrf": {csrf}}.Encode(), formHeader())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s, want 303", resp.Status)
	}
	if resp, _ := f.get(t, c, "/ui/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout, GET /ui/: %s, want 303 to the login form", resp.Status)
	}
	if resp, _ := f.get(t, c, "/api/v1/machines"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout, GET /api/v1/machines: %s, want 401", resp.Status)
	}
}

// A token removed ends its sessions: pages, API and an open event stream.
func TestRemovedTokenEndsSessions(t *testing.T) {
	f := newFixture(t, 0)
	c := f.client()
	f.login(t, c, f.ro)
	stream, err := c.Get(f.url + "/api/v1/events/stream")
	must(t, err)
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("GET the event stream by session: %s", stream.Status)
	}
	must(t, f.db.RemoveAPIToken(context.Background(), "auditor"))
	if resp, _ := f.get(t, c, "/ui/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the token's removal, GET /ui/: %s, want 303 to the login form", resp.Status)
	}
	if resp, _ := f.get(t, c, "/api/v1/machines"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after the token's removal, GET /api/v1/machines: %s, want 401", resp.Status)
	}
	// The open stream ends with its session.
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := stream.Body.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the event stream of an ended session is still open")
	}
}

// Whatever a client sent is text on every page: host names (a lease's, or
// a machine's stored before validation), vendor classes and file names in
// the timeline, the step in the list.
func TestClientStringsEscaped(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	f.addMachine(t, "52:54:00:00:00:01", "web", "node1")
	mac, _ := store.ParseMAC("52:54:00:00:00:01")
	m, err := f.db.Machine(ctx, mac)
	must(t, err)
	m.Hostname = hostile // as if written by an older version, or straight into the database
	must(t, f.db.PutMachine(ctx, m))
	must(t, f.db.PutLease(ctx, store.Lease{MAC: mac, IP: netip.MustParseAddr("10.0.0.5"), Expires: time.Now().Add(time.Hour), Hostname: hostile}))
	f.record(t, store.Event{MAC: mac, Kind: events.DHCPDiscover, Detail: `vendor class "` + hostile + `"`,
		Fields: events.Fields{VendorClass: hostile, PXE: true}}, store.StateBooting)
	f.record(t, store.Event{MAC: mac, Kind: events.TFTP, Detail: hostile + ": not found",
		Fields: events.Fields{File: hostile, NotFound: true}}, store.StateBooting)
	c := f.client()
	f.login(t, c, f.rw)
	for _, path := range []string{"/ui/", "/ui/machines/52:54:00:00:00:01", "/ui/leases"} {
		_, body := f.get(t, c, path)
		if strings.Contains(body, "<img") {
			t.Errorf("GET %s has a client's <img> as markup:\n%s", path, body)
		}
		if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("GET %s does not show the client's string as text:\n%s", path, body)
		}
	}
}

// The list marks failed machines, and booting or installing ones without
// an event for StuckAfter.
func TestMarks(t *testing.T) {
	f := newFixture(t, time.Minute)
	old := time.Now().Add(-5 * time.Minute)
	for i, tc := range []struct {
		step store.State
		at   time.Time
		mark string
	}{
		{store.StateBooting, old, "stuck"},
		{store.StateBooting, time.Now(), ""},
		{store.StateFailed, old, "failed"},
		{store.StateInstalled, old, ""},
	} {
		mac := "52:54:00:00:01:0" + string(rune('0'+i))
		hw, _ := store.ParseMAC(mac)
		// Registered long ago: straight into the store, without a "registered" event now.
		must(t, f.db.PutMachine(context.Background(), store.Machine{MAC: hw, Profile: "web", State: store.StateNew, Token: "t" + mac[15:]}))
		ev := store.Event{MAC: hw, Time: tc.at, Kind: events.PhoneHome, Detail: string(tc.step), Fields: events.Fields{State: string(tc.step)}}
		if tc.step == store.StateBooting {
			ev = store.Event{MAC: hw, Time: tc.at, Kind: events.TFTP, Detail: "pxelinux.0 42 bytes in 1ms", Fields: events.Fields{File: "pxelinux.0", Bytes: 42}}
		}
		f.record(t, ev, tc.step)
		c := f.client()
		f.login(t, c, f.ro)
		_, body := f.get(t, c, "/ui/")
		row := regexp.MustCompile(`<tr data-mac="` + mac + `"[^>]*>`).FindString(body)
		hasMark := strings.Contains(row, `class="`+tc.mark+`"`)
		if tc.mark == "" {
			hasMark = !strings.Contains(row, "class=")
		}
		if row == "" || !hasMark {
			t.Errorf("machine %s at %s since %v: row %q, want mark %q", mac, tc.step, time.Since(tc.at).Round(time.Second), row, tc.mark)
		}
	}
}

// The machine's page shows the logs of its newest install that sent logs,
// as text.
func TestInstallLogsOnMachinePage(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	f.addMachine(t, "52:54:00:00:00:01", "web", "node1")
	mac, _ := store.ParseMAC("52:54:00:00:00:01")
	c := f.client()
	f.login(t, c, f.ro)
	if _, body := f.get(t, c, "/ui/machines/52:54:00:00:00:01"); !strings.Contains(body, "No install has sent its logs") {
		t.Errorf("a machine without logs: the page does not say so:\n%s", body)
	}
	for _, l := range []struct{ install, body string }{{"old", "older install"}, {"new", "ERROR " + hostile}} {
		must(t, f.db.AddInstallLog(ctx, store.InstallLog{MAC: mac, Install: l.install, Name: "anaconda.log", Body: []byte(l.body)}, 3))
	}
	_, body := f.get(t, c, "/ui/machines/52:54:00:00:00:01")
	if !strings.Contains(body, "<summary>anaconda.log (") || !strings.Contains(body, "<pre>ERROR &lt;img src=x onerror=alert(1)&gt;</pre>") ||
		strings.Contains(body, "older install") || strings.Contains(body, "<img") {
		t.Errorf("the page does not show the newest install's anaconda.log as text:\n%s", body)
	}
}
