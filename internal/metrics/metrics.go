// Package metrics is kickstand's Prometheus metrics: DHCP packets, file
// transfers, installs and lost events, counted where they happen (the
// app's hooks call its methods, not the bounded event bus, which drops
// under a flood) and served in the Prometheus exposition formats.
//
// Every label value comes from a small fixed set, except a profile's name,
// which an operator chose and which is capped at MaxProfiles: never a MAC,
// an address or a file name, whatever clients send.
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The protocols a transfer is counted under; anything else is "other".
const (
	TFTP = "tftp"
	HTTP = "http"
	FTP  = "ftp"
)

// What became of a transfer; anything else is counted as OutcomeError.
const (
	OutcomeOK       = "ok"         // the whole file went (HTTP: a status below 400)
	OutcomeNotFound = "not_found"  // no such file, or not for this client (TFTP "not found", HTTP 404)
	OutcomeError    = "error"      // it ended early, or the server could not serve it
	OutcomeProbe    = "size_probe" // a TFTP tsize query that asked for no data
)

// The ends of an install a machine reports (phone-home).
const (
	Installed = "installed"
	Failed    = "failed"
)

// MaxProfiles caps the profiles the install-time histogram has series for;
// the installs of profiles first seen past it are counted under
// OtherProfile. Profile names are the operator's, so the cap is only a
// guard.
const MaxProfiles = 100

// OtherProfile and Unregistered are profile label values that no profile
// can be named (a name starts with a letter or digit).
const (
	OtherProfile = "(other)"        // past MaxProfiles
	Unregistered = "(unregistered)" // a machine installed from a menu choice or --unknown install: no profile of its own
)

// Sources are the counts that live elsewhere, read at each scrape; a nil
// func leaves its metric out.
type Sources struct {
	// ActiveTransfers counts the transfers in flight per protocol
	// (TFTP, HTTP, FTP).
	ActiveTransfers func() map[string]int
	// EventsDropped is how many events the bus lost to a full queue on
	// their way to the timelines.
	EventsDropped func() int64
	// LiveDropped is how many events the live views (event stream,
	// dashboard) lost, not keeping up.
	LiveDropped func() int64
	// EventsUnrecorded is how many wire events were not written to a
	// timeline: their MAC is no machine, or sent more than its rate.
	EventsUnrecorded func() int64
}

// Metrics holds kickstand's metrics in a registry of its own. Its methods
// are safe for concurrent use, and do nothing on a nil *Metrics.
type Metrics struct {
	reg *prometheus.Registry

	dhcp *prometheus.CounterVec

	transfers *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	duration  *prometheus.HistogramVec

	installs    *prometheus.CounterVec
	installTime *prometheus.HistogramVec
	profilesMu  sync.Mutex
	profiles    map[string]bool // the profile label values in use
}

// The values the DHCP labels may take (dhcp.Packet* and dhcp.Outcome*);
// others are counted as "other".
var (
	dhcpTypes    = []string{"discover", "request", "decline", "release", "inform", "other", "invalid"}
	dhcpOutcomes = []string{"offered", "acked", "nak", "released", "declined", "refused", "ignored", "other"}
	// dhcpSeries are the pairs that can happen, present from the start.
	dhcpSeries = map[string][]string{
		"discover": {"offered", "refused", "ignored"},
		"request":  {"acked", "nak", "refused", "ignored"},
		"inform":   {"acked", "refused", "ignored"},
		"decline":  {"declined", "ignored"},
		"release":  {"released", "ignored"},
		"other":    {"ignored"},
		"invalid":  {"ignored"},
	}
	protos   = []string{TFTP, HTTP, FTP}
	outcomes = []string{OutcomeOK, OutcomeNotFound, OutcomeError, OutcomeProbe}
)

// transferBuckets span a 1 KiB config file over loopback to a stage2
// image over TFTP on a slow link.
var transferBuckets = []float64{0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 60, 180, 600}

// installBuckets span a minimal install on a fast LAN to a large one
// fetching every package over a slow link.
var installBuckets = []float64{60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 14400}

// New returns kickstand's metrics with the Go runtime's and the process's,
// every fixed series present from the start (at zero).
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		dhcp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kickstand_dhcp_packets_total",
			Help: "DHCP packets received, by message type and what became of them.",
		}, []string{"type", "outcome"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kickstand_transfers_total",
			Help: "File transfers ended (TFTP, HTTP, FTP), by outcome.",
		}, []string{"proto", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kickstand_transfer_bytes_total",
			Help: "Bytes of files sent (TFTP: acknowledged), whatever the transfers' outcome.",
		}, []string{"proto"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kickstand_transfer_duration_seconds",
			Help:    "Time from request to end of the transfers that sent the whole file.",
			Buckets: transferBuckets,
		}, []string{"proto"}),
		installs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kickstand_installs_total",
			Help: "Installs ended, as the machines reported them (phone-home): installed or failed.",
		}, []string{"outcome"}),
		installTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kickstand_install_duration_seconds",
			Help:    "Time from a machine's power-on (its firmware's first DHCP discover) to its report of installed, by profile.",
			Buckets: installBuckets,
		}, []string{"profile"}),
		profiles: map[string]bool{},
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.dhcp, m.transfers, m.bytes, m.duration, m.installs, m.installTime)
	for t, outs := range dhcpSeries {
		for _, o := range outs {
			m.dhcp.WithLabelValues(t, o)
		}
	}
	for _, p := range protos {
		for _, o := range outcomes {
			if o != OutcomeProbe || p == TFTP {
				m.transfers.WithLabelValues(p, o)
			}
		}
		m.bytes.WithLabelValues(p)
		m.duration.WithLabelValues(p)
	}
	m.installs.WithLabelValues(Installed)
	m.installs.WithLabelValues(Failed)
	m.registerSources(src)
	return m
}

