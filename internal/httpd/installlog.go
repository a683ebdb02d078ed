package httpd

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// MaxLogBytes bounds one install log a machine sends; the kickstart sends
// the newest MaxLogBytes of each file (tail -c), where an error shows.
const MaxLogBytes = 256 << 10

// LogNames are the install logs a machine may send: anaconda's logs in
// /tmp and the kickstart as anaconda read it. A fixed list, so that a name
// is never a path and a token holder cannot invent rows.
var LogNames = []string{
	"anaconda.log", "program.log", "storage.log", "packaging.log", "dnf.librepo.log", "syslog", "ks.cfg",
}

// Log is one install log a machine sends home.
type Log struct {
	Name   string // one of LogNames
	Body   []byte // at most MaxLogBytes
	Client netip.Addr
}

// serveInstallLog takes one log file as the request body:
// POST /phone-home/{token}/log/{name}.
func (s *Server) serveInstallLog(w http.ResponseWriter, r *http.Request) {
	if s.InstallLog == nil {
		http.NotFound(w, r)
		return
	}
	l := Log{Name: r.PathValue("name"), Client: clientAddr(r)}
	if !slices.Contains(LogNames, l.Name) {
		http.Error(w, fmt.Sprintf("log %q: the name must be one of %s", l.Name, strings.Join(LogNames, ", ")), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLogBytes))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		http.Error(w, fmt.Sprintf("log %s is over %d bytes: send its end (tail -c %d)", l.Name, MaxLogBytes, MaxLogBytes),
			http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "reading the log: "+err.Error(), http.StatusBadRequest)
		return
	}
	l.Body = body
	err = s.InstallLog(r.Context(), r.PathValue("token"), l)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.logger().Error("install log", "client", l.Client, "name", l.Name, "err", err)
		http.Error(w, "log not kept; see the kickstand log", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "ok\n")
}
