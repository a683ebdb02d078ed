// Package web is kickstand's dashboard: server-rendered pages of the
// machines (live state, current step, progress of the file each is loading,
// failed and stuck ones marked), each machine's timeline, kickstart and
// actions, the distros, profiles, leases and the server, under /ui/.
//
// Everything it shows comes from the API's domain layer (inventory.Service)
// on the server, and from the API itself (/api/v1, its event stream) in the
// browser, where a little script keeps the pages live. A browser logs in
// with an API token and then carries the API's session cookie (see
// api.Server.Login): the pages never see another path to the data, and a
// read-only token changes nothing here either.
//
// The pages are embedded and work offline; a Content-Security-Policy forbids
// any script but the embedded one, and every string a client sent (host
// names, vendor classes, file names, kickstart text, errors) is escaped by
// html/template on the server and set as textContent by the script.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"kickstand/internal/api"
	"kickstand/internal/inventory"
)

//go:embed templates/*.html static/*
var files embed.FS

// DefaultStuckAfter is how long a booting or installing machine may go
// without an event before the pages mark it stuck.
const DefaultStuckAfter = 10 * time.Minute

// Sessions logs browsers in and out and says whose a request is:
// *api.Server's sessions, so that the API accepts the same cookie.
type Sessions interface {
	Login(w http.ResponseWriter, r *http.Request, token string) (api.Session, error)
	Logout(w http.ResponseWriter, r *http.Request)
	Session(r *http.Request) (api.Session, error)
}

// Server serves the dashboard. Service and Sessions are required.
type Server struct {
	// Service is the inventory the pages show.
	Service inventory.Service
	// Sessions checks logins and the session of each request.
	Sessions Sessions
	// StuckAfter marks booting or installing machines without an event for
	// that long. Defaults to DefaultStuckAfter.
	StuckAfter time.Duration
	// Logger receives errors rendering pages; nil discards.
	Logger *slog.Logger

	once   sync.Once
	pages  map[string]*template.Template
	static map[string]staticFile
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) stuckAfter() time.Duration {
	if s.StuckAfter <= 0 {
		return DefaultStuckAfter
	}
	return s.StuckAfter
}

// Prefix is where the dashboard is served.
const Prefix = "/ui/"

// contentSecurityPolicy allows only the dashboard's own script, styles and
// API: no inline script or style, no plugins, no framing, no <base>.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"

// Handler serves /ui/ and redirects / to it. Every answer carries the
// Content-Security-Policy and the other hardening headers.
func (s *Server) Handler() http.Handler {
	s.once.Do(s.load)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	mux.Handle("GET /ui/{$}", s.page(s.machines))
	mux.Handle("GET /ui/machines/{mac}", s.page(s.machine))
	mux.Handle("GET /ui/distros", s.page(s.distros))
	mux.Handle("GET /ui/profiles", s.page(s.profiles))
	mux.Handle("GET /ui/leases", s.page(s.leases))
	mux.Handle("GET /ui/server", s.page(s.server))
	mux.HandleFunc("GET /ui/login", s.loginForm)
	// Logging in and out are forms: a cross-origin post is refused (by
	// Sec-Fetch-Site or Origin), and logout also needs the page's CSRF value.
	forms := http.NewCrossOriginProtection()
	mux.Handle("POST /ui/login", forms.Handler(http.HandlerFunc(s.login)))
	mux.Handle("POST /ui/logout", forms.Handler(http.HandlerFunc(s.logout)))
	mux.HandleFunc("GET /ui/static/{name}", s.serveStatic)
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such page: "+r.URL.Path+" (the dashboard is at "+Prefix+")", http.StatusNotFound)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		mux.ServeHTTP(w, r)
	})
}

// render executes page name into a buffer and writes only a complete page.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.logger().Error("web: render", "page", name, "err", err)
		http.Error(w, "cannot render the page; see the kickstand log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// load parses the templates and indexes the static files; both are
// embedded, so an error is a bug in this package that its tests catch.
func (s *Server) load() {
	s.static = map[string]staticFile{}
	names, err := fs.Glob(files, "static/*")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		s.static[path.Base(name)] = staticFile{data: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	funcs := template.FuncMap{
		"static":   s.staticURL,
		"clock":    clock,
		"rfc3339":  rfc3339,
		"duration": duration,
		"since":    func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"size":     size,
		"stamp":    stamp,
	}
	s.pages = map[string]*template.Template{}
	pages, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		if name == "layout" {
			continue
		}
		s.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", p))
	}
}

// staticFile is one embedded asset, with an ETag of its content.
type staticFile struct {
	data []byte
	etag string
}

// staticURL is the address of an asset, versioned by its content so that a
// new binary's pages never run an old script from a cache.
func (s *Server) staticURL(name string) string {
	f, ok := s.static[name]
	if !ok {
		panic("web: no static file " + name)
	}
	return Prefix + "static/" + name + "?v=" + strings.Trim(f.etag, `"`)
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, ok := s.static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	switch path.Ext(name) {
	case ".js":
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case ".css":
		h.Set("Content-Type", "text/css; charset=utf-8")
	case ".svg":
		h.Set("Content-Type", "image/svg+xml")
	}
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}

// page runs h for a request with a live session, and sends others to the
// login form, to come back after.
func (s *Server) page(h func(w http.ResponseWriter, r *http.Request, v view)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Sessions.Session(r)
		if errors.Is(err, api.ErrNoSession) {
			http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err != nil {
			s.logger().Error("web: session", "err", err)
			http.Error(w, "cannot check the session; see the kickstand log", http.StatusInternalServerError)
			return
		}
		h(w, r, view{Session: sess, StuckAfter: int(s.stuckAfter().Seconds()), Now: time.Now()})
	})
}

// view is what every page's template gets besides its own data.
type view struct {
	Session    api.Session
	StuckAfter int // seconds
	Now        time.Time
	Nav        string // the page, for the menu
	Title      string
	Data       any
}

// fail answers an error of the domain layer on a page: its message for the
// errors it explains (a MAC not found), a 500 otherwise.
func (s *Server) fail(w http.ResponseWriter, v view, err error) {
	var e *inventory.Error
	status := http.StatusInternalServerError
	if errors.As(err, &e) {
		status = map[inventory.Kind]int{inventory.Invalid: http.StatusBadRequest, inventory.NotFound: http.StatusNotFound,
			inventory.Conflict: http.StatusConflict}[e.Kind]
	} else {
		s.logger().Error("web", "err", err)
	}
	v.Title, v.Data = "Error", err.Error()
	s.render(w, status, "error", v)
}
