package upload_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web/upload"
)

var (
	_  http.Handler = (*upload.Uploads)(nil)
	t0              = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type env struct {
	db      *store.DB
	up      *upload.Uploads
	dataDir string
	dir     string
	clock   *clock
	user    string
	n       int
}

const base = "https://chat.example.org/upload/"

func newEnv(t *testing.T) *env {
	t.Helper()
	data := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(data, "chatbx.db"))
	e := &env{db: db, dataDir: data, dir: filepath.Join(data, "uploads"), clock: &clock{t: t0}}
	e.user = storetest.User(t, db, "alice")
	up, err := upload.New(upload.Config{Dir: e.dir, BaseURL: base, Now: e.clock.Now}, db)
	if err != nil {
		t.Fatal(err)
	}
	e.up = up
	return e
}

// slot records a slot created now and returns its id and secret.
func (e *env) slot(t *testing.T, user, name, ctype string, size int64) (id, secret string) {
	t.Helper()
	e.n++
	id = fmt.Sprintf("ab%030d", e.n)
	secret = "secret-" + id
	hash := sha256.Sum256([]byte(secret))
	now := e.clock.Now()
	err := e.db.PutUpload(t.Context(), user, store.Upload{
		ID: id, Name: name, ContentType: ctype, Size: size, Created: now,
		Expires: now.Add(30 * 24 * time.Hour), PutBy: now.Add(5 * time.Minute), PutHash: hash[:],
	}, store.UploadLimits{})
	if err != nil {
		t.Fatal(err)
	}
	return id, secret
}

// do runs one request through the handler.
func (e *env) do(t *testing.T, method, target string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, r)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cl, ok := hdr["Content-Length"]; ok {
		req.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	w := httptest.NewRecorder()
	e.up.ServeHTTP(w, req)
	return w.Result()
}

func putURL(id, name, secret string) string {
	return "/upload/" + id + "/" + name + "?" + upload.SecretParam + "=" + secret
}

func TestPut(t *testing.T) {
	t.Parallel()
	body := []byte("PNGDATA-1234")
	for _, tc := range []struct {
		name   string
		setup  func(e *env, id, secret string) (method, target string, body []byte, hdr map[string]string)
		status int
		stored bool
	}{
		{"good", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), body, map[string]string{"Content-Type": "image/png"}
		}, 201, true},
		{"good without content type", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), body, nil
		}, 201, true},
		{"type with parameters", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), body, map[string]string{"Content-Type": "IMAGE/PNG; x=y"}
		}, 201, true},
		{"bad secret", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s+"x"), body, nil
		}, 403, false},
		{"no secret", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", "/upload/" + id + "/a.png", body, nil
		}, 403, false},
		{"too large", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), append(body, 'x'), nil
		}, 413, false},
		{"too small", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), body[1:], nil
		}, 400, false},
		{"short body", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), body[1:], map[string]string{"Content-Length": strconv.Itoa(len(body))}
		}, 400, false},
		{"no length", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), body, map[string]string{"Content-Length": "-1"}
		}, 411, false},
		{"wrong type", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "a.png", s), body, map[string]string{"Content-Type": "text/html"}
		}, 415, false},
		{"wrong name", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(id, "b.png", s), body, nil
		}, 404, false},
		{"unknown id", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(strings.Repeat("f", 32), "a.png", s), body, nil
		}, 404, false},
		{"malformed id", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			return "PUT", putURL(strings.ToUpper(id), "a.png", s), body, nil
		}, 404, false},
		{"expired slot", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			e.clock.Set(t0.Add(5 * time.Minute))
			return "PUT", putURL(id, "a.png", s), body, nil
		}, 404, false},
		{"just before expiry", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			e.clock.Set(t0.Add(5*time.Minute - time.Nanosecond))
			return "PUT", putURL(id, "a.png", s), body, nil
		}, 201, true},
		{"another PUT is writing", func(e *env, id, s string) (string, string, []byte, map[string]string) {
			if err := os.WriteFile(filepath.Join(e.dir, id+".part"), nil, 0o600); err != nil {
				panic(err)
			}
			return "PUT", putURL(id, "a.png", s), body, nil
		}, 409, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			id, secret := e.slot(t, e.user, "a.png", "image/png", int64(len(body)))
			method, target, b, hdr := tc.setup(e, id, secret)
			res := e.do(t, method, target, b, hdr)
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s = %d, want %d", method, target, res.StatusCode, tc.status)
			}
			if res.Header.Get("Set-Cookie") != "" || res.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("headers = %v", res.Header)
			}
			got, err := os.ReadFile(filepath.Join(e.dir, id))
			up, _ := e.db.Upload(t.Context(), id)
			if tc.stored {
				if err != nil || !bytes.Equal(got, body) || !up.Complete {
					t.Errorf("stored %q (%v), complete %v; want %q", got, err, up.Complete, body)
				}
				fi, err := os.Stat(filepath.Join(e.dir, id))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("file mode = %v (%v), want 0600", fi.Mode(), err)
				}
				// A second PUT with the right secret is refused.
				if res := e.do(t, "PUT", putURL(id, "a.png", secret), body, nil); res.StatusCode != 409 {
					t.Errorf("second PUT = %d, want 409", res.StatusCode)
				}
			} else if err == nil || up.Complete {
				t.Errorf("refused PUT left a file (%v) or a complete record (%v)", err == nil, up.Complete)
			}
			entries, _ := os.ReadDir(e.dir)
			for _, en := range entries {
				if strings.HasSuffix(en.Name(), ".part") && tc.name != "another PUT is writing" {
					t.Errorf("partial file %s left behind", en.Name())
				}
			}
		})
	}
}

