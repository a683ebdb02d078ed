package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickstand/internal/api"
	"kickstand/internal/config"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// The API says where the server listens and which files are in flight, how
// far each has come: a download served by the real servers shows up while
// it runs, and is gone once it ends.
func TestLiveViews(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tree := writeServerFiles(t, dir)
	const size = 64 << 20 // more than loopback's socket buffers hold
	if err := os.WriteFile(filepath.Join(tree, "images/install.img"), make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: tree, Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}); err != nil {
		t.Fatal(err)
	}
	token, rec := api.NewToken("test", true)
	if err := db.AddAPIToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.Interface, cfg.DHCP, cfg.BootloaderDir = filepath.Join(dir, "data"), "lo", "off", filepath.Join(dir, "loaders")
	cfg.TFTPPort, cfg.HTTPPort, cfg.FTPPort = freePort(t, "udp"), freePort(t, "tcp"), 0
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		<-done
	}()
	base := netif.BaseURL(mustAddr("127.0.0.1"), cfg.HTTPPort)
	waitHTTP(t, base+"/healthz")
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
		}
	}
	var info api.ServerJSON
	get("/api/v1/server", &info)
	if l := info.Listeners; len(l) != 2 || l[0].Proto != "tftp" || !strings.HasSuffix(l[0].Address, ":"+itoa(cfg.TFTPPort)) ||
		l[1].Proto != "http" || !strings.HasSuffix(l[1].Address, ":"+itoa(cfg.HTTPPort)) || info.Version == "" || info.Started.IsZero() {
		t.Errorf("GET /server: %+v", info)
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /distros/rocky9/images/install.img HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET install.img: %v, %v", resp, err)
	}
	io.CopyN(io.Discard, resp.Body, 1<<20)
	var inFlight []api.TransferJSON
	for range 100 {
		if get("/api/v1/transfers", &inFlight); len(inFlight) == 1 && inFlight[0].Bytes > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(inFlight) != 1 || inFlight[0].Proto != "http" || inFlight[0].File != "distros/rocky9/images/install.img" ||
		inFlight[0].IP != "127.0.0.1" || inFlight[0].Total != size || inFlight[0].Bytes <= 0 || inFlight[0].Bytes >= size {
		t.Fatalf("GET /transfers during the download: %+v", inFlight)
	}
	conn.Close()
	for range 100 {
		if get("/api/v1/transfers", &inFlight); len(inFlight) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET /transfers after the client left: %+v", inFlight)
}
