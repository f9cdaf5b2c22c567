package web

import (
	"bufio"
	"errors"
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

// maxLoggedPath bounds the path in an error log line.
const maxLoggedPath = 256

// wrap adds the security headers, strips cookies, recovers panics and logs
// responses with status >= 400.
func (w *Web) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hdr := rw.Header()
		for _, kv := range securityHeaders {
			hdr.Set(kv[0], kv[1])
		}
		sw := &statusWriter{ResponseWriter: rw}
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
				w.logError(r, sw.status)
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

// logError writes the one error line the privacy policy allows: time,
// client IP, status and the path without query string.
func (w *Web) logError(r *http.Request, status int) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if w.anonIP != nil {
		// Privacy: no full client address outside maintenance windows.
		ip = w.anonIP(ip)
	}
	path := r.URL.EscapedPath()
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath]
	}
	w.errlog.Log().
		Str("time", w.now().UTC().Format(time.RFC3339)).
		Str("ip", ip).
		Int("status", status).
		Str("path", path).
		Send()
}

// statusWriter records the status and removes any Set-Cookie header before
// the response header is sent.
type statusWriter struct {
	http.ResponseWriter
	status int
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
	return s.ResponseWriter.Write(b)
}

// Flush passes on to the underlying writer when it supports flushing.
func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes on to the underlying writer (WebSocket upgrades).
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := s.ResponseWriter.(http.Hijacker); ok {
		s.status = http.StatusSwitchingProtocols
		return hj.Hijack()
	}
	return nil, nil, errors.New("web: hijack not supported")
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
