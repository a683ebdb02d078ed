package ftp

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"time"
)

// stallChunk is how much of a file one write deadline covers: a download
// must move this much within StallTimeout, however long it takes in all.
const stallChunk = 256 << 10

// stallConn is a data connection whose writes must each complete within
// StallTimeout; what it is asked to copy with ReadFrom goes in stallChunk
// pieces, each with its own deadline. A client that stops reading is
// dropped, while a download of any size goes on as long as it moves.
// ReadFrom still hands an *os.File to the TCP connection's ReadFrom, so
// the kernel sends files with sendfile.
type stallConn struct {
	net.Conn
	timeout time.Duration
}

// stalled says why a transfer ended, for the client's reply.
func (c *stallConn) stalled(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the client took no data for %v: %w", c.timeout, err)
	}
	return err
}

func (c *stallConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[:min(len(p), stallChunk)])
		written += n
		p = p[n:]
		if err != nil {
			return written, c.stalled(err)
		}
	}
	return written, nil
}

func (c *stallConn) ReadFrom(r io.Reader) (int64, error) {
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
		if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return total, err
		}
		chunk := min(lr.N, stallChunk)
		n, err := rf.ReadFrom(&io.LimitedReader{R: lr.R, N: chunk})
		total += n
		lr.N -= n
		if err != nil || n < chunk {
			return total, c.stalled(err) // n < chunk: the source has ended
		}
	}
	return total, nil
}