func TestPutAnyTypeSlot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, secret := e.slot(t, e.user, "x.bin", "application/octet-stream", 3)
	if res := e.do(t, "PUT", putURL(id, "x.bin", secret), []byte("abc"), map[string]string{"Content-Type": "text/html"}); res.StatusCode != 201 {
		t.Errorf("PUT to an untyped slot = %d, want 201", res.StatusCode)
	}
	res := e.do(t, "GET", "/upload/"+id+"/x.bin", nil, nil)
	if ct := res.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("GET Content-Type = %q, want the slot's type", ct)
	}
}

func TestPutRecordDeletedMeanwhile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, secret := e.slot(t, e.user, "a.txt", "text/plain", 3)
	// The body reader deletes the record while the PUT runs, as an account
	// deletion would.
	body := &hookReader{r: strings.NewReader("abc"), hook: func() {
		if err := e.db.DeleteUpload(t.Context(), id); err != nil {
			t.Error(err)
		}
	}}
	req := httptest.NewRequestWithContext(t.Context(), "PUT", putURL(id, "a.txt", secret), body)
	req.ContentLength = 3
	w := httptest.NewRecorder()
	e.up.ServeHTTP(w, req)
	if w.Code != 404 {
		t.Errorf("PUT = %d, want 404", w.Code)
	}
	if entries, _ := os.ReadDir(e.dir); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
}

// TestPutQuotaRecheck: a PUT that began while its slot was valid, but
// ends after the slot expired and its space went to another slot, is
// refused with 413 when the quota has no room left, and leaves no file.
// Fails on main before this change (completion did not check the quota).
func TestPutQuotaRecheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const quota = 100
	up, err := upload.New(upload.Config{Dir: e.dir, BaseURL: base, Now: e.clock.Now, Quota: quota}, e.db)
	if err != nil {
		t.Fatal(err)
	}
	id, secret := e.slot(t, e.user, "late.bin", "", 60)
	body := &hookReader{r: strings.NewReader(strings.Repeat("x", 60)), hook: func() {
		// While the body arrives, the slot expires and another one
		// takes its space and completes.
		now := e.clock.Now().Add(6 * time.Minute)
		e.clock.Set(now)
		hash := sha256.Sum256([]byte("other"))
		other := store.Upload{ID: strings.Repeat("e", 32), Name: "o.bin", Size: 60, Created: now,
			Expires: now.Add(time.Hour), PutBy: now.Add(5 * time.Minute), PutHash: hash[:]}
		if err := e.db.PutUpload(t.Context(), e.user, other, store.UploadLimits{Quota: quota}); err != nil {
			t.Error(err)
		}
		if err := e.db.CompleteUpload(t.Context(), other.ID, now, quota); err != nil {
			t.Error(err)
		}
	}}
	req := httptest.NewRequestWithContext(t.Context(), "PUT", putURL(id, "late.bin", secret), body)
	req.ContentLength = 60
	w := httptest.NewRecorder()
	up.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT = %d, want 413", w.Code)
	}
	if _, err := os.Stat(filepath.Join(e.dir, id)); !os.IsNotExist(err) {
		t.Errorf("file of the refused upload: %v", err)
	}
	if u, err := e.db.Upload(t.Context(), id); err != nil || u.Complete {
		t.Errorf("record = %+v, %v; want incomplete", u, err)
	}
}

type hookReader struct {
	r    io.Reader
	hook func()
	once sync.Once
}

func (h *hookReader) Read(p []byte) (int, error) {
	h.once.Do(h.hook)
	return h.r.Read(p)
}

