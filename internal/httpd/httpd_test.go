package httpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// requireTool skips without the client, but fails in CI where it must exist.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
}

type fixture struct {
	dir     string
	reports []Report
	files   []Transfer
	logs    bytes.Buffer // the server's log, every level
	mu      sync.Mutex
}

// Write collects the server's log.
func (fx *fixture) Write(p []byte) (int, error) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.logs.Write(p)
}

// log returns the server's log so far.
func (fx *fixture) log() string {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.logs.String()
}

// transfers returns the OnFile reports so far.
func (fx *fixture) transfers() []Transfer {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return slices.Clone(fx.files)
}

func newServer(t *testing.T) (*fixture, string) {
	return newServerWith(t, nil)
}

// newServerWith is newServer with the Server's limits set by configure.
func newServerWith(t *testing.T, configure func(*Server)) (*fixture, string) {
	fx := &fixture{dir: t.TempDir()}
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	os.WriteFile(filepath.Join(fx.dir, "install.img"), big, 0o644)
	s := &Server{
		Open: func(_ context.Context, name string, _ netip.Addr) (File, error) {
			if strings.Contains(name, "..") {
				return nil, fs.ErrNotExist
			}
			return os.Open(filepath.Join(fx.dir, name))
		},
		Kickstart: func(_ context.Context, token string, _ netip.Addr) ([]byte, error) {
			if token != "good" {
				return nil, ErrNotFound
			}
			return []byte("text\n"), nil
		},
		PhoneHome: func(_ context.Context, token string, r Report) error {
			if token != "good" {
				return fmt.Errorf("token %s: %w", token, ErrNotFound)
			}
			fx.mu.Lock()
			defer fx.mu.Unlock()
			fx.reports = append(fx.reports, r)
			return nil
		},
		OnFile: func(tr Transfer) {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			fx.files = append(fx.files, tr)
		},
	}
	s.Logger = slog.New(slog.NewTextHandler(fx, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", fx.log())
		}
	})
	return fx, "http://" + ln.Addr().String()
}

func curl(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--fail"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return out
}

func TestFilesWithCurl(t *testing.T) {
	requireTool(t, "curl")
	fx, base := newServer(t)
	want, _ := os.ReadFile(filepath.Join(fx.dir, "install.img"))

	got := curl(t, base+"/install.img")
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("whole file: %d bytes, checksum differs", len(got))
	}
	part := curl(t, "-r", "1000-1999", base+"/install.img")
	if !bytes.Equal(part, want[1000:2000]) {
		t.Fatalf("range 1000-1999: got %d bytes that differ", len(part))
	}
	tail := curl(t, "-r", "-17", base+"/install.img")
	if !bytes.Equal(tail, want[len(want)-17:]) {
		t.Fatal("suffix range differs")
	}
	head := string(curl(t, "-I", base+"/install.img"))
	if !strings.Contains(head, fmt.Sprintf("Content-Length: %d", len(want))) || !strings.Contains(head, "Accept-Ranges: bytes") {
		t.Fatalf("HEAD headers lack exact length or ranges:\n%s", head)
	}
	out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "99999999-", base+"/install.img").Output()
	if string(out) != "416" {
		t.Fatalf("unsatisfiable range: status %s, want 416", out)
	}
	out, _ = exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base+"/missing").Output()
	if string(out) != "404" {
		t.Fatalf("missing file: status %s, want 404", out)
	}
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if len(fx.files) < 4 || fx.files[0].Bytes != int64(len(want)) || fx.files[0].Name != "install.img" {
		t.Fatalf("OnFile transfers = %+v", fx.files)
	}
}

func TestConditionalGet(t *testing.T) {
	_, base := newServer(t)
	resp, err := http.Get(base + "/install.img")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("no ETag/Last-Modified: %v", resp.Header)
	}
	req, _ := http.NewRequest("GET", base+"/install.img", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", resp.StatusCode)
	}
}

func TestKickstartAndPhoneHome(t *testing.T) {
	fx, base := newServer(t)
	tests := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/ks/good", "", 200},
		{"GET", "/ks/wrong", "", 404},
		{"POST", "/phone-home/good", "state=installing", 200},
		{"POST", "/phone-home/good", "state=failed&message=disk+full", 200},
		{"POST", "/phone-home/good", "state=bogus", 400},
		{"POST", "/phone-home/wrong", "state=installed", 404},
		{"GET", "/phone-home/good", "", 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s %q: status %d, want %d", tt.method, tt.path, tt.body, resp.StatusCode, tt.status)
		}
	}
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if len(fx.reports) != 2 || fx.reports[1].State != "failed" || fx.reports[1].Message != "disk full" || !fx.reports[0].Client.IsLoopback() {
		t.Fatalf("reports = %+v", fx.reports)
	}
}

