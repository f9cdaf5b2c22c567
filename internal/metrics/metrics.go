// Package metrics counts what an operator watches, without personal data,
// and serves it in the Prometheus text format on an opt-in listener
// (metrics.listen, off by default).
//
// The server, web and retention parts count through a *Metrics: each
// method is a few atomic operations and allocates nothing, so it may sit
// on the stanza path, and every method is a no-op on a nil *Metrics, so
// parts built without metrics need no checks. Nothing is turned into a
// Prometheus object until a scrape (a custom Collector reads the atomics).
//
// Privacy: no label ever carries a user, a JID, an address, a resource or
// a domain of a user. Label values come from fixed sets written here
// (transport, result, stanza kind) or from the retention policies' names;
// per-certificate details are in `chatbx status`, not here.
//
// The package imports neither server nor web (internal/layering), so
// both sides may count into it.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures the metrics listener.
type Config struct {
	// Listen is the address of the metrics listener; "" switches it off.
	// It should be a loopback address: the numbers are not personal but
	// tell anyone how busy the server is (chatbx check warns otherwise).
	Listen string
}

// DefaultConfig returns the defaults: no listener.
func DefaultConfig() Config { return Config{} }

// Transports are the label values of sessions by transport.
const (
	TransportTCP       = "tcp"
	TransportWebSocket = "websocket"
)

var transports = [...]string{TransportTCP, TransportWebSocket, "other"}

func transportIndex(t string) int {
	switch t {
	case TransportTCP:
		return 0
	case TransportWebSocket:
		return 1
	}
	return 2
}

var stanzaKinds = [...]string{"message", "presence", "iq"}

// Gauge is a number that goes up and down, safe for concurrent use; its
// methods are no-ops on a nil *Gauge.
type Gauge struct{ v atomic.Int64 }

// Inc adds one.
func (g *Gauge) Inc() {
	if g != nil {
		g.v.Add(1)
	}
}

// Dec subtracts one.
func (g *Gauge) Dec() {
	if g != nil {
		g.v.Add(-1)
	}
}

// Set sets the value.
func (g *Gauge) Set(n int64) {
	if g != nil {
		g.v.Store(n)
	}
}

// Value returns the value (0 for nil).
func (g *Gauge) Value() int64 {
	if g == nil {
		return 0
	}
	return g.v.Load()
}

// PolicyRun is one retention policy's runs since start (retention.Runner
// Status, adapted by main).
type PolicyRun struct {
	Name                  string
	Runs, Deleted, Errors uint64
	// Last is when it last ran; zero if it has not yet.
	Last time.Time
}

// Sources are read at each scrape; any may be nil.
type Sources struct {
	// Offline returns the number of messages in all offline queues.
	Offline func(ctx context.Context) (int64, error)
	// CertExpiry returns the expiry of each certificate in use.
	CertExpiry func() []time.Time
	// Retention returns the retention policies' runs.
	Retention func() []PolicyRun
}

// Metrics holds the counters. Create it with New; a nil *Metrics counts
// nothing. Safe for concurrent use.
type Metrics struct {
	src Sources
	reg *prometheus.Registry

	sessions     [len(transports)]atomic.Int64
	loginsOK     atomic.Uint64
	loginsFailed atomic.Uint64
	stanzas      [len(stanzaKinds)]atomic.Uint64
	queueDrops   atomic.Uint64
	uploadBytes  atomic.Uint64
	uploads      atomic.Uint64
	s2s          Gauge

	descs descs
	mu    sync.Mutex // one scrape at a time reads the sources
}

type descs struct {
	sessions, logins, stanzas, queueDrops, uploadBytes, uploads, s2s, offline,
	certExpiry, certSoonest, retentionRuns, retentionDeleted, retentionErrors, retentionLast *prometheus.Desc
}

