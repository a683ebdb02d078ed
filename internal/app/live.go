package app

import (
	"runtime/debug"
	"time"

	"kickstand/internal/api"
)

// liveTransfers are the files in flight, each with the MAC of the machine
// at its address when kickstand knows it.
func (a *App) liveTransfers() []api.TransferJSON {
	snap := a.transfers.Snapshot()
	out := make([]api.TransferJSON, 0, len(snap))
	for _, x := range snap {
		t := api.TransferJSON{IP: x.Client.String(), Proto: x.Proto, File: x.File, Bytes: x.Bytes, Total: x.Total, Started: x.Started}
		if mac, ok := a.peers.lookup(x.Client); ok {
			t.MAC = mac.String()
		}
		out = append(out, t)
	}
	return out
}

// serverInfo says what the server is: its version, when it started, where
// it listens, and how many events it lost.
func (a *App) serverInfo(listeners []api.ListenerJSON) func() api.ServerJSON {
	started, v := time.Now(), version()
	return func() api.ServerJSON {
		return api.ServerJSON{Version: v, Started: started, Listeners: listeners,
			DroppedEvents: a.bus.Dropped(), StreamDropped: a.feed.Dropped()}
	}
}

// version is the module version the binary was built as, with its commit
// when the build recorded one.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += " " + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += "+dirty"
		}
	}
	return v
}
