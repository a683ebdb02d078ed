package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kickstand/internal/bootfs"
	"kickstand/internal/config"
	"kickstand/internal/inventory"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI: %v", n, err)
			}
			t.Skipf("%s not installed: %v", n, err)
		}
	}
}

// buildISO makes a small Rocky-like DVD image with xorriso and returns its
// path and the content of its stage2.
func buildISO(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	stage2 := make([]byte, 3<<20+11)
	rand.Read(stage2)
	writeFile(t, filepath.Join(tree, ".treeinfo"), "[header]\ntype = productmd.treeinfo\nversion = 1.2\n"+
		"[release]\nname = Rocky Linux\nshort = Rocky\nversion = 9.6\n[tree]\narch = x86_64\n"+
		"[images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n"+
		"[stage2]\nmainimage = images/install.img\n"+
		"[variant-BaseOS]\nid = BaseOS\nname = BaseOS\ntype = variant\nuid = BaseOS\nrepository = BaseOS\npackages = BaseOS/Packages\n")
	writeFile(t, filepath.Join(tree, "images/pxeboot/vmlinuz"), "kernel")
	writeFile(t, filepath.Join(tree, "images/pxeboot/initrd.img"), strings.Repeat("initrd", 50000))
	writeFile(t, filepath.Join(tree, "images/install.img"), string(stage2))
	writeFile(t, filepath.Join(tree, "BaseOS/repodata/repomd.xml"), "<repomd/>\n")
	iso := filepath.Join(dir, "rocky.iso")
	out, err := exec.Command("xorriso", "-as", "mkisofs", "-R", "-J", "-V", "Rocky-9-6-x86_64-dvd", "-o", iso, tree).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return iso, stage2
}

// TestServeISO serves a distro straight out of an ISO over HTTP, TFTP and FTP.
func TestServeISO(t *testing.T) {
	requireTools(t, "curl", "xorriso")
	ctx := context.Background()
	iso, stage2 := buildISO(t)
	dir := t.TempDir()
	for _, n := range bootfs.LoaderFiles {
		writeFile(t, filepath.Join(dir, "loaders", n), "loader "+n)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.Interface, cfg.DHCP, cfg.BootloaderDir = filepath.Join(dir, "data"), "lo", "off", filepath.Join(dir, "loaders")
	cfg.TFTPPort, cfg.HTTPPort, cfg.FTPPort = freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp")
	first := freePort(t, "tcp")
	cfg.FTPPassive = strconv.Itoa(first) + "-" + strconv.Itoa(first)
	cfg.ISOs = []string{iso}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	base := netif.BaseURL(mustAddr("127.0.0.1"), cfg.HTTPPort)
	waitHTTP(t, base+"/healthz")

	want := sha256.Sum256(stage2)
	for _, u := range []string{
		base + "/distros/rocky-9.6-x86_64/images/install.img",
		base + "/pub/images/install.img",
		"tftp://127.0.0.1:" + itoa(cfg.TFTPPort) + "/distros/rocky-9.6-x86_64/images/install.img",
		"ftp://127.0.0.1:" + itoa(cfg.FTPPort) + "/pub/images/install.img",
		"ftp://127.0.0.1:" + itoa(cfg.FTPPort) + "/distros/rocky-9.6-x86_64/images/install.img",
	} {
		if got := sha256.Sum256([]byte(curl(t, u))); got != want {
			t.Errorf("%s: content differs from the file put into the ISO", u)
		}
	}
	if got := curl(t, "-r", "100-199", base+"/distros/rocky-9.6-x86_64/images/install.img"); got != string(stage2[100:200]) {
		t.Error("range request from the ISO differs")
	}
	if list := curl(t, "ftp://127.0.0.1:"+itoa(cfg.FTPPort)+"/pub/"); !strings.Contains(list, "images") || !strings.Contains(list, "BaseOS") {
		t.Errorf("FTP listing of pub/:\n%s", list)
	}

	// The first --iso got a profile of its own name, so one command starts everything.
	db, err := sqlite.Open(ctx, cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := db.Distro(ctx, "rocky-9.6-x86_64")
	if err != nil || d.Kind != store.SourceISO || d.Checksum == "" || len(d.Variants) != 1 {
		t.Fatalf("imported distro = %+v, %v", d, err)
	}
	if _, err := db.Profile(ctx, "rocky-9.6-x86_64"); err != nil {
		t.Fatalf("default profile: %v", err)
	}

	// A changed ISO is never served stale.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(iso, later, later); err != nil {
		t.Fatal(err)
	}
	if code := curlStatus(t, base+"/distros/rocky-9.6-x86_64/images/install.img"); code == "200" {
		t.Fatal("a changed ISO was still served")
	}
	if inventory.CheckSource(d) != "changed" {
		t.Fatalf("CheckSource of a touched ISO = %q, want changed", inventory.CheckSource(d))
	}
}
