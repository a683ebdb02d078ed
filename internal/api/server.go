// Package api is kickstand's REST API, /api/v1 (JSON): distros, profiles,
// machines (with their timelines and kickstarts), leases, apply, and a
// server-sent-events stream of the timelines, all behind API tokens; and
// the client the command line uses with --server.
//
// Every operation is inventory.Service's: the API adds routes, auth and
// the mapping of errors to statuses, and validates nothing itself.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/inventory"
)

// DefaultMaxBody bounds a request body (an apply with its kickstart
// templates).
const DefaultMaxBody = 4 << 20

// Server serves the API. Inv is required.
type Server struct {
	Inv *inventory.Inventory
	// Feed, if set, is the source of the event stream.
	Feed *events.Feed
	// Logger receives refused requests (quietly); nil discards.
	Logger *slog.Logger
	// MaxBody bounds request bodies. Defaults to DefaultMaxBody.
	MaxBody int64
	// Transfers, if set, returns the files in flight (GET
	// /api/v1/transfers, and the stream's progress messages).
	Transfers func() []TransferJSON
	// Info, if set, says what the server is (GET /api/v1/server).
	Info func() ServerJSON

	failed failures
	used   lastUse

	// sessions are the browsers logged in with a token (session.go).
	sessions sessionTable
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// route is one API operation.
type route struct {
	method, path string
	// write: it changes something, which a read-only token may not do.
	write  bool
	status int // on success (200 when zero)
	handle func(s *Server, r *http.Request) (any, error)
}

// routes are every operation, in the order of the OpenAPI document.
var routes = []route{
	{method: "GET", path: "/api/v1/distros", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Distros(r.Context())
	}},
	{method: "POST", path: "/api/v1/distros", write: true, status: http.StatusCreated, handle: func(s *Server, r *http.Request) (any, error) {
		var req struct {
			Name string `json:"name"`
			Path string `json:"path"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return s.svc().ImportDistro(r.Context(), req.Name, req.Path)
	}},
	{method: "GET", path: "/api/v1/distros/{name}", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Distro(r.Context(), r.PathValue("name"))
	}},
	{method: "DELETE", path: "/api/v1/distros/{name}", write: true, status: http.StatusNoContent, handle: func(s *Server, r *http.Request) (any, error) {
		return nil, s.svc().RemoveDistro(r.Context(), r.PathValue("name"))
	}},
	{method: "GET", path: "/api/v1/profiles", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Profiles(r.Context())
	}},
	{method: "POST", path: "/api/v1/profiles", write: true, status: http.StatusCreated, handle: func(s *Server, r *http.Request) (any, error) {
		var spec inventory.ProfileSpec
		if err := s.decode(r, &spec); err != nil {
			return nil, err
		}
		return s.svc().AddProfile(r.Context(), spec)
	}},
	{method: "GET", path: "/api/v1/profiles/{name}", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Profile(r.Context(), r.PathValue("name"))
	}},
	{method: "PATCH", path: "/api/v1/profiles/{name}", write: true, handle: func(s *Server, r *http.Request) (any, error) {
		var patch inventory.ProfilePatch
		if err := s.decode(r, &patch); err != nil {
			return nil, err
		}
		return s.svc().UpdateProfile(r.Context(), r.PathValue("name"), patch)
	}},
	{method: "DELETE", path: "/api/v1/profiles/{name}", write: true, status: http.StatusNoContent, handle: func(s *Server, r *http.Request) (any, error) {
		return nil, s.svc().RemoveProfile(r.Context(), r.PathValue("name"))
	}},
	{method: "GET", path: "/api/v1/machines", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Machines(r.Context())
	}},
	{method: "POST", path: "/api/v1/machines", write: true, status: http.StatusCreated, handle: func(s *Server, r *http.Request) (any, error) {
		var spec inventory.MachineSpec
		if err := s.decode(r, &spec); err != nil {
			return nil, err
		}
		return s.svc().AddMachine(r.Context(), spec)
	}},
	{method: "GET", path: "/api/v1/machines/{mac}", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Machine(r.Context(), r.PathValue("mac"))
	}},
	{method: "PATCH", path: "/api/v1/machines/{mac}", write: true, handle: func(s *Server, r *http.Request) (any, error) {
		var patch inventory.MachinePatch
		if err := s.decode(r, &patch); err != nil {
			return nil, err
		}
		return s.svc().UpdateMachine(r.Context(), r.PathValue("mac"), patch)
	}},
	{method: "DELETE", path: "/api/v1/machines/{mac}", write: true, status: http.StatusNoContent, handle: func(s *Server, r *http.Request) (any, error) {
		return nil, s.svc().RemoveMachine(r.Context(), r.PathValue("mac"))
	}},
	{method: "POST", path: "/api/v1/machines/{mac}/reinstall", write: true, handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Reinstall(r.Context(), r.PathValue("mac"))
	}},
	{method: "GET", path: "/api/v1/machines/{mac}/kickstart", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Kickstart(r.Context(), r.PathValue("mac"), "", renderOptions(r))
	}},
	{method: "GET", path: "/api/v1/machines/{mac}/events", handle: func(s *Server, r *http.Request) (any, error) {
		since, offset, limit, err := page(r)
		if err != nil {
			return nil, err
		}
		return s.svc().Events(r.Context(), r.PathValue("mac"), since, offset, limit)
	}},
	{method: "GET", path: "/api/v1/machines/{mac}/logs", handle: func(s *Server, r *http.Request) (any, error) {
		q, err := logQuery(r)
		if err != nil {
			return nil, err
		}
		return s.svc().InstallLogs(r.Context(), r.PathValue("mac"), q)
	}},
	{method: "GET", path: "/api/v1/profiles/{name}/kickstart", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Kickstart(r.Context(), "", r.PathValue("name"), renderOptions(r))
	}},
	{method: "GET", path: "/api/v1/leases", handle: func(s *Server, r *http.Request) (any, error) {
		return s.svc().Leases(r.Context())
	}},
	{method: "POST", path: "/api/v1/apply", write: true, handle: func(s *Server, r *http.Request) (any, error) {
		var req inventory.ApplyRequest
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		dryRun, err := boolParam(r, "dry_run")
		if err != nil {
			return nil, err
		}
		return s.svc().Apply(r.Context(), req, dryRun)
	}},
	{method: "GET", path: "/api/v1/transfers", handle: func(s *Server, r *http.Request) (any, error) {
		return s.transfers(), nil
	}},
	{method: "GET", path: "/api/v1/server", handle: func(s *Server, r *http.Request) (any, error) {
		if s.Info == nil {
			return ServerJSON{Listeners: []ListenerJSON{}}, nil
		}
		return s.Info(), nil
	}},
}

// Paths of the routes that are not JSON operations.
const (
	streamPath  = "/api/v1/events/stream"
	openAPIPath = "/api/v1/openapi.json"
)

func (s *Server) svc() inventory.Service { return inventory.Service{Inv: s.Inv} }

// Handler returns the API's routes, each behind the token check.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, s.authed(rt.write, func(w http.ResponseWriter, r *http.Request) {
			v, err := rt.handle(s, r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			status := rt.status
			if status == 0 {
				status = http.StatusOK
			}
			writeJSON(w, status, v)
		}))
	}
	mux.Handle("GET "+streamPath, s.authed(false, s.stream))
	mux.Handle("GET "+openAPIPath, s.authed(false, serveOpenAPI))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path+" (see "+openAPIPath+")", "")
	})
	return mux
}

// authed runs h for a request with a valid token (a read-only one only
// when !write); others get 401, 403 or, after many failures, 429.
func (s *Server) authed(write bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.bySession(w, r, write, h) { // a browser's session cookie instead of a token
			return
		}
		source := clientAddr(r)
		if s.failed.blocked(source) {
			w.Header().Set("Retry-After", strconv.Itoa(int(failureWindow.Seconds())))
			writeError(w, http.StatusTooManyRequests, "too many refused tokens from "+source.String()+": try again in a minute", "")
			return
		}
		t, err := check(r.Context(), s.Inv.Store, bearer(r.Header.Get("Authorization")))
		if err != nil {
			if !errors.Is(err, errBadToken) {
				writeError(w, http.StatusInternalServerError, "cannot check the token: "+err.Error(), "")
				return
			}
			n := s.failed.fail(source)
			s.logger().Warn("api: refused token", "client", source, "path", r.URL.Path, "refused", n)
			w.Header().Set("WWW-Authenticate", `Bearer realm="kickstand"`)
			writeError(w, http.StatusUnauthorized, err.Error(), "")
			return
		}
		if write && t.ReadOnly {
			writeError(w, http.StatusForbidden, "token "+t.Name+" is read-only: this request changes something", "")
			return
		}
		if now := time.Now(); s.used.due(t.ID, now) {
			if err := s.Inv.Store.UsedAPIToken(r.Context(), t.ID, now); err != nil {
				s.logger().Warn("api: note token use", "err", err)
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody())
		h(w, r)
	})
}

func (s *Server) maxBody() int64 {
	if s.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return s.MaxBody
}

// decode reads a JSON body into v; unknown fields are errors.
func (s *Server) decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &inventory.Error{Kind: inventory.Invalid, Msg: fmt.Sprintf("request body over %d bytes", tooBig.Limit), Err: errTooBig}
		}
		return &inventory.Error{Kind: inventory.Invalid, Msg: "request body: " + err.Error(), Field: fieldOf(err)}
	}
	if dec.More() {
		return &inventory.Error{Kind: inventory.Invalid, Msg: "request body: more than one JSON value"}
	}
	return nil
}

var errTooBig = errors.New("request body too large")

// fieldOf names the field a JSON decoding error is about.
func fieldOf(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return typeErr.Field
	}
	return ""
}

// fail answers an error: an *inventory.Error with its status and field,
// anything else as 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *inventory.Error
	if !errors.As(err, &e) {
		s.logger().Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	status := map[inventory.Kind]int{inventory.Invalid: http.StatusBadRequest, inventory.NotFound: http.StatusNotFound,
		inventory.Conflict: http.StatusConflict}[e.Kind]
	if errors.Is(err, errTooBig) {
		status = http.StatusRequestEntityTooLarge
	}
	writeError(w, status, e.Msg, e.Field)
}

// ErrorBody is what every refused request gets.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, ErrorBody{Error: msg, Field: field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// page reads ?since=RFC3339&offset=N&limit=N.
func page(r *http.Request) (since time.Time, offset, limit int, err error) {
	q := r.URL.Query()
	if v := q.Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return since, 0, 0, &inventory.Error{Kind: inventory.Invalid, Field: "since", Msg: "since " + strconv.Quote(v) + ": want an RFC 3339 time, like 2026-11-30T18:00:00Z"}
		}
	}
	for name, dst := range map[string]*int{"offset": &offset, "limit": &limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return since, 0, 0, &inventory.Error{Kind: inventory.Invalid, Field: name, Msg: name + " " + strconv.Quote(v) + ": want a whole number, 0 or more"}
			}
			*dst = n
		}
	}
	return since, offset, limit, nil
}

// logQuery is a logs route's ?name=&install=: a file name, and an install
// number (1 the newest) or "all".
func logQuery(r *http.Request) (inventory.LogQuery, error) {
	v := r.URL.Query()
	q := inventory.LogQuery{Name: v.Get("name")}
	switch install := v.Get("install"); install {
	case "":
	case "all":
		q.All = true
	default:
		n, err := strconv.Atoi(install)
		if err != nil || n < 1 {
			return q, &inventory.Error{Kind: inventory.Invalid, Field: "install", Msg: "install " + strconv.Quote(install) + ": want all, or 1 for the newest install, 2 for the one before..."}
		}
		q.Install = n
	}
	return q, nil
}

// renderOptions are a kickstart route's ?base_url=&ftp_base=: the
// addresses to render with. Secrets are never sent.
func renderOptions(r *http.Request) inventory.RenderOptions {
	q := r.URL.Query()
	return inventory.RenderOptions{BaseURL: q.Get("base_url"), FTPBase: q.Get("ftp_base")}
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &inventory.Error{Kind: inventory.Invalid, Field: name, Msg: name + " " + strconv.Quote(v) + ": want true or false"}
	}
	return b, nil
}

// clientAddr is the request's peer address.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
