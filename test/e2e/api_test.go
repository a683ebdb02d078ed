//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rootpwHash is the machine's root password hash (`openssl passwd -6`): a
// secret that the API's kickstarts must mask.
const rootpwHash = "$6$kickstandapi$zibpcBhr7cbq3HsLlaW/u8m79znZ51beHRFQ0Z0wQ23GErX1kHImNQamVcA.bze.wmf9oXK/9F0XEHv6Hvsvu."

// TestInstallThroughAPI installs a BIOS machine that kickstand learns of
// only through its REST API. Before serve starts, the CLI makes two tokens,
// one read-only; serve starts on the DVD image (serve --iso), and from then
// on everything is curl on the LAN against /api/v1: the profile, the
// machine (refused without a token and with the read-only one), and,
// after the install, the machine's state, its timeline, the live event
// stream followed through the whole boot, and its kickstart, secrets masked.
func TestInstallThroughAPI(t *testing.T) {
	requireHost(t, "curl")
	fx := buildFixture(t)
	cli := &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()}
	l := newLAN(t, "10.213.7")
	mac := randomMAC(t)
	writer := createToken(t, cli, "installer")
	reader := createToken(t, cli, "auditor", "--read-only")

	server := startServe(t, l, cli, nil, "--iso", fx.iso,
		"--dhcp", "full", "--dhcp-range", l.prefix+".100-"+l.prefix+".150")
	api := restAPI{ns: l.ns, base: "http://" + l.serverIP + ":" + httpPort + "/api/v1"}

	// serve --iso imports the media under its own name, with a profile of that name.
	const media = "rocky-9.6-x86_64"
	var distro struct{ Name, Kind, Status string }
	api.want(t, reader, "GET", "/distros/"+media, "", http.StatusOK, &distro)
	if distro.Kind != "iso" || distro.Status != "ok" {
		t.Errorf("GET /distros/%s: kind %q, status %q; want iso and ok", media, distro.Kind, distro.Status)
	}
	api.want(t, writer, "POST", "/profiles",
		`{"name": "api", "distro": "`+media+`", "kernel_args": "console=ttyS0"}`, http.StatusCreated, nil)

	machine := fmt.Sprintf(`{"mac": %q, "profile": "api", "hostname": "node1", "vars": {"rootpw_hash": %q}}`, mac, rootpwHash)
	checkRefused(t, api, writer, reader, mac, machine)
	stream := followEvents(t, api, reader, qemuTimeout(t, 10*time.Minute))
	var created struct {
		Machine machineRecord `json:"machine"`
	}
	api.want(t, writer, "POST", "/machines", machine, http.StatusCreated, &created)
	if m := created.Machine; m.MAC != mac || m.Profile != "api" || m.Hostname != "node1" || m.State != "new" {
		t.Errorf("POST /machines answered %+v; want %s, profile api, hostname node1, state new", m, mac)
	}

	got := bootAndInstall(t, l, server, mac, fx)
	wantCmdlineRepo(t, l, got, "http://"+l.serverIP+":"+httpPort+"/distros/"+media+"/")
	timeline := checkInstalledAPI(t, api, reader, mac)
	checkStream(t, stream, mac, timeline)
	checkKickstartMasked(t, api, reader, mac, "http://"+l.serverIP+":"+httpPort, media)
}

// createToken makes an API token on the CLI's data directory and returns it.
func createToken(t *testing.T, cli *kickstand, name string, flags ...string) string {
	t.Helper()
	args := append([]string{"token", "create", name, "--data-dir", cli.dataDir}, flags...)
	out, err := exec.Command(cli.bin, args...).Output()
	if err != nil {
		t.Fatalf("kickstand %s: %v\n%s", strings.Join(args, " "), err, stderrOf(err))
	}
	token := strings.TrimSpace(string(out))
	if !apiToken.MatchString(token) {
		t.Fatalf("kickstand token create %s printed %q, want one token", name, out)
	}
	return token
}

// apiToken is what `kickstand token create` prints: ks_ID_SECRET.
var apiToken = regexp.MustCompile(`^ks_[0-9a-f]{12}_[0-9a-f]{48}$`)

// checkRefused sends the machine with no token, an unknown one and the
// read-only one, which must be refused (401, 401, 403) and leave no
// machine behind.
func checkRefused(t *testing.T, api restAPI, writer, reader, mac, machine string) {
	t.Helper()
	unknown := "ks_000000000000_" + strings.Repeat("0", 48)
	for _, c := range []struct {
		with, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"an unknown token", unknown, http.StatusUnauthorized},
		{"the read-only token", reader, http.StatusForbidden},
	} {
		code, body := api.call(t, c.token, "POST", "/machines", machine)
		var refusal struct{ Error string }
		if code != c.status || json.Unmarshal(body, &refusal) != nil || refusal.Error == "" {
			t.Errorf("POST /machines with %s: %d %s; want %d with an error", c.with, code, body, c.status)
		}
	}
	if code, body := api.call(t, writer, "GET", "/machines/"+mac, ""); code != http.StatusNotFound {
		t.Errorf("after the refused POSTs, GET /machines/%s: %d %s; want 404", mac, code, body)
	}
}

