package dhcp

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// leaseWriter makes lease changes durable with group commit: a change
// waits while the batch before it is written, and then goes to the store
// with every change that arrived meanwhile, in one SaveLeases call (one
// transaction). Each caller returns only once its own batch is written, so
// an ACK still leaves only after its lease is stored, while the store sees
// one transaction per batch instead of one per lease.
//
// There is no writer goroutine: the first caller to find no batch being
// written writes the open one (its own), and the callers that queued
// meanwhile elect the next writer among themselves when it is done.
//
// A write costs about the same for one lease as for dozens, so under load
// the writer lingers a moment (batchLinger) before it takes its batch, to
// let more ACKs join: only when the write before it had changes queued
// behind it, so that a lone client's ACK is not delayed.
type leaseWriter struct {
	store  LeaseStore
	claim  LeaseClaimer     // the store, when several servers share it; nil otherwise
	now    func() time.Time // for ClaimLeases
	linger time.Duration

	mu      sync.Mutex
	written sync.Cond   // broadcast when a batch is written
	open    *leaseBatch // collecting changes; nil when none is
	writing bool
	busy    bool // changes were waiting when the last write ended
	spare   []*leaseBatch
}

// batchLinger is how long a writer waits for more ACKs to join its batch
// when the server is busy: small next to what a DHCP client waits for an
// answer (seconds), long enough to gather several ACKs at a few thousand
// a second.
const batchLinger = time.Millisecond

// leaseBatch is the changes of one SaveLeases call, last change per MAC
// winning.
type leaseBatch struct {
	changes []leaseChange
	index   map[macKey]int // MAC → its change
	waiters int            // callers that have not read err yet
	done    bool
	err     error
	// What SaveLeases is given, rebuilt from changes; kept for reuse.
	put    []Lease
	remove []net.HardwareAddr
	// held are the leases of other servers that kept an address from
	// this batch (ClaimLeases), by address.
	held map[netip.Addr]Lease
}

// takenError is a lease that was not stored because another server holds
// its address (a shared store's ClaimLeases): holder is that lease.
type takenError struct{ holder Lease }

func (e *takenError) Error() string {
	return "dhcp: " + e.holder.IP.String() + " is held by " + e.holder.MAC.String() + " through another server"
}

type leaseChange struct {
	mac      macKey
	lease    Lease // its MAC is ignored: mac is the one
	isRemove bool
}

func newLeaseWriter(store LeaseStore, now func() time.Time) *leaseWriter {
	w := &leaseWriter{store: store, now: now, linger: batchLinger}
	w.claim, _ = store.(LeaseClaimer)
	w.written.L = &w.mu
	return w
}

// put stores l, and deletes the lease of displaced (another MAC whose
// expired lease l's address had) if it is not nil, durably, before it
// returns. On a shared store it returns a *takenError when another server
// holds l's address.
func (w *leaseWriter) put(ctx context.Context, l Lease, displaced net.HardwareAddr) error {
	key, ok := keyOf(l.MAC)
	if !ok {
		return errBadMAC
	}
	return w.write(ctx, func(b *leaseBatch) {
		if old, ok := keyOf(displaced); ok {
			b.add(leaseChange{mac: old, isRemove: true})
		}
		b.add(leaseChange{mac: key, lease: l})
	}, func(b *leaseBatch) error {
		if h, ok := b.held[l.IP]; ok && !bytes.Equal(h.MAC, l.MAC) {
			return &takenError{holder: Lease{MAC: bytes.Clone(h.MAC), IP: h.IP, Expires: h.Expires, Hostname: h.Hostname}}
		}
		return nil
	})
}

// remove deletes mac's stored lease durably before it returns.
func (w *leaseWriter) remove(ctx context.Context, mac net.HardwareAddr) error {
	key, ok := keyOf(mac)
	if !ok {
		return errBadMAC
	}
	return w.write(ctx, func(b *leaseBatch) { b.add(leaseChange{mac: key, isRemove: true}) }, nil)
}

// write adds changes to the open batch and returns once that batch is
// written, writing it itself when no other batch is being written; then
// result, if not nil, tells the caller's own outcome of a written batch.
func (w *leaseWriter) write(ctx context.Context, add func(*leaseBatch), result func(*leaseBatch) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.open
	if b == nil {
		b = w.newBatch()
		w.open = b
	}
	add(b)
	b.waiters++
	for !b.done {
		if w.writing {
			w.written.Wait()
			continue
		}
		// Our batch is the open one: the batch before it is written.
		w.writing = true
		if w.busy && w.linger > 0 {
			w.mu.Unlock()
			time.Sleep(w.linger) // others join b meanwhile
			w.mu.Lock()
		}
		w.open = nil
		w.mu.Unlock()
		put, remove := b.leases()
		// The batch holds other callers' leases: it is written whatever
		// becomes of this caller's ctx (and context.WithoutCancel(ctx)
		// would allocate for every batch).
		var err error
		if w.claim != nil {
			var held []Lease
			held, err = w.claim.ClaimLeases(context.Background(), put, remove, w.now())
			for _, h := range held {
				b.held[h.IP] = h
			}
		} else {
			err = w.store.SaveLeases(context.Background(), put, remove)
		}
		w.mu.Lock()
		b.done, b.err, w.writing = true, err, false
		w.busy = w.open != nil
		w.written.Broadcast()
	}
	err := b.err
	if err == nil && result != nil {
		err = result(b)
	}
	if b.waiters--; b.waiters == 0 {
		w.recycle(b)
	}
	return err
}

func (w *leaseWriter) newBatch() *leaseBatch {
	if n := len(w.spare); n > 0 {
		b := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return b
	}
	return &leaseBatch{index: make(map[macKey]int), held: make(map[netip.Addr]Lease)}
}

func (w *leaseWriter) recycle(b *leaseBatch) {
	b.changes = b.changes[:0]
	clear(b.index)
	clear(b.held)
	clear(b.put) // drop the references to the caller's strings
	b.put, b.remove = b.put[:0], b.remove[:0]
	b.done, b.err = false, nil
	w.spare = append(w.spare, b)
}

func (b *leaseBatch) add(c leaseChange) {
	if i, ok := b.index[c.mac]; ok {
		b.changes[i] = c
		return
	}
	b.index[c.mac] = len(b.changes)
	b.changes = append(b.changes, c)
}

// leases returns the batch's leases to store and MACs to delete; their
// MACs point into the batch, which stays put until every caller is done.
func (b *leaseBatch) leases() ([]Lease, []net.HardwareAddr) {
	b.put, b.remove = b.put[:0], b.remove[:0]
	for i := range b.changes {
		c := &b.changes[i]
		if c.isRemove {
			b.remove = append(b.remove, c.mac[:])
			continue
		}
		l := c.lease
		l.MAC = c.mac[:]
		b.put = append(b.put, l)
	}
	return b.put, b.remove
}
