package ftp

import (
	"errors"
	"io"
	"io/fs"
	"kickstand/internal/transfers"
	"math"
	"net/netip"
	"os"
	"sync"
	"time"
)

// errNoSeek is why REST fails on a file that can neither Seek nor ReadAt.
var errNoSeek = errors.New("cannot resume: the file supports neither Seek nor ReadAt")

// download is the handle ftpserverlib reads a RETR from. It counts what it
// hands out, reports the transfer when closed, and keeps the opened file's
// zero-copy path: ftpserverlib copies with io.Copy(dataConn, download), and
// io.Copy prefers download.WriteTo, which lets an *os.File (or a
// bootfs.Section) write itself to the *net.TCPConn with sendfile. Without
// WriteTo the handle would hide the file and every byte would pass through a
// user-space buffer.
type download struct {
	file    fs.File
	src     io.Reader // file, or a section of it after a REST on a ReaderAt-only file
	name    string
	client  netip.Addr
	main    *mainDriver
	control *controlConn // the client's, whose downloads count this one; or nil
	opened  time.Time
	sent    int64
	tracked *transfers.Transfer // nil: not tracked
	err     error
	once    sync.Once
}

func newDownload(f fs.File, name string, client netip.Addr, main *mainDriver) *download {
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	tracked := main.server.Transfers.Start("ftp", client, name, size)
	return &download{file: f, src: f, name: name, client: client, main: main, opened: time.Now(), tracked: tracked}
}

// add counts n bytes sent.
func (d *download) add(n int64) {
	d.sent += n
	d.tracked.Add(n)
}

// Read reads from the current position (ASCII transfers read this way).
func (d *download) Read(p []byte) (int, error) {
	n, err := d.src.Read(p)
	d.add(int64(n))
	return n, hidePath(err, d.name)
}

// WriteTo sends the rest of the file to w, with sendfile when the file
// and w allow it.
func (d *download) WriteTo(w io.Writer) (int64, error) {
	var n int64
	var err error
	// The meter counts as the data goes, so that the transfer's progress
	// moves; it keeps w's ReadFrom, and so sendfile.
	w = transfers.Meter(w, d.add)
	rf, isReaderFrom := w.(io.ReaderFrom)
	switch src := d.src.(type) {
	case *os.File:
		if isReaderFrom {
			// The data connection is a netlimit.StallConn, which *os.File's own
			// WriteTo does not see through: hand it the file instead, which
			// it passes on to the TCP connection's sendfile.
			n, err = rf.ReadFrom(src)
		} else {
			n, err = io.Copy(w, struct{ io.Reader }{src})
		}
	case io.WriterTo:
		n, err = src.WriteTo(w)
	default:
		n, err = io.Copy(w, struct{ io.Reader }{d.src})
	}
	return n, hidePath(err, d.name)
}

// Write refuses: a download is never written to.
func (d *download) Write([]byte) (int, error) { return 0, refuse("write", d.name) }

// Seek moves to a REST offset, with the file's Seek or, failing that, by
// reading through its ReadAt.
func (d *download) Seek(offset int64, whence int) (int64, error) {
	pos, err := d.seek(offset, whence)
	if err != nil {
		err = hidePath(err, d.name)
		d.err = err
	}
	return pos, err
}

func (d *download) seek(offset int64, whence int) (int64, error) {
	if s, ok := d.file.(io.Seeker); ok {
		return s.Seek(offset, whence)
	}
	ra, ok := d.file.(io.ReaderAt)
	if !ok || whence != io.SeekStart || offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: d.name, Err: errNoSeek}
	}
	d.src = io.NewSectionReader(ra, offset, math.MaxInt64-offset)
	return offset, nil
}

// TransferError records why ftpserverlib's copy failed.
func (d *download) TransferError(err error) { d.err = err }

// Close closes the file and reports the transfer, once.
func (d *download) Close() error {
	err := d.file.Close()
	d.once.Do(func() {
		d.main.server.Transfers.Done(d.tracked)
		d.main.finished(Transfer{
			Name:     d.name,
			Client:   d.client,
			Bytes:    d.sent,
			Duration: time.Since(d.opened),
			Err:      d.err,
		})
		if d.control != nil {
			d.control.downloads.Add(-1)
		}
		d.main.life.release()
	})
	return err
}
