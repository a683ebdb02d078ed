package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"kickstand/internal/config"
	"kickstand/internal/dhcp"
	"kickstand/internal/events"
	"kickstand/internal/httpd"
	"kickstand/internal/inventory"
	"kickstand/internal/metrics"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// servedApp is a whole kickstand serving on loopback (DHCP on two
// loopback sockets of its own, see dhcp), and its store.
type servedApp struct {
	*App
	db   store.Store
	base string // http://127.0.0.1:PORT
	tftp *net.UDPAddr
}

const stage2Size = 600000

func serveMetricsApp(t *testing.T) *servedApp {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tree := writeServerFiles(t, dir)
	writeFile(t, filepath.Join(tree, "images/install.img"), strings.Repeat("stage2", stage2Size/6))
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: tree, Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cfg := config.Default()
	cfg.DataDir, cfg.Interface, cfg.DHCP, cfg.BootloaderDir = filepath.Join(dir, "data"), "lo", "off", filepath.Join(dir, "loaders")
	cfg.TFTPPort, cfg.HTTPPort, cfg.FTPPort = freePort(t, "udp"), freePort(t, "tcp"), 0
	cfg.KSSourceCheck = false // loopback has no neighbour table
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.serve(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not return after cancel")
		}
		a.store.Close()
	})
	s := &servedApp{App: a, db: a.store, base: netif.BaseURL(mustAddr("127.0.0.1"), cfg.HTTPPort),
		tftp: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: cfg.TFTPPort}}
	waitHTTP(t, s.base+"/healthz")
	return s
}

// dhcp runs the app's own DHCP server (proxy mode) on two loopback
// sockets, the first answered as port 67, the second as the PXE port,
// and returns their addresses. Clients on loopback send as relays do
// (giaddr 127.0.0.1), so that no reply is broadcast.
func (s *servedApp) dhcp(t *testing.T) (port67, pxePort *net.UDPAddr) {
	t.Helper()
	srv, err := s.dhcpServer()
	if err != nil {
		t.Fatal(err)
	}
	srv.Mode = dhcp.ModeProxy
	var conns [2]*dhcp.Conn
	for i := range conns {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if conns[i], err = dhcp.NewConn(c); err != nil {
			t.Fatal(err)
		}
	}
	port67, pxePort = conns[0].LocalAddr().(*net.UDPAddr), conns[1].LocalAddr().(*net.UDPAddr)
	srv.PXEPort = pxePort.Port
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, c := range conns {
		go srv.Serve(ctx, c)
	}
	return port67, pxePort
}

// dhcpPacket is a client's message; pxe makes it PXE firmware's.
func dhcpPacket(mt dhcpv4.MessageType, mac net.HardwareAddr, pxe bool) []byte {
	p := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, ClientHWAddr: mac,
		ClientIPAddr: net.IPv4zero.To4(), YourIPAddr: net.IPv4zero.To4(), ServerIPAddr: net.IPv4zero.To4(),
		GatewayIPAddr: net.IPv4(127, 0, 0, 1).To4(), Options: dhcpv4.Options{}}
	p.UpdateOption(dhcpv4.OptMessageType(mt))
	if pxe {
		p.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
		p.UpdateOption(dhcpv4.OptClientArch(iana.INTEL_X86PC))
	}
	if mt == dhcpv4.MessageTypeRequest {
		p.ClientIPAddr = net.IPv4(127, 0, 0, 1).To4()
	}
	return p.ToBytes()
}

// scrape fetches the metrics as Prometheus would and parses them.
func (s *servedApp) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.base + metricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", metricsPath, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s does not parse: %v", metricsPath, err)
	}
	return mfs
}

