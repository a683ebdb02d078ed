// Package httpd is kickstand's HTTP server: install trees and boot files
// (with Range, conditional requests, exact Content-Length and sendfile), the
// per-machine kickstart, and the phone-home endpoints that %pre/%post/%onerror
// call (reports, and the installer's logs).
//
// What a client holds is bounded: connections by MaxConns (idle ones make
// room for new ones), a request by ReadTimeout and maxHeaderBytes, a
// keep-alive by IdleTimeout, a response by StallTimeout, ranges by
// maxRanges.
package httpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"

	"kickstand/internal/netlimit"
	"kickstand/internal/transfers"
)

// ErrNotFound is returned by the Server's funcs for an unknown token.
var ErrNotFound = errors.New("not found")

// File is an open file to serve; *os.File is one (and is sent with sendfile).
type File interface {
	io.ReadSeekCloser
	Stat() (fs.FileInfo, error)
}

// SendfileSource is a File that is a byte range of a larger *os.File (a
// file inside an ISO image). SendfileSource positions that file at the
// current offset and says how many bytes are left; the server then lets the
// kernel send them and moves the offset on with Seek.
type SendfileSource interface {
	SendfileSource() (*os.File, int64, error)
	io.Seeker
}

// Report is what a machine says about its install through phone-home.
type Report struct {
	State   string // installing, installed or failed
	Message string
	Client  netip.Addr
}

// Transfer describes one served file, for the machine's timeline.
type Transfer struct {
	Name     string
	Client   netip.Addr
	Bytes    int64
	Duration time.Duration
	Status   int
	Head     bool // a HEAD request: the headers only (shim asks so before its GET)
}

// Defaults for the Server's limits.
const (
	DefaultIdleTimeout  = 60 * time.Second
	DefaultReadTimeout  = 30 * time.Second
	DefaultStallTimeout = 60 * time.Second
	DefaultMaxConns     = 1024
)

// maxHeaderBytes bounds a request's line and headers; boot firmware,
// installers and curl send well under 2 KiB.
const maxHeaderBytes = 16 << 10

// headerTimeout is the most a client may take to send a request's headers.
const headerTimeout = 10 * time.Second