func put(t *testing.T, e *env, name, ctype string, body []byte) string {
	t.Helper()
	id, secret := e.slot(t, e.user, name, ctype, int64(len(body)))
	if res := e.do(t, "PUT", putURL(id, url.PathEscape(name), secret), body, map[string]string{"Content-Type": ctype}); res.StatusCode != 201 {
		t.Fatalf("PUT %s = %d", name, res.StatusCode)
	}
	return id
}

func TestGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	png := put(t, e, "photo.png", "image/png", []byte("PNG-BYTES"))
	html := put(t, e, "page.html", "text/html", []byte("<script>alert(1)</script>"))
	svg := put(t, e, "dräw ing.svg", "image/svg+xml", []byte("<svg/>"))
	pending, _ := e.slot(t, e.user, "pending.png", "image/png", 5)

	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		body, ctype, disp  string
	}{
		{"png inline", "GET", "/upload/" + png + "/photo.png", nil, 200, "PNG-BYTES", "image/png", `inline; filename=photo.png`},
		{"head", "HEAD", "/upload/" + png + "/photo.png", nil, 200, "", "image/png", `inline; filename=photo.png`},
		{"range", "GET", "/upload/" + png + "/photo.png", map[string]string{"Range": "bytes=4-"}, 206, "BYTES", "image/png", `inline; filename=photo.png`},
		{"html as attachment", "GET", "/upload/" + html + "/page.html", nil, 200, "<script>alert(1)</script>", "text/html", `attachment; filename=page.html`},
		{"svg as attachment, escaped name", "GET", "/upload/" + svg + "/dr%C3%A4w%20ing.svg", nil, 200, "<svg/>", "image/svg+xml", `attachment; filename*=utf-8''dr%C3%A4w%20ing.svg`},
		{"wrong name", "GET", "/upload/" + png + "/other.png", nil, 404, "", "", ""},
		{"no name", "GET", "/upload/" + png + "/", nil, 404, "", "", ""},
		{"unknown", "GET", "/upload/" + strings.Repeat("a", 32) + "/photo.png", nil, 404, "", "", ""},
		{"not uploaded yet", "GET", "/upload/" + pending + "/pending.png", nil, 404, "", "", ""},
		{"other method", "DELETE", "/upload/" + png + "/photo.png", nil, 405, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, tc.method, tc.path, nil, tc.hdr)
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, res.StatusCode, tc.status)
			}
			h := res.Header
			for k, want := range map[string]string{
				"X-Content-Type-Options":       "nosniff",
				"Access-Control-Allow-Origin":  "*",
				"Cross-Origin-Resource-Policy": "cross-origin",
				"Set-Cookie":                   "",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			if tc.status >= 300 {
				if strings.Contains(string(b), "photo") {
					t.Errorf("error body names the file: %q", b)
				}
				return
			}
			if string(b) != tc.body || h.Get("Content-Type") != tc.ctype || h.Get("Content-Disposition") != tc.disp {
				t.Errorf("got %q, type %q, disposition %q; want %q, %q, %q",
					b, h.Get("Content-Type"), h.Get("Content-Disposition"), tc.body, tc.ctype, tc.disp)
			}
		})
	}

	// After the expiry the file is not served, even before the sweep.
	e.clock.Set(t0.Add(30 * 24 * time.Hour))
	if res := e.do(t, "GET", "/upload/"+png+"/photo.png", nil, nil); res.StatusCode != 404 {
		t.Errorf("GET after expiry = %d, want 404", res.StatusCode)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do(t, "OPTIONS", "/upload/"+strings.Repeat("a", 32)+"/x.png", nil, map[string]string{
		"Origin": "https://webclient.example", "Access-Control-Request-Method": "PUT",
	})
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("OPTIONS = %d %v", res.StatusCode, res.Header)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "uploads")
	for _, tc := range []struct {
		cfg upload.Config
		ok  bool
	}{
		{upload.Config{Dir: dir, BaseURL: "https://x.example/upload/"}, true},
		{upload.Config{Dir: dir, BaseURL: "https://x.example/files"}, true},
		{upload.Config{Dir: dir, BaseURL: "/upload/"}, false},
		{upload.Config{BaseURL: "https://x.example/upload/"}, false},
	} {
		u, err := upload.New(tc.cfg, nil)
		if (err == nil) != tc.ok {
			t.Errorf("New(%+v) = %v, want ok %v", tc.cfg, err, tc.ok)
		}
		if err == nil && !strings.HasSuffix(u.Pattern(), "/") {
			t.Errorf("Pattern() = %q", u.Pattern())
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("upload directory mode = %v (%v), want 0700", fi.Mode(), err)
	}
}
