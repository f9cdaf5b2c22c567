package web

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// securityHeaders are set on every response, before the handler runs.
var securityHeaders = [][2]string{
	// Two years; browsers then never try plain HTTP for this host.
	{"Strict-Transport-Security", "max-age=63072000"},
	// No scripts at all, styles and images only from this origin (and the
	// empty data: favicon), forms only to this origin, no framing.
	{"Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
	{"X-Content-Type-Options", "nosniff"},
	// Privacy: links to other sites do not tell them where the visitor came from.
	{"Referrer-Policy", "no-referrer"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"X-Frame-Options", "DENY"},
}

// wrap adds the security headers, strips cookies, puts deadlines on the
// request body and the response, recovers panics and logs responses with
// status >= 400.
func (w *Web) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hdr := rw.Header()
		for _, kv := range securityHeaders {
			hdr.Set(kv[0], kv[1])
		}
		// Taken before the handler runs: handlers may shorten r.URL, and
		// the log must not depend on it.
		rawPath := r.URL.EscapedPath()
		rc := http.NewResponseController(rw)
		sw := &statusWriter{ResponseWriter: rw, rc: rc, timeout: w.cfg.WriteTimeout}
		w.bodyDeadline(r, rc)
		defer func() {
			// The final flush after the handler gets the whole write
			// timeout, however long the handler ran.
			sw.extend(true)
		}()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				// The panic value may hold request data; it is not logged.
				w.log.Error().Msg("handler panic")
				if sw.status == 0 {
					http.Error(sw, "internal server error", http.StatusInternalServerError)
				} else {
					sw.status = http.StatusInternalServerError
				}
			}
			if sw.status >= 400 {
				w.logError(r, rawPath, sw.status)
			}
		}()
		if !cleanPath(r.URL.Path) {
			w.notFound(sw, r, "")
			return
		}
		h.ServeHTTP(sw, r)
	})
}

// cleanPath reports whether p is absolute and has no empty, "." or ".."
// segment. Unclean paths get a 404 rather than net/http's usual redirect
// to the cleaned path, so traversal attempts end where they start.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[start:i]
		last := i == len(p)
		if (seg == "" && !last) || seg == "." || seg == ".." {
			return false
		}
		start = i + 1
	}
	return true
}

// bodyDeadline gives a request body BodyTimeout to arrive in full, so a
// client that sends it slowly (however steadily) is cut off. The deadline
// is lifted once the body is read to its end, so that a long response
// (an export) is not cut by it. Handlers that take long bodies set their
// own deadlines (web/upload moves it with every read); a request without
// a body gets none.
func (w *Web) bodyDeadline(r *http.Request, rc *http.ResponseController) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	if rc.SetReadDeadline(time.Now().Add(w.cfg.BodyTimeout)) != nil {
		return // not supported by this connection
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// deadlineBody lifts the read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// logError writes the one error line the privacy policy allows: time,
// client IP, status and the path without query string, redacted by
// logPath.
func (w *Web) logError(r *http.Request, rawPath string, status int) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if w.anonIP != nil {
		// Privacy: no full client address outside maintenance windows.
		ip = w.anonIP(ip)
	}
	path := logPath(rawPath)
	w.errlog.Log().
		Str("time", w.now().UTC().Format(time.RFC3339)).
		Str("ip", ip).
		Int("status", status).
		Str("path", path).
		Send()
}

// statusWriter records the status and removes any Set-Cookie header before
// the response header is sent. It moves the write deadline with every
// write, so a response may take as long as it needs while the client
// reads it, but one the client stops reading ends after timeout.
type statusWriter struct {
	http.ResponseWriter
	status   int
	rc       *http.ResponseController
	timeout  time.Duration
	extended time.Time
	noDL     bool
}

// extend moves the write deadline to timeout from now; unless force, at
// most every timeout/8, to keep the cost off small writes.
func (s *statusWriter) extend(force bool) {
	if s.rc == nil || s.noDL || s.timeout <= 0 {
		return
	}
	now := time.Now()
	if !force && now.Sub(s.extended) < s.timeout/8 {
		return
	}
	s.extended = now
	if err := s.rc.SetWriteDeadline(now.Add(s.timeout)); err != nil {
		s.noDL = true // not supported, or hijacked
	}
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	// Privacy: the site never sets cookies, whatever a handler tries.
	s.ResponseWriter.Header().Del("Set-Cookie")
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	s.extend(false)
	return s.ResponseWriter.Write(b)
}

// Flush passes on to the underlying writer when it supports flushing.
func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	s.extend(false)
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes on to the underlying writer (WebSocket upgrades).
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := s.ResponseWriter.(http.Hijacker); ok {
		s.status = http.StatusSwitchingProtocols
		s.noDL = true // the connection's deadlines are the hijacker's
		return hj.Hijack()
	}
	return nil, nil, errors.New("web: hijack not supported")
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
