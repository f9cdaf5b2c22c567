package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/metrics"
	"chatbx/server/c2s"
	"chatbx/server/disco"
	"chatbx/server/extdisco"
	"chatbx/server/mux"
	"chatbx/server/pep"
	"chatbx/server/push"
	"chatbx/server/router"
	"chatbx/server/s2s"
	"chatbx/server/wire"
	"chatbx/store"
)

// Config is the XMPP server's configuration.
type Config struct {
	Domain             string
	C2SListen          string
	C2SListenTLS       string
	MaxStanzaBytes     int
	NegotiationTimeout time.Duration
	IdleTimeout        time.Duration
	OfflineMax         int
	// VCardMaxBytes caps one account's vCard (XEP-0054); zero means
	// vcard.DefaultConfig's.
	VCardMaxBytes      int
	SASLPlus           bool
	QueueBytes         int // c2s bounds (see c2s.Config); zero means the c2s defaults
	MaxConnections     int
	MaxUnauthenticated int
	// ResumeTimeout is the XEP-0198 resumption window; zero means the
	// c2s default.
	ResumeTimeout time.Duration
	// ResumeLocation is the XEP-0198 <enabled location/>; empty: none.
	ResumeLocation string
	// ConnPerSecond and ConnBurst limit new connections per anonymised
	// network (in memory only); zero means the c2s defaults.
	ConnPerSecond float64
	ConnBurst     int
	// AuthFailBurst is how many SASL exchanges one anonymised network
	// may have under way or failed within a minute before further ones
	// get temporary-auth-failure; zero means the c2s default.
	AuthFailBurst int
	// FastTokenTTL and FastMaxTokens bound FAST tokens (XEP-0484, see
	// c2s.Config); zero means the c2s defaults.
	FastTokenTTL  time.Duration
	FastMaxTokens int
	ContactAdmin  []string
	ContactAbuse  []string
	Version       string
	// DataPolicy, if not nil, is published in the server's disco#info as
	// the urn:chatbx:data-policy form (XEP-0128), built from the running
	// configuration so clients can read the privacy promises.
	DataPolicy *disco.DataPolicy
	// DiscoItems are further services (e.g. upload) listed in disco#items.
	DiscoItems []disco.Item
	// AccountFeatures are advertised on accounts' bare JIDs.
	AccountFeatures []string
	// PEP holds the limits of personal eventing (XEP-0163); zero fields
	// mean pep.DefaultConfig's.
	PEP pep.Config
	// Push configures push notifications (XEP-0357); zero fields mean
	// push.DefaultConfig's.
	Push push.Config
	// ExtDisco lists STUN and TURN services (XEP-0215); none: the
	// service is not offered.
	ExtDisco extdisco.Config
	// Extra are further IQ services (e.g. the message archive, in-band
	// registration) registered beside the built-in ones.
	Extra []Service
	// S2S, if not nil, enables federation (package server/s2s): its
	// listeners run beside c2s and it is the domain table's remote
	// handler. Domain is filled in from Domain.
	S2S *s2s.Config
}

// Service is an IQ service plugged into the server: the namespaces it
// handles, the disco features it adds, and its handler.
type Service = service

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	c := c2s.DefaultConfig()
	return Config{
		C2SListen:          c.Listen,
		C2SListenTLS:       c.ListenTLS,
		MaxStanzaBytes:     c.MaxStanzaBytes,
		NegotiationTimeout: c.NegotiationTimeout,
		IdleTimeout:        c.IdleTimeout,
		OfflineMax:         c.OfflineMax,
		FastTokenTTL:       c.FastTokenTTL,
		FastMaxTokens:      c.FastMaxTokens,
		Version:            "dev",
	}
}

// IPAnonymizer turns a peer address into what may be logged.
type IPAnonymizer interface{ IP(net.Addr) string }

