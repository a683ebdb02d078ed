package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kickstand/internal/bootfs"
	"kickstand/internal/config"
	"kickstand/internal/doctor"
	"kickstand/internal/events"
	"kickstand/internal/inventory"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeServerFiles writes what a served test needs into dir: boot loaders
// (dir/loaders) and a distro tree's kernel and initrd, whose directory it
// returns.
func writeServerFiles(t *testing.T, dir string) (tree string) {
	t.Helper()
	for _, n := range bootfs.LoaderFiles {
		writeFile(t, filepath.Join(dir, "loaders", n), "loader "+n)
	}
	tree = filepath.Join(dir, "tree")
	writeFile(t, filepath.Join(tree, "images/pxeboot/vmlinuz"), "kernel")
	writeFile(t, filepath.Join(tree, "images/pxeboot/initrd.img"), "initrd")
	return tree
}

// TestServeLoopback runs the whole server with DHCP off on loopback and walks
// one machine from registration to installed through TFTP and HTTP.
func TestServeLoopback(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required in CI")
		}
		t.Skip("curl not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	tree := writeServerFiles(t, dir)
	writeFile(t, filepath.Join(tree, "images/install.img"), strings.Repeat("stage2", 100000))

	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := store.ParseMAC("52:54:00:ab:cd:ef")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: tree, Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}))
	must(db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"}))
	must(db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "web", State: store.StateNew, Token: inventory.NewToken()}))
	defer db.Close()

	cfg := config.Default()
	cfg.DataDir, cfg.Interface, cfg.DHCP, cfg.BootloaderDir = filepath.Join(dir, "data"), "lo", "off", filepath.Join(dir, "loaders")
	cfg.TFTPPort, cfg.HTTPPort, cfg.FTPPort = freePort(t, "udp"), freePort(t, "tcp"), 0
	// Loopback has no neighbour table: 127.0.0.1 is nobody's address, and the
	// check would refuse every per-machine file (TestConfigsOnlyToTheirMachine).
	cfg.KSSourceCheck = false
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()
	base := netif.BaseURL(mustAddr("127.0.0.1"), cfg.HTTPPort)
	waitHTTP(t, base+"/healthz")

	tftpURL := func(name string) string { return "tftp://127.0.0.1:" + itoa(cfg.TFTPPort) + "/" + name }
	if got := curl(t, tftpURL("ldlinux.c32")); got != "loader ldlinux.c32" {
		t.Fatalf("ldlinux.c32 over TFTP = %q", got)
	}
	cfgText := curl(t, tftpURL("pxelinux.cfg/01-52-54-00-ab-cd-ef"))
	ksURL := regexp.MustCompile(`inst\.ks=(\S+)`).FindStringSubmatch(cfgText)
	if ksURL == nil || !strings.Contains(cfgText, "KERNEL "+base+"/distros/rocky9/images/pxeboot/vmlinuz") {
		t.Fatalf("per-machine config does not install:\n%s", cfgText)
	}
	if got := curl(t, base+"/distros/rocky9/images/install.img"); len(got) != 600000 {
		t.Fatalf("stage2 over HTTP: %d bytes", len(got))
	}
	ks := curl(t, ksURL[1])
	phone := regexp.MustCompile(`http://\S+/phone-home/\S+`).FindString(ks)
	if !strings.Contains(ks, "url --url="+base+"/distros/rocky9/") || phone == "" {
		t.Fatalf("kickstart:\n%s", ks)
	}
	if state(t, db, mac) != store.StateInstalling {
		t.Fatalf("after kickstart: state %s, want installing", state(t, db, mac))
	}
	resp, err := http.PostForm(phone, url.Values{"state": {"installed"}})
	must(err)
	resp.Body.Close()
	if state(t, db, mac) != store.StateInstalled {
		t.Fatalf("after phone-home: state %s, want installed", state(t, db, mac))
	}
	if cfgText := curl(t, tftpURL("pxelinux.cfg/01-52-54-00-ab-cd-ef")); !strings.Contains(cfgText, "LOCALBOOT 0") {
		t.Fatalf("installed machine's config:\n%s", cfgText)
	}
	if script := curl(t, base+"/ipxe/01-52-54-00-ab-cd-ef.ipxe"); !strings.HasPrefix(script, "#!ipxe\n") || !strings.Contains(script, "\nexit\n") {
		t.Fatalf("installed machine's iPXE script:\n%s", script)
	}
	for _, u := range []string{base + "/ks/not-a-token", base + "/ks/", base + "/ks"} {
		if code := curlStatus(t, u); code != "404" {
			t.Fatalf("%s: %s, want 404: a kickstart needs its machine's token", u, code)
		}
	}
	// Requests for other MACs' configs create nothing, even with the
	// source check off (finding: 5,000 GETs made 5,000 machines).
	before, err := db.Machines(ctx)
	must(err)
	for i := range 2000 {
		u := fmt.Sprintf("%s/ipxe/01-52-54-00-%02x-%02x-%02x.ipxe", base, i>>16&0xff, i>>8&0xff, i&0xff)
		resp, err := http.Get(u)
		must(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if after, err := db.Machines(ctx); err != nil || len(after) != len(before) {
		t.Fatalf("2,000 config requests for unknown MACs: %d machines, want %d (%v)", len(after), len(before), err)
	}
	evs, err := db.Events(ctx, mac)
	must(err)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, string(e.Kind))
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "boot-config,kickstart,phone-home,boot-config") {
		t.Fatalf("timeline = %s", got)
	}
	// Every event but a refusal says its facts as fields too, and the
	// diagnosis reads the same from them as from the text of events
	// recorded before fields.
	stripped := slices.Clone(evs)
	for i, e := range evs {
		if _, refused := e.Kind.IsRefused(); !refused && e.Fields == (events.Fields{}) {
			t.Errorf("%s event %q has no fields", e.Kind, e.Detail)
		}
		stripped[i].Fields = events.Fields{}
	}
	m, err := db.Machine(ctx, mac)
	must(err)
	now := evs[len(evs)-1].Time.Add(time.Minute)
	var withFields, fromText bytes.Buffer
	doctor.WriteDiagnosis(&withFields, doctor.Diagnose(m, evs, now), time.UTC)
	doctor.WriteDiagnosis(&fromText, doctor.Diagnose(m, stripped, now), time.UTC)
	if withFields.String() != fromText.String() {
		t.Errorf("the diagnosis from fields:\n%s\ndiffers from the one from the text:\n%s", &withFields, &fromText)
	}
}

