package account

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Limits on form input.
const (
	maxFormBytes  = 8 << 10 // whole body
	maxFieldBytes = 1024    // one value (a password is at most this long)
	maxFields     = 16
)

// Form errors.
var (
	errCrossSite = errors.New("account: cross-site request")
	errBadForm   = errors.New("account: malformed form")
)

// form is a parsed account form: at most one value per field.
type form map[string]string

// parseForm parses an application/x-www-form-urlencoded body. It refuses
// bodies with too many fields, a repeated field, an over-long value or
// invalid escapes, so every later lookup sees exactly one value.
func parseForm(body []byte) (form, error) {
	if len(body) > maxFormBytes {
		return nil, errBadForm
	}
	f := form{}
	for pair := range strings.SplitSeq(string(body), "&") {
		if pair == "" {
			continue
		}
		if len(f) >= maxFields {
			return nil, errBadForm
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, errBadForm
		}
		v, err = url.QueryUnescape(v)
		if err != nil || len(v) > maxFieldBytes {
			return nil, errBadForm
		}
		if _, dup := f[k]; dup {
			return nil, errBadForm
		}
		f[k] = v
	}
	return f, nil
}

// readForm reads and parses the body of a form POST.
func readForm(w http.ResponseWriter, r *http.Request) (form, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, errBadForm
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		return nil, errBadForm
	}
	return parseForm(body)
}

// sameOrigin reports whether a POST may have come from this site's own
// form. It refuses Sec-Fetch-Site other than same-origin or none, and an
// Origin naming another site. Origin "null" is accepted: with
// Referrer-Policy no-referrer, Chromium sends it on the site's own form
// posts; the signed token still has to match.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Path != "" || u.User != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}
