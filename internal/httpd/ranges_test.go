package httpd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRanges(t *testing.T) {
	dir := t.TempDir()
	content := []byte(strings.Repeat("0123456789", 1000))
	os.WriteFile(filepath.Join(dir, "f.img"), content, 0o644)
	os.WriteFile(filepath.Join(dir, "empty.img"), nil, 0o644)
	s := &Server{
		Open: func(_ context.Context, name string, _ netip.Addr) (File, error) {
			return os.Open(filepath.Join(dir, name))
		},
		Kickstart: func(context.Context, string, netip.Addr) ([]byte, error) {
			return []byte("text\nreboot\n"), nil
		},
	}
	size := len(content)
	tiny := func(n int) string {
		specs := make([]string, n)
		for i := range specs {
			specs[i] = fmt.Sprintf("%d-%d", 2*i, 2*i)
		}
		return "bytes=" + strings.Join(specs, ",")
	}
	tests := []struct {
		name, path, rng, ifRange string
		status                   int
		contentRange             string
		bodyLen                  int // -1: not checked
	}{
		{"suffix of zero", "/f.img", "bytes=-0", "", 416, fmt.Sprintf("bytes */%d", size), -1},
		{"suffixes of zero", "/f.img", "bytes=-00, -0", "", 416, fmt.Sprintf("bytes */%d", size), -1},
		{"zero suffix beside a good range", "/f.img", "bytes=-0,0-9", "", 206, fmt.Sprintf("bytes 0-9/%d", size), 10},
		{"past the end", "/f.img", "bytes=99999-", "", 416, fmt.Sprintf("bytes */%d", size), -1},
		{"suffix", "/f.img", "bytes=-17", "", 206, fmt.Sprintf("bytes %d-%d/%d", size-17, size-1, size), 17},
		{"at the cap", "/f.img", tiny(maxRanges), "", 206, "", -1},
		{"over the cap", "/f.img", tiny(maxRanges + 1), "", 200, "", size},
		{"20000 tiny ranges", "/f.img", tiny(20000), "", 200, "", size},
		{"other unit", "/f.img", "items=0-5", "", 200, "", size},
		{"If-Range that does not match", "/f.img", "bytes=-0", `"other"`, 200, "", size},
		{"empty file", "/empty.img", "bytes=-5", "", 200, "", 0},
		{"kickstart suffix of zero", "/ks/tok", "bytes=-0", "", 416, "bytes */12", -1},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Header.Set("Range", tt.rng)
		if tt.ifRange != "" {
			req.Header.Set("If-Range", tt.ifRange)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d (Content-Range %q, %d body bytes)", tt.name, rec.Code, tt.status, rec.Header().Get("Content-Range"), rec.Body.Len())
			continue
		}
		if tt.contentRange != "" && rec.Header().Get("Content-Range") != tt.contentRange {
			t.Errorf("%s: Content-Range %q, want %q", tt.name, rec.Header().Get("Content-Range"), tt.contentRange)
		}
		if tt.bodyLen >= 0 && rec.Body.Len() != tt.bodyLen {
			t.Errorf("%s: %d body bytes, want %d", tt.name, rec.Body.Len(), tt.bodyLen)
		}
		if tt.status == 200 && tt.path == "/f.img" && !bytes.Equal(rec.Body.Bytes(), content) {
			t.Errorf("%s: the whole file differs", tt.name)
		}
		if tt.status == 206 && rec.Body.Len() > 2*size {
			t.Errorf("%s: %d bytes answer a file of %d", tt.name, rec.Body.Len(), size)
		}
	}
}

// TestRangesWithCurl asks curl for the suffix of zero bytes; curl checks
// the Content-Range it gets.
func TestRangesWithCurl(t *testing.T) {
	requireTool(t, "curl")
	_, base := newServer(t)
	out, _ := execCurl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "-0", base+"/install.img")
	if out != "416" {
		t.Errorf("curl -r -0: status %s, want 416", out)
	}
}

func TestCheckRange(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bytes=0-5", "bytes=0-5"},
		{"bytes=-0", "bytes=100-"},
		{"bytes= -0 ,5-6", "bytes=5-6"},
		{"bytes=-10", "bytes=-10"},
		{"bytes=-+00", "bytes=100-"},
		{"bytes=--0", "bytes=--0"},
		{"bytes=-", "bytes=-"},
		{"bytes=0-", "bytes=0-"},
		{"bytes=,,0-1", "bytes=,,0-1"},
		{"pages=1", ""},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Range", tt.in)
		checkRange(req, 100)
		if got := req.Header.Get("Range"); got != tt.want {
			t.Errorf("checkRange(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzCheckRange checks that whatever Range a client sends, ServeContent
// never answers with a range outside the file or bigger than it.
func FuzzCheckRange(f *testing.F) {
	for _, seed := range []string{"bytes=-0", "bytes=0-0,-0", "bytes=5-2", "bytes=-00,1-1", "bytes=0-1,0-1,0-1", "items=1-2", "bytes=99-"} {
		f.Add(seed)
	}
	content := strings.Repeat("x", 100)
	f.Fuzz(func(t *testing.T, rng string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Range", rng)
		rec := httptest.NewRecorder()
		serveContent(rec, req, "f.img", time.Time{}, strings.NewReader(content), int64(len(content)))
		switch rec.Code {
		case 200, 416:
		case 206:
			for _, cr := range contentRanges(t, rec) {
				var first, last, size int
				if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &size); err != nil || first > last || last >= size {
					t.Fatalf("Range %q: Content-Range %q", rng, cr)
				}
			}
			if rec.Body.Len() > len(content)+maxRanges*200 {
				t.Fatalf("Range %q: %d bytes answer a file of %d", rng, rec.Body.Len(), len(content))
			}
		default:
			t.Fatalf("Range %q: status %d", rng, rec.Code)
		}
	})
}

// contentRanges returns the Content-Range of a 206, or of each of its parts.
func contentRanges(t *testing.T, rec *httptest.ResponseRecorder) []string {
	if cr := rec.Header().Get("Content-Range"); cr != "" {
		return []string{cr}
	}
	_, params, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if err != nil {
		t.Fatalf("206 without Content-Range nor multipart type: %v", rec.Header())
	}
	var ranges []string
	parts := multipart.NewReader(rec.Body, params["boundary"])
	for {
		part, err := parts.NextPart()
		if err == io.EOF {
			return ranges
		}
		if err != nil {
			t.Fatalf("multipart answer: %v", err)
		}
		ranges = append(ranges, part.Header.Get("Content-Range"))
	}
}

// execCurl runs curl and returns its standard output.
func execCurl(args ...string) (string, error) {
	out, err := exec.Command("curl", args...).Output()
	return string(out), err
}