// Server serves kickstand's HTTP endpoints. Open is required; the others may
// be nil. The limits may be zero for their defaults.
type Server struct {
	// Open opens a file of the served tree for a client.
	Open func(ctx context.Context, name string, client netip.Addr) (File, error)
	// Kickstart renders the kickstart that token is for (a machine's, or a
	// menu entry's). ErrNotFound gives 404.
	Kickstart func(ctx context.Context, token string, client netip.Addr) ([]byte, error)
	// PhoneHome records a machine's report. ErrNotFound gives 404.
	PhoneHome func(ctx context.Context, token string, r Report) error
	// InstallLog keeps a log file the installer sent (installlog.go).
	// ErrNotFound gives 404.
	InstallLog func(ctx context.Context, token string, l Log) error
	// OnFile is called after each file request.
	OnFile func(Transfer)
	// Dashboard, if set, serves every path under /ui/, and / (which it
	// redirects there).
	Dashboard http.Handler
	// Metrics, if set, serves GET /metrics (Prometheus).
	Metrics http.Handler
	// API, if set, serves every path under /api/.
	API    http.Handler
	Logger *slog.Logger // nil discards

	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request. Defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body (a
	// phone-home form is under 64 KiB, an install log under MaxLogBytes).
	// Defaults to DefaultReadTimeout.
	ReadTimeout time.Duration
	// StallTimeout is how long a client may leave a response unread: each
	// write, and each 256 KiB of a file, must reach the connection within
	// it, however long the whole download takes. Defaults to
	// DefaultStallTimeout.
	StallTimeout time.Duration
	// MaxConns caps the open connections. At the cap a new connection
	// closes the one that has waited longest for a request, and is refused
	// only when every connection is busy answering one. Defaults to
	// DefaultMaxConns, or to a quarter of the open-file limit when that is
	// lower.
	MaxConns int
	// Transfers, if set, tracks the files in flight and their progress.
	Transfers *transfers.Tracker
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /ks/{token}", s.serveKickstart)
	mux.HandleFunc("POST /phone-home/{token}", s.servePhoneHome)
	mux.HandleFunc("POST /phone-home/{token}/log/{name}", s.serveInstallLog)
	mux.HandleFunc("GET /{path...}", s.serveFile)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	// The API and the dashboard take every method under their prefixes,
	// which a method-less pattern beside "GET /{path...}" cannot say to
	// ServeMux; so they are routed first.
	api, dashboard := s.API, s.Dashboard
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "//") {
			// shim asks for grubx64.efi beside its own URL with a double
			// slash (http://server//grubx64.efi), and does not follow the
			// redirect ServeMux would answer it with.
			r.URL.Path, r.URL.RawPath = collapseSlashes(r.URL.Path), ""
		}
		switch p := r.URL.Path; {
		case api != nil && strings.HasPrefix(p, "/api/"):
			api.ServeHTTP(w, r)
		case dashboard != nil && (strings.HasPrefix(p, "/ui/") || p == "/"):
			dashboard.ServeHTTP(w, r)
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// collapseSlashes turns every run of slashes in p into one.
func collapseSlashes(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// Serve serves HTTP on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	conns := newConnTable(netlimit.Or(s.MaxConns, netlimit.Conns(DefaultMaxConns)), s.logger())
	readTimeout := netlimit.Or(s.ReadTimeout, DefaultReadTimeout)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(headerTimeout, readTimeout),
		// ReadTimeout also bounds a request body that no handler reads,
		// which net/http drains before reusing the connection. When it
		// passes during a long download, net/http cancels the request's
		// context; serveFile no longer uses it by then.
		ReadTimeout:    readTimeout,
		IdleTimeout:    netlimit.Or(s.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes: maxHeaderBytes,
		ConnState:      conns.setState,
		ErrorLog:       slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug),
		BaseContext:    func(net.Listener) context.Context { return ctx },
	}
	ln = &connListener{Listener: ln, table: conns, stall: netlimit.Or(s.StallTimeout, DefaultStallTimeout)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close() // downloads still running after the grace period
	}
	<-done
	return nil
}

// clientAddr is the request's peer address.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (s *Server) serveKickstart(w http.ResponseWriter, r *http.Request) {
	if s.Kickstart == nil {
		http.NotFound(w, r)
		return
	}
	ks, err := s.Kickstart(r.Context(), r.PathValue("token"), clientAddr(r))
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.logger().Error("kickstart", "client", clientAddr(r), "err", err)
		http.Error(w, "kickstart cannot be rendered; see the kickstand log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	serveContent(w, r, "ks.cfg", time.Time{}, bytes.NewReader(ks), int64(len(ks)))
}

func (s *Server) servePhoneHome(w http.ResponseWriter, r *http.Request) {
	if s.PhoneHome == nil {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	rep := Report{State: r.PostForm.Get("state"), Message: r.PostForm.Get("message"), Client: clientAddr(r)}
	switch rep.State {
	case "installing", "installed", "failed":
	default:
		http.Error(w, "state must be installing, installed or failed", http.StatusBadRequest)
		return
	}
	err := s.PhoneHome(r.Context(), r.PathValue("token"), rep)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.logger().Error("phone-home", "client", rep.Client, "err", err)
		http.Error(w, "report not recorded; see the kickstand log", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "ok\n")
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("path")
	client := clientAddr(r)
	cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.logger().Debug("http file", "name", name, "client", client, "status", cw.status, "bytes", cw.n)
		if s.OnFile != nil {
			s.OnFile(Transfer{Name: name, Client: client, Bytes: cw.n, Duration: time.Since(start), Status: cw.status,
				Head: r.Method == http.MethodHead})
		}
	}()
	f, err := s.Open(r.Context(), name, client)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(cw, r)
			return
		}
		s.logger().Error("http open", "name", name, "err", err)
		http.Error(cw, "cannot open file; see the kickstand log", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(cw, "cannot stat file", http.StatusInternalServerError)
		return
	}
	if !st.ModTime().IsZero() {
		cw.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, st.ModTime().UnixNano(), st.Size()))
	}
	total := st.Size()
	if r.Header.Get("Range") != "" {
		total = 0 // the part asked for is ServeContent's to work out
	}
	x := s.Transfers.Start("http", client, name, total)
	defer s.Transfers.Done(x)
	cw.progress = x
	if mime.TypeByExtension(path.Ext(st.Name())) == "" {
		// Boot files (vmlinuz, initrd.img, .treeinfo) are bytes; saying so
		// spares ServeContent a read to sniff them.
		cw.Header().Set("Content-Type", "application/octet-stream")
	}
	serveContent(cw, r, st.Name(), st.ModTime(), f, st.Size())
}

// countingWriter counts body bytes and keeps the status. It passes ReadFrom
// through so that net/http still uses sendfile for *os.File bodies, in
// pieces so that the transfer's progress moves.
type countingWriter struct {
	http.ResponseWriter
	n        int64
	status   int
	progress *transfers.Transfer // nil: not tracked
}

func (c *countingWriter) add(n int64) {
	c.n += n
	c.progress.Add(n)
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.add(int64(n))
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	// http.ServeContent copies through an io.LimitedReader; net only uses
	// sendfile when that wraps an *os.File, so a file inside an ISO is
	// swapped for the ISO file positioned at the file's bytes.
	if lr, ok := r.(*io.LimitedReader); ok {
		if src, ok := lr.R.(SendfileSource); ok {
			f, left, err := src.SendfileSource()
			if err != nil {
				return 0, err
			}
			n, err := transfers.CopyChunks(rf, &io.LimitedReader{R: f, N: min(lr.N, left)}, c.add)
			lr.N -= n
			if _, serr := src.Seek(n, io.SeekCurrent); err == nil {
				err = serr
			}
			return n, err
		}
	}
	return transfers.CopyChunks(rf, r, c.add)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
