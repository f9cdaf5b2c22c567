package certs

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
	"time"
)

// Status is one name's certificate as `chatbx status` and the metrics
// show it.
type Status struct {
	// Name is the host name (the XMPP domain or a web host).
	Name string
	// Mode is "file", "dev" or "acme".
	Mode string
	// NotAfter is the certificate's expiry; zero when there is none yet.
	NotAfter time.Time
	// Issuer is the issuing CA's common name or organisation.
	Issuer string
	// LastError is the last failed ACME order's reason ("" for none, or
	// after a later success), at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
}

// certErrors remembers the last failure per name (ACME orders).
type certErrors struct {
	mu   sync.Mutex
	last map[string]Status
}

func (e *certErrors) set(name, reason string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == nil {
		e.last = map[string]Status{}
	}
	if reason == "" {
		delete(e.last, name)
		return
	}
	e.last[name] = Status{LastError: reason, LastErrorAt: at}
}

func (e *certErrors) get(name string) (string, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.last[name]
	return s.LastError, s.LastErrorAt
}

// Status returns each name's certificate, in the order of Config.Names.
// Safe for concurrent use.
func (c *Source) Status() []Status {
	out := make([]Status, 0, len(c.names))
	for _, name := range c.names {
		s := Status{Name: name, Mode: c.mode}
		var leaf *x509.Certificate
		switch {
		case c.cache != nil:
			for _, mc := range c.cache.AllMatchingCertificates(name) {
				l := leafOf(&mc.Certificate)
				if l != nil && (leaf == nil || l.NotAfter.After(leaf.NotAfter)) {
					leaf = l
				}
			}
		default:
			if cert := c.current.Load(); cert != nil {
				leaf = leafOf(cert)
			}
		}
		if leaf != nil {
			s.NotAfter = leaf.NotAfter.UTC()
			s.Issuer = leaf.Issuer.CommonName
			if s.Issuer == "" && len(leaf.Issuer.Organization) > 0 {
				s.Issuer = leaf.Issuer.Organization[0]
			}
		}
		s.LastError, s.LastErrorAt = c.errs.get(name)
		out = append(out, s)
	}
	return out
}

// Expiries returns the expiry of every name's certificate (those that
// have one), for the metrics.
func (c *Source) Expiries() []time.Time {
	var out []time.Time
	for _, s := range c.Status() {
		if !s.NotAfter.IsZero() {
			out = append(out, s.NotAfter)
		}
	}
	return out
}

// leafOf returns the parsed leaf of cert, or nil.
func leafOf(cert *tls.Certificate) *x509.Certificate {
	if cert.Leaf != nil {
		return cert.Leaf
	}
	if len(cert.Certificate) == 0 {
		return nil
	}
	l, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return l
}
