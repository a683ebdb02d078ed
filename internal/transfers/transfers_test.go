package transfers

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestTracker(t *testing.T) {
	var nilTracker *Tracker
	if x := nilTracker.Start("tftp", netip.Addr{}, "f", 1); x != nil || nilTracker.Snapshot() != nil {
		t.Fatal("a nil tracker tracks")
	}
	nilTracker.Done(nil)
	var nilTransfer *Transfer
	nilTransfer.Add(1)
	nilTransfer.Set(1)

	tr := &Tracker{}
	client := netip.MustParseAddr("10.0.0.5")
	a := tr.Start("tftp", client, "/lpxelinux.0", 46000)
	b := tr.Start("http", client, "images/install.img", -1)
	a.Set(1024)
	b.Add(10)
	b.Add(5)
	got := tr.Snapshot()
	if len(got) != 2 || got[0].File != "lpxelinux.0" || got[0].Bytes != 1024 || got[0].Total != 46000 ||
		got[1].Proto != "http" || got[1].Bytes != 15 || got[1].Total != 0 || got[1].Client != client {
		t.Fatalf("Snapshot = %+v", got)
	}
	if act := tr.Active(); act["tftp"] != 1 || act["http"] != 1 || len(act) != 2 {
		t.Fatalf("Active = %v", act)
	}
	tr.Done(a)
	tr.Done(a) // twice is harmless
	if got := tr.Snapshot(); len(got) != 1 || got[0].Proto != "http" {
		t.Fatalf("after Done: %+v", got)
	}
	for range MaxTracked {
		tr.Start("ftp", client, "x", 1)
	}
	if x := tr.Start("ftp", client, "y", 1); x != nil || len(tr.Snapshot()) != MaxTracked {
		t.Fatalf("past MaxTracked: %v, %d tracked", x, len(tr.Snapshot()))
	}
}

// readerFrom records the pieces ReadFrom is handed.
type readerFrom struct {
	bytes.Buffer
	pieces []int64
	files  int // pieces that were an *io.LimitedReader over an *os.File
}

func (r *readerFrom) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok {
		r.pieces = append(r.pieces, lr.N)
		if _, ok := lr.R.(*os.File); ok {
			r.files++
		}
	}
	return r.Buffer.ReadFrom(src)
}

// CopyChunks sends in Chunk pieces, each still an *os.File's (sendfile),
// reports each, honours and updates a limit, and stops at the end.
func TestCopyChunks(t *testing.T) {
	data := make([]byte, 2*Chunk+100)
	for i := range data {
		data[i] = byte(i)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dst readerFrom
	var reported []int64
	n, err := CopyChunks(&dst, f, func(n int64) { reported = append(reported, n) })
	if err != nil || n != int64(len(data)) || !bytes.Equal(dst.Bytes(), data) {
		t.Fatalf("CopyChunks = %d, %v; copied %d bytes", n, err, dst.Len())
	}
	if len(reported) != 3 || reported[0] != Chunk || reported[2] != 100 || dst.files != len(dst.pieces) {
		t.Fatalf("reported %v; pieces %v, %d of them files", reported, dst.pieces, dst.files)
	}
	f.Seek(0, io.SeekStart)
	dst = readerFrom{}
	lr := &io.LimitedReader{R: f, N: Chunk + 10}
	if n, err := CopyChunks(&dst, lr, nil); err != nil || n != Chunk+10 || lr.N != 0 || !bytes.Equal(dst.Bytes(), data[:Chunk+10]) {
		t.Fatalf("with a limit: %d, %v, left %d", n, err, lr.N)
	}
	// Meter counts writes, and keeps ReadFrom when the writer has it.
	var total int64
	m := Meter(&readerFrom{}, func(n int64) { total += n })
	if _, ok := m.(io.ReaderFrom); !ok {
		t.Fatal("Meter hides ReadFrom")
	}
	m.Write([]byte("abc"))
	f.Seek(0, io.SeekStart)
	m.(io.ReaderFrom).ReadFrom(f)
	if total != int64(3+len(data)) {
		t.Fatalf("Meter counted %d", total)
	}
	if _, ok := Meter(struct{ io.Writer }{io.Discard}, func(int64) {}).(io.ReaderFrom); ok {
		t.Fatal("Meter invents ReadFrom")
	}
}