// sample is the value of name{labels} ("k=v,k=v", sorted; a histogram's
// sample count), or -1 when there is no such series.
func sample(mfs map[string]*dto.MetricFamily, name, labels string) float64 {
	for _, m := range mfs[name].GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		if strings.Join(ls, ",") != labels {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// kickstandSeries counts the series of every kickstand_ family.
func kickstandSeries(mfs map[string]*dto.MetricFamily) int {
	n := 0
	for name, mf := range mfs {
		if strings.HasPrefix(name, "kickstand_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}

// waitSample scrapes until name{labels} reaches want.
func (s *servedApp) waitSample(t *testing.T, name, labels string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := sample(s.scrape(t), name, labels)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} = %v after 20s, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, u string) (int, int64) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n
}

// rrq is a TFTP read request for name (octet, no options).
func rrq(name string) []byte {
	return append(append([]byte{0, 1}, name...), 0, 'o', 'c', 't', 'e', 't', 0)
}

// The metrics count what the servers did, as it happened on the wire:
// TFTP and HTTP downloads with their bytes and durations, misses as their
// own outcome, DHCP packets by type and outcome, an install and its time
// from power-on; files in flight show while they are. Thousands of file
// names and MACs add no series.
func TestMetricsLoopback(t *testing.T) {
	requireTools(t, "curl")
	s := serveMetricsApp(t)
	ctx := context.Background()
	began := time.Now()
	mac, _ := store.ParseMAC("52:54:00:ab:cd:ef")
	if err := s.db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "web", State: store.StateNew, Token: inventory.NewToken()}); err != nil {
		t.Fatal(err)
	}
	start := s.scrape(t)
	fixed := kickstandSeries(start)
	for _, name := range []string{"kickstand_transfers_active", "kickstand_events_dropped_total", "kickstand_events_unrecorded_total", "go_goroutines", "process_cpu_seconds_total"} {
		if start[name] == nil {
			t.Errorf("%s: no %s", metricsPath, name)
		}
	}

	// Power-on: the machine's PXE DISCOVER, then its REQUEST on the PXE port.
	port67, pxePort := s.dhcp(t)
	client, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.WriteTo(dhcpPacket(dhcpv4.MessageTypeDiscover, mac, true), port67)
	s.waitSample(t, "kickstand_dhcp_packets_total", "outcome=offered,type=discover", 1)
	client.WriteTo(dhcpPacket(dhcpv4.MessageTypeRequest, mac, true), pxePort)
	s.waitSample(t, "kickstand_dhcp_packets_total", "outcome=acked,type=request", 1)

	// Files: N TFTP and M HTTP downloads of stage2, and misses.
	const n, m = 3, 4
	tftpURL := fmt.Sprintf("tftp://127.0.0.1:%d/distros/rocky9/images/install.img", s.tftp.Port)
	for range n {
		if got := curl(t, tftpURL); len(got) != stage2Size {
			t.Fatalf("stage2 over TFTP: %d bytes", len(got))
		}
	}
	for range m {
		if code, got := get(t, s.base+"/distros/rocky9/images/install.img"); code != 200 || got != stage2Size {
			t.Fatalf("stage2 over HTTP: %d, %d bytes", code, got)
		}
	}
	if code, _ := get(t, s.base+"/distros/rocky9/no-such-file"); code != 404 {
		t.Fatalf("a missing file over HTTP: %d, want 404", code)
	}
	mfs := s.scrape(t)
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"kickstand_transfers_total", "outcome=ok,proto=tftp", n},
		{"kickstand_transfer_bytes_total", "proto=tftp", n * stage2Size},
		{"kickstand_transfer_duration_seconds", "proto=tftp", n},
		{"kickstand_transfers_total", "outcome=ok,proto=http", m},
		{"kickstand_transfers_total", "outcome=not_found,proto=http", 1},
		{"kickstand_transfer_bytes_total", "proto=http", m*stage2Size + 19}, // "404 page not found\n"
		{"kickstand_transfer_duration_seconds", "proto=http", m},
		{"kickstand_transfers_active", "proto=tftp", 0},
		{"kickstand_transfers_active", "proto=http", 0},
	} {
		if got := sample(mfs, c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// A TFTP transfer that waits for its client shows as active until
	// the client gives up.
	tc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.WriteTo(rrq("distros/rocky9/images/install.img"), s.tftp)
	buf := make([]byte, 1024)
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, peer, err := tc.ReadFrom(buf) // block 1; no ACK
	if err != nil {
		t.Fatal(err)
	}
	s.waitSample(t, "kickstand_transfers_active", "proto=tftp", 1)
	tc.WriteTo([]byte{0, 5, 0, 0, 'b', 'y', 'e', 0}, peer)
	s.waitSample(t, "kickstand_transfers_active", "proto=tftp", 0)
	s.waitSample(t, "kickstand_transfers_total", "outcome=error,proto=tftp", 1)

	// Floods of names and MACs: counted, and no new series.
	const names, macs = 1000, 1000
	for i := range names {
		u := fmt.Sprintf("%s/distros/rocky9/missing-%d.img", s.base, i)
		if code, _ := get(t, u); code != 404 {
			t.Fatalf("%s: %d, want 404", u, code)
		}
	}
	flood, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	for i := range names {
		// One at a time: a client gets a few transfers at once, no more.
		flood.WriteTo(rrq(fmt.Sprintf("missing/%d/%s.c32", i, strings.Repeat("x", i%50))), s.tftp)
		flood.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _, err := flood.ReadFrom(buf); err != nil || n < 4 || buf[1] != 5 {
			t.Fatalf("RRQ for a missing file: %v, %x; want a TFTP error", err, buf[:min(n, 4)])
		}
	}
	s.waitSample(t, "kickstand_transfers_total", "outcome=not_found,proto=tftp", names)
	for i := range macs {
		laptop := net.HardwareAddr{0x02, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		client.WriteTo(dhcpPacket(dhcpv4.MessageTypeDiscover, laptop, false), port67)
		if i%50 == 49 {
			s.waitSample(t, "kickstand_dhcp_packets_total", "outcome=ignored,type=discover", float64(i+1))
		}
	}
	mfs = s.scrape(t)
	if got := sample(mfs, "kickstand_transfers_total", "outcome=not_found,proto=http"); got != names+1 {
		t.Errorf("HTTP not found = %v, want %d", got, names+1)
	}
	if got := kickstandSeries(mfs); got != fixed {
		t.Errorf("after %d file names over HTTP and TFTP and %d MACs: %d kickstand series, want %d as at start", names, macs, got, fixed)
	}

	// The install: kickstart, then phone-home installed.
	waitEvent(t, s.db, mac, events.DHCPDiscover)
	machine, err := s.db.Machine(ctx, mac)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, s.base+"/ks/"+machine.Token); code != 200 {
		t.Fatalf("kickstart: %d", code)
	}
	resp, err := http.PostForm(s.base+"/phone-home/"+machine.Token, url.Values{"state": {"installed"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mfs = s.scrape(t)
	if got := sample(mfs, "kickstand_installs_total", "outcome=installed"); got != 1 {
		t.Errorf("installs installed = %v, want 1", got)
	}
	if got := sample(mfs, "kickstand_installs_total", "outcome=failed"); got != 0 {
		t.Errorf("installs failed = %v, want 0", got)
	}
	if got := sample(mfs, "kickstand_install_duration_seconds", "profile=web"); got != 1 {
		t.Errorf("install durations of web = %v, want 1", got)
	}
	sum := mfs["kickstand_install_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleSum()
	if sum <= 0 || sum > time.Since(began).Seconds() {
		t.Errorf("install took %vs from power-on, want more than 0 and less than the test", sum)
	}
	t.Logf("install took %.3fs from its DISCOVER; %d kickstand series throughout", sum, fixed)
}

// waitEvent waits for the bus to record an event of kind on mac's timeline.
func waitEvent(t *testing.T, db store.Store, mac net.HardwareAddr, kind events.Kind) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, _ := db.Events(context.Background(), mac)
		for _, e := range evs {
			if e.Kind == kind {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s event for %s", kind, mac)
}

// metricsPath is where Prometheus scrapes.
const metricsPath = "/metrics"

// The metrics are served at /metrics, to GET only, beside the boot files;
// with --metrics=false /metrics is a file like any other (none).
func TestMetricsRoute(t *testing.T) {
	for _, c := range []struct {
		on           bool
		method, path string
		want         int
	}{
		{true, "GET", metricsPath, http.StatusOK},
		{true, "HEAD", metricsPath, http.StatusOK},
		{true, "POST", metricsPath, http.StatusMethodNotAllowed},
		{true, "GET", "/metrics/x", http.StatusNotFound},
		{false, "GET", metricsPath, http.StatusNotFound},
	} {
		a := &App{cfg: config.Config{Metrics: c.on}, metrics: metrics.New(metrics.Sources{})}
		srv := &httpd.Server{Open: noFiles, Metrics: a.metricsHandler()}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.want {
			t.Errorf("--metrics=%v: %s %s: %d, want %d", c.on, c.method, c.path, rec.Code, c.want)
		}
	}
}

// The install time is from the power-on of this install, never from an
// earlier one's.
func TestSincePowerOn(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	discover := func(min int) store.Event {
		return store.Event{Time: at(min), Kind: events.DHCPDiscover, Fields: events.Fields{PXE: true}}
	}
	phone := func(min int, state string) store.Event {
		return store.Event{Time: at(min), Kind: events.PhoneHome, Fields: events.Fields{State: state}}
	}
	reg := store.Event{Time: at(0), Kind: events.Registered}
	for _, c := range []struct {
		name string
		evs  []store.Event
		want time.Duration // 0: not measured
	}{
		{"one install", []store.Event{reg, discover(1), discover(2), phone(8, "installing"), phone(20, "installed")}, 19 * time.Minute},
		{"the second install", []store.Event{discover(1), phone(20, "installed"), {Time: at(30), Kind: events.Reinstall}, discover(31), phone(40, "installed")}, 9 * time.Minute},
		{"its power-on lost", []store.Event{discover(1), phone(20, "installed"), {Time: at(30), Kind: events.Reinstall}, phone(40, "installed")}, 0},
		{"no power-on at all", []store.Event{reg, phone(40, "installed")}, 0},
	} {
		last := c.evs[len(c.evs)-1].Time
		got, ok := sincePowerOn(c.evs, last)
		if ok != (c.want != 0) || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.name, got, ok, c.want)
		}
	}
}
