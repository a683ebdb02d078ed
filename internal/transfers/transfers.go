// Package transfers tracks the file transfers in flight (TFTP, HTTP, FTP)
// and how far each has come, for the dashboard's progress bars and the
// active-transfer gauges. The servers report into it; it never blocks them:
// progress is one atomic store.
package transfers

import (
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transfer is one file in flight. Its methods are safe on a nil Transfer
// (a server without a tracker), and for concurrent use.
type Transfer struct {
	Proto   string // tftp, http, ftp
	Client  netip.Addr
	File    string // as requested, without a leading "/"
	Total   int64  // the bytes it will be, 0 when unknown (a range, an unsized file)
	Started time.Time
	bytes   atomic.Int64
}

// Set records that n bytes have gone (acknowledged, for TFTP).
func (x *Transfer) Set(n int64) {
	if x != nil {
		x.bytes.Store(n)
	}
}

// Add records n more bytes.
func (x *Transfer) Add(n int64) {
	if x != nil {
		x.bytes.Add(n)
	}
}

// Bytes is how many bytes have gone so far.
func (x *Transfer) Bytes() int64 {
	if x == nil {
		return 0
	}
	return x.bytes.Load()
}

// Snapshot is a transfer as it stands.
type Snapshot struct {
	Proto   string
	Client  netip.Addr
	File    string
	Bytes   int64
	Total   int64
	Started time.Time
}

// MaxTracked bounds the transfers tracked at once; past it new ones go
// untracked (they are still served). The servers' own caps are lower.
const MaxTracked = 4096

// Tracker is the set of transfers in flight. A nil Tracker tracks nothing.
type Tracker struct {
	mu     sync.Mutex
	active map[*Transfer]struct{}
}

// Start records a transfer beginning; the server calls Done when it ends.
// It returns nil (which tracks nothing) on a nil Tracker or at MaxTracked.
func (t *Tracker) Start(proto string, client netip.Addr, file string, total int64) *Transfer {
	if t == nil {
		return nil
	}
	x := &Transfer{Proto: proto, Client: client, File: strings.TrimPrefix(file, "/"), Total: max(total, 0), Started: time.Now()}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.active) >= MaxTracked {
		return nil
	}
	if t.active == nil {
		t.active = map[*Transfer]struct{}{}
	}
	t.active[x] = struct{}{}
	return x
}

// Done records that x ended.
func (t *Tracker) Done(x *Transfer) {
	if t == nil || x == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.active, x)
}

// Snapshot returns the transfers in flight, oldest first.
func (t *Tracker) Snapshot() []Snapshot {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := make([]Snapshot, 0, len(t.active))
	for x := range t.active {
		out = append(out, Snapshot{Proto: x.Proto, Client: x.Client, File: x.File, Bytes: x.Bytes(), Total: x.Total, Started: x.Started})
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Snapshot) int { return a.Started.Compare(b.Started) })
	return out
}

// Active counts the transfers in flight per protocol.
func (t *Tracker) Active() map[string]int {
	out := map[string]int{}
	if t == nil {
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for x := range t.active {
		out[x.Proto]++
	}
	return out
}

// Chunk is how much CopyChunks sends between progress reports: small
// enough for a progress bar to move, large enough that sendfile's per-call
// cost does not show.
const Chunk = 1 << 20

// CopyChunks copies r to rf in Chunk pieces (up to r's limit when r is an
// *io.LimitedReader), calling each after every piece with its size. Each
// piece is an *io.LimitedReader over r's own reader, so an *os.File still
// goes to the kernel with sendfile. It stops at the first short piece.
func CopyChunks(rf io.ReaderFrom, r io.Reader, each func(n int64)) (int64, error) {
	src, left := r, int64(math.MaxInt64)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, left = lr.R, lr.N
		defer func() { lr.N = left }()
	}
	var total int64
	for left > 0 {
		want := min(left, Chunk)
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: want})
		total, left = total+n, left-n
		if n > 0 && each != nil {
			each(n)
		}
		if err != nil || n < want {
			return total, err
		}
	}
	return total, nil
}

// Meter returns w reporting each write's size to each. When w is an
// io.ReaderFrom so is the meter, copying with CopyChunks: sendfile is kept.
func Meter(w io.Writer, each func(n int64)) io.Writer {
	if rf, ok := w.(io.ReaderFrom); ok {
		return &meterFrom{meter{w, each}, rf}
	}
	return &meter{w, each}
}

type meter struct {
	w    io.Writer
	each func(int64)
}

func (m *meter) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if n > 0 {
		m.each(int64(n))
	}
	return n, err
}

type meterFrom struct {
	meter
	rf io.ReaderFrom
}

func (m *meterFrom) ReadFrom(r io.Reader) (int64, error) { return CopyChunks(m.rf, r, m.each) }
