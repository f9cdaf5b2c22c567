package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/web"
)

var fixedNow = time.Date(2026, 11, 27, 12, 30, 0, 0, time.UTC)

func testConfig() web.Config {
	cfg := web.DefaultConfig()
	cfg.ServiceName = "Testchat"
	cfg.Domain = "xmpp.test"
	cfg.Hosts = []string{"xmpp.test", "accounts.xmpp.test"}
	cfg.ContactAdmin = []string{"mailto:admin@xmpp.test", "xmpp:admin@xmpp.test"}
	cfg.ContactAbuse = []string{"mailto:abuse@xmpp.test"}
	return cfg
}

// lockedBuffer is a bytes.Buffer safe for a server's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// newWeb returns a site and the buffer its error log writes to.
func newWeb(t *testing.T, cfg web.Config) (*web.Web, *lockedBuffer) {
	t.Helper()
	errlog := &lockedBuffer{}
	w, err := web.New(cfg, web.Deps{
		ErrorLog: zerolog.New(errlog),
		Now:      func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w, errlog
}

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "192.0.2.7:41234"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPages(t *testing.T) {
	w, errlog := newWeb(t, testConfig())
	h := w.Handler()
	tests := []struct {
		name, path, acceptLanguage string
		status                     int
		lang                       string
		want                       []string
	}{
		{"home default", "/", "", 200, "en", []string{"How to connect", "5222", "5223", "Conversations", "Monal", "Siskin", "Dino", "Gajim", "Profanity", "Monocles"}},
		{"home german preferred", "/", "de-AT,de;q=0.9,en;q=0.5", 200, "de", []string{"So verbindet ihr euch"}},
		{"home french falls back", "/", "fr-FR,fr;q=0.9", 200, "en", []string{"How to connect"}},
		{"privacy by header", "/privacy", "de", 200, "de", []string{"Datenschutzerklärung"}},
		{"privacy en", "/en/privacy", "de", 200, "en", []string{"Privacy policy"}},
		{"privacy de", "/de/privacy", "", 200, "de", []string{"Datenschutzerklärung"}},
		{"imprint en", "/en/imprint", "", 200, "en", []string{"Imprint", "admin@xmpp.test"}},
		{"imprint de", "/de/imprint", "", 200, "de", []string{"Impressum", "abuse@xmpp.test"}},
		{"de home without slash", "/de", "", 200, "de", []string{"So verbindet ihr euch"}},
		{"en home", "/en/", "", 200, "en", []string{"How to connect"}},
		{"unknown page", "/en/nothing", "", 404, "en", []string{"Page not found"}},
		{"unknown page de", "/de/nichts", "", 404, "de", []string{"Seite nicht gefunden"}},
		{"unknown top", "/nothing", "de", 404, "de", []string{"Seite nicht gefunden"}},
		{"home by name", "/en/home", "", 404, "en", nil},
		{"unknown language", "/fr/privacy", "", 404, "en", nil},
		{"trailing slash", "/en/privacy/", "", 404, "en", nil},
		{"upper case", "/en/Privacy", "", 404, "en", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, h, "GET", tc.path, map[string]string{"Accept-Language": tc.acceptLanguage})
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Content-Language"); got != tc.lang {
				t.Errorf("GET %s: Content-Language %q, want %q", tc.path, got, tc.lang)
			}
			if !strings.Contains(b, `<html lang="`+tc.lang+`">`) {
				t.Errorf("GET %s: no <html lang=%q>", tc.path, tc.lang)
			}
			for _, s := range tc.want {
				if !strings.Contains(b, s) {
					t.Errorf("GET %s: body lacks %q", tc.path, s)
				}
			}
			if tc.status == 200 {
				for _, s := range []string{`name="viewport"`, `href="/static/style.css"`} {
					if !strings.Contains(b, s) {
						t.Errorf("GET %s: body lacks %q", tc.path, s)
					}
				}
				for _, s := range []string{"<script", "style=", "{{", "http://"} {
					if strings.Contains(b, s) {
						t.Errorf("GET %s: body contains %q", tc.path, s)
					}
				}
			}
		})
	}
	_ = errlog
}

