package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"chatbx/internal/metrics"
)

// TestNil shows that a nil *Metrics counts nothing and does not panic, so
// parts built without metrics need no checks.
func TestNil(t *testing.T) {
	var m *metrics.Metrics
	m.SessionBound(metrics.TransportTCP)
	m.SessionEnded(metrics.TransportTCP)
	m.Login(true)
	m.Routed("message")
	m.QueueDrop()
	m.Uploaded(10)
	m.S2SLinks().Inc()
	if m.S2SLinks().Value() != 0 || len(m.Sessions()) != 0 {
		t.Error("a nil *Metrics counted")
	}
}

// TestScrape checks the text format and the counters it shows.
func TestScrape(t *testing.T) {
	m := metrics.New(metrics.Sources{
		Offline:    func(context.Context) (int64, error) { return 7, nil },
		CertExpiry: func() []time.Time { return []time.Time{time.Unix(2000, 0), time.Unix(1000, 0)} },
		Retention: func() []metrics.PolicyRun {
			return []metrics.PolicyRun{{Name: "uploads", Runs: 3, Deleted: 5, Last: time.Unix(1500, 0)}}
		},
	})
	m.SessionBound(metrics.TransportWebSocket)
	m.SessionBound("something else")
	m.Login(false)
	m.Routed("presence")
	m.Routed("bogus")
	m.Uploaded(42)
	m.S2SLinks().Inc()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`chatbx_sessions{transport="websocket"} 1`,
		`chatbx_sessions{transport="tcp"} 0`,
		`chatbx_sessions{transport="other"} 1`,
		`chatbx_logins_total{result="failed"} 1`,
		`chatbx_stanzas_routed_total{kind="presence"} 1`,
		`chatbx_upload_bytes_total 42`,
		`chatbx_s2s_links 1`,
		`chatbx_offline_messages 7`,
		`chatbx_certificate_expiry_timestamp_seconds 1000`,
		`chatbx_certificates 2`,
		`chatbx_retention_deleted_total{policy="uploads"} 5`,
		`chatbx_retention_last_run_timestamp_seconds{policy="uploads"} 1500`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("scrape lacks %q:\n%s", want, b)
		}
	}
}

// BenchmarkRouted is the cost on the stanza path.
func BenchmarkRouted(b *testing.B) {
	m := metrics.New(metrics.Sources{})
	b.ReportAllocs()
	for b.Loop() {
		m.Routed("message")
	}
}
