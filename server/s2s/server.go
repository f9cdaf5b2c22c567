package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/wire"
)

// Config holds the s2s settings. Zero values are replaced by
// DefaultConfig's.
type Config struct {
	Domain    string
	Listen    string // STARTTLS required (5269)
	ListenTLS string // direct TLS, XEP-0368 (5270)
	// Hosts maps a domain to the address that serves it, overriding DNS
	// (tests, private deployments). "tls:host:port" means direct TLS.
	Hosts map[string]string
	// SecureAuth requires certificates that authenticate the peer
	// (SASL EXTERNAL); false also allows dialback (XEP-0220), over TLS
	// only.
	SecureAuth bool
	// CARoots is a PEM file of further trust roots beside the system's.
	CARoots string
	// IdleTimeout closes links without traffic.
	IdleTimeout time.Duration
	// ConnectTimeout bounds how long stanzas wait for a link: after it
	// they are bounced with remote-server-timeout.
	ConnectTimeout time.Duration
	WriteTimeout   time.Duration
	// QueueBytes bounds the stanzas (estimated as encoded) waiting for
	// one remote domain; a stanza beyond it is bounced at once.
	QueueBytes     int
	MaxStanzaBytes int
	// MaxConnections bounds inbound connections, all domains together.
	MaxConnections int
	// StanzasPerSecond and StanzaBurst limit the inbound stanzas of one
	// remote domain (a flooding peer is slowed down, in memory only).
	StanzasPerSecond float64
	StanzaBurst      int
	// ConnPerMinute limits new inbound streams per remote domain.
	ConnPerMinute int
	// BlockDomains are refused both ways (a domain blocks its
	// subdomains); BlockDomainsFile adds one domain per line, read again
	// by ReloadBlocklist.
	BlockDomains     []string
	BlockDomainsFile string
}

// DefaultConfig returns the defaults documented in docs/configuration.md.
func DefaultConfig() Config {
	return Config{
		Listen:           ":5269",
		ListenTLS:        ":5270",
		SecureAuth:       true,
		IdleTimeout:      10 * time.Minute,
		ConnectTimeout:   60 * time.Second,
		WriteTimeout:     30 * time.Second,
		QueueBytes:       1 << 20,
		MaxStanzaBytes:   256 << 10,
		MaxConnections:   1000,
		StanzasPerSecond: 50,
		StanzaBurst:      500,
		ConnPerMinute:    30,
	}
}

// Resolver is the part of *net.Resolver the dialer uses (tests inject
// their own).
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Deps are the parts the s2s server uses.
type Deps struct {
	// Log receives lifecycle and fault events; ConnLog one line per
	// stream: time, event, remote domain (no addresses, no users).
	Log, ConnLog zerolog.Logger
	// TLS serves our certificate on inbound streams and presents it as
	// the client certificate on outbound ones.
	TLS *tls.Config
	// Roots are the trust roots for peers; nil means the system's plus
	// Config.CARoots.
	Roots *x509.CertPool
	// Resolver looks up SRV and address records; nil means net's.
	Resolver Resolver
	// Deliver routes an inbound stanza (jabber:client namespace) to a
	// local address; it never blocks.
	Deliver func(*wire.Element)
	// Secret derives dialback keys (XEP-0185); keys are never stored.
	Secret []byte
	Now    func() time.Time
	// Dial, if not nil, replaces net.Dialer.DialContext (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Local, if not nil, reports whether this server serves a domain
	// beside Config.Domain (a local service such as conference.<domain>):
	// peers may open streams to it and its stanzas leave on streams
	// from it (RFC 6120 §4.1: one stream per pair of domains). The TLS
	// certificate must name it.
	Local func(domain string) bool
	// Links, if not nil, counts authenticated streams open, inbound and
	// outbound (the metrics gauge chatbx_s2s_links).
	Links interface {
		Inc()
		Dec()
	}
}

// linkUp and linkDown count an authenticated stream in Deps.Links.
func (s *Server) linkUp() {
	if s.d.Links != nil {
		s.d.Links.Inc()
	}
}

func (s *Server) linkDown() {
	if s.d.Links != nil {
		s.d.Links.Dec()
	}
}

