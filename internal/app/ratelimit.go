package app

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rateLimit is a token bucket: rate events a second, burst at once.
type rateLimit struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newRateLimit(rate, burst float64) *rateLimit {
	return &rateLimit{rate: rate, burst: burst, tokens: burst}
}

// allow takes a token at now if there is one.
func (r *rateLimit) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// rateLimits is a token bucket per key, for at most maxKeys keys at once
// (past that the table starts over: a flood of keys is a flood anyway).
// The zero value allows everything.
type rateLimits struct {
	mu          sync.Mutex
	rate, burst float64
	maxKeys     int
	buckets     map[string]*rateLimit
}

// allow takes a token of key's bucket at now if there is one.
func (r *rateLimits) allow(key string, now time.Time) bool {
	if r.rate <= 0 {
		return true
	}
	r.mu.Lock()
	if r.buckets == nil || len(r.buckets) >= r.maxKeys {
		r.buckets = map[string]*rateLimit{}
	}
	b := r.buckets[key]
	if b == nil {
		b = newRateLimit(r.rate, r.burst)
		r.buckets[key] = b
	}
	r.mu.Unlock()
	return b.allow(now)
}

// Bounds of quietLog.
const (
	// quietEvery is how often one source may log the same kind of line.
	quietEvery = 10 * time.Second
	// quietSources bounds the sources remembered; past it, the table starts over.
	quietSources = 4096
)

// quietLog passes one log line per key (a source and what it did) every
// quietEvery and counts the rest, so that a client repeating a bad request
// cannot fill the log. The next line that passes says how many were held
// back.
type quietLog struct {
	mu   sync.Mutex
	seen map[string]*quietEntry
}

type quietEntry struct {
	last time.Time
	held int
}

// log writes msg at level unless a line with the same key was logged less
// than quietEvery ago.
func (q *quietLog) log(l *slog.Logger, level slog.Level, key, msg string, args ...any) {
	now := time.Now()
	q.mu.Lock()
	if q.seen == nil || len(q.seen) >= quietSources {
		q.seen = map[string]*quietEntry{}
	}
	k := key
	e := q.seen[k]
	if e != nil && now.Sub(e.last) < quietEvery {
		e.held++
		q.mu.Unlock()
		return
	}
	held := 0
	if e != nil {
		held = e.held
	}
	q.seen[k] = &quietEntry{last: now}
	q.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	l.Log(context.Background(), level, msg, args...)
}
