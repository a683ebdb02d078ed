package inventory

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"kickstand/internal/store"
)

// InstallLogJSON is one log an installer sent home.
type InstallLogJSON struct {
	// Install says which install sent it: 1 the newest of the machine's
	// installs that sent logs, 2 the one before, and so on.
	Install int       `json:"install"`
	Name    string    `json:"name"`
	Time    time.Time `json:"time"`
	Size    int       `json:"size"` // bytes received
	// Body is the log's text (bytes that are not UTF-8 read as U+FFFD),
	// its secrets masked (see maskedLog).
	Body string `json:"body"`
}

// LogQuery chooses install logs: those of install Install (0 is 1, the
// newest) or, with All, of every install kept; of the file Name, or of
// every file when Name is "".
type LogQuery struct {
	Name    string
	Install int
	All     bool
}

// InstallLogs returns the logs of the machine's installs that q chooses,
// newest install first, each install's in the order they arrived.
func (s Service) InstallLogs(ctx context.Context, mac string, q LogQuery) ([]InstallLogJSON, error) {
	hw, err := ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	if q.Install < 0 {
		return nil, invalid("install", "install %d: want 1 for the newest install, 2 for the one before, and so on", q.Install)
	}
	m, err := s.Inv.Store.Machine(ctx, hw)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("machine %s is not known", hw)
	} else if err != nil {
		return nil, err
	}
	logs, err := s.Inv.Store.InstallLogs(ctx, hw)
	if err != nil {
		return nil, err
	}
	// Installs are numbered from the newest: the one with the newest log.
	var order []string
	for _, l := range slices.Backward(logs) {
		if !slices.Contains(order, l.Install) {
			order = append(order, l.Install)
		}
	}
	want := max(q.Install, 1)
	out := []InstallLogJSON{}
	for n, install := range order {
		if !q.All && n+1 != want {
			continue
		}
		for _, l := range logs {
			if l.Install == install && (q.Name == "" || l.Name == q.Name) {
				out = append(out, InstallLogJSON{Install: n + 1, Name: l.Name, Time: l.Created, Size: len(l.Body), Body: string(maskedLog(l.Body, m.Token))})
			}
		}
	}
	return out, nil
}

// maskedLog is a log for showing: the kickstart's secrets masked as in a
// shown kickstart (a ks.cfg sent home has the root password hash), and the
// machine's current token, which the kickstart and anaconda's log name in
// URLs (that of the install that sent the log has ended, unless its end
// was never reported).
func maskedLog(body []byte, token string) []byte {
	out := Masked(body)
	if token != "" {
		out = bytes.ReplaceAll(out, []byte(token), []byte(masked))
	}
	return out
}