// Server is the s2s side: listeners, outbound links, the remote handler.
type Server struct {
	cfg   Config
	d     Deps
	log   zerolog.Logger
	roots *x509.CertPool

	mu    sync.Mutex
	links map[linkKey]*link
	bidi  map[linkKey]*bidiStream // peers' streams our stanzas may use (XEP-0288)
	ctx   context.Context

	block atomic.Pointer[blocklist]
	rates rates

	ready chan struct{}
	addrs []net.Addr
	// Shutdown has two phases: inbound streams end first (read to the
	// peer's closing tag, so what they carried is delivered, and the
	// bounces that causes are queued), then the outbound links flush
	// and close. inWG/inClosing are the first, wg/closing the second.
	inWG      sync.WaitGroup
	inClosing atomic.Bool
	wg        sync.WaitGroup
	closing   atomic.Bool
	closeMu   sync.RWMutex
	inbound   sync.Map // *stream → func(): close on shutdown
	conns     atomic.Int64
	spam      spamCounts
	stats     Stats
	baseCtxMu sync.Mutex
}

// Stats are counters for tests and the operator.
type Stats struct {
	Bounced, Sent, Received atomic.Int64
}

// New returns an s2s server; nothing listens until Run.
func New(cfg Config, d Deps) (*Server, error) {
	def := DefaultConfig()
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = def.ConnectTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = def.WriteTimeout
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = def.QueueBytes
	}
	if cfg.MaxStanzaBytes <= 0 {
		cfg.MaxStanzaBytes = def.MaxStanzaBytes
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = def.MaxConnections
	}
	if cfg.StanzasPerSecond <= 0 {
		cfg.StanzasPerSecond = def.StanzasPerSecond
	}
	if cfg.StanzaBurst <= 0 {
		cfg.StanzaBurst = def.StanzaBurst
	}
	if cfg.ConnPerMinute <= 0 {
		cfg.ConnPerMinute = def.ConnPerMinute
	}
	cfg.Domain = normalise(cfg.Domain)
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Resolver == nil {
		d.Resolver = net.DefaultResolver
	}
	if d.TLS == nil {
		return nil, errors.New("s2s: no TLS configuration")
	}
	if len(d.Secret) == 0 {
		return nil, errors.New("s2s: no dialback secret")
	}
	s := &Server{cfg: cfg, d: d, log: d.Log.With().Str("component", "s2s").Logger(),
		links: map[linkKey]*link{}, ready: make(chan struct{})}
	s.rates.init(cfg)
	s.roots = d.Roots
	if s.roots == nil {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		s.roots = pool
	}
	if cfg.CARoots != "" {
		b, err := os.ReadFile(cfg.CARoots)
		if err != nil {
			return nil, fmt.Errorf("s2s: ca_roots: %w", err)
		}
		if d.Roots != nil {
			s.roots = d.Roots.Clone()
		}
		if !s.roots.AppendCertsFromPEM(b) {
			return nil, errors.New("s2s: ca_roots: no certificate in file")
		}
	}
	if err := s.ReloadBlocklist(); err != nil {
		return nil, err
	}
	return s, nil
}

func normalise(d string) string { return strings.ToLower(strings.TrimSuffix(d, ".")) }

// ours reports whether domain (normalised) is served here: the host or
// a local service.
func (s *Server) ours(domain string) bool {
	return domain != "" && (domain == s.cfg.Domain || (s.d.Local != nil && s.d.Local(domain)))
}

// Ready is closed when the listeners accept connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the listener addresses (STARTTLS, then direct TLS) once
// Ready.
func (s *Server) Addrs() []net.Addr { return s.addrs }

// Counters returns the counters (stanzas sent, received, bounced).
func (s *Server) Counters() *Stats { return &s.stats }

