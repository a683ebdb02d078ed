package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"kickstand/internal/store"
)

// Sessions let a browser use the API: a person logs in once with an API
// token (the dashboard's form), and the browser then carries a session
// cookie instead of the token. A session is the token's: it can do what the
// token can, is checked against the store on every request (a token
// removed ends its sessions), and ends after SessionIdle without a request,
// at logout, or when the table is full and it is the least recently used.
//
// Requests that change something by cookie must carry the session's CSRF
// value in the X-Kickstand-CSRF header, which a page of another origin can
// neither read nor send (a custom header needs a CORS preflight that this
// server never grants); SameSite=Strict alone does not hold in older
// browsers.

// Bounds of the sessions.
const (
	// SessionIdle is how long a session lasts without a request.
	SessionIdle = 12 * time.Hour
	// maxSessions bounds the sessions held; past it, logging in ends the
	// least recently used one.
	maxSessions = 1024
	// sessionRecheck is how often a session with an open event stream is
	// checked again against the store (and its idle time), so that a removed
	// token ends the stream too.
	sessionRecheck = 30 * time.Second
)

// The session's cookie and the header that carries its CSRF value.
const (
	SessionCookie = "kickstand_session"
	CSRFHeader    = "X-Kickstand-CSRF"
)

// Errors of logging in and of sessions.
var (
	// ErrNoSession is a request without a live session: log in again.
	ErrNoSession = errors.New("not logged in, or the session ended: log in with an API token")
	// ErrLoginRefused is a token that is not one of the server's.
	ErrLoginRefused = errors.New("unknown API token: paste the whole token that `kickstand token create NAME` printed")
	// ErrTooManyFailures is a login from an address that sent too many
	// refused tokens lately.
	ErrTooManyFailures = errors.New("too many refused tokens from this address: try again in a minute")
)

// Session is a logged-in browser, as the dashboard sees it.
type Session struct {
	// Token is the name of the API token it logged in with.
	Token string
	// ReadOnly: the token may read everything and change nothing.
	ReadOnly bool
	// CSRF is the value that its requests which change something carry in
	// the X-Kickstand-CSRF header.
	CSRF string
}

// sessionOf is what a session is for: the token it logged in with, as it
// was then. It never changes.
type sessionOf struct {
	Session
	tokenID, tokenHash string
}

// session is one entry of the table.
type session struct {
	of       sessionOf
	lastSeen time.Time
	// ends cancels the long requests (event streams) running under it.
	ends     map[int]context.CancelFunc
	nextHold int
}

// sessionTable holds the sessions, by the SHA-256 of their cookie value (so
// that a lookup's timing says nothing about a valid cookie).
type sessionTable struct {
	mu      sync.Mutex
	byKey   map[string]*session
	idle    time.Duration    // 0: SessionIdle
	recheck time.Duration    // 0: sessionRecheck
	clock   func() time.Time // nil: time.Now
}

func (st *sessionTable) now() time.Time {
	if st.clock != nil {
		return st.clock()
	}
	return time.Now()
}

func (st *sessionTable) idleLimit() time.Duration {
	if st.idle > 0 {
		return st.idle
	}
	return SessionIdle
}

func (st *sessionTable) recheckEvery() time.Duration {
	if st.recheck > 0 {
		return st.recheck
	}
	return sessionRecheck
}

func sessionKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