// Deps are the parts the server uses.
type Deps struct {
	DB           *store.DB
	Log, ConnLog zerolog.Logger
	Anon         IPAnonymizer
	StartTLS     func(streamTo string) *tls.Config
	DirectTLS    *tls.Config
	// Archive, if not nil, keeps a copy of a one-to-one message in the
	// owner's archive (XEP-0313) and returns its id, or "" when the owner
	// did not opt in. New registers it as a message hook (package mux)
	// that sees only archivable messages and adds the stanza-id.
	Archive func(ctx context.Context, owner string, el *wire.Element, outgoing bool) string
	// Register, if not nil, serves in-band registration before login.
	Register c2s.PreAuthRegister
	// Domains is the domain table (local services, the remote side); nil
	// means the host alone.
	Domains *router.Domains
	Now     func() time.Time
	// Guard limits password guesses per account; main shares one with the
	// web account pages. Nil means the c2s default.
	Guard c2s.Guard
	// Locked reports whether an account is restricted by its user
	// (accounts.Service.IsLocked): no login, no delivery. Nil: none is.
	Locked func(user string) bool
	// Metrics counts what operators watch (internal/metrics); nil: nothing.
	Metrics *metrics.Metrics
	// S2S are the parts of federation (with Config.S2S): trust roots
	// (nil: the system's plus s2s.ca_roots), the DNS resolver (nil:
	// net's), and the TLS config with our certificate (nil:
	// StartTLS(Domain)).
	S2S S2SDeps
}

// S2SDeps are the injectable parts of federation.
type S2SDeps struct {
	Roots    *x509.CertPool
	Resolver s2s.Resolver
	TLS      *tls.Config
}

// Server is the XMPP server.
type Server struct {
	c2s *c2s.Server
	s2s *s2s.Server // nil without federation
	svc *services
}

// New builds the server; nothing listens until Run.
func New(cfg Config, d Deps) (*Server, error) {
	s := &Server{}
	// External services (XEP-0215): answered only when some are listed.
	ed, err := extdisco.New(cfg.ExtDisco)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if ed.Enabled() {
		cfg.Extra = append(slices.Clip(cfg.Extra), ed)
	}
	if d.Domains == nil {
		d.Domains = router.NewDomains(cfg.Domain)
	}
	svc := newServices(cfg, d)
	s.svc = svc
	s.c2s = c2s.New(c2s.Config{
		Domain:             cfg.Domain,
		Listen:             cfg.C2SListen,
		ListenTLS:          cfg.C2SListenTLS,
		MaxStanzaBytes:     cfg.MaxStanzaBytes,
		NegotiationTimeout: cfg.NegotiationTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		OfflineMax:         cfg.OfflineMax,
		SASLPlus:           cfg.SASLPlus,
		ConnPerSecond:      cfg.ConnPerSecond,
		ConnBurst:          cfg.ConnBurst,
		AuthFailBurst:      cfg.AuthFailBurst,
		FastTokenTTL:       cfg.FastTokenTTL,
		FastMaxTokens:      cfg.FastMaxTokens,
		QueueBytes:         cfg.QueueBytes,
		MaxConnections:     cfg.MaxConnections,
		MaxUnauthenticated: cfg.MaxUnauthenticated,
		ResumeTimeout:      cfg.ResumeTimeout,
		ResumeLocation:     cfg.ResumeLocation,
		Version:            cfg.Version,
	}, c2s.Deps{
		DB: d.DB, Log: d.Log, ConnLog: d.ConnLog, Anon: d.Anon,
		StartTLS: d.StartTLS, DirectTLS: d.DirectTLS, Now: d.Now,
		Blocked: svc.blocked, Register: d.Register, Domains: d.Domains, Mux: svc.mux,
		Guard: d.Guard, Locked: d.Locked, Metrics: d.Metrics,
	})
	if d.Archive != nil {
		// The archive (XEP-0313) is a message hook: it sees only the
		// messages it may keep, and tags what it kept with the stanza-id
		// (XEP-0359) the owner's archive knows it by.
		svc.mux.Message(mux.MessageHook{Name: "archive", Order: 100, Wants: c2s.Archivable,
			Run: func(ctx context.Context, owner string, dir mux.Direction, el *wire.Element) *wire.Element {
				id := d.Archive(ctx, owner, el, dir == mux.Outgoing)
				if id == "" {
					return el // unknown user, or the owner did not opt in
				}
				c := el.Copy()
				c.Add(wire.New("urn:xmpp:sid:0", "stanza-id", "id", id, "by", owner+"@"+cfg.Domain))
				return c
			}})
	}
	svc.register(s.c2s)
	if cfg.S2S != nil {
		fed, err := newS2S(cfg, d, s.c2s.Deliver)
		if err != nil {
			return nil, err
		}
		s.s2s = fed
		d.Domains.SetRemote(fed)
		svc.reported = func(jid string) {
			if _, dom, ok := strings.Cut(strings.SplitN(jid, "/", 2)[0], "@"); ok && dom != cfg.Domain {
				fed.SpamReported(dom)
			} else if !ok && !strings.Contains(jid, "@") && jid != cfg.Domain {
				fed.SpamReported(strings.SplitN(jid, "/", 2)[0])
			}
		}
	}
	return s, nil
}

