package api

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// fixture is an API server on 127.0.0.1 over a store with one distro, one
// profile and one machine, and a read-write and a read-only token.
type fixture struct {
	t        *testing.T
	db       *sqlite.DB
	url      string
	rw, ro   string
	tree     string
	feed     *events.Feed
	srv      *Server
	inventry *inventory.Inventory
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, f := range []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img"} {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(tree, f), []byte(f), 0o644)
	}
	os.WriteFile(filepath.Join(tree, ".treeinfo"), []byte("[general]\nfamily = Rocky Linux\nversion = 9.6\narch = x86_64\n[stage2]\nmainimage = images/install.img\n"), 0o644)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	inv := &inventory.Inventory{Store: db, Site: inventory.Site{BaseURL: "http://10.0.0.1"}}
	if _, err := inv.ImportDistro(ctx, "rocky9", tree); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.AddProfile(ctx, inventory.ProfileSpec{Name: "web", Distro: "rocky9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.AddMachine(ctx, inventory.MachineSpec{MAC: "52:54:00:00:00:01", Profile: "web", Hostname: "node1"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, tree: tree, feed: &events.Feed{}, inventry: inv}
	inv.Recorded = func(ev store.Event, state store.State) {
		f.feed.Send(events.Event{Time: ev.Time, MAC: ev.MAC, Kind: ev.Kind, Detail: ev.Detail, Step: string(state)})
	}
	for _, ro := range []bool{false, true} {
		text, rec := NewToken(map[bool]string{false: "rw", true: "ro"}[ro], ro)
		if err := db.AddAPIToken(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if ro {
			f.ro = text
		} else {
			f.rw = text
		}
	}
	f.srv = &Server{Inv: inv, Feed: f.feed}
	ts := httptest.NewServer(f.srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// call sends method path with body (JSON text) and token; it returns the
// status and the decoded body.
func (f *fixture) call(token, method, path, body string) (int, map[string]any, []any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	var list []any
	if json.Unmarshal(b, &obj) != nil {
		json.Unmarshal(b, &list)
	}
	return resp.StatusCode, obj, list
}

// request is one example of each route, valid for the fixture.
type request struct {
	method, path, body string
	write              bool
	status             int
}

func examples(f *fixture) []request {
	return []request{
		{"GET", "/api/v1/distros", "", false, 200},
		{"POST", "/api/v1/distros", `{"name": "alma9", "path": "` + f.tree + `"}`, true, 201},
		{"GET", "/api/v1/distros/rocky9", "", false, 200},
		{"DELETE", "/api/v1/distros/alma9", "", true, 204},
		{"GET", "/api/v1/profiles", "", false, 200},
		{"POST", "/api/v1/profiles", `{"name": "db", "distro": "rocky9", "vars": {"disk": "vda"}}`, true, 201},
		{"GET", "/api/v1/profiles/db", "", false, 200},
		{"PATCH", "/api/v1/profiles/db", `{"kernel_args": "console=ttyS0"}`, true, 200},
		{"GET", "/api/v1/profiles/db/kickstart", "", false, 200},
		{"GET", "/api/v1/machines", "", false, 200},
		{"POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:02", "profile": "db", "hostname": "db1"}`, true, 201},
		{"GET", "/api/v1/machines/52:54:00:00:00:02", "", false, 200},
		{"PATCH", "/api/v1/machines/52:54:00:00:00:02", `{"hostname": "db2"}`, true, 200},
		{"POST", "/api/v1/machines/52:54:00:00:00:02/reinstall", "", true, 200},
		{"GET", "/api/v1/machines/52:54:00:00:00:02/kickstart", "", false, 200},
		{"GET", "/api/v1/machines/52:54:00:00:00:02/events?limit=1", "", false, 200},
		{"GET", "/api/v1/machines/52:54:00:00:00:01/logs?install=all", "", false, 200},
		{"DELETE", "/api/v1/machines/52:54:00:00:00:02", "", true, 204},
		{"DELETE", "/api/v1/profiles/db", "", true, 204},
		{"GET", "/api/v1/leases", "", false, 200},
		{"POST", "/api/v1/apply?dry_run=true", `{"machines": [{"mac": "52:54:00:00:00:01", "profile": "web", "hostname": "node2"}]}`, true, 200},
		{"GET", "/api/v1/transfers", "", false, 200},
		{"GET", "/api/v1/server", "", false, 200},
		{"GET", "/api/v1/openapi.json", "", false, 200},
	}
}

// Every route: without a token 401, with an unknown one 401; with a
// read-only token 403 on what changes something and the answer otherwise;
// with a token, its answer.
func TestEveryRouteNeedsAToken(t *testing.T) {
	f := newFixture(t)
	for _, rt := range routes {
		pattern := regexp.MustCompile(`^` + regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(rt.path, `[^/]+`) + `(\?.*)?$`)
		if !slices.ContainsFunc(examples(f), func(r request) bool { return r.method == rt.method && pattern.MatchString(r.path) }) {
			t.Errorf("no example of %s %s: add one to examples", rt.method, rt.path)
		}
	}
	for _, r := range examples(f) {
		if code, body, _ := f.call("", r.method, r.path, r.body); code != 401 || body["error"] == nil {
			t.Errorf("%s %s without a token: %d %v, want 401 with an error", r.method, r.path, code, body)
		}
		bogus := "ks_000000000000_" + strings.Repeat("0", 48)
		if code, _, _ := f.call(bogus, r.method, r.path, r.body); code != 401 {
			t.Errorf("%s %s with an unknown token: %d, want 401", r.method, r.path, code)
		}
		// Forget this address's failures: every route is asked twice
		// without a good token, which is more than the limiter allows.
		f.srv.failed.mu.Lock()
		f.srv.failed.seen = nil
		f.srv.failed.mu.Unlock()
		if r.write {
			if code, body, _ := f.call(f.ro, r.method, r.path, r.body); code != 403 || !strings.Contains(body["error"].(string), "read-only") {
				t.Errorf("%s %s with a read-only token: %d %v, want 403", r.method, r.path, code, body)
			}
		} else if code, _, _ := f.call(f.ro, r.method, r.path, r.body); code != r.status {
			t.Errorf("%s %s with a read-only token: %d, want %d", r.method, r.path, code, r.status)
		}
		if code, body, _ := f.call(f.rw, r.method, r.path, r.body); code != r.status {
			t.Errorf("%s %s: %d %v, want %d", r.method, r.path, code, body, r.status)
		}
	}
}

// The writes have their effect in the store.
func TestWritesReachTheStore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.call(f.rw, "POST", "/api/v1/profiles", `{"name": "db", "distro": "rocky9", "kernel_args": "quiet"}`)
	if p, err := f.db.Profile(ctx, "db"); err != nil || p.KernelArgs != "quiet" {
		t.Fatalf("profile after POST: %+v, %v", p, err)
	}
	code, body, _ := f.call(f.rw, "POST", "/api/v1/machines", `{"mac": "52-54-00-00-00-03", "profile": "db", "ip": "10.0.0.9",
		"network": {"address": "10.0.0.9/24", "gateway": "10.0.0.1"}, "vars": {"disk": "vda"}}`)
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 3}
	m, err := f.db.Machine(ctx, mac)
	if code != 201 || err != nil || m.Profile != "db" || m.IP.String() != "10.0.0.9" || m.Vars["disk"] != "vda" || !m.Network.Static() {
		t.Fatalf("machine after POST: %d %v; %+v, %v", code, body, m, err)
	}
	f.call(f.rw, "PATCH", "/api/v1/machines/52:54:00:00:00:03", `{"address": "", "unset_vars": ["disk"]}`)
	if m, _ := f.db.Machine(ctx, mac); m.Network.Static() || len(m.Vars) != 0 {
		t.Fatalf("machine after PATCH: %+v", m)
	}
	old := m.Token
	f.call(f.rw, "POST", "/api/v1/machines/52:54:00:00:00:03/reinstall", "")
	if m, _ := f.db.Machine(ctx, mac); m.Token == old || m.State != store.StateNew {
		t.Fatalf("machine after reinstall: %+v", m)
	}
	f.call(f.rw, "DELETE", "/api/v1/machines/52:54:00:00:00:03", "")
	if _, err := f.db.Machine(ctx, mac); err == nil {
		t.Fatal("machine still there after DELETE")
	}
	// A dry run writes nothing; a real one does.
	f.call(f.rw, "POST", "/api/v1/apply?dry_run=true", `{"machines": [{"mac": "52:54:00:00:00:01", "profile": "web", "hostname": "changed"}]}`)
	if m, _ := f.db.Machine(ctx, net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}); m.Hostname != "node1" {
		t.Fatalf("a dry run wrote: %+v", m)
	}
	code, body, _ = f.call(f.rw, "POST", "/api/v1/apply", `{"machines": [{"mac": "52:54:00:00:00:01", "profile": "web", "hostname": "changed"}]}`)
	if m, _ := f.db.Machine(ctx, net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}); code != 200 || m.Hostname != "changed" || body["written"] != true {
		t.Fatalf("apply: %d %v; machine %+v", code, body, m)
	}
}

// Invalid requests: 400 with the field named, and nothing written; an
// apply with one error writes nothing of it.
func TestInvalidRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"POST", "/api/v1/machines", `{"mac": "52:54:00", "profile": "web"}`, 400, "mac"},
		{"POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:04", "profile": "web", "hostname": "bad_name!"}`, 400, "hostname"},
		{"POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:04", "profile": "web", "network": {"address": "10.0.0.5/24", "gateway": "192.168.0.1"}}`, 400, "network.gateway"},
		{"POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:04", "profile": "nope"}`, 400, "profile"},
		{"POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:04", "profile": "web", "vars": {"bad-key": "x"}}`, 400, "vars"},
		{"POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:04", "profile": "web", "colour": "blue"}`, 400, ""},
		{"POST", "/api/v1/machines", `{"mac": 5}`, 400, "mac"},
		{"POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:01", "profile": "web"}`, 409, ""},
		{"POST", "/api/v1/profiles", `{"name": "p", "distro": "rocky9", "repo_protocol": "nfs"}`, 400, "repo_protocol"},
		{"POST", "/api/v1/profiles", `{"name": "p", "distro": "rocky9", "kickstart": "text\nautopart\npart / --size=1\n"}`, 400, "kickstart"},
		{"POST", "/api/v1/profiles", `{"name": "p", "distro": "gone"}`, 400, "distro"},
		{"POST", "/api/v1/profiles", `{"name": "bad name", "distro": "rocky9"}`, 400, "name"},
		{"PATCH", "/api/v1/machines/52:54:00:00:00:01", `{"profile": ""}`, 400, "profile"},
		{"GET", "/api/v1/machines/52:54:00:00:00:77", "", 404, ""},
		{"GET", "/api/v1/machines/52:54:00:00:00:01/events?limit=-1", "", 400, "limit"},
		{"DELETE", "/api/v1/distros/rocky9", "", 409, ""},
		{"POST", "/api/v1/apply", `{"profiles": [{"name": "new", "distro": "rocky9"}], "machines": [{"mac": "52:54:00:00:00:05", "profile": "new", "ip": "999.0.0.1"}]}`, 400, "ip"},
		{"GET", "/api/v1/nothing", "", 404, ""},
	} {
		code, body, _ := f.call(f.rw, tc.method, tc.path, tc.body)
		if code != tc.status || body["error"] == nil || body["error"] == "" || tc.field != "" && body["field"] != tc.field {
			t.Errorf("%s %s %s: %d %v, want %d with field %q", tc.method, tc.path, tc.body, code, body, tc.status, tc.field)
		}
	}
	if _, err := f.db.Profile(ctx, "new"); err == nil {
		t.Error("an apply with an error in it wrote its profile")
	}
	if ms, _ := f.db.Machines(ctx); len(ms) != 1 {
		t.Errorf("invalid requests wrote machines: %d, want 1", len(ms))
	}
}

// A body over the limit is refused, and so is a source that keeps sending
// bad tokens.
func TestLimits(t *testing.T) {
	f := newFixture(t)
	f.srv.MaxBody = 1024
	code, body, _ := f.call(f.rw, "POST", "/api/v1/apply", `{"profiles": [{"name": "p", "distro": "rocky9", "kickstart": "`+strings.Repeat("#", 2000)+`"}]}`)
	if code != 413 {
		t.Errorf("a body over the limit: %d %v, want 413", code, body)
	}
	bogus := "ks_000000000000_" + strings.Repeat("0", 48)
	for range maxFailures {
		f.call(bogus, "GET", "/api/v1/machines", "")
	}
	if code, _, _ := f.call(f.rw, "GET", "/api/v1/machines", ""); code != 429 {
		t.Errorf("after %d refused tokens, a good one from the same address: %d, want 429", maxFailures, code)
	}
	f.srv.failed.clock = func() time.Time { return time.Now().Add(failureWindow) }
	if code, _, _ := f.call(f.rw, "GET", "/api/v1/machines", ""); code != 200 {
		t.Errorf("a minute later: %d, want 200", code)
	}
}

// Tokens are kept hashed, and their last use noted.
func TestTokensAreHashed(t *testing.T) {
	f := newFixture(t)
	f.call(f.rw, "GET", "/api/v1/machines", "")
	ts, _ := f.db.APITokens(context.Background())
	for _, tok := range ts {
		if strings.Contains(f.rw, tok.Hash) || strings.Contains(f.ro, tok.Hash) {
			t.Errorf("token %s stored as itself", tok.Name)
		}
		if tok.Name == "rw" && tok.LastUsed.IsZero() {
			t.Error("the token's use was not noted")
		}
	}
}

// The OpenAPI document and the router list the same operations.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented, routed []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range routes {
		routed = append(routed, r.method+" "+r.path)
	}
	routed = append(routed, "GET "+streamPath, "GET "+openAPIPath)
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		for _, d := range documented {
			if !slices.Contains(routed, d) {
				t.Errorf("documented, not routed: %s", d)
			}
		}
		for _, r := range routed {
			if !slices.Contains(documented, r) {
				t.Errorf("routed, not documented: %s", r)
			}
		}
	}
}

// The event stream sends every event of the feed as server-sent events.
func TestEventStream(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.url+streamPath, nil)
	req.Header.Set("Authorization", "Bearer "+f.ro)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, ": kickstand") {
		t.Fatalf("first line %q", line)
	}
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	for i := range 3 {
		f.feed.Send(events.Event{Time: time.Now(), MAC: mac, Kind: "tftp", Detail: "file " + string(rune('a'+i)), Step: "booting"})
	}
	next := func() (string, StreamEvent) {
		var kind, data string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
			if line == "" && data != "" {
				break
			}
		}
		var e StreamEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("%s %s: %v", kind, data, err)
		}
		return kind, e
	}
	for i := range 3 {
		if kind, e := next(); kind != "tftp" || e.MAC != mac.String() || e.Detail != "file "+string(rune('a'+i)) || e.State != "booting" {
			t.Fatalf("event %d: %s %+v", i, kind, e)
		}
	}
	// What people do through the API is on the stream too.
	f.call(f.rw, "POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:09", "profile": "web"}`)
	if kind, e := next(); kind != "registered" || e.MAC != "52:54:00:00:00:09" || e.State != "new" {
		t.Fatalf("after POST /machines: %s %+v, want registered", kind, e)
	}
}

// While files are in flight the stream says how far each has come, and
// once more (empty) when the last has ended.
func TestStreamProgress(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	inFlight := []TransferJSON{{MAC: "52:54:00:00:00:01", IP: "10.0.0.5", Proto: "http", File: "images/install.img", Bytes: 1 << 20, Total: 8 << 20}}
	f.srv.Transfers = func() []TransferJSON {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(inFlight)
	}
	if _, _, list := f.call(f.ro, "GET", "/api/v1/transfers", ""); len(list) != 1 || list[0].(map[string]any)["file"] != "images/install.img" {
		t.Fatalf("GET /transfers: %v", list)
	}
	next := progressMessages(t, f)
	if p := next(); len(p.Transfers) != 1 || p.Transfers[0].Bytes != 1<<20 || p.Transfers[0].Total != 8<<20 {
		t.Fatalf("first progress: %+v", p)
	}
	mu.Lock()
	inFlight[0].Bytes = 2 << 20
	mu.Unlock()
	if p := next(); len(p.Transfers) != 1 || p.Transfers[0].Bytes != 2<<20 {
		t.Fatalf("second progress: %+v", p)
	}
	mu.Lock()
	inFlight = nil
	mu.Unlock()
	if p := next(); p.Transfers == nil || len(p.Transfers) != 0 {
		t.Fatalf("after the last ended: %+v, want an empty list", p)
	}
}

// A stream's first progress message comes whether or not files are in
// flight: a page that read a file in flight with GET /api/v1/transfers
// just before that file ended, before any tick of its new stream saw it,
// is told that nothing is in flight any more.
func TestStreamFirstProgressEvenIfIdle(t *testing.T) {
	f := newFixture(t)
	f.srv.Transfers = func() []TransferJSON { return nil }
	next := progressMessages(t, f)
	if p := next(); p.Transfers == nil || len(p.Transfers) != 0 {
		t.Fatalf("first progress: %+v, want an empty list", p)
	}
}

// progressMessages opens the event stream and returns a function that
// reads its next progress message.
func progressMessages(t *testing.T, f *fixture) func() ProgressJSON {
	req, _ := http.NewRequest("GET", f.url+streamPath, nil)
	req.Header.Set("Authorization", "Bearer "+f.ro)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	return func() ProgressJSON {
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, `"transfers"`) {
				var p ProgressJSON
				if err := json.Unmarshal([]byte(data), &p); err != nil {
					t.Fatalf("progress %s: %v", data, err)
				}
				return p
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return ProgressJSON{}
	}
}

// Secrets do not leave through the API: password variables, and the
// machine's token, which its kickstart and phone-home URLs carry.
func TestSecretsStayHidden(t *testing.T) {
	f := newFixture(t)
	const hash = "$6$saltsalt$0123456789abcdef"
	code, body, _ := f.call(f.rw, "POST", "/api/v1/machines", `{"mac": "52:54:00:00:00:0a", "profile": "web", "vars": {"rootpw_hash": "`+hash+`", "disk": "vda"}}`)
	m, _ := body["machine"].(map[string]any)
	if code != 201 || m == nil || m["created"] == "0001-01-01T00:00:00Z" || m["updated"] == "0001-01-01T00:00:00Z" {
		t.Fatalf("POST /machines: %d %v, want 201 with the machine as stored", code, body)
	}
	stored, err := f.db.Machine(context.Background(), net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0x0a})
	if err != nil || stored.Token == "" || stored.Vars["rootpw_hash"] != hash {
		t.Fatalf("stored: %+v, %v", stored, err)
	}
	for _, path := range []string{"/api/v1/machines/52:54:00:00:00:0a", "/api/v1/machines", "/api/v1/machines/52:54:00:00:00:0a/kickstart"} {
		req, _ := http.NewRequest("GET", f.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.ro)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(b), hash) || strings.Contains(string(b), stored.Token) {
			t.Errorf("GET %s: %s shows a secret:\n%s", path, resp.Status, b)
		}
		if !strings.Contains(string(b), "vda") && !strings.Contains(string(b), "phone-home") {
			t.Errorf("GET %s: %s shows neither the vars nor the kickstart:\n%s", path, resp.Status, b)
		}
	}
	if _, body, _ := f.call(f.ro, "GET", "/api/v1/machines/52:54:00:00:00:0a", ""); body["vars"].(map[string]any)["rootpw_hash"] != "********" {
		t.Errorf("a password hash variable: %v, want ********", body["vars"])
	}
}

// The schemas in the OpenAPI document name exactly the JSON fields of the
// types the API reads and writes.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	types := map[string]any{
		"Error": ErrorBody{}, "Distro": inventory.DistroJSON{}, "ProfileSpec": inventory.ProfileSpec{},
		"ProfilePatch": inventory.ProfilePatch{}, "Profile": inventory.ProfileJSON{}, "Network": inventory.NetworkSpec{},
		"EventFields": events.Fields{}, "MachineSpec": inventory.MachineSpec{}, "MachinePatch": inventory.MachinePatch{},
		"Event": inventory.EventJSON{}, "Machine": inventory.MachineJSON{}, "Write": inventory.WriteJSON{},
		"Kickstart": inventory.KickstartJSON{}, "Lease": inventory.LeaseJSON{}, "InstallLog": inventory.InstallLogJSON{}, "ApplyRequest": inventory.ApplyRequest{},
		"Plan": inventory.Plan{}, "StreamEvent": StreamEvent{}, "Transfer": TransferJSON{}, "Listener": ListenerJSON{},
		"Server": ServerJSON{}, "Progress": ProgressJSON{},
	}
	for name, schema := range doc.Components.Schemas {
		v, ok := types[name]
		if !ok {
			t.Errorf("schema %s: no type known for it", name)
			continue
		}
		var documented, fields []string
		for p := range schema.Properties {
			documented = append(documented, p)
		}
		for f := range reflect.TypeOf(v).Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && tag != "-" {
				fields = append(fields, cmp.Or(tag, f.Name))
			}
		}
		slices.Sort(documented)
		slices.Sort(fields)
		if !slices.Equal(documented, fields) {
			t.Errorf("schema %s has %v; its type %T has %v", name, documented, v, fields)
		}
	}
	for name := range types {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("no schema %s", name)
		}
	}
}

// A machine's install logs: the newest install's by default, one install
// by number or all, one file by name; the client asks the same.
func TestInstallLogs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	for _, l := range []struct{ install, name, body string }{
		{"old", "anaconda.log", "old anaconda"}, {"old", "ks.cfg", "old ks"},
		{"new", "anaconda.log", "new anaconda"}, {"new", "ks.cfg", "new ks\xff"},
	} {
		if err := f.db.AddInstallLog(ctx, store.InstallLog{MAC: mac, Install: l.install, Name: l.name, Body: []byte(l.body)}, 3); err != nil {
			t.Fatal(err)
		}
	}
	c := &Client{URL: f.url, Token: f.ro}
	// Secrets never leave: the root password hash of a kickstart sent home,
	// and the machine's current token, wherever a log names it.
	m, err := f.db.Machine(ctx, mac)
	if err != nil {
		t.Fatal(err)
	}
	secrets := "rootpw --iscrypted $6$salt$hash\ncurl http://10.0.0.1/phone-home/" + m.Token + "/log/ks.cfg\n"
	if err := f.db.AddInstallLog(ctx, store.InstallLog{MAC: mac, Install: "new", Name: "syslog", Body: []byte(secrets)}, 3); err != nil {
		t.Fatal(err)
	}
	logs, err := c.InstallLogs(ctx, mac.String(), inventory.LogQuery{Name: "syslog"})
	if want := "rootpw --iscrypted ********\ncurl http://10.0.0.1/phone-home/********/log/ks.cfg\n"; err != nil || len(logs) != 1 || logs[0].Body != want {
		t.Errorf("a log with secrets: %+v, %v; want the body %q", logs, err, want)
	}
	for _, tt := range []struct {
		q    inventory.LogQuery
		want []string // install:name:body:size (bytes sent)
	}{
		{inventory.LogQuery{}, []string{"1:anaconda.log:new anaconda:12", "1:ks.cfg:new ks\uFFFD:7", "1:syslog:" + strings.ReplaceAll(strings.ReplaceAll(secrets, "$6$salt$hash", "********"), m.Token, "********") + ":" + fmt.Sprint(len(secrets))}},
		{inventory.LogQuery{Install: 2}, []string{"2:anaconda.log:old anaconda:12", "2:ks.cfg:old ks:6"}},
		{inventory.LogQuery{Install: 3}, nil},
		{inventory.LogQuery{All: true, Name: "ks.cfg"}, []string{"1:ks.cfg:new ks\uFFFD:7", "2:ks.cfg:old ks:6"}},
		{inventory.LogQuery{Name: "anaconda.log"}, []string{"1:anaconda.log:new anaconda:12"}},
	} {
		logs, err := c.InstallLogs(ctx, "52-54-00-00-00-01", tt.q)
		if err != nil {
			t.Fatalf("%+v: %v", tt.q, err)
		}
		var got []string
		for _, l := range logs {
			got = append(got, fmt.Sprintf("%d:%s:%s:%d", l.Install, l.Name, l.Body, l.Size))
			if l.Time.IsZero() {
				t.Errorf("%+v: %s has no time", tt.q, l.Name)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%+v: %q, want %q", tt.q, got, tt.want)
		}
	}
	for path, status := range map[string]int{
		"/api/v1/machines/52:54:00:00:00:01/logs?install=0":    400,
		"/api/v1/machines/52:54:00:00:00:01/logs?install=last": 400,
		"/api/v1/machines/52:54:00:00:00:09/logs":              404,
		"/api/v1/machines/not-a-mac/logs":                      400,
	} {
		if code, body, _ := f.call(f.ro, "GET", path, ""); code != status || body["error"] == nil {
			t.Errorf("GET %s: %d %v, want %d with an error", path, code, body, status)
		}
	}
}