func (m *Metrics) registerSources(src Sources) {
	if src.ActiveTransfers != nil {
		m.reg.MustRegister(activeTransfers{
			desc:  prometheus.NewDesc("kickstand_transfers_active", "File transfers in flight.", []string{"proto"}, nil),
			count: src.ActiveTransfers,
		})
	}
	for queue, dropped := range map[string]func() int64{"timeline": src.EventsDropped, "live": src.LiveDropped} {
		if dropped != nil {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "kickstand_events_dropped_total",
				Help: "Events lost to a full queue: on their way to the timelines (a slow store under a flood), " +
					"or to live views that did not keep up. The counters here count what they were about all the same.",
				ConstLabels: prometheus.Labels{"queue": queue},
			}, func() float64 { return float64(dropped()) }))
		}
	}
	if src.EventsUnrecorded != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kickstand_events_unrecorded_total",
			Help: "Wire events not written to a timeline: their MAC is no machine, or sent more than its rate.",
		}, func() float64 { return float64(src.EventsUnrecorded()) }))
	}
}

// DHCPPacket counts a DHCP packet received: its message type and what
// became of it (dhcp.Server's OnPacket). It allocates nothing.
func (m *Metrics) DHCPPacket(msgType, outcome string) {
	if m == nil {
		return
	}
	if !slices.Contains(dhcpTypes, msgType) {
		msgType = "other"
	}
	if !slices.Contains(dhcpOutcomes, outcome) {
		outcome = "other"
	}
	m.dhcp.WithLabelValues(msgType, outcome).Inc()
}

// Transfer counts a file transfer that ended: n bytes went, in d.
func (m *Metrics) Transfer(proto, outcome string, n int64, d time.Duration) {
	if m == nil {
		return
	}
	if !slices.Contains(protos, proto) {
		proto = "other"
	}
	if !slices.Contains(outcomes, outcome) {
		outcome = OutcomeError
	}
	m.transfers.WithLabelValues(proto, outcome).Inc()
	if n > 0 {
		m.bytes.WithLabelValues(proto).Add(float64(n))
	}
	if outcome == OutcomeOK {
		m.duration.WithLabelValues(proto).Observe(d.Seconds())
	}
}

// Install counts an install's end as its machine reported it: Installed
// or Failed.
func (m *Metrics) Install(outcome string) {
	if m == nil || (outcome != Installed && outcome != Failed) {
		return
	}
	m.installs.WithLabelValues(outcome).Inc()
}

// InstallTime observes how long an install of profile took from its
// machine's power-on to its report of installed.
func (m *Metrics) InstallTime(profile string, d time.Duration) {
	if m == nil {
		return
	}
	m.installTime.WithLabelValues(m.profileLabel(profile)).Observe(d.Seconds())
}

// profileLabel is profile, or OtherProfile once MaxProfiles others are in
// use.
func (m *Metrics) profileLabel(profile string) string {
	m.profilesMu.Lock()
	defer m.profilesMu.Unlock()
	if m.profiles[profile] {
		return profile
	}
	if len(m.profiles) >= MaxProfiles {
		return OtherProfile
	}
	m.profiles[profile] = true
	return profile
}

// Handler serves the metrics to a scraper (text, OpenMetrics or protobuf,
// as it asks), a few scrapes at a time.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg,
		MaxRequestsInFlight: maxScrapes,
		EnableOpenMetrics:   true,
	}))
}

// maxScrapes bounds the scrapes served at once; more get 503. Prometheus
// scrapes one at a time per target.
const maxScrapes = 4

// activeTransfers is the gauge of the transfers in flight, read from its
// source at each scrape, with a series for every protocol.
type activeTransfers struct {
	desc  *prometheus.Desc
	count func() map[string]int
}

func (a activeTransfers) Describe(ch chan<- *prometheus.Desc) { ch <- a.desc }

func (a activeTransfers) Collect(ch chan<- prometheus.Metric) {
	n := a.count()
	for _, p := range protos {
		ch <- prometheus.MustNewConstMetric(a.desc, prometheus.GaugeValue, float64(n[p]), p)
	}
}
