// Package netlimit bounds what a network client can make a server hold: a
// connection whose writes must keep moving (a client that stops reading is
// dropped, a slow download of any size is not), and connection caps that
// fit the process's open-file limit. The HTTP and FTP servers share it.
package netlimit

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"time"
)

// StallChunk is how much of a file one write deadline covers: a download
// must move this much within the stall timeout, however long it takes in all.
const StallChunk = 256 << 10

// StallConn is a connection whose writes must each complete within Timeout;
// what it is asked to copy with ReadFrom goes in StallChunk pieces, each with
// its own deadline. ReadFrom still hands an *os.File to the TCP connection's
// ReadFrom, so the kernel sends files with sendfile.
type StallConn struct {
	net.Conn
	Timeout time.Duration
}

// stalled says why a transfer ended: the error still matches
// os.ErrDeadlineExceeded.
func (c *StallConn) stalled(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the client took no data for %v: %w", c.Timeout, err)
	}
	return err
}

func (c *StallConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.Timeout)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[:min(len(p), StallChunk)])
		written += n
		p = p[n:]
		if err != nil {
			return written, c.stalled(err)
		}
	}
	return written, nil
}

// ReadFrom copies r to the connection in StallChunk pieces.
func (c *StallConn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		lr = &io.LimitedReader{R: r, N: math.MaxInt64}
	}
	var total int64
	for lr.N > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.Timeout)); err != nil {
			return total, err
		}
		chunk := min(lr.N, StallChunk)
		n, err := rf.ReadFrom(&io.LimitedReader{R: lr.R, N: chunk})
		total += n
		lr.N -= n
		if err != nil || n < chunk {
			return total, c.stalled(err) // n < chunk: the source has ended
		}
	}
	return total, nil
}

// CloseWrite half-closes the connection when it can (net/http does so
// before closing, so that the client reads the last response).
func (c *StallConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// minConns is the least a cap fitted to the open-file limit allows.
const minConns = 16

// Conns returns def, or a quarter of the open-file limit when that is
// lower (at least 16): the servers share the descriptors with each other
// and the store, and a download holds two (its socket and its file).
func Conns(def int) int {
	if limit := openFileLimit(); limit > 0 && limit/4 < def {
		return max(limit/4, minConns)
	}
	return def
}

// Or returns v, or def when v is not positive: the defaults of a server's
// zero-valued limits.
func Or[T time.Duration | int](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
