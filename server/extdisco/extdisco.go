// Package extdisco implements External Service Discovery (XEP-0215,
// urn:xmpp:extdisco:2) for STUN and TURN servers, so that audio and
// video calls (Jingle, in Conversations, Dino, Monal) work behind NAT.
//
// The operator lists the services as RFC 7064/7065 URIs
// (stun:host:port, turn:host:port?transport=udp, turns:...). With a TURN
// REST shared secret (coturn's static-auth-secret, the "TURN REST API"
// draft), each request gets fresh credentials: the username is the
// expiry time (Unix seconds) and a random part, the password
// base64(HMAC-SHA1(secret, username)). The TURN server checks them with
// the same secret; nothing is stored here, and the credentials stop
// working at their expiry (Config.TTL).
//
// Both <services/> (with the credentials inline, restricted='1', as
// Conversations and Dino expect) and <credentials/> (XEP-0215 §4) are
// answered, to logged-in users only (the c2s layer sees to that).
package extdisco

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"chatbx/server/iq"
	"chatbx/server/wire"
)

// NS is the namespace of XEP-0215 version 2.
const NS = "urn:xmpp:extdisco:2"

// Config lists the services. Zero fields mean DefaultConfig's.
type Config struct {
	// Services are RFC 7064/7065 URIs: stun:, stuns:, turn: or turns:,
	// host, optional port, optional ?transport=udp|tcp.
	Services []string
	// Secret is the TURN REST shared secret; empty: TURN entries are
	// listed without credentials.
	Secret string
	// TTL is how long generated credentials stay valid.
	TTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the documented defaults: no services.
func DefaultConfig() Config { return Config{TTL: 6 * time.Hour} }

// Service is one parsed external service.
type Service struct {
	Type      string // stun, stuns, turn, turns
	Host      string
	Port      int
	Transport string // udp or tcp
}

// ParseService parses a stun:, stuns:, turn: or turns: URI (RFC 7064,
// RFC 7065). A missing port is the scheme's default (3478, 5349 for the
// TLS schemes); a missing transport is udp (tcp for the TLS schemes).
func ParseService(s string) (Service, error) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque == "" || u.Fragment != "" {
		return Service{}, fmt.Errorf("extdisco: invalid service URI %q (want e.g. turn:turn.example.org:3478?transport=udp)", s)
	}
	var sv Service
	sv.Type = strings.ToLower(u.Scheme)
	switch sv.Type {
	case "stun", "turn":
		sv.Port, sv.Transport = 3478, "udp"
	case "stuns", "turns":
		sv.Port, sv.Transport = 5349, "tcp"
	default:
		return Service{}, fmt.Errorf("extdisco: service %q: scheme must be stun, stuns, turn or turns", s)
	}
	host := u.Opaque
	if h, p, err := net.SplitHostPort(host); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return Service{}, fmt.Errorf("extdisco: service %q: invalid port", s)
		}
		host, sv.Port = h, int(n)
	}
	if host == "" || strings.ContainsAny(host, "/@?#[] ") || len(host) > 253 {
		return Service{}, fmt.Errorf("extdisco: service %q: invalid host", s)
	}
	sv.Host = host
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Service{}, fmt.Errorf("extdisco: service %q: invalid query", s)
	}
	for k, v := range q {
		if k != "transport" || len(v) != 1 || (v[0] != "udp" && v[0] != "tcp") {
			return Service{}, fmt.Errorf("extdisco: service %q: only ?transport=udp or tcp is allowed", s)
		}
		sv.Transport = v[0]
	}
	return sv, nil
}

// ExtDisco is the IQ service; safe for concurrent use.
type ExtDisco struct {
	cfg      Config
	services []Service
}

// New checks the configuration; it fails on a service URI that does not
// parse.
func New(cfg Config) (*ExtDisco, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultConfig().TTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &ExtDisco{cfg: cfg}
	for _, s := range cfg.Services {
		sv, err := ParseService(s)
		if err != nil {
			return nil, err
		}
		e.services = append(e.services, sv)
	}
	return e, nil
}

// Enabled reports whether any service is configured (the service is
// registered only then).
func (e *ExtDisco) Enabled() bool { return len(e.services) > 0 }

// Namespaces and Features make ExtDisco a mux.Service on the server's
// domain.
func (e *ExtDisco) Namespaces() []string { return []string{NS} }
func (e *ExtDisco) Features() []string   { return []string{NS} }

// Handle answers <services/> and <credentials/> (XEP-0215 §3, §4).
func (e *ExtDisco) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	if el.Get("type") != "get" {
		if el.Get("type") == "set" {
			return iq.Error(el, "cancel", "not-allowed")
		}
		return nil
	}
	q := iq.Payload(el)
	switch q.Local {
	case "services":
		typ := q.Get("type")
		out := wire.New(NS, "services")
		if typ != "" {
			out.Set("type", typ)
		}
		for _, sv := range e.services {
			if typ == "" || typ == sv.Type {
				out.Add(e.element(sv))
			}
		}
		return iq.Result(el, out)
	case "credentials":
		want := q.Child(NS, "service")
		if want == nil || want.Get("host") == "" {
			return iq.Error(el, "modify", "bad-request")
		}
		port := 0
		if p := want.Get("port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return iq.Error(el, "modify", "bad-request")
			}
			port = n
		}
		for _, sv := range e.services {
			if sv.Host != want.Get("host") || (want.Get("type") != "" && want.Get("type") != sv.Type) || (port != 0 && port != sv.Port) {
				continue
			}
			if !e.restricted(sv) {
				continue
			}
			return iq.Result(el, wire.New(NS, "credentials").Add(e.element(sv)))
		}
		return iq.Error(el, "cancel", "item-not-found")
	}
	return iq.Error(el, "modify", "bad-request")
}

// restricted reports whether sv needs credentials (TURN with a secret).
func (e *ExtDisco) restricted(sv Service) bool {
	return e.cfg.Secret != "" && (sv.Type == "turn" || sv.Type == "turns")
}

// element returns the <service/> element of sv, with fresh credentials
// for a restricted service.
func (e *ExtDisco) element(sv Service) *wire.Element {
	el := wire.New(NS, "service", "type", sv.Type, "host", sv.Host,
		"port", strconv.Itoa(sv.Port), "transport", sv.Transport)
	if e.restricted(sv) {
		expires := e.cfg.Now().Add(e.cfg.TTL).UTC().Truncate(time.Second)
		user, pass := Credentials(e.cfg.Secret, expires)
		el.Set("restricted", "1")
		el.Set("username", user)
		el.Set("password", pass)
		el.Set("expires", expires.Format(time.RFC3339))
	}
	return el
}

// Credentials returns TURN REST credentials valid until expires: the
// username "<unix expiry>:<random>", the password
// base64(HMAC-SHA1(secret, username)).
func Credentials(secret string, expires time.Time) (username, password string) {
	var r [8]byte
	rand.Read(r[:])
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + hex.EncodeToString(r[:])
	return username, Password(secret, username)
}

// Password is the TURN REST password for username.
func Password(secret, username string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
