//go:build e2e

package e2e

import (
	"bytes"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// checkMetrics scrapes the server's Prometheus metrics from the LAN, as a
// Prometheus server would (no token), after one machine installed with
// profile: its DHCP, its TFTP downloads and its install (with its time
// from power-on) are counted.
func checkMetrics(t *testing.T, l *lan, profile string) {
	t.Helper()
	server := restAPI{ns: l.ns, base: "http://" + l.serverIP + ":" + httpPort}
	code, body := server.call(t, "", "GET", "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET /metrics does not parse: %v\n%s", err, body)
	}
	value := func(name, labels string) float64 {
		for _, m := range mfs[name].GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			if strings.Join(ls, ",") == labels {
				switch {
				case m.Counter != nil:
					return m.GetCounter().GetValue()
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return -1
	}
	for _, c := range []struct {
		name, labels string
		atLeast      float64
		exactly      bool
	}{
		{"kickstand_dhcp_packets_total", "outcome=offered,type=discover", 1, false},
		{"kickstand_dhcp_packets_total", "outcome=acked,type=request", 1, false},
		{"kickstand_transfers_total", "outcome=ok,proto=tftp", 1, false},
		{"kickstand_installs_total", "outcome=installed", 1, true},
		{"kickstand_installs_total", "outcome=failed", 0, true},
		{"kickstand_install_duration_seconds", "profile=" + profile, 1, true},
	} {
		got := value(c.name, c.labels)
		if got < c.atLeast || c.exactly && got != c.atLeast {
			want := "at least"
			if c.exactly {
				want = "exactly"
			}
			t.Errorf("%s{%s} = %v, want %s %v", c.name, c.labels, got, want, c.atLeast)
		}
	}
	var lines []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "kickstand_") && !strings.Contains(line, "_bucket{") {
			lines = append(lines, line)
		}
	}
	t.Logf("GET /metrics, kickstand's own:\n  %s", strings.Join(lines, "\n  "))
}
