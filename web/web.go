package web

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"chatbx/web/site"
)

// Deps are what the web site needs from the rest of the process.
type Deps struct {
	// ErrorLog receives one line per response with status >= 400.
	// Give it a bare logger (zerolog.New(sink), no timestamp hook and no
	// extra fields): web writes the fields time, ip, status and path itself
	// and nothing else, as the privacy policy promises.
	ErrorLog zerolog.Logger
	// Log receives operational errors (an operator's page that fails to
	// render). It never receives request data.
	Log zerolog.Logger
	// AnonIP, if not nil, shortens the client address before it is
	// logged (retention/logs.Anonymizer.IPString: /24 and /48, the full
	// address only while the maintenance switch is on). Nil logs it as is.
	AnonIP func(string) string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Web is the web site. It is safe for concurrent use.
type Web struct {
	cfg    Config
	hosts  []string
	site   atomic.Pointer[site.Site] // replaced by Reload
	facts  site.Facts
	mounts *http.ServeMux
	errlog zerolog.Logger
	anonIP func(string) string
	log    zerolog.Logger
	now    func() time.Time
	conns  *connLimit
}

// New checks cfg, renders every embedded page once and returns the site.
// It fails when cfg is invalid, an embedded page does not render, an
// operator's page in cfg.ContentDir does not render, or the content
// directory cannot be opened. Close releases the content directory.
func New(cfg Config, d Deps) (*Web, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	now := d.Now
	if now == nil {
		now = time.Now
	}
	facts := site.Facts{
		ServiceName:     cfg.ServiceName,
		Domain:          cfg.Domain,
		Hosts:           cfg.hosts(),
		ContactAdmin:    cfg.ContactAdmin,
		ContactAbuse:    cfg.ContactAbuse,
		AccountURL:      cfg.accountURL(),
		ArchiveDefault:  cfg.ArchiveDefault,
		IPAnonymisation: cfg.IPAnonymisation,
		Uploads:         cfg.Retention.Uploads,
		WebErrors:       cfg.Retention.WebErrors,
		ConnectionLogs:  cfg.Retention.ConnectionLogs,
		Offline:         cfg.Retention.Offline,
		Backups:         cfg.Retention.Backups,
		GroupChat:       cfg.GroupChat,
		GroupArchive:    cfg.Retention.GroupArchive,
		LoginTokens:     cfg.Retention.LoginTokens,
		PortC2S:         cfg.PortC2S,
		PortC2STLS:      cfg.PortC2STLS,
		PushSender:      cfg.PushSender,
		PushBody:        cfg.PushBody,
	}
	s, err := newSite(facts, cfg.ContentDir)
	if err != nil {
		return nil, err
	}
	w := &Web{
		cfg:    cfg,
		hosts:  cfg.hosts(),
		facts:  facts,
		mounts: http.NewServeMux(),
		errlog: d.ErrorLog,
		anonIP: d.AnonIP,
		log:    d.Log.With().Str("component", "web").Logger(),
		now:    now,
		conns:  newConnLimit(cfg.MaxConnections, cfg.PerIPConnections),
	}
	w.site.Store(s)
	return w, nil
}

// Close releases the content directory.
func (w *Web) Close() error { return w.site.Load().Close() }

// Mount serves pattern (net/http.ServeMux syntax, e.g. "/account/" or
// "POST /account/delete") with h inside Handler, so h gets the same
// security headers, cookie stripping and error logging as the pages.
// Mounted patterns win over the site's own pages.
// It panics, as ServeMux.Handle does, when pattern is invalid or conflicts
// with an earlier one. It is safe to call while serving.
func (w *Web) Mount(pattern string, h http.Handler) {
	w.mounts.Handle(pattern, h)
}

// Handler returns the handler for the HTTPS listener.
func (w *Web) Handler() http.Handler {
	return w.wrap(http.HandlerFunc(w.serveHTTPS))
}

// RedirectHandler returns the handler for the plain-HTTP listener (port 80).
// Every request is redirected to the same path on HTTPS; acme, when not
// nil, wraps the redirect so ACME HTTP-01 challenges are answered first
// (pass certmagic's ACMEIssuer.HTTPChallengeHandler).
// The redirect goes to the request's host when it is one of the configured
// web hosts (or the domain), and to the first web host otherwise, so a
// forged Host header cannot make the server redirect elsewhere.
func (w *Web) RedirectHandler(acme func(http.Handler) http.Handler) http.Handler {
	var h http.Handler = http.HandlerFunc(w.redirect)
	if acme != nil {
		h = acme(h)
	}
	return w.wrap(h)
}

func (w *Web) redirect(rw http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if !slices.Contains(w.hosts, host) && host != strings.ToLower(w.cfg.Domain) {
		host = w.hosts[0]
	}
	target := "https://" + host + w.cfg.portSuffix() + r.URL.RequestURI()
	code := http.StatusPermanentRedirect
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		code = http.StatusMovedPermanently
	}
	http.Redirect(rw, r, target, code)
}

func (w *Web) serveHTTPS(rw http.ResponseWriter, r *http.Request) {
	if h, pattern := w.mounts.Handler(r); pattern != "" {
		h.ServeHTTP(rw, r)
		return
	}
	if r.URL.Path == "/static/style.css" {
		w.serveStatic(rw, r, "text/css; charset=utf-8", w.site.Load().CSS())
		return
	}
	lang, name, ok := resolve(r.URL.Path)
	if !ok {
		w.notFound(rw, r, lang)
		return
	}
	if lang == "" {
		// A path without a language prefix serves the visitor's preferred
		// language directly, so the answer depends on Accept-Language.
		rw.Header().Add("Vary", "Accept-Language")
		lang = preferredLanguage(r.Header.Get("Accept-Language"))
	}
	if !allowMethod(rw, r) {
		return
	}
	page, err := w.site.Load().Page(lang, name)
	if errors.Is(err, site.ErrNotFound) {
		w.notFound(rw, r, lang)
		return
	}
	if err != nil {
		w.log.Error().Err(err).Msg("page render failed")
		http.Error(rw, "internal server error", http.StatusInternalServerError)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang)
	h.Set("Cache-Control", "no-cache")
	rw.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		rw.Write(page)
	}
}

func (w *Web) serveStatic(rw http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	if !allowMethod(rw, r) {
		return
	}
	h := rw.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, max-age=86400")
	rw.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		rw.Write(body)
	}
}

// notFound answers 404 with the site's 404 page in lang, or in the
// visitor's preferred language when lang is empty.
func (w *Web) notFound(rw http.ResponseWriter, r *http.Request, lang string) {
	if lang == "" {
		lang = preferredLanguage(r.Header.Get("Accept-Language"))
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang)
	h.Set("Cache-Control", "no-cache")
	rw.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		rw.Write(w.site.Load().NotFound(lang))
	}
}

// allowMethod answers 405 and returns false unless r is GET or HEAD.
func allowMethod(rw http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	rw.Header().Set("Allow", "GET, HEAD")
	http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
