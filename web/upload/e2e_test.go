package upload_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/retention"
	"chatbx/server/iq"
	slots "chatbx/server/upload"
	"chatbx/server/wire"
	"chatbx/store/storetest"
	"chatbx/web/upload"
)

// TestEndToEnd: a slot from the XMPP side, the PUT and GET over HTTPS on
// loopback, and the retention sweep after the period with a moved clock:
// the file is gone from disk and its bytes from the data directory.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	data := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(data, "chatbx.db"))
	user := storetest.User(t, db, "romeo")
	clk := &clock{t: t0}
	const period = 30 * 24 * time.Hour

	var handler http.Handler
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", srv.URL)
	}
	baseURL := srv.URL + "/upload/"
	up, err := upload.New(upload.Config{Dir: filepath.Join(data, "uploads"), BaseURL: baseURL, Now: clk.Now}, db)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(up.Pattern(), up)
	handler = mux
	cfg := slots.DefaultConfig(baseURL)
	cfg.Now, cfg.Retention = clk.Now, period
	service := slots.New(cfg, db)

	// The slot request, as the c2s layer hands it over.
	const content = "E2E-CONTENT-MARKER-6a0f"
	const name = "E2E-NAME-MARKER juliet.jpg"
	const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	d := wire.NewDecoder(strings.NewReader(header+
		`<iq type='get' id='s1' to='example.org'><request xmlns='urn:xmpp:http:upload:0' filename='`+name+
		`' size='23' content-type='image/jpeg'/></iq>`), 1<<16)
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	req, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	reply := service.Handle(ctx, iq.Context{User: user, Domain: "example.org"}, req)
	slot := reply.Child(slots.NS, "slot")
	if slot == nil {
		t.Fatalf("slot request answered %v", reply)
	}
	putURL, getURL := slot.Child(slots.NS, "put").Get("url"), slot.Child(slots.NS, "get").Get("url")
	if strings.Contains(getURL, user) || strings.Contains(putURL, user) {
		t.Errorf("slot URLs name the user: %s, %s", putURL, getURL)
	}

	client := srv.Client()
	do := func(method, u string, body []byte, ctype string) (*http.Response, []byte) {
		t.Helper()
		r, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		res, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, b
	}

	if res, _ := do("PUT", getURL, []byte(content), "image/jpeg"); res.StatusCode != http.StatusForbidden {
		t.Errorf("PUT to the GET URL = %d, want 403", res.StatusCode)
	}
	if res, _ := do("PUT", putURL, []byte(content), "image/jpeg"); res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %d, want 201", res.StatusCode)
	}
	res, body := do("GET", getURL, nil, "")
	if res.StatusCode != 200 || string(body) != content || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET = %d %q %q", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	if hits := storetest.ScanDir(t, data, content); len(hits) != 1 {
		t.Fatalf("content on disk: %v, want exactly the one file", hits)
	}

	// Retention, as the runner runs it: the sweep runs every tick and
	// deletes one tick early, so that no upload outlives the period.
	const tick = 10 * time.Minute
	policy := retention.SweepPolicy("uploads", period, tick, up)
	if n, err := policy.Run(ctx, t0.Add(period-tick-time.Nanosecond)); err != nil || n != 0 {
		t.Errorf("sweep just before the period less a tick = %d, %v; want 0", n, err)
	}
	if n, err := policy.Run(ctx, t0.Add(period-tick)); err != nil || n != 1 {
		t.Errorf("sweep at the period less a tick = %d, %v; want 1", n, err)
	}
	if entries, err := os.ReadDir(filepath.Join(data, "uploads")); err != nil || len(entries) != 0 {
		t.Errorf("upload directory after the sweep: %v, %v", entries, err)
	}
	clk.Set(t0.Add(period))
	if res, _ := do("GET", getURL, nil, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET after the sweep = %d, want 404", res.StatusCode)
	}
	if err := db.Scrub(ctx); err != nil { // the runner scrubs after a Personal policy
		t.Fatal(err)
	}
	if hits := storetest.ScanDir(t, data, content, "E2E-NAME-MARKER"); len(hits) != 0 {
		t.Errorf("after the sweep the data directory still holds %v", hits)
	}
}
