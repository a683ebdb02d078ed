package ftp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

func TestFSPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "."},
		{"", "."},
		{".", "."},
		{"/pub/big.bin", "pub/big.bin"},
		{"pub//nested/", "pub/nested"},
		{"/../../etc/passwd", "etc/passwd"},
		{"../secret.txt", "secret.txt"},
		{"/pub/../../../secret.txt", "secret.txt"},
		{"/pub/./nested/../big.bin", "pub/big.bin"},
	} {
		got, err := fsPath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("fsPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := fsPath("/pub/a\x00b"); err == nil {
		t.Error("fsPath accepted a NUL byte")
	}
}

// fakeContext is the one ClientContext method the driver uses.
type fakeContext struct {
	ftpserver.ClientContext
	last string
}

func (c fakeContext) GetLastCommand() string { return c.last }

func testDriver(last string) *clientDriver {
	fsys := fstest.MapFS{"pub/a.txt": {Data: []byte("abcdef")}, "pub/dir/b.txt": {}}
	main := &mainDriver{server: &Server{FS: fsys}, life: newLifetime(context.Background()), log: slog.New(slog.DiscardHandler)}
	return &clientDriver{fsys: fsys, cc: fakeContext{last: last}, main: main}
}

func TestDriverRefusesChanges(t *testing.T) {
	d := testDriver("STOR")
	_, createErr := d.Create("/pub/new")
	_, openErr := d.OpenFile("/pub/a.txt", os.O_WRONLY|os.O_TRUNC, 0)
	_, appendErr := d.OpenFile("/pub/a.txt", os.O_WRONLY|os.O_APPEND, 0)
	_, storErr := d.GetHandle("/pub/new", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0)
	for name, err := range map[string]error{
		"Create":    createErr,
		"OpenFile":  openErr,
		"append":    appendErr,
		"GetHandle": storErr,
		"Mkdir":     d.Mkdir("/pub/x", 0o755),
		"MkdirAll":  d.MkdirAll("/pub/x/y", 0o755),
		"Remove":    d.Remove("/pub/a.txt"),
		"RemoveAll": d.RemoveAll("/pub"),
		"Rename":    d.Rename("/pub/a.txt", "/pub/b.txt"),
		"Chmod":     d.Chmod("/pub/a.txt", 0o777),
		"Chown":     d.Chown("/pub/a.txt", 0, 0),
		"Chtimes":   d.Chtimes("/pub/a.txt", time.Now(), time.Now()),
	} {
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s: %v; want a read-only error wrapping fs.ErrPermission", name, err)
		}
	}
	if a := d.Site("CHMOD 777 /pub/a.txt"); a == nil || a.Code != 550 {
		t.Errorf("SITE CHMOD: %+v; want 550", a)
	}
	if _, err := testDriver("RNFR").Stat("/pub/a.txt"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Stat during RNFR: %v; want a refusal", err)
	}
}

func TestDriverReads(t *testing.T) {
	d := testDriver("RETR")
	if info, err := d.Stat("/pub/../pub/a.txt"); err != nil || info.Size() != 6 {
		t.Errorf("Stat: %v, %v", info, err)
	}
	infos, err := d.ReadDir("/pub")
	if err != nil || len(infos) != 2 || infos[0].Name() != "a.txt" || !infos[1].IsDir() {
		t.Errorf("ReadDir: %v, %v", infos, err)
	}
	f, err := d.Open("/pub/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(f); string(got) != "abcdef" {
		t.Errorf("Open: read %q", got)
	}
	_ = f.Close()
	if _, err := d.GetHandle("/pub/dir", os.O_RDONLY, 0); err == nil {
		t.Error("GetHandle opened a directory for RETR")
	}
}

// readerAtOnly is a file with ReadAt but no Seek.
type readerAtOnly struct{ r *bytes.Reader }

func (f readerAtOnly) Read(p []byte) (int, error)              { return f.r.Read(p) }
func (f readerAtOnly) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }
func (readerAtOnly) Stat() (fs.FileInfo, error)                { return nil, errors.New("no stat") }
func (readerAtOnly) Close() error                              { return nil }

func TestDownloadSeek(t *testing.T) {
	var got []Transfer
	main := &mainDriver{server: &Server{OnTransfer: func(tr Transfer) { got = append(got, tr) }},
		life: newLifetime(context.Background()), log: slog.New(slog.DiscardHandler)}
	main.life.acquire()
	d := newDownload(readerAtOnly{bytes.NewReader([]byte("0123456789"))}, "x", main.server.PublicIP, main)
	if _, err := d.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := io.Copy(&out, d); err != nil || out.String() != "456789" {
		t.Errorf("after REST 4 on a ReaderAt file: %q, %v", out.String(), err)
	}
	_ = d.Close()
	_ = d.Close()
	if len(got) != 1 || got[0].Bytes != 6 || got[0].Err != nil {
		t.Errorf("OnTransfer calls: %+v; want one with 6 bytes", got)
	}
}

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    [2]int
		wantErr string
	}{
		{in: "30000-30019", want: [2]int{30000, 30019}},
		{in: " 40000 - 40000 ", want: [2]int{40000, 40000}},
		{in: "1024-2023", want: [2]int{1024, 2023}},
		{in: "65000-65535", want: [2]int{65000, 65535}},
		{in: "", wantErr: "FIRST-LAST"},
		{in: "30000", wantErr: "FIRST-LAST"},
		{in: "30000:30019", wantErr: "FIRST-LAST"},
		{in: "abc-30019", wantErr: "not a port number"},
		{in: "30000-", wantErr: "not a port number"},
		{in: "-5-10", wantErr: "not a port number"},
		{in: "30019-30000", wantErr: "after last port"},
		{in: "80-90", wantErr: "1024-65535"},
		{in: "1023-1030", wantErr: "1024-65535"},
		{in: "65000-65536", wantErr: "1024-65535"},
		{in: "1024-2024", wantErr: "more than 1000"},
	} {
		got, err := ParsePortRange(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParsePortRange(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.wantErr)
		}
	}
}

func TestPassivePortsTriesEveryPort(t *testing.T) {
	p := newPassivePorts(t.Context(), [2]int{30000, 30002}, time.Minute, time.Minute)
	seen := map[int]bool{}
	for range p.NumberAttempts() {
		exposed, listened, ok := p.FetchNext()
		if !ok || exposed != listened || exposed < 30000 || exposed > 30002 {
			t.Fatalf("FetchNext = %d, %d, %v", exposed, listened, ok)
		}
		seen[exposed] = true
	}
	if len(seen) != 3 {
		t.Errorf("%d attempts tried %v; want every port", p.NumberAttempts(), seen)
	}
}

func TestDemoteHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(demoteHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	log.Warn("Unknown command", "command", "XYZZY")
	if buf.Len() != 0 {
		t.Errorf("a library warning reached an Info log: %s", buf.String())
	}
	log.Error("Could not listen for passive connection")
	if !strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("a library error should be logged as a warning: %q", buf.String())
	}
}
