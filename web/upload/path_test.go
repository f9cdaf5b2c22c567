package upload_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"chatbx/web/upload"
)

const id32 = "0123456789abcdef0123456789abcdef"

func TestParsePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, id, name string
		ok             bool
	}{
		{"/upload/" + id32 + "/a.png", id32, "a.png", true},
		{"/upload/" + id32 + "/my juliet.jpg", id32, "my juliet.jpg", true},
		{"/upload/" + id32 + "/", "", "", false},
		{"/upload/" + id32, "", "", false},
		{"/upload/" + id32 + "/a/b", "", "", false},
		{"/upload/" + strings.ToUpper(id32) + "/a", "", "", false},
		{"/upload/" + id32[:31] + "/a", "", "", false},
		{"/upload/" + id32 + "0/a", "", "", false},
		{"/upload/" + strings.Repeat("g", 32) + "/a", "", "", false},
		{"/other/" + id32 + "/a", "", "", false},
		{"", "", "", false},
	} {
		id, name, ok := upload.ParsePath("/upload/", tc.path)
		if id != tc.id || name != tc.name || ok != tc.ok {
			t.Errorf("ParsePath(%q) = %q, %q, %v; want %q, %q, %v", tc.path, id, name, ok, tc.id, tc.name, tc.ok)
		}
	}
}

func TestLogPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/upload/" + id32 + "/secret-name.pdf", "/upload/" + id32},
		{"/upload/" + id32 + "x/name", "/upload/" + id32},
		{"/upload/abc", "/upload/abc"},
		{"/privacy", "/privacy"},
	} {
		if got := upload.LogPath("/upload/", tc.in); got != tc.want {
			t.Errorf("LogPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParsePath: what ParsePath accepts is exactly prefix + id + "/" +
// name, and LogPath of it keeps the id and drops the name.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/upload/" + id32 + "/a.png", "/upload/" + id32 + "/", "/upload//", "/upload/" + id32 + "/a/b", "/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id, name, ok := upload.ParsePath("/upload/", path)
		lp := upload.LogPath("/upload/", path)
		if strings.HasPrefix(path, "/upload/") && (strings.Count(lp, "/") > 2 || len(lp) > len("/upload/")+32) {
			t.Fatalf("LogPath(%q) = %q: more than the id", path, lp)
		}
		if !ok {
			return
		}
		if "/upload/"+id+"/"+name != path || len(id) != 32 || name == "" || strings.Contains(name, "/") {
			t.Fatalf("ParsePath(%q) = %q, %q", path, id, name)
		}
		if lp != "/upload/"+id {
			t.Fatalf("LogPath(%q) = %q, want /upload/%s", path, lp, id)
		}
	})
}

// FuzzPut sends PUTs with arbitrary paths and queries to a slot: only the
// slot's own path with its own secret may store the file, and nothing
// panics.
func FuzzPut(f *testing.F) {
	f.Add("/upload/ab000000000000000000000000000001/a.png", "s=secret-ab000000000000000000000000000001")
	f.Add("/upload/ab000000000000000000000000000001/a.png", "s=secret-ab000000000000000000000000000001&s=x")
	f.Add("/upload/ab000000000000000000000000000001/a.png", "s=")
	f.Add("/upload/ab000000000000000000000000000001/%2e%2e", "s=%zz")
	f.Add("/upload/../../etc/passwd", "")
	f.Fuzz(func(t *testing.T, path, query string) {
		e := newEnv(t)
		id, secret := e.slot(t, e.user, "a.png", "image/png", 1)
		u := &url.URL{Path: path, RawQuery: query}
		req := httptest.NewRequestWithContext(t.Context(), "PUT", "/", strings.NewReader("x"))
		req.URL = u
		req.ContentLength = 1
		w := httptest.NewRecorder()
		e.up.ServeHTTP(w, req)
		// The handler cuts the name from req.URL (see ServeHTTP): compare
		// what was sent.
		q, _ := url.ParseQuery(query)
		if w.Code == http.StatusCreated && (path != "/upload/"+id+"/a.png" || q.Get(upload.SecretParam) != secret) {
			t.Fatalf("PUT %q ? %q stored the file", path, query)
		}
	})
}