func TestLanguageSwitch(t *testing.T) {
	w, _ := newWeb(t, testConfig())
	tests := []struct{ path, want string }{
		{"/en/privacy", `id="lang-switch" href="/de/privacy" hreflang="de"`},
		{"/de/privacy", `id="lang-switch" href="/en/privacy" hreflang="en"`},
		{"/en/", `id="lang-switch" href="/de/" hreflang="de"`},
		{"/imprint", `id="lang-switch" href="/de/imprint" hreflang="de"`},
		{"/en/missing", `id="lang-switch" href="/de/" hreflang="de"`},
	}
	for _, tc := range tests {
		b := body(t, get(t, w.Handler(), "GET", tc.path, nil))
		if !strings.Contains(b, tc.want) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.want)
		}
	}
}

func TestStyleSheet(t *testing.T) {
	w, _ := newWeb(t, testConfig())
	resp := get(t, w.Handler(), "GET", "/static/style.css", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("GET /static/style.css: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if b := body(t, resp); !strings.Contains(b, "max-width") {
		t.Errorf("style sheet looks empty: %q", b)
	}
	if resp := get(t, w.Handler(), "GET", "/static/other.css", nil); resp.StatusCode != 404 {
		t.Errorf("GET /static/other.css: %d, want 404", resp.StatusCode)
	}
}

func TestHead(t *testing.T) {
	w, _ := newWeb(t, testConfig())
	resp := get(t, w.Handler(), "HEAD", "/en/privacy", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	if b := body(t, resp); b != "" {
		t.Errorf("HEAD body %q, want none", b)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	w, errlog := newWeb(t, testConfig())
	resp := get(t, w.Handler(), "POST", "/en/privacy", nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /en/privacy: %d Allow=%q, want 405 GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if n := strings.Count(errlog.String(), "\n"); n != 1 {
		t.Errorf("error log has %d lines, want 1", n)
	}
}

var wantHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=63072000",
	"Content-Security-Policy":   "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":    "nosniff",
	"Referrer-Policy":           "no-referrer",
}

func TestSecurityHeaders(t *testing.T) {
	w, _ := newWeb(t, testConfig())
	w.Mount("/account/", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// A handler that tries to set a cookie must not get through.
		http.SetCookie(rw, &http.Cookie{Name: "session", Value: "x"})
		rw.Header().Add("Set-Cookie", "other=y")
		io.WriteString(rw, "account page")
	}))
	w.Mount("/panic", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.SetCookie(rw, &http.Cookie{Name: "session", Value: "x"})
		panic("boom")
	}))
	redirect := w.RedirectHandler(nil)
	tests := []struct {
		name   string
		h      http.Handler
		method string
		path   string
		status int
	}{
		{"page", w.Handler(), "GET", "/", 200},
		{"css", w.Handler(), "GET", "/static/style.css", 200},
		{"not found", w.Handler(), "GET", "/missing", 404},
		{"method", w.Handler(), "DELETE", "/", 405},
		{"mounted", w.Handler(), "GET", "/account/delete", 200},
		{"mounted panic", w.Handler(), "GET", "/panic", 500},
		{"redirect", redirect, "GET", "/privacy", 301},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.h, tc.method, tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
			for k, v := range wantHeaders {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, k, got, v)
				}
			}
			if got := resp.Header.Get("Permissions-Policy"); !strings.Contains(got, "camera=()") {
				t.Errorf("%s %s: Permissions-Policy = %q", tc.method, tc.path, got)
			}
			if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
				t.Errorf("%s %s: Set-Cookie %q, want none", tc.method, tc.path, c)
			}
		})
	}
}

