package dhcp

import (
	"math/bits"
	"net/netip"
	"time"
)

// freeBits is the set of pool offsets that nobody holds, as a bitmap with a
// summary word per 64 words, so that the lowest member is found in a few
// word operations whatever the pool size (at most 16 summary words for the
// largest pool, maxRangeSize).
type freeBits struct {
	words   []uint64
	summary []uint64 // bit j set when words[j] != 0
}

func newFreeBits(n int) freeBits {
	words := (n + 63) / 64
	return freeBits{words: make([]uint64, words), summary: make([]uint64, (words+63)/64)}
}

func (f *freeBits) set(i int) {
	w := i / 64
	f.words[w] |= 1 << (i % 64)
	f.summary[w/64] |= 1 << (w % 64)
}

func (f *freeBits) clear(i int) {
	w := i / 64
	f.words[w] &^= 1 << (i % 64)
	if f.words[w] == 0 {
		f.summary[w/64] &^= 1 << (w % 64)
	}
}

// first returns the lowest member, or -1 when the set is empty.
func (f *freeBits) first() int {
	for s, sum := range f.summary {
		if sum != 0 {
			w := s*64 + bits.TrailingZeros64(sum)
			return w*64 + bits.TrailingZeros64(f.words[w])
		}
	}
	return -1
}

// firstFrom returns the lowest member at or after i, else the lowest of
// all; -1 when the set is empty. Servers sharing a pool search it from
// different points, so that in a storm they do not offer the same
// addresses in the same order.
func (f *freeBits) firstFrom(i int) int {
	w := i / 64
	if i <= 0 || w >= len(f.words) {
		return f.first()
	}
	if m := f.words[w] &^ (1<<(i%64) - 1); m != 0 {
		return w*64 + bits.TrailingZeros64(m)
	}
	next := w + 1
	for s := next / 64; s < len(f.summary); s++ {
		sum := f.summary[s]
		if s == next/64 {
			sum &^= 1<<(next%64) - 1
		}
		if sum != 0 {
			ww := s*64 + bits.TrailingZeros64(sum)
			return ww*64 + bits.TrailingZeros64(f.words[ww])
		}
	}
	return f.first()
}

// expiryHeap orders the pool's entries by the end of their lease or offer,
// soonest first, so that the one that expired longest ago is found at once.
// Each entry knows its position (heapIndex, -1 when not in the heap).
type expiryHeap []*leaseEntry

func (h expiryHeap) less(i, j int) bool { return h[i].expires.Before(h[j].expires) }

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}

func (h *expiryHeap) push(e *leaseEntry) {
	e.heapIndex = len(*h)
	*h = append(*h, e)
	h.up(e.heapIndex)
}

func (h *expiryHeap) remove(e *leaseEntry) {
	i := e.heapIndex
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	e.heapIndex = -1
	if i != last {
		h.fix(i)
	}
}

// fix restores the order after the entry at i changed its expiry.
func (h expiryHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h expiryHeap) down(i int) bool {
	start := i
	for {
		child := 2*i + 1
		if child >= len(h) {
			break
		}
		if right := child + 1; right < len(h) && h.less(right, child) {
			child = right
		}
		if !h.less(child, i) {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}

// holdQueue is when addresses set aside for a fixed time come back, in the
// order they were set aside; with one hold time and a clock that does not go
// back, that is also the order of their ends.
type holdQueue struct {
	items []heldAddr
	head  int
}

type heldAddr struct {
	ip    netip.Addr
	until time.Time
}

func (q *holdQueue) push(ip netip.Addr, until time.Time) {
	if q.head > 0 && q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	q.items = append(q.items, heldAddr{ip, until})
}

// pop returns the first item that has ended by now, if any.
func (q *holdQueue) pop(now time.Time) (heldAddr, bool) {
	if q.head == len(q.items) || now.Before(q.items[q.head].until) {
		return heldAddr{}, false
	}
	it := q.items[q.head]
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	return it, true
}
