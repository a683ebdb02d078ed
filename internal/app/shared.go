package app

import (
	"context"
	"net"
	"time"

	"kickstand/internal/store"
)

// followStore keeps this server's view of a store that other servers and
// the CLI write too (PostgreSQL), as they commit: a machine written
// elsewhere drops the index of absent machines at once, rather than within
// absentFor, and an event recorded elsewhere goes to this server's live
// views, so that a machine's timeline streams whole whichever server saw
// each step. It returns when ctx ends.
func (a *App) followStore(ctx context.Context, w store.Watcher, absent *absentStore) {
	watch := store.Watch{
		Machine: func(net.HardwareAddr) { absent.forget() },
		Event:   a.machines.stream,
	}
	for {
		err := w.Watch(ctx, watch)
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("lost the store's change feed: machines changed by other servers are seen within a second, their events not streamed live, until it is back",
			"err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// storeWatcher returns the store's Watcher and the index of absent
// machines it must keep true, when the store is shared with other
// processes that tell of their changes.
func (a *App) storeWatcher() (store.Watcher, *absentStore, bool) {
	absent, ok := a.store.(*absentStore)
	if !ok {
		return nil, nil, false
	}
	w, ok := absent.Store.(store.Watcher)
	return w, absent, ok
}