func state(t *testing.T, db store.Store, mac net.HardwareAddr) store.State {
	t.Helper()
	m, err := db.Machine(context.Background(), mac)
	if err != nil {
		t.Fatal(err)
	}
	return m.State
}

func curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--fail", "--max-time", "20"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return string(out)
}

func curlStatus(t *testing.T, u string) string {
	t.Helper()
	out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", u).Output()
	return string(out)
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within 10s", u)
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func itoa(n int) string { return strconv.Itoa(n) }

// A port that another server holds fails the start with what to do, and no
// server is left running.
func TestPortInUseSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	for _, n := range bootfs.LoaderFiles {
		writeFile(t, filepath.Join(dir, "loaders", n), n)
	}
	held, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := config.Default()
	cfg.DataDir, cfg.Interface, cfg.DHCP, cfg.BootloaderDir = filepath.Join(dir, "data"), "lo", "off", filepath.Join(dir, "loaders")
	cfg.TFTPPort, cfg.HTTPPort, cfg.FTPPort = freePort(t, "udp"), freePort(t, "tcp"), held.Addr().(*net.TCPAddr).Port
	err = Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "another server holds the port") || !strings.Contains(err.Error(), "--ftp-port") {
		t.Fatalf("Run with the FTP port taken = %v", err)
	}
}

// The TFTP block fits one frame of the interface.
func TestTFTPBlockSizeFitsMTU(t *testing.T) {
	for mtu, want := range map[int]int{1500: 1468, 9000: 8968, 1400: 1368, 0: 0} {
		if got := (netif.Network{MTU: mtu}).TFTPBlockSize(); got != want {
			t.Errorf("MTU %d: block %d, want %d", mtu, got, want)
		}
	}
	a := &App{net: netif.Network{MTU: 1400}}
	if got := a.tftpBlockSize(); got != 1368 {
		t.Errorf("default: %d, want 1368 (the MTU's)", got)
	}
	a.cfg.TFTPMaxBlockSize = 512
	if got := a.tftpBlockSize(); got != 512 {
		t.Errorf("--tftp-max-blksize 512: %d", got)
	}
	n, err := netif.Resolve("lo", "")
	if err != nil || n.MTU != 65536 {
		t.Errorf("loopback: MTU %d, %v; want 65536", n.MTU, err)
	}
}
