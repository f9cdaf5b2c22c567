package main

// End-to-end test of the metrics listener (issue 14): scrape while
// clients log in, fail to log in, exchange stanzas and upload, and check
// that the numbers move and that no label value names a user, a JID, an
// address or the domain.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// scrapeMetrics fetches /metrics from the metrics listener.
func (e *e2eApp) scrapeMetrics() string {
	e.t.Helper()
	res, err := http.Get("http://" + e.a.addrs.metrics.String() + "/metrics")
	if err != nil {
		e.t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("scrape: %d\n%s", res.StatusCode, b)
	}
	return string(b)
}

var (
	metricLine  = regexp.MustCompile(`(?m)^([a-z_0-9]+)(\{[^}]*\})? ([0-9.e+-]+|NaN)$`)
	metricLabel = regexp.MustCompile(`[a-z_0-9]+="((?:[^"\\]|\\.)*)"`)
)

// metricValue returns the value of the series name{labels} ("" for none).
func metricValue(t *testing.T, text, name, labels string) float64 {
	t.Helper()
	for _, m := range metricLine.FindAllStringSubmatch(text, -1) {
		if m[1] == name && m[2] == labels {
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no series %s%s in\n%s", name, labels, text)
	return 0
}

func TestE2EMetrics(t *testing.T) {
	const (
		alice, alicePW = "metricalice4f", "metric-alice-pw-81"
		bob, bobPW     = "metricbob2c", "metric-bob-pw-07"
	)
	e := newE2E(t, map[string]string{"metrics.listen": "127.0.0.1:0"})
	e.addUser(alice, alicePW)
	e.addUser(bob, bobPW)
	a := e.login(alice, alicePW)
	b := e.login(bob, bobPW)
	a.SendRaw(`<presence/>`)
	b.SendRaw(`<presence/>`)
	var ae *xmpptest.AuthError
	if err := e.dial(alice, "wrong-password"); !errors.As(err, &ae) {
		t.Fatalf("wrong password: %v", err)
	}
	e.upload(a, "metrics-upload.txt", "twelve bytes")

	// Scrape while messages flow.
	var wg sync.WaitGroup
	scrapes := make([]string, 0, 4)
	var mu sync.Mutex
	wg.Go(func() {
		for range 3 {
			s := e.scrapeMetrics()
			mu.Lock()
			scrapes = append(scrapes, s)
			mu.Unlock()
		}
	})
	const messages = 20
	for i := range messages {
		a.SendRaw(fmt.Sprintf(`<message type='chat' id='mm%d' to='%s@%s'><body>metrics %d</body></message>`, i, bob, e2eDomain, i))
	}
	for i := range messages {
		id := fmt.Sprintf("mm%d", i)
		b.Expect("message "+id, func(el *wire.Element) bool { return el.Local == "message" && el.Get("id") == id })
	}
	wg.Wait()
	// Two sessions on TCP, none on WebSocket, the other counters moved.
	text := e.scrapeMetrics()
	scrapes = append(scrapes, text)
	if v := metricValue(t, text, "chatbx_sessions", `{transport="tcp"}`); v != 2 {
		t.Errorf("sessions over tcp = %v, want 2", v)
	}
	if v := metricValue(t, text, "chatbx_sessions", `{transport="websocket"}`); v != 0 {
		t.Errorf("sessions over websocket = %v, want 0", v)
	}
	if v := metricValue(t, text, "chatbx_logins_total", `{result="ok"}`); v < 2 {
		t.Errorf("logins ok = %v, want >= 2", v)
	}
	if v := metricValue(t, text, "chatbx_logins_total", `{result="failed"}`); v < 1 {
		t.Errorf("logins failed = %v, want >= 1", v)
	}
	if v := metricValue(t, text, "chatbx_stanzas_routed_total", `{kind="message"}`); v < messages {
		t.Errorf("messages routed = %v, want >= %d", v, messages)
	}
	if v := metricValue(t, text, "chatbx_upload_bytes_total", ""); v != 12 {
		t.Errorf("upload bytes = %v, want 12", v)
	}
	metricValue(t, text, "chatbx_s2s_links", "")
	metricValue(t, text, "chatbx_offline_messages", "")
	metricValue(t, text, "chatbx_queue_drops_total", "")
	if v := metricValue(t, text, "chatbx_certificate_expiry_timestamp_seconds", ""); v <= 0 {
		t.Errorf("certificate expiry = %v", v)
	}
	if !strings.Contains(text, `chatbx_retention_runs_total{policy="uploads"}`) || !strings.Contains(text, "go_goroutines ") {
		t.Errorf("no retention runs or Go runtime metrics in\n%s", text)
	}

	// Privacy: no label value names anyone or anything of the test.
	forbidden := []string{alice, bob, alice + "@" + e2eDomain, bob + "@" + e2eDomain, e2eDomain, "127.0.0.1", "::1",
		"metrics-upload.txt", alicePW, bobPW}
	for _, s := range scrapes {
		for _, m := range metricLine.FindAllStringSubmatch(s, -1) {
			for _, l := range metricLabel.FindAllStringSubmatch(m[2], -1) {
				for _, f := range forbidden {
					if strings.Contains(l[1], f) {
						t.Errorf("label value %q of %s names %q", l[1], m[1], f)
					}
				}
			}
		}
		for _, f := range forbidden {
			if strings.Contains(s, f) {
				t.Errorf("scrape contains %q", f)
			}
		}
	}

	// The sessions gauge falls when they end.
	a.Close()
	waitFor(t, "sessions gauge to fall to 1", 10*time.Second, func() bool {
		return metricValue(t, e.scrapeMetrics(), "chatbx_sessions", `{transport="tcp"}`) == 1
	})
}
