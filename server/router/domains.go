// Package router holds the domain table of the XMPP server: for any
// address, whether this server is responsible for it and who takes its
// stanzas (RFC 6120 §10, RFC 6121 §8). There are three kinds of domain:
//
//   - the local host (accounts and their sessions, served by package c2s),
//   - local services, each on its own domain with its own JID and
//     certificate name (for example conference.<domain>),
//   - everything else is remote: handed to server-to-server when that is
//     configured, otherwise bounced with remote-server-not-found.
//
// "Is this address local?" is answered here and nowhere else.
package router

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"chatbx/server/wire"
)

// Kind is the kind of a domain.
type Kind uint8

const (
	// Remote is a domain this server does not serve.
	Remote Kind = iota
	// Host is the local host: accounts and their sessions.
	Host
	// Service is a local service with its own domain.
	Service
)

func (k Kind) String() string {
	switch k {
	case Host:
		return "host"
	case Service:
		return "service"
	}
	return "remote"
}

// Handler takes stanzas for a domain: a local service or the remote side
// (server-to-server). send routes a stanza from the handler back through
// the server (replies, messages to local users); it never blocks.
type Handler interface {
	Handle(ctx context.Context, el *wire.Element, send func(*wire.Element))
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, el *wire.Element, send func(*wire.Element))

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, el *wire.Element, send func(*wire.Element)) {
	f(ctx, el, send)
}

// Errors of AddService.
var (
	ErrTaken   = errors.New("router: domain already served")
	ErrInvalid = errors.New("router: invalid service domain")
)

// Domains is the domain table. Lookups take no lock on the hot path
// beyond a read lock; it is safe for concurrent use.
type Domains struct {
	host string

	mu       sync.RWMutex
	services map[string]Handler
	remote   Handler
}

// NewDomains returns a table with host as the local host, no services
// and no remote handler.
func NewDomains(host string) *Domains {
	return &Domains{host: normalise(host), services: map[string]Handler{}}
}

func normalise(d string) string { return strings.ToLower(strings.TrimSuffix(d, ".")) }

// Host returns the local host.
func (d *Domains) Host() string { return d.host }

// AddService serves domain with h. The domain must differ from the host
// and every other service; a subdomain of the host is usual
// (conference.<host>), but any domain this server has a certificate for
// works.
func (d *Domains) AddService(domain string, h Handler) error {
	domain = normalise(domain)
	if domain == "" || strings.ContainsAny(domain, "@/ ") || h == nil {
		return ErrInvalid
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if domain == d.host || d.services[domain] != nil {
		return ErrTaken
	}
	d.services[domain] = h
	return nil
}

// SetRemote sets the handler of remote domains (server-to-server). Nil
// means remote addresses are not reachable.
func (d *Domains) SetRemote(h Handler) {
	d.mu.Lock()
	d.remote = h
	d.mu.Unlock()
}

// Lookup returns the kind of domain and, for a service or a remote domain,
// its handler (nil for a remote domain without server-to-server). The
// domain must be normalised already (as JIDs in stanzas are).
func (d *Domains) Lookup(domain string) (Kind, Handler) {
	if domain == d.host {
		return Host, nil
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if h := d.services[domain]; h != nil {
		return Service, h
	}
	return Remote, d.remote
}

// IsHost reports whether domain is the local host (the fast path of
// routing between local users).
func (d *Domains) IsHost(domain string) bool { return domain == d.host }

// Services returns the service domains, sorted: the names the
// certificate must cover besides the host, and the disco#items of the
// host (XEP-0030).
func (d *Domains) Services() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.services))
	for k := range d.services {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
