package tftp

import (
	"strconv"
	"time"
)

// Limits of the negotiable options.
const (
	defaultBlockSize = 512   // RFC 1350
	minBlockSize     = 8     // RFC 2348
	maxBlockSize     = 65464 // RFC 2348
	minWindowSize    = 1     // RFC 7440
	maxWindowSize    = 65535 // RFC 7440
	minTimeout       = 1     // RFC 2349, seconds
	maxTimeout       = 255   // RFC 2349, seconds

	// maxWindowBytes bounds the memory of one transfer's window, whatever the
	// server's limits allow: 64 blocks of the largest blksize still fit.
	maxWindowBytes = 4 << 20
)

// params are the settings of one transfer after option negotiation.
type params struct {
	blockSize  int
	windowSize int
	timeout    time.Duration
	accepted   []option // what the OACK carries; empty means no OACK
}

// negotiate applies the client's options (RFC 2347) within the server's limits.
// Invalid and unknown options are left out of the answer, which is how RFC 2347
// lets a server decline them; of a repeated option the first valid one counts. size is the file size, or -1 when unknown.
func (s *Server) negotiate(options []option, size int64) params {
	p := params{blockSize: defaultBlockSize, windowSize: 1, timeout: s.timeout()}
	seen := make(map[string]bool, len(options))
	for _, o := range options {
		if seen[o.name] {
			continue
		}
		if value, ok := s.negotiateOption(&p, o, size); ok {
			seen[o.name] = true
			p.accepted = append(p.accepted, option{name: o.name, value: value})
		}
	}
	if p.windowSize*p.blockSize > maxWindowBytes {
		p.setWindowSize(max(1, maxWindowBytes/p.blockSize))
	}
	return p
}

// negotiateOption applies one option to p and returns the value to acknowledge.
func (s *Server) negotiateOption(p *params, o option, size int64) (string, bool) {
	switch o.name {
	case "blksize":
		n, ok := parseInRange(o.value, minBlockSize, maxBlockSize)
		if !ok {
			return "", false
		}
		p.blockSize = min(n, s.maxBlockSize())
		return strconv.Itoa(p.blockSize), true
	case "windowsize":
		n, ok := parseInRange(o.value, minWindowSize, maxWindowSize)
		if !ok {
			return "", false
		}
		p.windowSize = min(n, s.maxWindowSize())
		return strconv.Itoa(p.windowSize), true
	case "timeout":
		// RFC 2349 has the server echo the client's value or decline the option,
		// so one over MaxTimeout is declined and the server's timeout is used: a
		// request for 255 seconds would otherwise hold its transfer for half an hour.
		n, ok := parseInRange(o.value, minTimeout, maxTimeout)
		if !ok || time.Duration(n)*time.Second > s.maxTimeout() {
			return "", false
		}
		p.timeout = time.Duration(n) * time.Second
		return strconv.Itoa(n), true
	case "tsize":
		// A reading client sends 0 (RFC 2349); the answer is the real size, offered
		// only when the handler knows it. An empty file's "tsize 0" is not offered
		// either: curl (7.88 at least) rejects it as invalid and gives up.
		if _, err := strconv.ParseUint(o.value, 10, 63); err != nil || size <= 0 {
			return "", false
		}
		return strconv.FormatInt(size, 10), true
	}
	return "", false
}

// parseInRange parses a decimal option value and checks lo <= n <= hi.
func parseInRange(value string, lo, hi int) (int, bool) {
	n, err := strconv.Atoi(value)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}