func randomText() string {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

// add makes a session for t and returns its cookie value, ending expired
// sessions and, at maxSessions, the least recently used.
func (st *sessionTable) add(t store.APIToken) (string, Session) {
	cookie := randomText()
	now := st.now()
	sess := &session{of: sessionOf{Session: Session{Token: t.Name, ReadOnly: t.ReadOnly, CSRF: randomText()},
		tokenID: t.ID, tokenHash: t.Hash}, lastSeen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byKey == nil {
		st.byKey = map[string]*session{}
	}
	for key, s := range st.byKey {
		if now.Sub(s.lastSeen) >= st.idleLimit() {
			st.endLocked(key)
		}
	}
	if len(st.byKey) >= maxSessions {
		oldest := ""
		for key, s := range st.byKey {
			if oldest == "" || s.lastSeen.Before(st.byKey[oldest].lastSeen) {
				oldest = key
			}
		}
		st.endLocked(oldest)
	}
	st.byKey[sessionKey(cookie)] = sess
	return cookie, sess.of.Session
}

// get returns the live session of key, refreshing its idle time when
// touch; a session idle too long ends.
func (st *sessionTable) get(key string, touch bool) (sessionOf, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byKey[key]
	if s == nil {
		return sessionOf{}, false
	}
	now := st.now()
	if now.Sub(s.lastSeen) >= st.idleLimit() {
		st.endLocked(key)
		return sessionOf{}, false
	}
	if touch {
		s.lastSeen = now
	}
	return s.of, true
}

// end ends the session of key.
func (st *sessionTable) end(key string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.endLocked(key)
}

// endToken ends every session of the token with id.
func (st *sessionTable) endToken(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for key, s := range st.byKey {
		if s.of.tokenID == id {
			st.endLocked(key)
		}
	}
}

func (st *sessionTable) endLocked(key string) {
	s := st.byKey[key]
	if s == nil {
		return
	}
	delete(st.byKey, key)
	for _, cancel := range s.ends {
		cancel()
	}
}

// hold registers cancel to be called when the session of key ends; the
// returned func unregisters it. It reports false when the session has
// already ended.
func (st *sessionTable) hold(key string, cancel context.CancelFunc) (release func(), ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byKey[key]
	if s == nil {
		return nil, false
	}
	if s.ends == nil {
		s.ends = map[int]context.CancelFunc{}
	}
	id := s.nextHold
	s.nextHold++
	s.ends[id] = cancel
	return func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		delete(s.ends, id)
	}, true
}

// Login checks token as the API checks a bearer token (the same store
// lookup, constant-time comparison and limit on refused tokens per
// address), starts a session for it and sets its cookie on w.
func (s *Server) Login(w http.ResponseWriter, r *http.Request, token string) (Session, error) {
	source := clientAddr(r)
	if s.failed.blocked(source) {
		return Session{}, ErrTooManyFailures
	}
	t, err := check(r.Context(), s.Inv.Store, strings.TrimSpace(token))
	if errors.Is(err, errBadToken) {
		n := s.failed.fail(source)
		s.logger().Warn("api: refused login", "client", source, "refused", n)
		return Session{}, ErrLoginRefused
	}
	if err != nil {
		return Session{}, fmt.Errorf("check the token: %w", err)
	}
	cookie, sess := s.sessions.add(t)
	s.noteUse(r.Context(), t.ID)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: cookie, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	s.logger().Info("api: login", "client", source, "token", t.Name)
	return sess, nil
}

// Logout ends the request's session, if any, and clears its cookie.
func (s *Server) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.sessions.end(sessionKey(c.Value))
	}
	clearSessionCookie(w, r)
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// Session returns the request's live session, checked against the store:
// ErrNoSession when there is none.
func (s *Server) Session(r *http.Request) (Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return Session{}, ErrNoSession
	}
	sess, _, err := s.liveSession(r.Context(), sessionKey(c.Value), true)
	return sess, err
}

// liveSession returns the session of key and its token as the store has it
// now (read-only as it is now, not as at login); a token removed (or
// replaced) ends all its sessions.
func (s *Server) liveSession(ctx context.Context, key string, touch bool) (Session, store.APIToken, error) {
	of, ok := s.sessions.get(key, touch)
	if !ok {
		return Session{}, store.APIToken{}, ErrNoSession
	}
	t, err := s.Inv.Store.APIToken(ctx, of.tokenID)
	if errors.Is(err, store.ErrNotFound) || err == nil && t.Hash != of.tokenHash {
		s.sessions.endToken(of.tokenID)
		return Session{}, t, ErrNoSession
	}
	if err != nil {
		return Session{}, t, fmt.Errorf("check the session's token: %w", err)
	}
	sess := of.Session
	sess.ReadOnly = t.ReadOnly
	return sess, t, nil
}

// noteUse writes the token's last use, at most every usedEvery.
func (s *Server) noteUse(ctx context.Context, id string) {
	if now := time.Now(); s.used.due(id, now) {
		if err := s.Inv.Store.UsedAPIToken(ctx, id, now); err != nil {
			s.logger().Warn("api: note token use", "err", err)
		}
	}
}

// bySession serves, for authed, a request that carries a session cookie and
// no Authorization header, and reports whether it did: others are left to
// the bearer token check. A stale cookie is refused (401) without counting
// as a refused token: a cookie is not guessed, it outlived its session.
func (s *Server) bySession(w http.ResponseWriter, r *http.Request, write bool, h http.HandlerFunc) bool {
	c, err := r.Cookie(SessionCookie)
	if err != nil || r.Header.Get("Authorization") != "" {
		return false
	}
	key := sessionKey(c.Value)
	sess, t, err := s.liveSession(r.Context(), key, true)
	if errors.Is(err, ErrNoSession) {
		clearSessionCookie(w, r)
		writeError(w, http.StatusUnauthorized, err.Error(), "")
		return true
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return true
	}
	if !safeMethod(r.Method) {
		got := r.Header.Get(CSRFHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
			writeError(w, http.StatusForbidden, "a request by session cookie that changes something needs the "+CSRFHeader+" header of its page", "")
			return true
		}
	}
	if write && t.ReadOnly {
		writeError(w, http.StatusForbidden, "token "+t.Name+" is read-only: this request changes something", "")
		return true
	}
	s.noteUse(r.Context(), t.ID)
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody())
	if r.URL.Path == streamPath {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		release, ok := s.sessions.hold(key, cancel)
		if !ok {
			writeError(w, http.StatusUnauthorized, ErrNoSession.Error(), "")
			return true
		}
		defer release()
		go s.watchSession(ctx, key, cancel)
		r = r.WithContext(ctx)
	}
	h(w, r)
	return true
}

// watchSession checks the session of key every sessionRecheck until ctx
// ends, and cancels when the session has.
func (s *Server) watchSession(ctx context.Context, key string, cancel context.CancelFunc) {
	tick := time.NewTicker(s.sessions.recheckEvery())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, _, err := s.liveSession(ctx, key, false); errors.Is(err, ErrNoSession) {
				cancel()
				return
			}
		}
	}
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}
