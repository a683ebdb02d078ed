package httpd

import (
	"context"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kickstand/internal/bootfs"
)

// TestRefusedNamesAre404 serves a bootfs tree: names that do not exist or
// that the tree refuses are 404, not 500, and no ERROR is logged for them.
func TestRefusedNamesAre404(t *testing.T) {
	requireTool(t, "curl")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rocky", "images"), 0o755)
	os.WriteFile(filepath.Join(dir, "rocky", "images", "install.img"), []byte("stage2"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("outside the tree"), 0o644)
	os.Symlink(filepath.Join(dir, "secret"), filepath.Join(dir, "rocky", "escape"))
	tree := &bootfs.Tree{Distro: func(_ context.Context, name string) (bootfs.Source, error) {
		if name != "rocky9" {
			return bootfs.Source{}, fmt.Errorf("distro %q: %w", name, fs.ErrNotExist)
		}
		return bootfs.Source{Path: filepath.Join(dir, "rocky")}, nil
	}}
	fx, base := newServerWith(t, func(s *Server) {
		s.Open = func(ctx context.Context, name string, client netip.Addr) (File, error) {
			return tree.Open(ctx, name, client)
		}
	})
	for path, want := range map[string]string{
		"/distros/rocky9/images/install.img":    "200",
		"/distros/nope/x":                       "404",
		"/distros/rocky9/escape":                "404", // a symlink out of the tree
		"/distros/rocky9/images/install.img/x":  "404",
		"/distros/rocky9/images%00x":            "404",
		"/distros/rocky9/images/install.img%00": "404",
		"/%00":                                  "404",
	} {
		out, _ := execCurl("-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base+path)
		if out != want {
			t.Errorf("GET %s: status %s, want %s", path, out, want)
		}
	}
	if log := fx.log(); strings.Contains(log, "level=ERROR") {
		t.Errorf("refused names logged as errors:\n%s", log)
	}
}