// Run listens and serves until ctx ends; then it closes every stream
// (inbound streams are read until the peer closes its side, so nothing it
// had sent is lost) and returns once all have ended.
func (s *Server) Run(ctx context.Context) error {
	outCtx, outCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer outCancel()
	s.baseCtxMu.Lock()
	s.ctx = outCtx
	s.baseCtxMu.Unlock()
	var lns []net.Listener
	for _, l := range []struct {
		addr   string
		direct bool
	}{{s.cfg.Listen, false}, {s.cfg.ListenTLS, true}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("s2s: listen: %w", err)
		}
		lns = append(lns, ln)
		s.addrs = append(s.addrs, ln.Addr())
		s.inWG.Add(1)
		go func() {
			defer s.inWG.Done()
			s.accept(ctx, ln, l.direct)
		}()
	}
	close(s.ready)
	s.log.Info().Int("count", len(lns)).Msg("s2s listening")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.rates.sweep(ctx, s.d.Now)
	}()
	<-ctx.Done()
	s.closeMu.Lock()
	s.inClosing.Store(true)
	s.closeMu.Unlock()
	for _, l := range lns {
		l.Close()
	}
	s.inbound.Range(func(k, v any) bool {
		v.(func())()
		return true
	})
	s.inWG.Wait()
	s.closeMu.Lock()
	s.closing.Store(true)
	s.closeMu.Unlock()
	s.mu.Lock()
	for _, l := range s.links {
		l.wakeUp()
	}
	s.mu.Unlock()
	// Links write what is queued and close; those still connecting get
	// a grace period, then what they hold is bounced.
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(shutdownGrace)
	select {
	case <-done:
	case <-t.C:
		outCancel()
		<-done
	}
	t.Stop()
	s.log.Info().Msg("s2s stopped")
	return nil
}

// shutdownGrace is how long links may take to deliver what is queued
// when the server stops.
const shutdownGrace = 10 * time.Second

// trackIn counts an inbound stream in s.inWG unless shutdown has begun.
func (s *Server) trackIn() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.inClosing.Load() {
		return false
	}
	s.inWG.Add(1)
	return true
}

// track counts a link goroutine in s.wg unless its phase of shutdown has
// begun.
func (s *Server) track() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closing.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) context() context.Context {
	s.baseCtxMu.Lock()
	defer s.baseCtxMu.Unlock()
	if s.ctx == nil {
		return context.Background()
	}
	return s.ctx
}

// dialbackKey derives the key of XEP-0185: HMAC-SHA256 keyed with the
// SHA-256 of the secret over "receiving originating streamID".
func (s *Server) dialbackKey(receiving, originating, id string) string {
	k := sha256.Sum256(s.d.Secret)
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(receiving + " " + originating + " " + id))
	return hex.EncodeToString(m.Sum(nil))
}

// serverTLS returns the inbound TLS config: our certificate, the peer's
// requested (verified by us, per domain), TLS 1.2 at least.
func (s *Server) serverTLS(direct bool) *tls.Config {
	c := s.d.TLS.Clone()
	c.ClientAuth = tls.RequestClientCert
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	c.NextProtos = nil
	if direct {
		c.NextProtos = []string{"xmpp-server"}
	}
	return c
}

// clientTLS returns the outbound TLS config for domain: the peer is
// verified after the handshake (verifyPeer: SRV-ID, XmppAddr), our
// certificate is presented as the client certificate.
func (s *Server) clientTLS(local, domain string, direct bool) *tls.Config {
	c := &tls.Config{
		ServerName:         domain,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified by verifyPeer with the s2s rules
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.ourCertificate(local)
		},
	}
	if direct {
		c.NextProtos = []string{"xmpp-server"}
	}
	return c
}

// ourCertificate returns the certificate for local, one of our domains,
// from the server config (a file, the dev certificate or ACME's).
func (s *Server) ourCertificate(local string) (*tls.Certificate, error) {
	if s.d.TLS.GetCertificate != nil {
		c, err := s.d.TLS.GetCertificate(&tls.ClientHelloInfo{ServerName: local,
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}})
		if err == nil && c != nil {
			return c, nil
		}
	}
	if len(s.d.TLS.Certificates) > 0 {
		return &s.d.TLS.Certificates[0], nil
	}
	return &tls.Certificate{}, nil
}

func (s *Server) connLog(event, domain string) {
	s.d.ConnLog.Info().Str("event", event).Str("domain", domain).Msg("")
}
