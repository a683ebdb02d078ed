package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"kickstand/internal/events"
)

// Bounds of the event stream.
const (
	// streamBuffer is how many events a slow client may be behind before
	// it loses some (and is told how many).
	streamBuffer = 1024
	// streamBatch is how long events gather before they are flushed, so
	// that a boot storm's thousands of events a second go out in few writes.
	streamBatch = 50 * time.Millisecond
	// streamPing keeps idle connections (and their proxies) open.
	streamPing = 20 * time.Second
)

// StreamEvent is one event of the stream, as `data:` of an SSE message
// whose `event:` is its kind.
type StreamEvent struct {
	Time   time.Time `json:"time"`
	MAC    string    `json:"mac,omitempty"`
	IP     string    `json:"ip,omitempty"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
	// Fields are the event's facts, typed (see the Event schema).
	Fields events.Fields `json:"fields"`
	State  string        `json:"state,omitempty"` // the machine's state after it
}

// stream sends every wire event as server-sent events until the client
// goes away. Events are batched per streamBatch; a client too slow for the
// feed gets a "dropped" message saying how many it missed.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.Feed == nil {
		writeError(w, http.StatusNotFound, "this server has no event stream", "")
		return
	}
	// Subscribed before the first byte: a client that waits for the opening
	// comment misses nothing sent after it.
	sub := s.Feed.Subscribe(streamBuffer)
	defer sub.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": kickstand events\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	// A stream runs as long as its client: no read deadline (the server's
	// would end it), and writes bounded each by the server's stall timeout.
	_ = rc.SetReadDeadline(time.Time{})
	batch := time.NewTicker(streamBatch)
	defer batch.Stop()
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	var dropped int64
	// moving starts true: the first tick sends the transfers in flight even
	// when there are none, since the client may be showing some it read with
	// GET /api/v1/transfers while it connected, which ended before any tick
	// of this stream saw them.
	pending, moving := false, true
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			if err := writeEvent(w, e); err != nil {
				return
			}
			pending = true
		case <-batch.C:
			if d := sub.Dropped(); d != dropped {
				_, _ = fmt.Fprintf(w, "event: dropped\ndata: {\"events\": %d}\n\n", d-dropped)
				dropped, pending = d, true
			}
			if pending {
				if rc.Flush() != nil {
					return
				}
				pending = false
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-progress.C:
			// The transfers in flight, while there are any, and once more
			// (empty) when the last has ended.
			ts := s.transfers()
			if len(ts) == 0 && !moving {
				continue
			}
			moving = len(ts) > 0
			if err := writeProgress(w, ts); err != nil {
				return
			}
			pending = true
		}
	}
}

func writeEvent(w http.ResponseWriter, e events.Event) error {
	se := StreamEvent{Time: e.Time, Kind: string(e.Kind), Detail: e.Detail, Fields: e.Fields, State: e.Step}
	if len(e.MAC) > 0 {
		se.MAC = e.MAC.String()
	}
	if e.IP.IsValid() {
		se.IP = e.IP.String()
	}
	b, err := json.Marshal(se)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", sseField(string(e.Kind)), b)
	return err
}

// ProgressJSON is the data of a progress message on the stream.
type ProgressJSON struct {
	Transfers []TransferJSON `json:"transfers"`
}

func writeProgress(w http.ResponseWriter, ts []TransferJSON) error {
	b, err := json.Marshal(ProgressJSON{Transfers: ts})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b)
	return err
}

// sseField keeps a value on one SSE line.
func sseField(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return s[:i]
		}
	}
	return s
}