func TestErrorLog(t *testing.T) {
	w, errlog := newWeb(t, testConfig())
	h := w.Handler()

	// Successful requests leave no trace.
	for _, p := range []string{"/", "/en/privacy", "/de/imprint", "/static/style.css"} {
		get(t, h, "GET", p, nil)
	}
	if errlog.Len() != 0 {
		t.Fatalf("successful requests were logged: %q", errlog.String())
	}

	resp := get(t, h, "GET", "/no/such/page?token=secret-query", map[string]string{
		"User-Agent": "AgentMarker/1.0",
		"Referer":    "https://elsewhere.test/referrer-marker",
		"Cookie":     "c=cookie-marker",
	})
	if resp.StatusCode != 404 {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	lines := strings.Split(strings.TrimSuffix(errlog.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("error log has %d lines, want 1: %q", len(lines), errlog.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("error log line %q: %v", lines[0], err)
	}
	want := map[string]any{
		"time":   "2026-11-27T12:30:00Z",
		"ip":     "192.0.2.7",
		"status": float64(404),
		"path":   "/no/such/page",
	}
	if len(got) != len(want) {
		t.Errorf("error log line has fields %v, want exactly %v", keys(got), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("error log %s = %v, want %v", k, got[k], v)
		}
	}
	for _, marker := range []string{"secret-query", "AgentMarker", "referrer-marker", "cookie-marker", "41234"} {
		if strings.Contains(errlog.String(), marker) {
			t.Errorf("error log contains %q: %s", marker, errlog.String())
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestRedirect(t *testing.T) {
	cfg := testConfig()
	w, errlog := newWeb(t, cfg)
	cfg.HTTPSPort = 8443
	w8443, _ := newWeb(t, cfg)

	acmeCalled := 0
	acme := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
				acmeCalled++
				io.WriteString(rw, "key-authorization")
				return
			}
			next.ServeHTTP(rw, r)
		})
	}
	tests := []struct {
		name     string
		w        *web.Web
		method   string
		target   string
		status   int
		location string
	}{
		{"get", w, "GET", "http://xmpp.test/en/privacy?x=1", 301, "https://xmpp.test/en/privacy?x=1"},
		{"head", w, "HEAD", "http://xmpp.test/", 301, "https://xmpp.test/"},
		{"post keeps method", w, "POST", "http://accounts.xmpp.test/account/delete", 308, "https://accounts.xmpp.test/account/delete"},
		{"port in host header", w, "GET", "http://XMPP.test:80/", 301, "https://xmpp.test/"},
		{"foreign host", w, "GET", "http://evil.test/x", 301, "https://xmpp.test/x"},
		{"dev port", w8443, "GET", "http://xmpp.test:8080/imprint", 301, "https://xmpp.test:8443/imprint"},
		{"acme challenge", w, "GET", "http://xmpp.test/.well-known/acme-challenge/token", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.w.RedirectHandler(acme), tc.method, tc.target, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.target, resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("%s %s: Location %q, want %q", tc.method, tc.target, got, tc.location)
			}
		})
	}
	if acmeCalled != 1 {
		t.Errorf("acme handler answered %d challenges, want 1", acmeCalled)
	}
	if errlog.Len() != 0 {
		t.Errorf("redirects were logged: %q", errlog.String())
	}
}