// New returns the counters with the Go runtime and process collectors
// registered beside them.
func New(src Sources) *Metrics {
	m := &Metrics{src: src, reg: prometheus.NewRegistry()}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("chatbx_"+name, help, labels, nil)
	}
	m.descs = descs{
		sessions:         d("sessions", "Bound client sessions by transport.", "transport"),
		logins:           d("logins_total", "SASL authentications by result (ok, failed).", "result"),
		stanzas:          d("stanzas_routed_total", "Stanzas from bound clients routed, by kind.", "kind"),
		queueDrops:       d("queue_drops_total", "Streams ended because their outbound queue was full."),
		uploadBytes:      d("upload_bytes_total", "Bytes of completed HTTP uploads (XEP-0363)."),
		uploads:          d("uploads_total", "Completed HTTP uploads (XEP-0363)."),
		s2s:              d("s2s_links", "Authenticated server-to-server streams open, inbound and outbound."),
		offline:          d("offline_messages", "Messages waiting in offline storage, over all accounts."),
		certExpiry:       d("certificate_expiry_timestamp_seconds", "Earliest expiry of the certificates in use (Unix time)."),
		certSoonest:      d("certificates", "Certificates in use."),
		retentionRuns:    d("retention_runs_total", "Runs of each retention policy since start.", "policy"),
		retentionDeleted: d("retention_deleted_total", "Items each retention policy deleted since start.", "policy"),
		retentionErrors:  d("retention_errors_total", "Failed runs of each retention policy since start.", "policy"),
		retentionLast:    d("retention_last_run_timestamp_seconds", "When each retention policy last ran (Unix time).", "policy"),
	}
	m.reg.MustRegister(collector{m}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SessionBound counts a session bound over transport (TransportTCP,
// TransportWebSocket); SessionEnded counts it gone.
func (m *Metrics) SessionBound(transport string) {
	if m != nil {
		m.sessions[transportIndex(transport)].Add(1)
	}
}

// SessionEnded undoes SessionBound.
func (m *Metrics) SessionEnded(transport string) {
	if m != nil {
		m.sessions[transportIndex(transport)].Add(-1)
	}
}

// Sessions returns the bound sessions by transport.
func (m *Metrics) Sessions() map[string]int64 {
	out := map[string]int64{}
	if m == nil {
		return out
	}
	for i, t := range transports {
		if n := m.sessions[i].Load(); n != 0 || i < 2 {
			out[t] = n
		}
	}
	return out
}

// Login counts one SASL verdict.
func (m *Metrics) Login(ok bool) {
	switch {
	case m == nil:
	case ok:
		m.loginsOK.Add(1)
	default:
		m.loginsFailed.Add(1)
	}
}

// Routed counts one stanza of kind ("message", "presence", "iq") from a
// bound client.
func (m *Metrics) Routed(kind string) {
	if m == nil {
		return
	}
	switch kind {
	case "message":
		m.stanzas[0].Add(1)
	case "presence":
		m.stanzas[1].Add(1)
	case "iq":
		m.stanzas[2].Add(1)
	}
}

// QueueDrop counts a stream ended for a full outbound queue.
func (m *Metrics) QueueDrop() {
	if m != nil {
		m.queueDrops.Add(1)
	}
}

// Uploaded counts a completed upload of n bytes.
func (m *Metrics) Uploaded(n int64) {
	if m != nil {
		m.uploads.Add(1)
		m.uploadBytes.Add(uint64(max(n, 0)))
	}
}

// S2SLinks is the gauge of authenticated server-to-server streams
// (server/s2s counts them through its Deps.Links). Nil on a nil *Metrics
// (whose Inc and Dec do nothing).
func (m *Metrics) S2SLinks() *Gauge {
	if m == nil {
		return nil
	}
	return &m.s2s
}

// Handler serves the Prometheus text format (and OpenMetrics when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// collector turns the counters into Prometheus metrics at scrape time.
type collector struct{ m *Metrics }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.m.descs
	for _, x := range []*prometheus.Desc{d.sessions, d.logins, d.stanzas, d.queueDrops, d.uploadBytes, d.uploads,
		d.s2s, d.offline, d.certExpiry, d.certSoonest, d.retentionRuns, d.retentionDeleted, d.retentionErrors, d.retentionLast} {
		ch <- x
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	m, d := c.m, c.m.descs
	m.mu.Lock()
	defer m.mu.Unlock()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	for i, t := range transports {
		if n := m.sessions[i].Load(); n != 0 || i < 2 {
			gauge(d.sessions, float64(n), t)
		}
	}
	counter(d.logins, float64(m.loginsOK.Load()), "ok")
	counter(d.logins, float64(m.loginsFailed.Load()), "failed")
	for i, k := range stanzaKinds {
		counter(d.stanzas, float64(m.stanzas[i].Load()), k)
	}
	counter(d.queueDrops, float64(m.queueDrops.Load()))
	counter(d.uploadBytes, float64(m.uploadBytes.Load()))
	counter(d.uploads, float64(m.uploads.Load()))
	gauge(d.s2s, float64(m.s2s.Value()))
	if f := m.src.Offline; f != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if n, err := f(ctx); err == nil {
			gauge(d.offline, float64(n))
		}
		cancel()
	}
	if f := m.src.CertExpiry; f != nil {
		exp := f()
		gauge(d.certSoonest, float64(len(exp)))
		var first time.Time
		for _, t := range exp {
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
		if !first.IsZero() {
			gauge(d.certExpiry, float64(first.Unix()))
		}
	}
	if f := m.src.Retention; f != nil {
		for _, p := range f() {
			counter(d.retentionRuns, float64(p.Runs), p.Name)
			counter(d.retentionDeleted, float64(p.Deleted), p.Name)
			counter(d.retentionErrors, float64(p.Errors), p.Name)
			if !p.Last.IsZero() {
				gauge(d.retentionLast, float64(p.Last.Unix()), p.Name)
			}
		}
	}
}
