package api

import "time"

// TransferJSON is a file in flight: how far it has come of how much.
type TransferJSON struct {
	MAC     string    `json:"mac,omitempty"` // "" when the address is no known machine's
	IP      string    `json:"ip"`
	Proto   string    `json:"proto"` // tftp, http, ftp
	File    string    `json:"file"`
	Bytes   int64     `json:"bytes"`
	Total   int64     `json:"total"` // 0 when unknown
	Started time.Time `json:"started"`
}

// ListenerJSON is one socket the server answers on.
type ListenerJSON struct {
	Proto   string `json:"proto"` // dhcp, tftp, http, ftp, api
	Address string `json:"address"`
}

// ServerJSON is what the server is and how it is doing.
type ServerJSON struct {
	Version   string         `json:"version"`
	Started   time.Time      `json:"started"`
	Listeners []ListenerJSON `json:"listeners"`
	// DroppedEvents is the wire events lost to a full queue (a disk too
	// slow for a boot storm); StreamDropped those the stream's clients were
	// too slow for.
	DroppedEvents int64 `json:"dropped_events"`
	StreamDropped int64 `json:"stream_dropped"`
}

// progressEvery is how often the stream sends the transfers in flight.
const progressEvery = 500 * time.Millisecond

// transfers returns the transfers in flight, never nil.
func (s *Server) transfers() []TransferJSON {
	var out []TransferJSON
	if s.Transfers != nil {
		out = s.Transfers()
	}
	if out == nil {
		out = []TransferJSON{}
	}
	return out
}
