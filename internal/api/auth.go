package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"kickstand/internal/store"
)

// tokenPrefix starts every API token, so that a leaked one is recognised
// (and secret scanners can find it).
const tokenPrefix = "ks_"

// NewToken makes an API token called name: the text to give its user
// (shown once) and the record to store, which holds only a hash of it.
func NewToken(name string, readOnly bool) (text string, rec store.APIToken) {
	id, secret := make([]byte, 6), make([]byte, 24)
	rand.Read(id) // crypto/rand.Read never fails on Linux
	rand.Read(secret)
	idText, secretText := hex.EncodeToString(id), hex.EncodeToString(secret)
	return tokenPrefix + idText + "_" + secretText,
		store.APIToken{ID: idText, Name: name, Hash: hashSecret(secretText), ReadOnly: readOnly}
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

var tokenRE = regexp.MustCompile(`^ks_([0-9a-f]{12})_([0-9a-f]{48})$`)

// errBadToken is every refusal of a token: it tells the caller nothing
// about why.
var errBadToken = errors.New("missing or unknown API token: pass one with Authorization: Bearer TOKEN (kickstand token create NAME)")

// check returns the token that text is, comparing its secret in constant
// time.
func check(ctx context.Context, tokens store.Store, text string) (store.APIToken, error) {
	m := tokenRE.FindStringSubmatch(text)
	if m == nil {
		return store.APIToken{}, errBadToken
	}
	t, err := tokens.APIToken(ctx, m[1])
	if errors.Is(err, store.ErrNotFound) {
		return t, errBadToken
	} else if err != nil {
		return t, err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(m[2])), []byte(t.Hash)) != 1 {
		return store.APIToken{}, errBadToken
	}
	return t, nil
}

// bearer is the token of an Authorization header.
func bearer(header string) string {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Bounds of failed attempts.
const (
	// maxFailures is how many refused tokens one source may send in a
	// failureWindow before it is refused outright (429) for the rest of it.
	maxFailures   = 10
	failureWindow = time.Minute
	// maxSources bounds the sources remembered; past it the table starts over.
	maxSources = 4096
)

// failures counts refused tokens per source address.
type failures struct {
	mu    sync.Mutex
	seen  map[netip.Addr]*failureCount
	clock func() time.Time // nil: time.Now
}

type failureCount struct {
	since time.Time
	n     int
}

func (f *failures) now() time.Time {
	if f.clock != nil {
		return f.clock()
	}
	return time.Now()
}

// blocked reports whether source has failed too often lately.
func (f *failures) blocked(source netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.seen[source]
	return c != nil && f.now().Sub(c.since) < failureWindow && c.n >= maxFailures
}

// fail counts a refused token from source, and returns how many it sent in
// this window.
func (f *failures) fail(source netip.Addr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil || len(f.seen) >= maxSources {
		f.seen = map[netip.Addr]*failureCount{}
	}
	c := f.seen[source]
	if c == nil || f.now().Sub(c.since) >= failureWindow {
		c = &failureCount{since: f.now()}
		f.seen[source] = c
	}
	c.n++
	return c.n
}

// usedEvery spaces the writes of a token's last use.
const usedEvery = time.Minute

// lastUse remembers when each token's use was last written, so that a busy
// client does not write the store on every request.
type lastUse struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (l *lastUse) due(id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || len(l.seen) >= maxSources {
		l.seen = map[string]time.Time{}
	}
	if now.Sub(l.seen[id]) < usedEvery {
		return false
	}
	l.seen[id] = now
	return true
}
