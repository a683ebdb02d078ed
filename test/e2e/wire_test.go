//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// wireServer stands in for kickstand's HTTP side when testing the fixture alone: it
// serves the install tree (under /tree/, and under /mirror/ and /stage2/ to tell
// inst.repo, "url --url" and inst.stage2 apart), kickstarts under /ks/, and records
// every request and every phone-home.
type wireServer struct {
	base string // http://IP:PORT

	mu         sync.Mutex
	kickstarts map[string]string
	requests   []string // "GET /tree/.treeinfo 200"
	phoneHomes []phoneHome
}

// phoneHome is one request to /phone-home/<token>.
type phoneHome struct {
	Method, Token, Body, Header string
}

// startWireServer serves on the LAN's server address, port 8080, inside its namespace.
func startWireServer(t *testing.T, l *lan, tree string) *wireServer {
	t.Helper()
	const port = "8080"
	ln, err := l.ns.listenTCP(l.serverIP + ":" + port)
	if err != nil {
		t.Fatalf("listen in %s: %v", l.ns.name, err)
	}
	ws := &wireServer{base: "http://" + l.serverIP + ":" + port, kickstarts: map[string]string{}}
	files := http.FileServer(http.Dir(tree))
	mux := http.NewServeMux()
	for _, prefix := range []string{"/tree/", "/mirror/", "/stage2/"} {
		mux.Handle(prefix, http.StripPrefix(strings.TrimSuffix(prefix, "/"), files))
	}
	mux.HandleFunc("/ks/", ws.serveKickstart)
	mux.HandleFunc("/phone-home/", ws.servePhoneHome)
	srv := &http.Server{Handler: ws.record(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("wire server: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ws
}

// setKickstart makes text available at base/ks/name and returns that URL.
func (ws *wireServer) setKickstart(name, text string) string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.kickstarts[name] = text
	return ws.base + "/ks/" + name
}

func (ws *wireServer) serveKickstart(w http.ResponseWriter, r *http.Request) {
	ws.mu.Lock()
	text, ok := ws.kickstarts[strings.TrimPrefix(r.URL.Path, "/ks/")]
	ws.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, text)
}

func (ws *wireServer) servePhoneHome(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	ws.mu.Lock()
	ws.phoneHomes = append(ws.phoneHomes, phoneHome{
		Method: r.Method,
		Token:  strings.TrimPrefix(r.URL.Path, "/phone-home/"),
		Body:   string(body),
		Header: r.Header.Get("X-Kickstand-Test"),
	})
	ws.mu.Unlock()
	io.WriteString(w, "ok\n")
}

func (ws *wireServer) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		ws.mu.Lock()
		ws.requests = append(ws.requests, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, sw.status))
		ws.mu.Unlock()
	})
}

// take returns and forgets what was recorded so far.
func (ws *wireServer) take() (requests []string, phoneHomes []phoneHome) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	requests, phoneHomes = ws.requests, ws.phoneHomes
	ws.requests, ws.phoneHomes = nil, nil
	return requests, phoneHomes
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// sampleKickstart is a kickstart like one kickstand serves: install commands the
// fixture ignores, a repository URL, and %pre/%post/%onerror scripts that phone home
// with the curl options real kickstarts use. postExtra runs in %post before it
// reports "installed".
func sampleKickstart(repoURL, phoneHomeURL, postExtra string) string {
	return `#version=RHEL9
# sample kickstart of the e2e fixture test
text
url --url="` + repoURL + `"
lang en_US.UTF-8
keyboard us
timezone UTC --utc
network --bootproto=dhcp --device=link --activate
rootpw --lock
zerombr
clearpart --all --initlabel
autopart
reboot

%pre --log=/tmp/ks-pre.log
echo "pre: reporting installing"
curl -fsS --retry 3 --max-time 30 -d state=installing ` + phoneHomeURL + `
%end

%packages
@^minimal-environment
%end

%post --nochroot --log=/tmp/ks-post.log
` + postExtra + `
curl -sS -f -X POST -H 'X-Kickstand-Test: post' --data-urlencode "state=installed" -o /tmp/reply ` + phoneHomeURL + `
%end

%onerror
curl -fsS -d state=failed ` + phoneHomeURL + `
%end
`
}

// wantRequests fails the test for each want ("GET /path 200") not among got.
func wantRequests(t *testing.T, got []string, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range got {
		seen[r] = true
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("server did not see %q; it saw:\n  %s", w, strings.Join(got, "\n  "))
		}
	}
}

// wantPhoneHomes fails the test unless the phone-home bodies were exactly want.
func wantPhoneHomes(t *testing.T, got []phoneHome, token string, want ...string) {
	t.Helper()
	var bodies []string
	for _, p := range got {
		if p.Method != http.MethodPost || p.Token != token {
			t.Errorf("phone-home %+v: want POST for token %q", p, token)
		}
		bodies = append(bodies, p.Body)
	}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("phone-home bodies = %q, want %q", bodies, want)
	}
}
