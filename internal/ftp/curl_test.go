package ftp

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// mapTree is the same tree as makeTree's, in memory: its files are neither
// *os.File nor io.WriterTo, so transfers take the plain Read path.
func mapTree(big []byte) fstest.MapFS {
	return fstest.MapFS{
		"pub/big.bin":          {Data: big, Mode: 0o644, ModTime: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)},
		"pub/nested/hello.txt": {Data: []byte("hello\n"), Mode: 0o644},
	}
}

// trees runs f against the directory tree and the in-memory one.
func trees(t *testing.T, f func(t *testing.T, ts *testServer, big []byte)) {
	needCurl(t)
	tr := makeTree(t)
	t.Run("DirFS", func(t *testing.T) { f(t, startServer(t, tr.fsys, nil), tr.big) })
	t.Run("MapFS", func(t *testing.T) { f(t, startServer(t, mapTree(tr.big), nil), tr.big) })
}

func TestList(t *testing.T) {
	trees(t, func(t *testing.T, ts *testServer, _ []byte) {
		out, stderr, code := curl(t, ts.url+"/pub/")
		if code != 0 {
			t.Fatalf("curl exit %d: %s", code, stderr)
		}
		var sawBig, sawNested bool
		for line := range strings.Lines(string(out)) {
			fields := strings.Fields(line)
			if len(fields) < 9 {
				t.Errorf("LIST line %q: want ls -l fields", line)
				continue
			}
			switch fields[len(fields)-1] {
			case "big.bin":
				sawBig = fields[4] == fmt.Sprint(bigSize) && strings.HasPrefix(fields[0], "-")
			case "nested":
				sawNested = strings.HasPrefix(fields[0], "d")
			}
		}
		if !sawBig || !sawNested {
			t.Errorf("listing of /pub/ lacks big.bin (%d bytes) or the nested directory:\n%s", bigSize, out)
		}

		out, stderr, code = curl(t, "--list-only", ts.url+"/pub/nested/")
		if code != 0 || strings.TrimSpace(string(out)) != "hello.txt" {
			t.Errorf("NLST /pub/nested/: exit %d, %q %s", code, out, stderr)
		}
	})
}

func TestRetr(t *testing.T) {
	trees(t, func(t *testing.T, ts *testServer, big []byte) {
		out, stderr, code := curl(t, ts.url+"/pub/big.bin")
		if code != 0 {
			t.Fatalf("curl exit %d: %s", code, stderr)
		}
		if sha256.Sum256(out) != sha256.Sum256(big) {
			t.Fatalf("RETR: got %d bytes with another sha256 than the %d bytes served", len(out), len(big))
		}
		tr := ts.transfer(t)
		if tr.Name != "pub/big.bin" || tr.Bytes != bigSize || tr.Err != nil || tr.Client.String() != "127.0.0.1" || tr.Duration <= 0 {
			t.Errorf("OnTransfer got %+v, want pub/big.bin, %d bytes from 127.0.0.1, no error", tr, bigSize)
		}
		out, _, code = curl(t, ts.url+"/pub/nested/hello.txt")
		if code != 0 || string(out) != "hello\n" {
			t.Errorf("RETR hello.txt: exit %d, %q", code, out)
		}
	})
}

func TestRestRange(t *testing.T) {
	trees(t, func(t *testing.T, ts *testServer, big []byte) {
		out, stderr, code := curl(t, "-r", "1000-1999", ts.url+"/pub/big.bin")
		if code != 0 {
			t.Fatalf("curl exit %d: %s", code, stderr)
		}
		if !bytes.Equal(out, big[1000:2000]) {
			t.Errorf("range 1000-1999: got %d bytes, not bytes 1000-1999 of the file", len(out))
		}
	})
}