// checkInstalledAPI asserts through the API what the install left: the
// machine installed, and a timeline with the wire's events and both
// phone-home reports, which it returns.
func checkInstalledAPI(t *testing.T, api restAPI, token, mac string) []machineEvent {
	t.Helper()
	// The %post phone-home marks the machine installed; allow the store a moment.
	var m machineRecord
	err := waitFor(15*time.Second, 500*time.Millisecond, func() error {
		api.want(t, token, "GET", "/machines/"+mac, "", http.StatusOK, &m)
		if m.State != "installed" {
			return fmt.Errorf("GET /machines/%s: state %q, want installed", mac, m.State)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	var timeline []machineEvent
	api.want(t, token, "GET", "/machines/"+mac+"/events", "", http.StatusOK, &timeline)
	for _, state := range []string{"installing", "installed"} {
		if !slices.ContainsFunc(timeline, func(e machineEvent) bool { return e.Kind == "phone-home" && e.Detail == state }) {
			t.Errorf("GET /machines/%s/events has no phone-home %q: %+v", mac, state, timeline)
		}
	}
	for _, kind := range []string{"dhcp", "tftp", "kickstart"} {
		if !(machineRecord{Events: timeline}).hasEventKind(kind) {
			t.Errorf("GET /machines/%s/events has no event whose kind contains %q", mac, kind)
		}
	}
	return timeline
}

// checkKickstartMasked asserts that the machine's kickstart from the API
// renders with the server's address (or ?base_url) and never shows the
// root password hash: the API has no way to ask for secrets, so
// ?secrets=true must not show it either.
func checkKickstartMasked(t *testing.T, api restAPI, token, mac, baseURL, distro string) {
	t.Helper()
	for _, c := range []struct{ query, base string }{
		{"", baseURL},
		{"?secrets=true", baseURL},
		{"?base_url=http://192.0.2.10:8080", "http://192.0.2.10:8080"},
	} {
		var ks struct{ Text, Error string }
		path := "/machines/" + mac + "/kickstart" + c.query
		api.want(t, token, "GET", path, "", http.StatusOK, &ks)
		if ks.Error != "" {
			t.Errorf("GET %s: error %q", path, ks.Error)
		}
		if strings.Contains(ks.Text, rootpwHash) || !strings.Contains(ks.Text, "\nrootpw --iscrypted ********\n") {
			t.Errorf("GET %s: the root password hash is not masked:\n%s", path, ks.Text)
		}
		if want := "\nurl --url=" + c.base + "/distros/" + distro + "/\n"; !strings.Contains(ks.Text, want) {
			t.Errorf("GET %s: no %q in:\n%s", path, strings.TrimSpace(want), ks.Text)
		}
	}
}

// restAPI is curl, inside the server's namespace, against kickstand's REST API.
type restAPI struct {
	ns   *netns
	base string // http://SERVER:PORT/api/v1
}

// call sends method to path under base with token ("": no Authorization)
// and a JSON body ("": none), and returns the status and the body.
func (a restAPI) call(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	args := []string{"curl", "-sS", "--max-time", "30", "-X", method, "-w", "\n%{http_code}"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	if body != "" {
		args = append(args, "-H", "Content-Type: application/json", "--data-binary", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := a.ns.command(ctx, append(args, a.base+path)...).Output()
	if err != nil {
		t.Fatalf("curl -X %s %s: %v\n%s", method, a.base+path, err, stderrOf(err))
	}
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		t.Fatalf("curl -X %s %s: no status after the body: %q", method, a.base+path, out)
	}
	code, err := strconv.Atoi(string(out[i+1:]))
	if err != nil {
		t.Fatalf("curl -X %s %s: no status after the body: %q", method, a.base+path, out)
	}
	return code, out[:i]
}

// want is call that fails the test unless the answer has status, and
// decodes its body into v (if not nil).
func (a restAPI) want(t *testing.T, token, method, path, body string, status int, v any) {
	t.Helper()
	code, out := a.call(t, token, method, path, body)
	if code != status {
		t.Fatalf("%s %s: %d, want %d\n%s", method, path, code, status, out)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, out)
	}
}

// eventStream is `curl -N` following /api/v1/events/stream in the background.
type eventStream struct {
	out     string // the stream as received
	started time.Time
	done    chan struct{} // closed when curl has exited
	ended   time.Time
	err     error         // curl's exit
	stderr  *bytes.Buffer // curl's complaints, to read once done
}

// followEvents starts curl on the event stream with token, for at most
// limit, and returns once the server has answered: its first comment comes
// before any event. The test's end stops it.
func followEvents(t *testing.T, api restAPI, token string, limit time.Duration) *eventStream {
	t.Helper()
	s := &eventStream{out: filepath.Join(t.TempDir(), "events.txt"), started: time.Now(),
		done: make(chan struct{}), stderr: &bytes.Buffer{}}
	out, err := os.Create(s.out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := api.ns.command(ctx, "curl", "-sS", "-N", "--max-time", strconv.Itoa(int(limit.Seconds())),
		"-H", "Authorization: Bearer "+token, api.base+"/events/stream")
	cmd.Stdout, cmd.Stderr = out, s.stderr
	if err := cmd.Start(); err != nil {
		out.Close()
		cancel()
		t.Fatalf("start curl on the event stream: %v", err)
	}
	go func() {
		s.err = cmd.Wait()
		s.ended = time.Now()
		out.Close()
		close(s.done)
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	err = waitFor(10*time.Second, 100*time.Millisecond, func() error {
		if strings.HasPrefix(logFile(s.out), ": kickstand events\n\n") {
			return nil
		}
		return fmt.Errorf("the event stream has not started: %q", logFile(s.out))
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// streamEvent is the data of one event on the stream.
type streamEvent struct {
	Time   time.Time `json:"time"`
	MAC    string    `json:"mac"`
	IP     string    `json:"ip"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
	State  string    `json:"state"`
}

// streamProgress is the data of a progress message: the transfers under way.
type streamProgress struct {
	Transfers []struct {
		MAC   string `json:"mac"`
		Proto string `json:"proto"`
		File  string `json:"file"`
	} `json:"transfers"`
}

// sseMessage is one server-sent event: its event: line and its data.
type sseMessage struct {
	Event string
	Data  string
}

// parseSSE reads the complete messages of an event stream; comments (": ping") are skipped.
func parseSSE(text string) []sseMessage {
	blocks := strings.Split(text, "\n\n")
	var msgs []sseMessage
	for _, block := range blocks[:len(blocks)-1] { // the last is empty, or a message still arriving
		var m sseMessage
		var data []string
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				m.Event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = append(data, v)
			}
		}
		if m.Event != "" || data != nil {
			m.Data = strings.Join(data, "\n")
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// checkStream asserts that the stream, open since before the boot, carried
// the machine's install up to its phone-home "installed", each message's
// event: its kind, each event also in the timeline, none dropped.
func checkStream(t *testing.T, s *eventStream, mac string, timeline []machineEvent) {
	t.Helper()
	var mine []streamEvent
	var progress []string // "proto file" of each of the machine's transfers in progress messages
	err := waitFor(15*time.Second, 300*time.Millisecond, func() error {
		mine, progress = nil, nil
		for _, m := range parseSSE(logFile(s.out)) {
			if m.Event == "dropped" {
				return fmt.Errorf("the stream dropped events: %s", m.Data)
			}
			if m.Event == "progress" {
				var p streamProgress
				if err := json.Unmarshal([]byte(m.Data), &p); err != nil || p.Transfers == nil {
					return fmt.Errorf("stream progress %q: want JSON with the transfers (%v)", m.Data, err)
				}
				for _, x := range p.Transfers {
					if x.MAC == mac {
						progress = append(progress, x.Proto+" "+x.File)
					}
				}
				continue
			}
			var e streamEvent
			if err := json.Unmarshal([]byte(m.Data), &e); err != nil || m.Event != e.Kind {
				return fmt.Errorf("stream message event %q, data %q: want JSON of an event of that kind (%v)", m.Event, m.Data, err)
			}
			if e.MAC == mac {
				mine = append(mine, e)
			}
		}
		if !slices.ContainsFunc(mine, func(e streamEvent) bool {
			return e.Kind == "phone-home" && e.Detail == "installed" && e.State == "installed"
		}) {
			return fmt.Errorf("the stream has no phone-home installed for %s", mac)
		}
		return nil
	})
	select {
	case <-s.done:
		t.Errorf("the event stream ended %v after it began, before the test did: %v %s",
			s.ended.Sub(s.started).Round(time.Second), s.err, s.stderr)
	default:
	}
	if err != nil {
		t.Fatalf("%v; the stream:\n%s", err, logFile(s.out))
	}
	var kinds []string
	for _, e := range mine {
		kinds = append(kinds, e.Kind)
		if !slices.ContainsFunc(timeline, func(te machineEvent) bool { return te.Kind == e.Kind && te.Detail == e.Detail }) {
			t.Errorf("the stream's %s %q is not in the timeline", e.Kind, e.Detail)
		}
	}
	t.Logf("the event stream carried %d events for %s: %s", len(mine), mac, strings.Join(slices.Compact(kinds), ", "))
	t.Logf("and its transfers in %d progress messages: %s", len(progress), strings.Join(slices.Compact(progress), ", "))
	for _, kind := range []string{"dhcp", "tftp", "kickstart"} {
		if !slices.ContainsFunc(mine, func(e streamEvent) bool { return strings.Contains(e.Kind, kind) }) {
			t.Errorf("the stream has no event for %s whose kind contains %q", mac, kind)
		}
	}
}
