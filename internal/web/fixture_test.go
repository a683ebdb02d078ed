package web

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kickstand/internal/api"
	"kickstand/internal/events"
	"kickstand/internal/httpd"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// fixture is the dashboard and the API as kickstand serve mounts them (one
// httpd.Server, real sqlite store, real event feed) on 127.0.0.1:0, with a
// read-write and a read-only token, one distro and one profile.
type fixture struct {
	db     *sqlite.DB
	inv    *inventory.Inventory
	api    *api.Server
	feed   *events.Feed
	live   *liveFiles
	url    string
	rw, ro string
}

func newFixture(t testing.TB, stuckAfter time.Duration) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, f := range []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img"} {
		must(t, os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755))
		must(t, os.WriteFile(filepath.Join(tree, f), []byte(f), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(tree, ".treeinfo"), []byte("[general]\nfamily = Rocky Linux\nversion = 9.6\narch = x86_64\n[stage2]\nmainimage = images/install.img\n"), 0o644))
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, feed: &events.Feed{}, live: &liveFiles{}}
	f.inv = &inventory.Inventory{Store: db, Site: inventory.Site{BaseURL: "http://10.0.0.1"},
		Recorded: func(ev store.Event, state store.State) { f.send(ev, state) }}
	_, err = f.inv.ImportDistro(ctx, "rocky9", tree)
	must(t, err)
	_, err = f.inv.AddProfile(ctx, inventory.ProfileSpec{Name: "web", Distro: "rocky9", Vars: map[string]string{"rootpw_hash": "$6$secret$hash"}})
	must(t, err)
	_, err = f.inv.AddProfile(ctx, inventory.ProfileSpec{Name: "db", Distro: "rocky9"})
	must(t, err)
	for _, ro := range []bool{false, true} {
		text, rec := api.NewToken(map[bool]string{false: "admin", true: "auditor"}[ro], ro)
		must(t, db.AddAPIToken(ctx, rec))
		if ro {
			f.ro = text
		} else {
			f.rw = text
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	f.api = &api.Server{Inv: f.inv, Feed: f.feed, Transfers: f.live.get, Info: serverInfo(ln.Addr().String())}
	dash := &Server{Service: inventory.Service{Inv: f.inv}, Sessions: f.api, StuckAfter: stuckAfter}
	srv := &httpd.Server{Open: noFiles, API: f.api.Handler(), Dashboard: dash.Handler()}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	f.url = "http://" + ln.Addr().String()
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func noFiles(context.Context, string, netip.Addr) (httpd.File, error) { return nil, fs.ErrNotExist }

// send is what kickstand serve does with a recorded event: the live feed.
func (f *fixture) send(ev store.Event, state store.State) {
	f.feed.Send(events.Event{Time: ev.Time, MAC: ev.MAC, Kind: ev.Kind, Detail: ev.Detail, Fields: ev.Fields, Step: string(state)})
}

// record is a wire event as kickstand serve records it: into the store,
// moving the machine toward step, then to the feed.
func (f *fixture) record(t testing.TB, ev store.Event, step store.State) {
	t.Helper()
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	state, err := f.db.Record(context.Background(), ev, step)
	must(t, err)
	f.send(ev, state)
}

// addMachine registers a machine through the inventory.
func (f *fixture) addMachine(t testing.TB, mac, profile, hostname string) {
	t.Helper()
	_, err := f.inv.AddMachine(context.Background(), inventory.MachineSpec{MAC: mac, Profile: profile, Hostname: hostname})
	must(t, err)
}

// client is a browser-like HTTP client (cookies, no redirects followed).
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs c in with token through the form and returns the page's CSRF
// value.
func (f *fixture) login(t testing.TB, c *http.Client, token string) string {
	t.Helper()
	resp, err := c.PostForm(f.url+"/ui/login", url.Values{"token": {token}, "next": {"/ui/"}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /ui/login: %s, want 303", resp.Status)
	}
	_, body := f.get(t, c, "/ui/")
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET /ui/ after login has no CSRF meta tag:\n%s", body)
	}
	return m[1]
}

var csrfMeta = regexp.MustCompile(`<meta name="ks-csrf" content="([^"]+)">`)

func (f *fixture) get(t testing.TB, c *http.Client, path string) (*http.Response, string) {
	t.Helper()
	return f.do(t, c, "GET", path, "", nil)
}

// do sends a request with c and returns the answer and its body.
func (f *fixture) do(t testing.TB, c *http.Client, method, path, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	must(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp, string(b)
}

// liveFiles stands for the transfer tracker: the files in flight that the
// API reports (GET /api/v1/transfers, the stream's progress messages), as
// the test sets them.
type liveFiles struct {
	mu sync.Mutex
	xs []api.TransferJSON
}

// set makes xs the files in flight.
func (l *liveFiles) set(xs ...api.TransferJSON) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.xs = xs
}

func (l *liveFiles) get() []api.TransferJSON {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]api.TransferJSON(nil), l.xs...)
}

// serverInfo is what the fixture's API says of the server.
func serverInfo(host string) func() api.ServerJSON {
	started := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	return func() api.ServerJSON {
		return api.ServerJSON{Version: "v0.0.0-test <b>bold</b>", Started: started, DroppedEvents: 3, StreamDropped: 5,
			Listeners: []api.ListenerJSON{{Proto: "dhcp", Address: "eth1:67"}, {Proto: "tftp", Address: "[::]:69"}, {Proto: "http", Address: host}}}
	}
}

// errNoChromium is why a browser test cannot run.
var errNoChromium = errors.New("no chromium on this machine (Debian: apt-get install chromium; scripts/deps.sh installs it)")