func TestResume(t *testing.T) {
	trees(t, func(t *testing.T, ts *testServer, big []byte) {
		const have = 1234567
		partial := filepath.Join(t.TempDir(), "big.bin")
		if err := os.WriteFile(partial, big[:have], 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := curl(t, "-C", "-", "-o", partial, ts.url+"/pub/big.bin")
		if code != 0 {
			t.Fatalf("curl exit %d: %s", code, stderr)
		}
		got, err := os.ReadFile(partial)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != sha256.Sum256(big) {
			t.Errorf("resumed file differs from the served one (%d bytes, want %d)", len(got), len(big))
		}
		if tr := ts.transfer(t); tr.Bytes != bigSize-have || tr.Err != nil {
			t.Errorf("OnTransfer got %+v, want %d bytes sent from offset %d", tr, bigSize-have, have)
		}
	})
}

func TestSizeAndMDTM(t *testing.T) {
	trees(t, func(t *testing.T, ts *testServer, _ []byte) {
		out, stderr, code := curl(t, "-I", ts.url+"/pub/big.bin")
		if code != 0 {
			t.Fatalf("curl exit %d: %s", code, stderr)
		}
		if !strings.Contains(string(out), fmt.Sprintf("Content-Length: %d\r\n", bigSize)) {
			t.Errorf("curl -I: want Content-Length %d (SIZE), got:\n%s", bigSize, out)
		}
		if !strings.Contains(string(out), "Last-Modified: ") {
			t.Errorf("curl -I: want Last-Modified (MDTM), got:\n%s", out)
		}
	})
}

// TestRetrUsesWriterTo checks that a file's WriterTo (how *os.File and
// bootfs.Section reach sendfile) is what sends the data, not Read.
func TestRetrUsesWriterTo(t *testing.T) {
	needCurl(t)
	big := makeTree(t).big
	calls := &fileCalls{}
	ts := startServer(t, writerToFS{FS: mapTree(big), calls: calls}, nil)
	out, stderr, code := curl(t, ts.url+"/pub/big.bin")
	if code != 0 || !bytes.Equal(out, big) {
		t.Fatalf("curl exit %d, %d bytes: %s", code, len(out), stderr)
	}
	ts.transfer(t)
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if calls.writeTo != 1 || calls.read != 0 {
		t.Errorf("file got %d WriteTo and %d Read calls; want 1 WriteTo and no Read", calls.writeTo, calls.read)
	}
}

type fileCalls struct {
	mu            sync.Mutex
	read, writeTo int
}

// writerToFS opens files that count their Read and WriteTo calls.
type writerToFS struct {
	fs.FS
	calls *fileCalls
}

func (w writerToFS) Open(name string) (fs.File, error) {
	f, err := w.FS.Open(name)
	if err != nil {
		return nil, err
	}
	rsc, ok := f.(io.ReadSeekCloser)
	if !ok { // a directory
		return f, nil
	}
	return &writerToFile{ReadSeekCloser: rsc, stat: f.Stat, calls: w.calls}, nil
}

type writerToFile struct {
	io.ReadSeekCloser
	stat  func() (fs.FileInfo, error)
	calls *fileCalls
}

func (f *writerToFile) Stat() (fs.FileInfo, error) { return f.stat() }

func (f *writerToFile) Read(p []byte) (int, error) {
	f.calls.mu.Lock()
	f.calls.read++
	f.calls.mu.Unlock()
	return f.ReadSeekCloser.Read(p)
}

func (f *writerToFile) WriteTo(w io.Writer) (int64, error) {
	f.calls.mu.Lock()
	f.calls.writeTo++
	f.calls.mu.Unlock()
	return io.Copy(w, struct{ io.Reader }{f.ReadSeekCloser})
}

func TestUploadRefused(t *testing.T) {
	needCurl(t)
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	local := filepath.Join(t.TempDir(), "upload.txt")
	if err := os.WriteFile(local, []byte("new content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-T", local, ts.url + "/pub/x"},
		{"-T", local, ts.url + "/x"},
		{"-T", local, ts.url + "/pub/nested/hello.txt"},
		{"-T", local, "--append", ts.url + "/pub/nested/hello.txt"},
	} {
		_, stderr, code := curl(t, append([]string{"-v"}, args...)...)
		if code == 0 || !strings.Contains(stderr, "< 550 ") {
			t.Errorf("curl %v: exit %d; want a failure with 550:\n%s", args, code, stderr)
		}
	}
	for _, name := range []string{"pub/x", "x"} {
		if _, err := os.Stat(filepath.Join(tr.srv, name)); err == nil {
			t.Errorf("upload created %s", name)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(tr.srv, "pub/nested/hello.txt")); string(got) != "hello\n" {
		t.Errorf("upload changed hello.txt to %q", got)
	}
}

func TestChangesRefused(t *testing.T) {
	needCurl(t)
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	for _, command := range []string{
		"DELE pub/big.bin",
		"MKD pub/newdir",
		"RMD pub/nested",
		"RNFR pub/big.bin",
		"SITE CHMOD 777 pub/big.bin",
		"SITE CHMOD 777",
		"SITE SYMLINK pub/big.bin link",
		"MFMT 20200101000000 pub/big.bin",
	} {
		_, stderr, code := curl(t, "-v", "-Q", command, ts.url+"/")
		if code == 0 || !strings.Contains(stderr, "< 550 ") {
			t.Errorf("%s: curl exit %d; want a 550 refusal:\n%s", command, code, stderr)
		}
	}
	info, err := os.Stat(filepath.Join(tr.srv, "pub/big.bin"))
	if err != nil || info.Size() != bigSize || info.Mode().Perm() != 0o644 {
		t.Errorf("big.bin changed: %v %v", info, err)
	}
	if _, err := os.Stat(filepath.Join(tr.srv, "pub/nested")); err != nil {
		t.Errorf("nested directory gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tr.srv, "pub/newdir")); err == nil {
		t.Error("MKD created pub/newdir")
	}
}

func TestEscapeRefused(t *testing.T) {
	needCurl(t)
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	for _, args := range [][]string{
		{ts.url + "/../secret.txt"},
		{ts.url + "/pub/../../secret.txt"},
		{ts.url + "/pub/nested/../../../secret.txt"},
		{ts.url + "/%2e%2e/secret.txt"},
		{"--ftp-method", "nocwd", ts.url + "/../secret.txt"},
		{"--ftp-method", "singlecwd", ts.url + "/pub/../../secret.txt"},
		{ts.url + "/..%2fsecret.txt"},
		{ts.url + "/%2f..%2f..%2fsecret.txt"},
	} {
		out, stderr, code := curl(t, append([]string{"--path-as-is"}, args...)...)
		if code == 0 || strings.Contains(string(out), "secret") {
			t.Errorf("curl %v: exit %d, %q; want a failure:\n%s", args, code, out, stderr)
		}
	}
}

func TestNotAnonymousRefused(t *testing.T) {
	needCurl(t)
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	_, stderr, code := curl(t, "-v", "-u", "bob:pw", ts.url+"/pub/")
	if code != 67 || !strings.Contains(stderr, "< 530 ") || !strings.Contains(stderr, "anonymous") {
		t.Errorf("bob: curl exit %d; want 67 (login denied) with a 530 naming anonymous:\n%s", code, stderr)
	}
	for _, user := range []string{"ftp:x", "anonymous:", "Anonymous:me@example.com"} {
		if _, stderr, code := curl(t, "-u", user, ts.url+"/pub/"); code != 0 {
			t.Errorf("user %s: curl exit %d: %s", user, code, stderr)
		}
	}
}

func TestParallelDownloadsInPortRange(t *testing.T) {
	needCurl(t)
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	var wg sync.WaitGroup
	for _, mode := range []string{"--ftp-pasv", "--disable-epsv"} {
		wg.Go(func() {
			out, stderr, code := curl(t, "-v", mode, ts.url+"/pub/big.bin")
			if code != 0 || sha256.Sum256(out) != sha256.Sum256(tr.big) {
				t.Errorf("%s: curl exit %d, %d bytes, sha256 differs or error:\n%s", mode, code, len(out), stderr)
				return
			}
			port, ok := passivePort(stderr)
			if !ok || port < ts.ports[0] || port > ts.ports[1] {
				t.Errorf("%s: passive port %d (found: %v) outside %d-%d:\n%s", mode, port, ok, ts.ports[0], ts.ports[1], stderr)
			}
		})
	}
	wg.Wait()
}

func TestActiveModeRefused(t *testing.T) {
	needCurl(t)
	tr := makeTree(t)
	ts := startServer(t, tr.fsys, nil)
	_, stderr, code := curl(t, "-v", "-P", "127.0.0.1", ts.url+"/pub/nested/hello.txt")
	if code == 0 || !strings.Contains(stderr, "< 421 ") {
		t.Errorf("active mode: curl exit %d; want a failure with 421:\n%s", code, stderr)
	}
}
