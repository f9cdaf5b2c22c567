package upload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/metrics"
	"chatbx/store"
)

// SecretParam is the query parameter of a PUT URL that carries the slot's
// secret; it matches server/upload.SecretParam.
const SecretParam = "s"

// idLen is the length of an upload id: 128 random bits as hex.
const idLen = 32

// partSuffix names a file being written; it becomes <id> when complete.
const partSuffix = ".part"

// Store is the part of store.DB the package uses.
type Store interface {
	Upload(ctx context.Context, id string) (store.Upload, error)
	CompleteUpload(ctx context.Context, id string, now time.Time, quota int64) error
	DeleteUpload(ctx context.Context, id string) error
	ExpiredUploads(ctx context.Context, cutoff time.Time, max int) ([]store.Upload, error)
	UserUploads(ctx context.Context, user string) ([]store.Upload, error)
	TrashedUploads(ctx context.Context) ([]string, error)
	ClearTrashedUploads(ctx context.Context, ids []string) error
	Scrub(ctx context.Context) error
}

var _ Store = (*store.DB)(nil)

// Config configures the upload handler and sweeps.
type Config struct {
	// Dir is the directory that holds the files (<data_dir>/uploads).
	// New creates it with mode 0700 if it does not exist.
	Dir string
	// BaseURL is where uploads are served, with a trailing slash, the
	// same as server/upload's Config.BaseURL, e.g.
	// "https://chat.example.org/upload/". Its path is the prefix the
	// handler serves (Pattern); the whole URL appears in the export.
	BaseURL string
	// IdleTimeout ends a PUT whose body stalls for this long
	// (default 1 minute). A PUT that keeps making progress may take as
	// long as it needs: the deadline moves with every read.
	IdleTimeout time.Duration
	// Quota is checked again when a PUT completes (server/upload's
	// Config.Quota, upload.quota): a file that no longer fits, because
	// its slot expired during the PUT and the space was given to another,
	// is refused with 413. Zero or negative: no quota.
	Quota int64
	// Log receives operational errors (a failed write or unlink). Lines
	// never name a file, a user or a client.
	Log zerolog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Metrics counts completed uploads and their bytes; nil: nothing.
	Metrics *metrics.Metrics
}

// Uploads receives and serves the files of XEP-0363 slots and deletes them
// again (retention, account deletion). It is an http.Handler and safe for
// concurrent use.
type Uploads struct {
	dir    string
	base   string
	prefix string
	idle   time.Duration
	quota  int64
	db     Store
	log    zerolog.Logger
	met    *metrics.Metrics
	now    func() time.Time
}

// New returns the upload handler. It fails when BaseURL is not an absolute
// URL or Dir cannot be created.
func New(cfg Config, db Store) (*Uploads, error) {
	if !strings.HasSuffix(cfg.BaseURL, "/") {
		cfg.BaseURL += "/"
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" {
		return nil, fmt.Errorf("upload: base URL %q is not an absolute https URL", cfg.BaseURL)
	}
	if cfg.Dir == "" {
		return nil, errors.New("upload: no directory")
	}
	// Privacy: only the server's user may read the files.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Uploads{
		dir:    cfg.Dir,
		base:   cfg.BaseURL,
		prefix: u.Path,
		idle:   cfg.IdleTimeout,
		quota:  max(cfg.Quota, 0),
		db:     db,
		log:    cfg.Log.With().Str("component", "upload").Logger(),
		now:    now,
		met:    cfg.Metrics,
	}, nil
}

// Pattern returns the ServeMux pattern to mount the handler on: the path
// of BaseURL, e.g. "/upload/".
func (u *Uploads) Pattern() string { return u.prefix }

// ParsePath splits an upload path prefix + id + "/" + name into its id
// and (unescaped) name. ok is false unless id is 32 lower-case hex digits
// and name is a non-empty single path element.
func ParsePath(prefix, path string) (id, name string, ok bool) {
	rest, found := strings.CutPrefix(path, prefix)
	if !found || len(rest) < idLen+2 || rest[idLen] != '/' {
		return "", "", false
	}
	id, name = rest[:idLen], rest[idLen+1:]
	if !validID(id) || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return id, name, true
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// LogPath returns what may be logged of an upload path: the prefix and the
// id, never the file name (which may say what the file is). Other paths
// are returned unchanged. The web site's error log should pass request
// paths through it.
func LogPath(prefix, path string) string {
	rest, found := strings.CutPrefix(path, prefix)
	if !found {
		return path
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if len(rest) > idLen {
		rest = rest[:idLen]
	}
	return prefix + rest
}

// URL returns the GET URL of an upload.
func (u *Uploads) URL(up store.Upload) string {
	return u.base + up.ID + "/" + url.PathEscape(up.Name)
}

// file returns the path of an upload's file.
func (u *Uploads) file(id string) string { return u.dir + string(os.PathSeparator) + id }

// ServeHTTP serves PUT, GET, HEAD and OPTIONS (CORS preflight) under
// Pattern; see doc.go for the rules and status codes. Once it has read
// the path, it replaces r.URL.Path with LogPath's version, so that the
// site's error log, which sees the same request, never records a file
// name.
func (u *Uploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Web clients on other origins fetch and put files (XEP-0363 §6).
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	// Whatever was uploaded, a browser must not run it in this origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	path := r.URL.Path
	hideName(r, u.prefix)
	switch r.Method {
	case http.MethodPut:
		u.put(w, r, path)
	case http.MethodGet, http.MethodHead:
		u.get(w, r, path)
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	default:
		h.Set("Allow", "GET, HEAD, PUT, OPTIONS")
		fail(w, http.StatusMethodNotAllowed)
	}
}

// hideName cuts the file name from r's path once the handler has read it.
// Privacy: the site's error log (package web) runs after this handler
// with the same request and records its path; a file name may say what
// the file is, so only the prefix and the id are left for it to see.
// The query (the PUT secret) is never logged by the site.
func hideName(r *http.Request, prefix string) {
	r.URL.Path = LogPath(prefix, r.URL.Path)
	r.URL.RawPath = ""
}

// fail answers status with its standard text and nothing of the request.
func fail(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Del("Content-Disposition")
	h.Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status), status)
}