func TestKickstartNoStore(t *testing.T) {
	s := &Server{Kickstart: func(_ context.Context, token string, _ netip.Addr) ([]byte, error) {
		return []byte(token), nil
	}}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/ks/tok", nil))
	if rec.Code != 200 || rec.Body.String() != "tok" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
}

// shim over UEFI HTTP Boot asks for grubx64.efi beside its own URL with a
// double slash, HEAD first: both are answered as the file, not redirected.
func TestDoubleSlashAndHEAD(t *testing.T) {
	fx, base := newServer(t)
	os.MkdirAll(filepath.Join(fx.dir, "efi"), 0o755)
	os.WriteFile(filepath.Join(fx.dir, "efi", "grubx64.efi"), []byte("grub image"), 0o644)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct{ method, path string }{
		{"HEAD", "//efi/grubx64.efi"}, {"GET", "//efi/grubx64.efi"}, {"GET", "/efi//grubx64.efi"}, {"HEAD", "/efi/grubx64.efi"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "grub image"
		if tc.method == "HEAD" {
			want = ""
		}
		if resp.StatusCode != http.StatusOK || string(body) != want || resp.ContentLength != int64(len("grub image")) {
			t.Errorf("%s %s: %d, %d bytes %q, Content-Length %d; want 200 and the file's length", tc.method, tc.path,
				resp.StatusCode, len(body), body, resp.ContentLength)
		}
	}
}

// An install log is taken only under a known token, with a name from the
// list, up to MaxLogBytes; what is taken arrives byte for byte.
func TestInstallLog(t *testing.T) {
	type kept struct {
		token string
		log   Log
	}
	var got []kept
	notFound := func(context.Context, string, netip.Addr) (File, error) { return nil, fs.ErrNotExist }
	s := &Server{Open: notFound, InstallLog: func(_ context.Context, token string, l Log) error {
		if token != "good" {
			return fmt.Errorf("token %s: %w", token, ErrNotFound)
		}
		got = append(got, kept{token, l})
		return nil
	}}
	h := s.Handler()
	full := bytes.Repeat([]byte("x"), MaxLogBytes)
	tests := []struct {
		path   string
		body   []byte
		status int
	}{
		{"/phone-home/good/log/anaconda.log", []byte("line\x00\xff\n"), 200},
		{"/phone-home/good/log/ks.cfg", full, 200},
		{"/phone-home/good/log/program.log", append(full, 'y'), 413},
		{"/phone-home/good/log/passwd", []byte("x"), 400},
		{"/phone-home/good/log/..%2Fetc%2Fpasswd", []byte("x"), 400},
		{"/phone-home/good/log/anaconda.log.1", []byte("x"), 400},
		{"/phone-home/wrong/log/anaconda.log", []byte("x"), 404},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("POST", tt.path, bytes.NewReader(tt.body))
		req.RemoteAddr = "192.0.2.7:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("POST %s (%d bytes): status %d %q, want %d", tt.path, len(tt.body), rec.Code, rec.Body.String(), tt.status)
		}
	}
	if len(got) != 2 || got[0].log.Name != "anaconda.log" || string(got[0].log.Body) != "line\x00\xff\n" ||
		got[0].log.Client != netip.MustParseAddr("192.0.2.7") || got[1].log.Name != "ks.cfg" || !bytes.Equal(got[1].log.Body, full) {
		t.Fatalf("kept %d logs: %+v", len(got), got)
	}
	// GET is not an upload, and a server without the func takes none.
	for _, tt := range []struct {
		s      *Server
		method string
	}{{s, "GET"}, {&Server{Open: notFound}, "POST"}} {
		rec := httptest.NewRecorder()
		tt.s.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, "/phone-home/good/log/anaconda.log", strings.NewReader("x")))
		if rec.Code != 404 && rec.Code != 405 {
			t.Errorf("%s without an upload route: status %d, want 404 or 405", tt.method, rec.Code)
		}
	}
}
