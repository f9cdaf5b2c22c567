package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestLogPath: the error log never records what follows an invite or
// upload segment (beyond an upload id), however the path is written:
// unclean, percent-encoded (once or more), with dot segments, empty
// segments or backslashes. Fails on main before this change (unclean
// paths were answered before any handler could hide the token, and
// logged as sent).
func TestLogPath(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/en/privacy", "/en/privacy"},
		{"/no/such/page", "/no/such/page"},
		{"/en//privacy", "/en/privacy"},
		{"/en/../secret", "/secret"},
		{"/invite/TOKEN", "/invite/"},
		{"/invite/TOKEN/", "/invite/"},
		{"/invite/TOKEN/./", "/invite/"},
		{"/invite//TOKEN", "/invite/"},
		{"/invite/./TOKEN", "/invite/"},
		{"/./invite/TOKEN", "/invite/"},
		{"//invite/TOKEN", "/invite/"},
		{"/x/../invite/TOKEN", "/invite/"},
		{"/invite/TOKEN/..", "/invite/"},
		{"/invite/TOKEN/../TOKEN", "/invite/"},
		{"/invite%2FTOKEN", "/invite/"},
		{"/invite%252FTOKEN", "/invite/"},
		{"/%69nvite/TOKEN", "/invite/"},
		{"/invite/%54OKEN", "/invite/"},
		{"/INVITE/TOKEN", "/INVITE/"},
		{"/de/invite/TOKEN", "/de/invite/"},
		{"/invite\\TOKEN", "/invite/"},
		{"/invite/TOKEN%zz", "/invite/"},
		{"/x/..%2Finvite%2FTOKEN", "/invite/"},
		{"/invite", "/invite/"},
		{"/upload/" + id + "/name.jpg", "/upload/" + id},
		{"/upload/" + id + "//name.jpg", "/upload/" + id},
		{"/upload//" + id + "/name.jpg", "/upload/" + id},
		{"/upload/" + id + "/./name.jpg", "/upload/" + id},
		{"/upload/" + id + "/x/../name.jpg", "/upload/" + id},
		{"/upload/" + id + "%2Fname.jpg", "/upload/" + id},
		{"/upload/" + id + "/na%6De.jpg", "/upload/" + id},
		{"/upload/name.jpg", "/upload/"},
		{"/upload/NAME-" + id, "/upload/"},
		{"/upload/../upload/" + id + "/name.jpg", "/upload/" + id},
		{"/Upload/" + id + "/name.jpg", "/Upload/" + id},
		{"/" + strings.Repeat("a", 300), "/" + strings.Repeat("a", maxLoggedPath-1)},
	} {
		got := logPath(tc.in)
		if got != tc.want {
			t.Errorf("logPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, secret := range []string{"TOKEN", "name", "NAME", "OKEN"} {
			if strings.Contains(got, secret) {
				t.Errorf("logPath(%q) = %q keeps %s", tc.in, got, secret)
			}
		}
	}
}

// FuzzLogPath: no input panics, the result is bounded, and nothing after
// an invite segment survives.
func FuzzLogPath(f *testing.F) {
	for _, s := range []string{"/", "/invite/T", "/invite/T/./", "/upload/0123456789abcdef0123456789abcdef//n.jpg",
		"/%2e%2e/invite%2fT", "/invite%252fT", "%", "/\\invite\\T", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := logPath(p)
		if len(got) > maxLoggedPath {
			t.Fatalf("logPath(%q) = %d bytes", p, len(got))
		}
		if i := strings.Index(strings.ToLower(got), "/invite/"); i >= 0 && got[i+len("/invite/"):] != "" {
			t.Fatalf("logPath(%q) = %q keeps something after the invite segment", p, got)
		}
	})
}

// TestErrorLogUnclean: through the site's handler, with a mounted page
// that hides nothing itself, unclean and encoded invite and upload paths
// leave no token or file name in the error log.
func TestErrorLogUnclean(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Domain = "xmpp.test"
	var log bytes.Buffer
	w, err := New(cfg, Deps{ErrorLog: zerolog.New(&log)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fail := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { http.Error(rw, "no", http.StatusBadRequest) })
	w.Mount("/invite/", fail)
	w.Mount("/upload/", fail)
	for _, p := range []string{
		"/invite/TOKEN-MARKER", "/invite/TOKEN-MARKER/./", "/invite//TOKEN-MARKER", "/invite/TOKEN-MARKER/..",
		"/invite%2FTOKEN-MARKER", "/x/../invite/TOKEN-MARKER",
		"/upload/0123456789abcdef0123456789abcdef/NAME-MARKER.jpg",
		"/upload/0123456789abcdef0123456789abcdef//NAME-MARKER.jpg",
		"/upload/0123456789abcdef0123456789abcdef/%4eAME-MARKER.jpg",
	} {
		u, err := url.ParseRequestURI(p)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL, req.RequestURI = u, p
		rec := httptest.NewRecorder()
		w.Handler().ServeHTTP(rec, req)
		if rec.Code < 400 {
			t.Errorf("GET %s = %d, want an error (logged)", p, rec.Code)
		}
	}
	if n := strings.Count(log.String(), "\n"); n != 9 {
		t.Errorf("error log has %d lines, want 9:\n%s", n, log.String())
	}
	for _, m := range []string{"TOKEN", "NAME", "%4e", "%4E"} {
		if strings.Contains(log.String(), m) {
			t.Errorf("error log contains %q:\n%s", m, log.String())
		}
	}
}
