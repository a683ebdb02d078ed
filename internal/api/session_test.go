package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"kickstand/internal/store"
)

// sessionFixture is the API fixture with a login route (the dashboard's
// form, reduced to Login) and a browser-like client per token.
type sessionFixture struct {
	*fixture
	url string
}

func newSessionFixture(t *testing.T) *sessionFixture {
	t.Helper()
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s, err := f.srv.Login(w, r, r.FormValue("token"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, s.CSRF)
	})
	mux.HandleFunc("POST /logout", f.srv.Logout)
	mux.Handle("/api/", f.srv.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &sessionFixture{fixture: f, url: ts.URL}
}

// login returns a client holding a session of token, and its CSRF value.
func (f *sessionFixture) login(token string) (*http.Client, string) {
	f.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post(f.url+"/login", "application/x-www-form-urlencoded", strings.NewReader("token="+token))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("login: %s %s", resp.Status, b)
	}
	return c, string(b)
}

func (f *sessionFixture) status(c *http.Client, method, path, csrf string) int {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.url+path, nil)
	if csrf != "" {
		req.Header.Set(CSRFHeader, csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A session lasts SessionIdle without a request, and each request makes
// it last that long again.
func TestSessionIdle(t *testing.T) {
	f := newSessionFixture(t)
	var mu sync.Mutex
	now := time.Now()
	f.srv.sessions.clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c, _ := f.login(f.ro)
	advance(SessionIdle - time.Minute)
	if got := f.status(c, "GET", "/api/v1/machines", ""); got != http.StatusOK {
		t.Fatalf("a request %v after login: %d, want 200", SessionIdle-time.Minute, got)
	}
	advance(SessionIdle - time.Minute)
	if got := f.status(c, "GET", "/api/v1/machines", ""); got != http.StatusOK {
		t.Fatalf("a request %v after the last: %d, want 200", SessionIdle-time.Minute, got)
	}
	advance(SessionIdle)
	if got := f.status(c, "GET", "/api/v1/machines", ""); got != http.StatusUnauthorized {
		t.Fatalf("a request %v after the last: %d, want 401", SessionIdle, got)
	}
}

// The table holds at most maxSessions: a login beyond ends the least
// recently used session.
func TestSessionBound(t *testing.T) {
	f := newFixture(t)
	tok, err := f.db.APIToken(context.Background(), f.rw[3:15])
	if err != nil {
		t.Fatal(err)
	}
	var st sessionTable
	now := time.Now()
	st.clock = func() time.Time { return now }
	first, _ := st.add(tok)
	for range maxSessions - 1 {
		now = now.Add(time.Second)
		st.add(tok)
	}
	now = now.Add(time.Second)
	if _, ok := st.get(sessionKey(first), true); !ok { // now the most recently used
		t.Fatal("the first session ended before the table was full")
	}
	now = now.Add(time.Second)
	st.add(tok)
	if len(st.byKey) != maxSessions {
		t.Fatalf("the table holds %d sessions, want %d", len(st.byKey), maxSessions)
	}
	if _, ok := st.get(sessionKey(first), false); !ok {
		t.Error("a login into the full table ended the most recently used session, not the least")
	}
}

// Refused by cookie: a stale cookie is 401 and does not count toward the
// refused-token limit (which a browser after a restart would reach); a
// request with both an Authorization header and a cookie is the header's.
func TestSessionCookieRefusals(t *testing.T) {
	f := newSessionFixture(t)
	jar, _ := cookiejar.New(nil)
	stale := &http.Client{Jar: jar}
	req, _ := http.NewRequest("GET", f.url+"/api/v1/machines", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: "outlived-its-server"})
	for range 2 * maxFailures {
		resp, err := stale.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a stale cookie: %s, want 401", resp.Status)
		}
	}
	if code, _, _ := f.call(f.rw, "GET", "/api/v1/machines", ""); code != http.StatusOK {
		t.Errorf("a token after %d stale cookies from its address: %d, want 200", 2*maxFailures, code)
	}

	ro, csrf := f.login(f.ro)
	req, _ = http.NewRequest("POST", f.url+"/api/v1/machines/52:54:00:00:00:01/reinstall", nil)
	req.Header.Set("Authorization", "Bearer "+f.rw)
	resp, err := ro.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("reinstall with the read-write token's header and the read-only session's cookie: %s, want 200 (the header's)", resp.Status)
	}
	if got := f.status(ro, "POST", "/api/v1/machines/52:54:00:00:00:01/reinstall", csrf); got != http.StatusForbidden {
		t.Errorf("reinstall by the read-only session: %d, want 403", got)
	}
}

// A session's event stream ends when the session does: at logout, and
// when its token is removed (checked every recheck, with no other request).
func TestSessionEndsStream(t *testing.T) {
	f := newSessionFixture(t)
	f.srv.sessions.recheck = 20 * time.Millisecond
	for _, end := range []struct {
		name string
		do   func(c *http.Client)
	}{
		{"logout", func(c *http.Client) { f.status(c, "POST", "/logout", "") }},
		{"token removed", func(*http.Client) {
			if err := f.db.RemoveAPIToken(context.Background(), "ro"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		c, _ := f.login(f.ro)
		resp, err := c.Get(f.url + "/api/v1/events/stream")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the stream by session: %s", resp.Status)
		}
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, resp.Body)
			close(closed)
		}()
		end.do(c)
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: the session's stream is still open", end.name)
		}
		resp.Body.Close()
	}
	if _, err := f.db.APIToken(context.Background(), f.ro[3:15]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the token is still there: %v", err)
	}
}
