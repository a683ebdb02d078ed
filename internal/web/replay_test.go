package web

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kickstand/internal/api"
	"kickstand/internal/events"
	"kickstand/internal/store"
)

// message is one message of a recorded event stream, at its time since
// the recording's first.
type message struct {
	at    time.Duration
	event string
	data  string
}

// streamEvent is the data of an event message (api.StreamEvent).
type streamEvent struct {
	Time   time.Time     `json:"time"`
	MAC    string        `json:"mac"`
	IP     string        `json:"ip"`
	Kind   string        `json:"kind"`
	Detail string        `json:"detail"`
	Fields events.Fields `json:"fields"`
	State  string        `json:"state"`
}

// loadRecording reads testdata/NAME: server-sent events, each after a
// comment ": +SECONDS" giving its time since the first.
func loadRecording(t testing.TB, name string) []message {
	t.Helper()
	file, err := os.Open(filepath.Join("testdata", name))
	must(t, err)
	defer file.Close()
	var msgs []message
	var m message
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m.event != "" {
				msgs = append(msgs, m)
			}
			m = message{at: m.at}
		case strings.HasPrefix(line, ": +"):
			s, err := strconv.ParseFloat(strings.TrimSuffix(line[3:], "s"), 64)
			must(t, err)
			m.at = time.Duration(s * float64(time.Second))
		case strings.HasPrefix(line, "event: "):
			m.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			m.data = line[len("data: "):]
		}
	}
	must(t, sc.Err())
	if m.event != "" {
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		t.Fatalf("testdata/%s holds no messages", name)
	}
	return msgs
}

// Replayed files in flight: the fixture installer's files are a few MB,
// loaded in milliseconds (the recording's two progress messages barely
// catch one); a DVD's kernel, initrd and stage2 take seconds, which is
// what the progress bars are for. So the replay keeps each recorded
// transfer of bigFile bytes or more in flight for at least minInFlight,
// its bytes growing evenly to the recorded size, for the stream's own
// progress messages to report; the recorded ones are skipped.
const (
	bigFile     = 1 << 20
	minInFlight = 2500 * time.Millisecond
)

// replay plays a recording for the machine mac (at address ip) into f, as
// kickstand serve would: each event recorded into the store (moving the
// machine on) and sent to the feed, each large transfer in flight for the
// API's transfers. The time between events shrinks by speedup; events get
// the time they are replayed at. It returns how many events it recorded.
// It may run on any goroutine.
func (f *fixture) replay(ctx context.Context, msgs []message, mac, ip string, speedup float64) (int, error) {
	hw, err := store.ParseMAC(mac)
	if err != nil {
		return 0, err
	}
	var prev time.Duration // the recorded time of the previous event
	n := 0
	for _, m := range msgs {
		if m.event == "progress" {
			continue
		}
		var e streamEvent
		if err := json.Unmarshal([]byte(m.data), &e); err != nil {
			return n, err
		}
		gap := time.Duration(float64(m.at-prev) / speedup)
		prev = m.at
		if e.Kind == string(events.Registered) {
			continue
		}
		took := time.Duration(e.Fields.Seconds * float64(time.Second) / speedup)
		big := e.Fields.Bytes >= bigFile && (e.Kind == "http" || e.Kind == "tftp" || e.Kind == "ftp")
		if big {
			gap = max(gap-took, 0)
		}
		if err := sleep(ctx, gap); err != nil {
			return n, err
		}
		if big {
			if err := f.inFlight(ctx, api.TransferJSON{MAC: mac, IP: ip, Proto: e.Kind, File: e.Fields.File, Total: e.Fields.Bytes},
				max(took, minInFlight)); err != nil {
				return n, err
			}
		}
		ev := store.Event{MAC: hw, Time: time.Now(), Kind: events.Kind(e.Kind), Detail: e.Detail, Fields: e.Fields}
		state, err := f.db.Record(ctx, ev, store.State(e.State))
		if err != nil {
			return n, err
		}
		f.send(ev, state)
		n++
	}
	return n, nil
}

// inFlight keeps x in flight for d, its bytes growing evenly to x.Total.
func (f *fixture) inFlight(ctx context.Context, x api.TransferJSON, d time.Duration) error {
	x.Started = time.Now()
	defer f.live.set()
	for {
		done := time.Since(x.Started)
		if done >= d {
			return nil
		}
		x.Bytes = int64(float64(x.Total) * float64(done) / float64(d))
		f.live.set(x)
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