// Run serves until ctx ends and every session has closed.
func (s *Server) Run(ctx context.Context) error {
	var err error
	if s.s2s == nil {
		err = s.c2s.Run(ctx)
	} else {
		err = s.runFederated(ctx)
	}
	s.svc.push.Close() // no notification is scheduled after shutdown
	return err
}

// Ready is closed when the listeners accept connections.
func (s *Server) Ready() <-chan struct{} {
	if s.s2s == nil {
		return s.c2s.Ready()
	}
	return s.ready()
}

// Addrs returns the c2s listener addresses (STARTTLS, then direct TLS).
func (s *Server) Addrs() []net.Addr { return s.c2s.Addrs() }

// KickUser closes every session of user with the stream error condition
// (e.g. "not-authorized" after account deletion, "reset" after a password
// change). Safe for concurrent use.
func (s *Server) KickUser(user, condition string) {
	s.c2s.KickUser(user, condition, nil)
	s.svc.forget(user)
}

// KickUserWait closes every session of user and returns once each has
// ended (and logged its logout), or when ctx ends; the session bound to
// the full JID self (the caller's own, if not empty) is not waited for.
func (s *Server) KickUserWait(ctx context.Context, user, self, condition string) error {
	err := s.c2s.KickUserWait(ctx, user, self, condition)
	s.svc.forget(user)
	return err
}

// KickOthers closes every session of user but the one bound to keep.
func (s *Server) KickOthers(user, keep, condition string) { s.c2s.KickOthers(user, keep, condition) }

// AccountDeleted tells a deleted account's local contacts it is gone
// (presence and roster pushes); roster is its roster before deletion.
func (s *Server) AccountDeleted(ctx context.Context, user string, roster []store.RosterItem) {
	s.c2s.AccountDeleted(ctx, user, roster)
}

// OfflineExpired bounces an expired offline message to its sender's
// online sessions (retention.Deps.OnOfflineExpired).
func (s *Server) OfflineExpired(user string, stanza []byte) { s.c2s.OfflineExpired(user, stanza) }

// Online returns the number of bound sessions.
func (s *Server) Online() int { return s.c2s.Router().Count() }

// Serve runs a client stream over a transport other than the c2s
// listeners (the WebSocket endpoint, package server/ws) until it ends.
func (s *Server) Serve(ctx context.Context, tr c2s.Transport, ready func()) {
	s.c2s.Serve(ctx, tr, ready)
}

// Deliver routes a stanza from a local service (group chat) to a local
// address with the RFC 6121 §8 rules; it never blocks.
func (s *Server) Deliver(el *wire.Element) { s.c2s.Deliver(el) }
