package app

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kickstand/internal/api"
	"kickstand/internal/config"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/postgres"
	"kickstand/internal/store/postgres/pgtest"
)

// Two whole servers on one PostgreSQL store (DHCP off, on loopback): a
// machine added through A's API is served by B, B's kickstart moves it on
// in the one inventory, and each server's live event stream carries the
// other's events.
func TestTwoServersOneStore(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required in CI")
		}
		t.Skip("curl not installed")
	}
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	ctx := context.Background()
	dir := t.TempDir()
	tree := writeServerFiles(t, dir)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: tree, Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"}); err != nil {
		t.Fatal(err)
	}
	token, rec := api.NewToken("both", false)
	if err := db.AddAPIToken(ctx, rec); err != nil {
		t.Fatal(err)
	}

	start := func(name string) (base string, tftpPort int) {
		cfg := config.Default()
		cfg.Store, cfg.DataDir, cfg.Interface, cfg.DHCP = url, filepath.Join(dir, name), "lo", "off"
		cfg.BootloaderDir, cfg.KSSourceCheck = filepath.Join(dir, "loaders"), false
		cfg.TFTPPort, cfg.HTTPPort, cfg.FTPPort = freePort(t, "udp"), freePort(t, "tcp"), 0
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- Run(runCtx, cfg, slog.New(slog.DiscardHandler)) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server %s: Run returned %v after cancel, want nil", name, err)
			}
		})
		base = netif.BaseURL(mustAddr("127.0.0.1"), cfg.HTTPPort)
		waitHTTP(t, base+"/healthz")
		return base, cfg.TFTPPort
	}
	baseA, _ := start("a")
	baseB, tftpB := start("b")
	streamA, streamB := openStream(t, baseA, token), openStream(t, baseB, token)
	waitListening(t, url, 2)

	req, _ := http.NewRequest("POST", baseA+"/api/v1/machines", strings.NewReader(`{"mac": "52:54:00:ab:cd:ef", "profile": "web", "hostname": "n1"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST machine to server A: %s", resp.Status)
	}
	if ev := streamB.next(t, "registered"); ev.MAC != "52:54:00:ab:cd:ef" {
		t.Fatalf("server B streamed %+v, want A's registration of the machine", ev)
	}

	cfgText := curl(t, "tftp://127.0.0.1:"+itoa(tftpB)+"/pxelinux.cfg/01-52-54-00-ab-cd-ef")
	ksURL := regexp.MustCompile(`inst\.ks=(\S+)`).FindStringSubmatch(cfgText)
	if ksURL == nil || !strings.HasPrefix(ksURL[1], baseB) {
		t.Fatalf("server B's config for the machine A added does not install it from B:\n%s", cfgText)
	}
	curl(t, ksURL[1])
	mac, _ := store.ParseMAC("52:54:00:ab:cd:ef")
	if m, err := db.Machine(ctx, mac); err != nil || m.State != store.StateInstalling {
		t.Fatalf("after B served the kickstart: %+v, %v; want installing", m, err)
	}
	if ev := streamA.next(t, "kickstart"); ev.MAC != "52:54:00:ab:cd:ef" || ev.State != string(store.StateInstalling) {
		t.Fatalf("server A streamed %+v, want B's kickstart, state installing", ev)
	}
}

// eventStream reads a server's live event stream.
type eventStream struct {
	events chan api.StreamEvent
}

func openStream(t *testing.T, base, token string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, ": kickstand") {
		t.Fatalf("%s's stream began %q, %v", base, line, err)
	}
	s := &eventStream{events: make(chan api.StreamEvent, 64)}
	go func() {
		defer close(s.events)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				var ev api.StreamEvent
				if json.Unmarshal([]byte(data), &ev) == nil && ev.Kind != "" {
					s.events <- ev
				}
			}
		}
	}()
	return s
}

// next returns the stream's next event of kind, waiting up to 10 s.
func (s *eventStream) next(t *testing.T, kind string) api.StreamEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("the stream ended before a %s event", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event streamed within 10 s", kind)
		}
	}
}

// waitListening waits until n connections LISTEN on the database at url:
// the servers follow each other's changes from then on.
func waitListening(t *testing.T, url string, n int) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var listening int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&listening); err != nil {
			t.Fatal(err)
		}
		if listening == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections LISTEN, want %d (one per server)", listening, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
