package inventory

import (
	"fmt"
	"io"
	"time"
)

// progressEvery is how often a progress line is redrawn.
const progressEvery = 200 * time.Millisecond

// progress redraws one line, "\rWHAT: N of TOTAL", a few times a second
// while long work goes on; nil writes nothing.
type progress struct {
	w     io.Writer
	what  string
	total int
	every time.Duration
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, what string, total int) *progress {
	return &progress{w: w, what: what, total: total, every: progressEvery, last: time.Now()}
}

// at notes that n of the total are done.
func (p *progress) at(n int) {
	if p.w == nil || time.Since(p.last) < p.every {
		return
	}
	fmt.Fprintf(p.w, "\r%s: %d of %d", p.what, n, p.total)
	p.last, p.drawn = time.Now(), true
}

// done ends the line, if one was drawn (short work draws none), where the
// work stopped: at the total, or at a failure.
func (p *progress) done() {
	if p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
