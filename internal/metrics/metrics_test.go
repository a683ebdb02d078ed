package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"kickstand/internal/dhcp"
)

// scrape serves one scrape of m as Prometheus would (text format) and
// parses it.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	return mfs
}

// series are a family's samples as "label=value,..." → value; a
// histogram's value is its sample count.
func series(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	mf := mfs[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(labels)
		var v float64
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

func TestFixedSeriesFromTheStart(t *testing.T) {
	mfs := scrape(t, New(Sources{}))
	want := map[string]int{
		"kickstand_dhcp_packets_total":        16,
		"kickstand_transfers_total":           10, // 3 protocols × ok, not_found, error; and TFTP's size probes
		"kickstand_transfer_bytes_total":      3,
		"kickstand_transfer_duration_seconds": 3,
		"kickstand_installs_total":            2,
	}
	for name, n := range want {
		s := series(mfs, name)
		if len(s) != n {
			t.Errorf("%s: %d series, want %d: %v", name, len(s), n, s)
		}
		for k, v := range s {
			if v != 0 {
				t.Errorf("%s{%s} = %v at start, want 0", name, k, v)
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "promhttp_metric_handler_requests_total"} {
		if mfs[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	for _, name := range []string{"kickstand_transfers_active", "kickstand_events_dropped_total", "kickstand_install_duration_seconds"} {
		if mfs[name] != nil {
			t.Errorf("%s without a source or a sample: %v", name, series(mfs, name))
		}
	}
}

func TestTransfers(t *testing.T) {
	m := New(Sources{})
	for range 3 {
		m.Transfer(TFTP, OutcomeOK, 1000, 20*time.Millisecond)
	}
	m.Transfer(TFTP, OutcomeNotFound, 0, time.Millisecond)
	m.Transfer(TFTP, OutcomeProbe, 0, time.Millisecond)
	m.Transfer(HTTP, OutcomeError, 500, time.Second) // a download cut short: its bytes went
	m.Transfer(FTP, OutcomeOK, 7, 2*time.Second)
	m.Transfer("gopher", "exploded", 1, time.Second)
	mfs := scrape(t, m)
	for name, want := range map[string]map[string]float64{
		"kickstand_transfers_total": {
			"outcome=ok,proto=tftp": 3, "outcome=not_found,proto=tftp": 1, "outcome=size_probe,proto=tftp": 1,
			"outcome=error,proto=tftp": 0, "outcome=error,proto=http": 1, "outcome=ok,proto=ftp": 1,
			"outcome=error,proto=other": 1,
		},
		"kickstand_transfer_bytes_total":      {"proto=tftp": 3000, "proto=http": 500, "proto=ftp": 7, "proto=other": 1},
		"kickstand_transfer_duration_seconds": {"proto=tftp": 3, "proto=http": 0, "proto=ftp": 1},
	} {
		got := series(mfs, name)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s{%s} = %v, want %v", name, k, got[k], v)
			}
		}
	}
	h := mfs["kickstand_transfer_duration_seconds"].GetMetric()
	for _, x := range h {
		if x.GetLabel()[0].GetValue() == TFTP && (x.GetHistogram().GetSampleSum() < 0.059 || x.GetHistogram().GetSampleSum() > 0.061) {
			t.Errorf("tftp duration sum = %v, want 0.06", x.GetHistogram().GetSampleSum())
		}
	}
}

// The DHCP server's vocabulary is the metrics': none of its types or
// outcomes is counted as "other".
func TestDHCPLabels(t *testing.T) {
	m := New(Sources{})
	types := []string{dhcp.PacketDiscover, dhcp.PacketRequest, dhcp.PacketDecline, dhcp.PacketRelease,
		dhcp.PacketInform, dhcp.PacketOther, dhcp.PacketInvalid}
	outs := []string{dhcp.OutcomeOffered, dhcp.OutcomeAcked, dhcp.OutcomeNak, dhcp.OutcomeReleased,
		dhcp.OutcomeDeclined, dhcp.OutcomeRefused, dhcp.OutcomeIgnored}
	for _, ty := range types {
		for _, o := range outs {
			m.DHCPPacket(ty, o)
		}
	}
	m.DHCPPacket("DISCOVER", "offered")
	m.DHCPPacket("discover", "52:54:00:12:34:56")
	got := series(scrape(t, m), "kickstand_dhcp_packets_total")
	if len(got) != len(types)*len(outs)+1 {
		t.Errorf("%d series, want %d: %v", len(got), len(types)*len(outs)+1, got)
	}
	for k, v := range got {
		want := 1.0
		if k == "outcome=offered,type=other" {
			want = 2 // "DISCOVER" is no type of ours
		}
		if v != want {
			t.Errorf("kickstand_dhcp_packets_total{%s} = %v, want %v", k, v, want)
		}
	}
	if n := testing.AllocsPerRun(1000, func() { m.DHCPPacket(dhcp.PacketDiscover, dhcp.OutcomeOffered) }); n != 0 {
		t.Errorf("DHCPPacket: %.0f allocations, want 0", n)
	}
}

func TestInstalls(t *testing.T) {
	m := New(Sources{})
	m.Install(Installed)
	m.Install(Installed)
	m.Install(Failed)
	m.Install("installing") // not an end
	m.InstallTime("web", 5*time.Minute)
	m.InstallTime("web", 7*time.Minute)
	m.InstallTime(Unregistered, time.Minute)
	mfs := scrape(t, m)
	if got := series(mfs, "kickstand_installs_total"); len(got) != 2 || got["outcome=installed"] != 2 || got["outcome=failed"] != 1 {
		t.Errorf("kickstand_installs_total = %v", got)
	}
	got := series(mfs, "kickstand_install_duration_seconds")
	if len(got) != 2 || got["profile=web"] != 2 || got["profile="+Unregistered] != 1 {
		t.Errorf("kickstand_install_duration_seconds counts = %v", got)
	}
}

// Past MaxProfiles names, installs are counted under OtherProfile: the
// series stay bounded even if profiles come and go by the thousand.
func TestProfilesCapped(t *testing.T) {
	m := New(Sources{})
	for i := range 1000 {
		m.InstallTime(fmt.Sprintf("p%d", i), time.Minute)
	}
	m.InstallTime("p7", time.Minute) // one of the first: its own series
	got := series(scrape(t, m), "kickstand_install_duration_seconds")
	if len(got) != MaxProfiles+1 || got["profile="+OtherProfile] != 1000-MaxProfiles || got["profile=p7"] != 2 {
		t.Errorf("%d series (want %d), %v under %s (want %d), p7 %v (want 2)",
			len(got), MaxProfiles+1, got["profile="+OtherProfile], OtherProfile, 1000-MaxProfiles, got["profile=p7"])
	}
}

func TestSources(t *testing.T) {
	active := map[string]int{TFTP: 2, HTTP: 1, "ftps": 9}
	m := New(Sources{
		ActiveTransfers:  func() map[string]int { return active },
		EventsDropped:    func() int64 { return 42 },
		LiveDropped:      func() int64 { return 3 },
		EventsUnrecorded: func() int64 { return 7 },
	})
	mfs := scrape(t, m)
	if got := series(mfs, "kickstand_transfers_active"); len(got) != 3 || got["proto=tftp"] != 2 || got["proto=http"] != 1 || got["proto=ftp"] != 0 {
		t.Errorf("kickstand_transfers_active = %v, want tftp 2, http 1, ftp 0 and nothing else", got)
	}
	if got := series(mfs, "kickstand_events_dropped_total"); len(got) != 2 || got["queue=timeline"] != 42 || got["queue=live"] != 3 {
		t.Errorf("kickstand_events_dropped_total = %v, want timeline 42, live 3", got)
	}
	if got := series(mfs, "kickstand_events_unrecorded_total"); got[""] != 7 {
		t.Errorf("kickstand_events_unrecorded_total = %v, want 7", got)
	}
	if mfs["kickstand_transfers_active"].GetType() != dto.MetricType_GAUGE || mfs["kickstand_events_dropped_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("wrong metric types")
	}
}

// An App built without metrics (tests, tools) counts nothing and does not
// crash.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.DHCPPacket(dhcp.PacketDiscover, dhcp.OutcomeOffered)
	m.Transfer(TFTP, OutcomeOK, 1, time.Second)
	m.Install(Installed)
	m.InstallTime("web", time.Minute)
}

// The handler answers what a Prometheus server asks for: OpenMetrics when
// it says it takes it.
func TestHandlerNegotiates(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	New(Sources{}).Handler().ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q, want OpenMetrics", ct)
	}
	if !strings.HasSuffix(rec.Body.String(), "# EOF\n") {
		t.Error("OpenMetrics exposition without # EOF")
	}
}