func TestTraversal(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	for _, d := range []string{content, filepath.Join(content, "en")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Files outside the content directory that a request must never reach.
	if err := os.WriteFile(filepath.Join(dir, "secret.md"), []byte("SECRET-MARKER"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(content, "secret.md"), []byte("SECRET-MARKER"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.ContentDir = content
	w, _ := newWeb(t, cfg)
	// A symlink leading out of the content directory, added after start.
	if err := os.Symlink(filepath.Join(dir, "secret.md"), filepath.Join(content, "en", "leak.md")); err != nil {
		t.Fatal(err)
	}

	paths := []string{
		"/en/../secret",
		"/en/..%2fsecret",
		"/en/..%2f..%2fsecret",
		"/en/%2e%2e/secret",
		"/..",
		"/../secret",
		"/en/..",
		"/en/.",
		"/en//privacy",
		"/en/%2e%2e%2fsecret",
		"/en/secret.md",
		"/secret",
		"/en/%5c..%5csecret",
		"/en/..\\secret",
		"/en/privacy%00",
		"/%2e%2e/%2e%2e/etc/passwd",
		"/static/../../secret.md",
	}
	for _, p := range paths {
		// url.ParseRequestURI, as net/http's server does, keeps dot
		// segments (unlike URL.Parse, which resolves them).
		u, err := url.ParseRequestURI(p)
		if err != nil {
			// Not even a request URI; net/http would refuse it before us.
			continue
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL = u
		req.RequestURI = p
		req.RemoteAddr = "192.0.2.7:1"
		rec := httptest.NewRecorder()
		w.Handler().ServeHTTP(rec, req)
		if rec.Code != 404 {
			t.Errorf("GET %s: status %d, want 404", p, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "SECRET-MARKER") {
			t.Errorf("GET %s: served a file outside the content directory", p)
		}
	}
	// The escaping symlink is refused by os.Root: not served, whatever the status.
	resp := get(t, w.Handler(), "GET", "/en/leak", nil)
	if b := body(t, resp); strings.Contains(b, "SECRET-MARKER") || resp.StatusCode == 200 {
		t.Errorf("GET /en/leak: status %d, served the symlink target", resp.StatusCode)
	}
}

func TestOverride(t *testing.T) {
	content := t.TempDir()
	if err := os.MkdirAll(filepath.Join(content, "en"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(content, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("en/privacy.md", "# Our own policy\n\nUploads live {{.Retention.Uploads}} on {{.Domain}}.\n\n<script>alert(1)</script>\n")
	write("en/rules.md", "# House rules\n\nBe kind.\n")
	cfg := testConfig()
	cfg.ContentDir = content
	w, _ := newWeb(t, cfg)

	b := body(t, get(t, w.Handler(), "GET", "/en/privacy", nil))
	for _, s := range []string{"<title>Our own policy · Testchat</title>", "Uploads live 30 days on xmpp.test."} {
		if !strings.Contains(b, s) {
			t.Errorf("override: body lacks %q", s)
		}
	}
	if strings.Contains(b, "<script>") {
		t.Errorf("override: raw HTML passed through: %s", b)
	}
	// German has no override and stays embedded.
	if b := body(t, get(t, w.Handler(), "GET", "/de/privacy", nil)); !strings.Contains(b, "Datenschutzerklärung") {
		t.Errorf("/de/privacy lost its embedded page")
	}
	if resp := get(t, w.Handler(), "GET", "/en/rules", nil); resp.StatusCode != 200 || !strings.Contains(body(t, resp), "Be kind.") {
		t.Errorf("/en/rules: status %d, want the operator's page", resp.StatusCode)
	}
	// A page changed while running shows at once.
	write("en/rules.md", "# House rules\n\nBe very kind.\n")
	if b := body(t, get(t, w.Handler(), "GET", "/en/rules", nil)); !strings.Contains(b, "Be very kind.") {
		t.Errorf("/en/rules not reread")
	}

	// A broken override is found at start.
	write("en/imprint.md", "# Broken {{.NoSuchField}}\n")
	if _, err := web.New(cfg, web.Deps{}); err == nil {
		t.Errorf("web.New accepted a broken override")
	}
}

func TestTemplateFill(t *testing.T) {
	tests := []struct {
		name   string
		change func(*web.Config)
		path   string
		want   []string
		absent []string
	}{
		{"defaults en", func(*web.Config) {}, "/en/privacy",
			[]string{"deleted after 30 days", "at most 30 days", "deleted after 24 hours", "IPv4 /24, IPv6 /48", "is <strong>off</strong> for new accounts", "https://xmpp.test/account/delete", "Testchat"},
			nil},
		{"defaults de", func(*web.Config) {}, "/de/privacy",
			[]string{"höchstens 30 Tage lang", "höchstens 24 Stunden lang", "für neue Konten <strong>aus</strong>", "https://xmpp.test/account/archive"},
			nil},
		{"no backups named", func(*web.Config) {}, "/en/privacy", nil, []string{"backups"}},
		{"backups 14 days", func(c *web.Config) { c.Retention.Backups = 14 * 24 * time.Hour }, "/en/privacy",
			[]string{"database for 14 days", "backups of the server", "what was deleted after it was taken comes back"}, nil},
		{"backups 14 Tage", func(c *web.Config) { c.Retention.Backups = 14 * 24 * time.Hour }, "/de/privacy",
			[]string{"Sicherungskopien der Datenbank des Servers bewahren wir 14 Tage lang auf"}, nil},
		{"uploads 7 days", func(c *web.Config) { c.Retention.Uploads = 7 * 24 * time.Hour }, "/en/privacy",
			[]string{"<td>7 days</td>"}, []string{"<td>30 days</td>"}},
		{"uploads 7 Tage", func(c *web.Config) { c.Retention.Uploads = 7 * 24 * time.Hour }, "/de/privacy",
			[]string{"<td>7 Tage</td>"}, []string{"<td>30 Tage</td>"}},
		{"connection logs 36h", func(c *web.Config) { c.Retention.ConnectionLogs = 36 * time.Hour }, "/en/privacy",
			[]string{"deleted after 36 hours"}, []string{"24 hours"}},
		{"web errors 2 days de", func(c *web.Config) { c.Retention.WebErrors = 48 * time.Hour }, "/de/privacy",
			[]string{"höchstens 2 Tage lang auf"}, nil},
		{"offline 90 minutes", func(c *web.Config) { c.Retention.Offline = 90 * time.Minute }, "/en/privacy",
			[]string{"at most 90 minutes"}, nil},
		{"archive always", func(c *web.Config) { c.ArchiveDefault = "always" }, "/en/privacy",
			[]string{"is <strong>on</strong> for new accounts", "switch it off and purge it"}, []string{"No message history is kept"}},
		{"account url", func(c *web.Config) { c.AccountURL = "https://accounts.xmpp.test/konto" }, "/de/privacy",
			[]string{"https://accounts.xmpp.test/konto/delete"}, []string{"https://xmpp.test/account"}},
		{"https port", func(c *web.Config) { c.HTTPSPort = 8443 }, "/en/",
			[]string{"https://xmpp.test:8443/account/password"}, nil},
		{"service name and domain", func(c *web.Config) { c.ServiceName = "Plauderstube"; c.Domain = "chat.example" }, "/de/",
			[]string{"<title>Plauderstube · Plauderstube</title>", "name@chat.example"}, nil},
		{"contacts", func(c *web.Config) { c.ContactAbuse = nil }, "/en/imprint",
			[]string{`<a href="mailto:admin@xmpp.test">admin@xmpp.test</a>`, `<a href="xmpp:admin@xmpp.test">admin@xmpp.test (XMPP)</a>`},
			[]string{"abuse@"}},
		{"group chats en", func(c *web.Config) {
			c.GroupChat = "conference.xmpp.test"
			c.Retention.GroupArchive = 14 * 24 * time.Hour
		}, "/en/privacy",
			[]string{"Group chats", "conference.xmpp.test", "Messages are not archived unless the room", "kept for 14 days", "<strong>in memory only</strong>"}, nil},
		{"group chats de", func(c *web.Config) { c.GroupChat = "conference.xmpp.test" }, "/de/privacy",
			[]string{"Gruppenchats", "30 Tage lang auf", "nur im Arbeitsspeicher"}, nil},
		{"no group chats", func(*web.Config) {}, "/en/privacy", nil, []string{"Group chats"}},
		{"ports", func(c *web.Config) { c.PortC2S = 15222; c.PortC2STLS = 15223 }, "/en/",
			[]string{"<code>15222</code>", "<code>15223</code>"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.change(&cfg)
			w, _ := newWeb(t, cfg)
			b := body(t, get(t, w.Handler(), "GET", tc.path, nil))
			for _, s := range tc.want {
				if !strings.Contains(b, s) {
					t.Errorf("GET %s: body lacks %q", tc.path, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(b, s) {
					t.Errorf("GET %s: body still contains %q", tc.path, s)
				}
			}
		})
	}
}

// TestPolicyPromises checks that both policies state every promise of the
// published policy.
func TestPolicyPromises(t *testing.T) {
	w, _ := newWeb(t, testConfig())
	promises := map[string][]string{
		"/en/privacy": {
			"no cookies", "HTTPS", "IP address", "30 days", "user name", "salted hash",
			"XEP-0313", "only if you switch it on", "XEP-0363", "delete your account", "OMEMO",
			"do not share data", "another server", "TLS-encrypted connections only", "metadata",
			"shortened", "maintenance", "24 hours", "spam", "abuse@xmpp.test", "GDPR",
			"access, rectification, restriction and erasure", "e-mail", "/account/export",
		},
		"/de/privacy": {
			"keine Cookies", "HTTPS", "IP-Adresse", "30 Tage", "Benutzername", "gesalzener Hash",
			"XEP-0313", "nur wenn ihr es einschaltet", "XEP-0363", "Konto jederzeit löschen", "OMEMO",
			"keine Daten an Dritte", "anderen Server", "nur mit TLS verschlüsselte Verbindungen", "Metadaten",
			"gekürzt", "Wartung", "24 Stunden", "Spam", "abuse@xmpp.test", "DSGVO",
			"Auskunft, Berichtigung, Einschränkung der Verarbeitung (Sperrung) und Löschung", "E-Mail", "/account/export",
		},
	}
	for path, want := range promises {
		b := body(t, get(t, w.Handler(), "GET", path, nil))
		for _, s := range want {
			if !strings.Contains(b, s) {
				t.Errorf("GET %s: policy lacks %q", path, s)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*web.Config)
	}{
		{"empty domain", func(c *web.Config) { c.Domain = "" }},
		{"bad host", func(c *web.Config) { c.Hosts = []string{"a/b"} }},
		{"archive", func(c *web.Config) { c.ArchiveDefault = "sometimes" }},
		{"zero period", func(c *web.Config) { c.Retention.WebErrors = 0 }},
		{"http account url", func(c *web.Config) { c.AccountURL = "http://xmpp.test/account" }},
		{"missing content dir", func(c *web.Config) { c.ContentDir = "/nonexistent/chatbx-content" }},
		{"no service name", func(c *web.Config) { c.ServiceName = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.change(&cfg)
			if _, err := web.New(cfg, web.Deps{}); err == nil {
				t.Errorf("web.New accepted %s", tc.name)
			}
		})
	}
}

// TestErrorLogAnonymised: with AnonIP set (as main sets it), the error line
// holds the shortened address.
func TestErrorLogAnonymised(t *testing.T) {
	var buf bytes.Buffer
	w, err := web.New(testConfig(), web.Deps{ErrorLog: zerolog.New(&buf),
		AnonIP: func(ip string) string { return "192.0.2.0" }})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://xmpp.test/nope?secret=1", nil)
	r.RemoteAddr = "192.0.2.7:1234"
	w.Handler().ServeHTTP(httptest.NewRecorder(), r)
	if s := buf.String(); !strings.Contains(s, `"ip":"192.0.2.0"`) || strings.Contains(s, "192.0.2.7") || strings.Contains(s, "secret") {
		t.Errorf("error log = %s", s)
	}
}
