package bootfs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

func sectionOf(t *testing.T, content []byte, base, size int64) *Section {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := (fstest.MapFS{"x": {Data: make([]byte, size), ModTime: time.Now()}}).Stat("x")
	return NewSection(f, base, info)
}

func TestSectionReadsOnlyItsRange(t *testing.T) {
	content := []byte("....HELLO, ISO....")
	s := sectionOf(t, content, 4, 10)
	defer s.Close()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "HELLO, ISO" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := s.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(s)
	if string(rest) != "ISO" {
		t.Fatalf("after Seek(7): %q", rest)
	}
	var buf bytes.Buffer
	s.Seek(-3, io.SeekEnd)
	if n, err := s.WriteTo(&buf); err != nil || n != 3 || buf.String() != "ISO" {
		t.Fatalf("WriteTo = %d %q %v", n, buf.String(), err)
	}
}

// A section that claims more bytes than the image holds (a truncated ISO)
// fails loudly instead of sending short data.
func TestSectionPastEndOfImage(t *testing.T) {
	s := sectionOf(t, []byte("0123456789"), 5, 20)
	defer s.Close()
	if _, err := io.ReadAll(s); err == nil {
		t.Fatal("reading past the end of the image succeeded")
	}
}
