package upload_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/web"
)

// lockedBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMountedInSite mounts the handler in the web site as main does and
// checks what the site adds: its error log names the upload's id but never
// its file name or secret, no cookie is set, and the upload's own headers
// win over the site's.
func TestMountedInSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var errlog lockedBuffer
	site, err := web.New(web.DefaultConfig(), web.Deps{ErrorLog: zerolog.New(&errlog)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { site.Close() })
	site.Mount(e.up.Pattern(), e.up)
	h := site.Handler()
	const name = "SECRET-NAME-MARKER.pdf"
	id, secret := e.slot(t, e.user, name, "application/pdf", 3)

	for _, tc := range []struct {
		method, target string
		body           string
		status         int
	}{
		{"GET", "/upload/" + id + "/" + name, "", 404},                               // not uploaded yet
		{"PUT", "/upload/" + id + "/" + name + "?s=wrong-" + secret, "abc", 403},     // bad secret
		{"PUT", "/upload/" + id + "/" + name + "?s=" + secret, "abcd", 413},          // too large
		{"PUT", "/upload/" + id + "/" + name + "?s=" + secret, "abc", 201},           // good
		{"PUT", "/upload/" + id + "/" + name + "?s=" + secret, "abc", 409},           // again
		{"GET", "/upload/" + id + "/" + name, "", 200},                               // served
		{"GET", "/upload/" + id + "/OTHER-" + name, "", 404},                         // wrong name
		{"GET", "/upload/" + strings.Repeat("9", 32) + "/" + name + "/x/y", "", 404}, // malformed
	} {
		req := httptest.NewRequestWithContext(t.Context(), tc.method, tc.target, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/pdf")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.target, w.Code, tc.status)
		}
		hdr := w.Result().Header
		if hdr.Get("Set-Cookie") != "" || hdr.Get("Cross-Origin-Resource-Policy") != "cross-origin" ||
			!strings.Contains(hdr.Get("Content-Security-Policy"), "sandbox") || hdr.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s %s: headers %v", tc.method, tc.target, hdr)
		}
	}
	logged := errlog.String()
	if !strings.Contains(logged, "/upload/"+id) || strings.Count(logged, "\n") != 6 {
		t.Errorf("error log = %q, want six lines naming the id", logged)
	}
	for _, m := range []string{"SECRET-NAME-MARKER", secret, "OTHER"} {
		if strings.Contains(logged, m) {
			t.Errorf("error log holds %q: %s", m, logged)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), "GET", "/upload/"+id+"/"+name, nil))
	if w.Code != http.StatusOK || w.Body.String() != "abc" {
		t.Errorf("GET after the log check = %d %q", w.Code, w.Body.String())
	}
}
