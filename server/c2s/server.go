package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"chatbx/internal/guard"
	"chatbx/internal/metrics"
	"chatbx/server/auth"
	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/presence"
	"chatbx/server/router"
	"chatbx/server/wire"
	"chatbx/store"
)

// Config holds the c2s settings. Zero values are replaced by DefaultConfig's.
type Config struct {
	Domain             string
	Listen             string // STARTTLS required
	ListenTLS          string // direct TLS (XEP-0368)
	MaxStanzaBytes     int
	NegotiationTimeout time.Duration
	IdleTimeout        time.Duration
	WriteTimeout       time.Duration
	QueueMax           int // stanzas queued for one session before it is cut off
	QueueBytes         int // estimated bytes queued for one session before it is cut off
	MaxConnections     int // open client connections, both listeners together
	MaxUnauthenticated int // of those, connections not authenticated yet
	OfflineMax         int // offline messages per user: package offline's Config.Max (server/services.go), default here
	SASLPlus           bool
	ConnPerSecond      float64 // new connections per anonymised IP
	ConnBurst          int
	// AuthFailBurst is how many SASL exchanges one anonymised network may
	// have under way or failed (refilled over a minute) before further
	// ones get temporary-auth-failure: a slot is reserved before the
	// verdict and handed back on success, so it also bounds concurrent
	// logins from one network (a NAT after a restart).
	AuthFailBurst int
	Version       string
	// FastTokenTTL is the lifetime of a FAST token (XEP-0484); one past
	// half of it is rotated when used.
	FastTokenTTL time.Duration
	// FastMaxTokens caps the devices of one user that hold FAST tokens;
	// a new one replaces the oldest.
	FastMaxTokens int
	// ResumeTimeout is how long a session with XEP-0198 resumption
	// outlives a lost transport; ResumeLocation, if not empty, is the
	// host:port clients should reconnect to for it (<enabled location/>).
	ResumeTimeout  time.Duration
	ResumeLocation string
}

// DefaultConfig returns the defaults documented in docs/configuration.md.
func DefaultConfig() Config {
	return Config{
		Listen:             ":5222",
		ListenTLS:          ":5223",
		MaxStanzaBytes:     256 << 10,
		NegotiationTimeout: 30 * time.Second,
		IdleTimeout:        5 * time.Minute,
		WriteTimeout:       30 * time.Second,
		QueueMax:           2000,
		QueueBytes:         4 << 20,
		MaxConnections:     20000,
		MaxUnauthenticated: 1000,
		OfflineMax:         1000,
		ConnPerSecond:      20,
		ConnBurst:          200,
		AuthFailBurst:      30,
		FastTokenTTL:       14 * 24 * time.Hour,
		FastMaxTokens:      16,
		ResumeTimeout:      5 * time.Minute,
	}
}

// IPAnonymizer turns a peer address into what may be logged.
type IPAnonymizer interface {
	IP(net.Addr) string
}

// Deps are the parts a Server uses.
type Deps struct {
	DB *store.DB
	// Log receives lifecycle and fault events; ConnLog receives the
	// connection log (login, logout, auth-failure).
	Log, ConnLog zerolog.Logger
	Anon         IPAnonymizer
	// StartTLS returns the TLS config for a STARTTLS upgrade; streamTo is
	// the stream header's to, used when the client sends no SNI.
	StartTLS func(streamTo string) *tls.Config
	// DirectTLS is the config for the direct TLS listener.
	DirectTLS *tls.Config
	// Blocked reports whether user has blocked jid (XEP-0191). May be nil.
	Blocked func(ctx context.Context, user, jid string) bool
	// Register, if not nil, serves in-band registration before
	// authentication (XEP-0077 §3.1): its stream feature is offered beside
	// the SASL mechanisms and jabber:iq:register IQs go to it.
	Register PreAuthRegister
	// Domains is the domain table (package router): the host, local
	// services and the remote side. Nil means the host alone.
	Domains *router.Domains
	// Mux is the handler registry the server's IQ services are in; c2s
	// adds its own (RFC 3921 session). Nil means a new one.
	Mux *mux.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Guard limits password guesses per account (internal/guard), shared
	// with the other places that check passwords; nil means a guard of
	// this server's own with the default limits.
	Guard Guard
	// Locked reports whether an account is restricted by its user
	// (accounts.Service.IsLocked; GDPR Art. 18): it takes no login and no
	// delivery. It is called for every message to a local account, so it
	// must be cheap (a set in memory). Nil means none is.
	Locked func(user string) bool
	// Metrics counts sessions, logins, routed stanzas and queue drops
	// (internal/metrics); nil counts nothing.
	Metrics *metrics.Metrics
}

// Guard is the per-account password guessing limit (*guard.Guard).
type Guard interface {
	Begin(user string, addr netip.Addr) (done func(ok bool), wait time.Duration, ok bool)
}

// PreAuthRegister is in-band registration on a stream that has not
// authenticated yet.
type PreAuthRegister interface {
	// StreamFeature returns the <register/> feature, or nil when
	// registration is closed.
	StreamFeature() *wire.Element
	// HandleUnauthenticated answers a jabber:iq:register IQ from addr.
	HandleUnauthenticated(ctx context.Context, domain string, addr netip.Addr, el *wire.Element) *wire.Element
}

// Server runs the c2s listeners and owns every client session.
type Server struct {
	cfg     Config
	d       Deps
	db      *store.DB
	log     zerolog.Logger
	auth    *auth.Server
	router  *Router
	domains *router.Domains
	mux     *mux.Registry
	// negotiation is the ordered list of stream features.
	negotiation []feature
	// inline are the Bind2 inline features (bind2.go); bindKey derives
	// Bind2 resources from SASL2 user-agent ids, in memory only.
	inline []InlineFeature
	// endpoints caches certificates' tls-server-end-point hashes (FAST).
	endpoints endpointCache
	bindKey   [32]byte

	limMu    sync.Mutex
	limiters map[string]*ipLimit

	logins       atomic.Uint64 // sessions bound since start, for trimMemory
	negotiating  sync.Map      // *Session → struct{}: streams not bound yet
	offlineBusy  sync.Map      // *Session → struct{}: offline delivery running (handle.go)
	startTLSOnce sync.Once
	startTLSConf *tls.Config

	// conns and unauth count open connections and those of them not
	// authenticated yet, across both listeners (Config.MaxConnections,
	// Config.MaxUnauthenticated). refused counts connections turned away
	// since the last warning, logged at most every refusedEvery.
	conns, unauth atomic.Int64
	refused       atomic.Uint64
	refusedLog    atomic.Int64 // UnixNano of the last warning

	// rooms holds the channel of each session whose offline delivery
	// waits for room in its queue (see Session.enqueue); few sessions
	// ever wait, so they share one map instead of a field each.
	roomMu sync.Mutex
	rooms  map[*Session]chan struct{}

	// hooks are the feature callbacks (hooks.go); awaits the answers
	// to IQs the server sent to clients.
	hooks  Hooks
	awaits awaits
	// pres are the presence rules (package presence) over this
	// server's sessions (presenceHost).
	pres *presence.Rules[*Session]
	// strangers limits first-contact messages per remote domain.
	strangers strangerLimits

	// smIDs maps user + "\x00" + resumption id to the session that may be
	// resumed (XEP-0198, sm.go); urgent are the registered CSI checks.
	smIDs    sync.Map
	smGone   smGone
	urgent   []func(*wire.Element) bool
	onAsleep func(user string, el *wire.Element)

	ready     chan struct{}
	addrs     []net.Addr
	sessions  sync.WaitGroup
	closing   atomic.Bool
	closeMu   sync.RWMutex // orders track's Add before Run's Wait
	listeners []net.Listener
	ctx       context.Context
}

type ipLimit struct {
	conn *rate.Limiter
	auth *guard.Bucket // failed logins, reserved before each verdict
	seen time.Time
}

// New returns a c2s server.
func New(cfg Config, d Deps) *Server {
	def := DefaultConfig()
	if cfg.MaxStanzaBytes <= 0 {
		cfg.MaxStanzaBytes = def.MaxStanzaBytes
	}
	if cfg.NegotiationTimeout <= 0 {
		cfg.NegotiationTimeout = def.NegotiationTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = def.WriteTimeout
	}
	if cfg.QueueMax <= 0 {
		cfg.QueueMax = def.QueueMax
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = def.QueueBytes
	}
	cfg.QueueBytes = min(cfg.QueueBytes, 1<<30) // Session.qbytes is an int32
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = def.MaxConnections
	}
	if cfg.MaxUnauthenticated <= 0 {
		cfg.MaxUnauthenticated = def.MaxUnauthenticated
	}
	if cfg.OfflineMax <= 0 {
		cfg.OfflineMax = def.OfflineMax
	}
	if cfg.ConnPerSecond <= 0 {
		cfg.ConnPerSecond = def.ConnPerSecond
	}
	if cfg.ConnBurst <= 0 {
		cfg.ConnBurst = def.ConnBurst
	}
	if cfg.ResumeTimeout <= 0 {
		cfg.ResumeTimeout = def.ResumeTimeout
	}
	if cfg.AuthFailBurst <= 0 {
		cfg.AuthFailBurst = def.AuthFailBurst
	}
	if cfg.FastTokenTTL <= 0 {
		cfg.FastTokenTTL = def.FastTokenTTL
	}
	if cfg.FastMaxTokens <= 0 {
		cfg.FastMaxTokens = def.FastMaxTokens
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Domains == nil {
		d.Domains = router.NewDomains(cfg.Domain)
	}
	if d.Mux == nil {
		d.Mux = mux.New()
	}
	if d.Guard == nil {
		d.Guard = guard.New(guard.DefaultConfig(), d.Now)
	}
	d = withEndpoint(d)
	s := &Server{
		domains:  d.Domains,
		cfg:      cfg,
		d:        d,
		db:       d.DB,
		log:      d.Log.With().Str("component", "c2s").Logger(),
		auth:     auth.New(d.DB, cfg.Domain, cfg.SASLPlus),
		router:   NewRouter(),
		mux:      d.Mux,
		limiters: map[string]*ipLimit{},
		ready:    make(chan struct{}),
	}
	// Rosters, carbons and offline storage (packages roster, carbons,
	// offline) register themselves and their disco features in the
	// registry beside the other handlers (server/services.go).
	s.pres = presence.New[*Session](cfg.Domain, d.DB, presenceHost{s}, s.log)
	s.negotiation = s.features()
	rand.Read(s.bindKey[:])
	s.registerInlineCore()
	// The IM core's own IQ (RFC 3921 sessions).
	s.mux.IQ(nsSess, "session", mux.Route{Handler: func(_ context.Context, _ iq.Context, el *wire.Element) *wire.Element {
		return iq.Result(el)
	}})
	s.registerStrangers() // federation spam control (strangers.go)
	return s
}

// startTLSConfig returns the STARTTLS config, built once: the host check
// admits only our domain, so one config serves every stream, and a shared
// config shares its session-ticket keys (a config per connection cost
// ~1 KiB each and made resumption impossible).
func (s *Server) startTLSConfig() *tls.Config {
	s.startTLSOnce.Do(func() { s.startTLSConf = s.d.StartTLS(s.cfg.Domain) })
	return s.startTLSConf
}

// Router returns the session table.
func (s *Server) Router() *Router { return s.router }

// Ready is closed once the listeners accept connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the listeners' addresses (STARTTLS first) once Ready.
func (s *Server) Addrs() []net.Addr { return s.addrs }

// Run listens and serves until ctx ends, then closes every stream with
// <system-shutdown/>, moves queued messages to offline storage and returns
// when every session has ended.
func (s *Server) Run(ctx context.Context) error {
	s.ctx = ctx
	var lns []net.Listener
	listen := func(addr string, direct bool) error {
		if addr == "" {
			return nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
		s.addrs = append(s.addrs, ln.Addr())
		go s.accept(ctx, ln, direct)
		return nil
	}
	if err := listen(s.cfg.Listen, false); err != nil {
		return err
	}
	if err := listen(s.cfg.ListenTLS, true); err != nil {
		return err
	}
	s.listeners = lns
	close(s.ready)
	s.log.Info().Int("count", len(lns)).Msg("c2s listening")
	go s.sweepLimiters(ctx)
	go s.trimMemory(ctx)
	<-ctx.Done()
	s.closeMu.Lock()
	s.closing.Store(true) // from now on track refuses: no Add races the Wait below
	s.closeMu.Unlock()
	for _, l := range lns {
		l.Close()
	}
	s.router.Each(func(ss *Session) {
		if !ss.smShutdown() { // XEP-0198: a last acknowledgement first
			ss.shutdown()
		}
	})
	// Streams still negotiating end too, instead of running out their
	// negotiation deadline.
	s.negotiating.Range(func(k, _ any) bool {
		k.(*Session).shutdown()
		return true
	})
	s.sessions.Wait()
	s.log.Info().Msg("c2s stopped")
	return nil
}

// track counts a new stream in s.sessions unless shutdown has begun. Run
// sets closing under the same lock before it waits for the sessions, so
// no Add can race that Wait (sync.WaitGroup's rule).
func (s *Server) track() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closing.Load() {
		return false
	}
	s.sessions.Add(1)
	return true
}

func (s *Server) accept(ctx context.Context, ln net.Listener, direct bool) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff < time.Second {
				backoff *= 2
			}
			s.log.Warn().Err(err).Msg("accept failed")
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if !s.limit(conn.RemoteAddr()).conn.Allow() {
			conn.Close()
			continue
		}
		if !s.track() {
			conn.Close() // shutting down
			continue
		}
		if !s.admit() {
			// Over a cap: close at once, as Prosody and ejabberd do; no
			// stream error (on direct TLS there is no stream yet).
			s.sessions.Done()
			conn.Close()
			continue
		}
		go func() {
			defer s.sessions.Done()
			s.serve(ctx, conn, direct)
		}()
	}
}

// refusedEvery is how often at most a refused connection is logged.
const refusedEvery = 10 * time.Second

// admit counts a new connection, or reports false when it would exceed
// Config.MaxConnections or Config.MaxUnauthenticated.
func (s *Server) admit() bool {
	n, u := s.conns.Add(1), s.unauth.Add(1)
	if n <= int64(s.cfg.MaxConnections) && u <= int64(s.cfg.MaxUnauthenticated) {
		return true
	}
	s.conns.Add(-1)
	s.unauth.Add(-1)
	s.refused.Add(1)
	now := time.Now().UnixNano()
	last := s.refusedLog.Load()
	if now-last >= int64(refusedEvery) && s.refusedLog.CompareAndSwap(last, now) {
		limit := "c2s.max_connections"
		if n <= int64(s.cfg.MaxConnections) {
			limit = "c2s.max_unauthenticated"
		}
		// Counts only; the refused peers' addresses are not logged.
		s.log.Warn().Str("limit", limit).Uint64("refused", s.refused.Swap(0)).
			Int64("connections", n-1).Int64("unauthenticated", u-1).Msg("connection limit reached")
	}
	return false
}

// room returns the channel that is closed when ss's queue has room again
// or ss is ending. Called with ss.mu held.
func (s *Server) room(ss *Session) chan struct{} {
	s.roomMu.Lock()
	defer s.roomMu.Unlock()
	ch := s.rooms[ss]
	if ch == nil {
		if s.rooms == nil {
			s.rooms = map[*Session]chan struct{}{}
		}
		ch = make(chan struct{})
		s.rooms[ss] = ch
	}
	return ch
}

// wakeRoom closes ss's room channel. Called with ss.mu held.
func (s *Server) wakeRoom(ss *Session) {
	s.roomMu.Lock()
	ch := s.rooms[ss]
	delete(s.rooms, ss)
	s.roomMu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// authenticated moves ss out of the unauthenticated count once SASL has
// succeeded. Called by ss's reader.
func (s *Server) authenticated(ss *Session) {
	if !ss.authed && !ss.released {
		ss.authed = true
		s.unauth.Add(-1)
	}
}

// release uncounts ss's connection when it ends. Called by ss's reader.
func (s *Server) release(ss *Session) {
	if ss.released {
		return
	}
	s.authenticated(ss)
	ss.released = true
	s.conns.Add(-1)
}

// trimMemory returns memory to the operating system once a burst of new
// sessions is over (after a restart every client logs in again, and each
// TLS handshake leaves garbage behind). Without it the process keeps the
// heap it needed during the burst: an idle server makes no garbage, so no
// garbage collection runs to free it. It checks every 5 s and trims at
// most every 30 s, only after a 5 s window without new sessions that
// followed one with at least 100.
func (s *Server) trimMemory(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var last uint64
	burst := false
	var trimmed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := s.logins.Load()
		fresh := n - last
		last = n
		switch {
		case fresh >= 100:
			burst = true
		case fresh == 0 && burst && time.Since(trimmed) > 30*time.Second:
			debug.FreeOSMemory()
			trimmed = time.Now()
			burst = false
		}
	}
}

// limit returns the in-memory limiters for the peer's anonymised network
// (IPv4 /24, IPv6 /48): nothing about clients is persisted.
func (s *Server) limit(addr net.Addr) *ipLimit {
	key := anonKey(addr)
	s.limMu.Lock()
	defer s.limMu.Unlock()
	l := s.limiters[key]
	if l == nil {
		l = &ipLimit{
			conn: rate.NewLimiter(rate.Limit(s.cfg.ConnPerSecond), s.cfg.ConnBurst),
			auth: guard.NewBucket(s.cfg.AuthFailBurst, time.Minute/time.Duration(s.cfg.AuthFailBurst)),
		}
		s.limiters[key] = l
	}
	l.seen = s.d.Now()
	return l
}

func anonKey(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if v4 := ta.IP.To4(); v4 != nil {
		return net.IP(v4).Mask(net.CIDRMask(24, 32)).String()
	}
	return ta.IP.Mask(net.CIDRMask(48, 128)).String()
}

// sweepLimiters drops limiters idle for ten minutes.
func (s *Server) sweepLimiters(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cut := s.d.Now().Add(-10 * time.Minute)
		s.limMu.Lock()
		for k, l := range s.limiters {
			if l.seen.Before(cut) {
				delete(s.limiters, k)
			}
		}
		s.limMu.Unlock()
	}
}

// KickUser ends every session of user with the stream error condition
// (conflict for a new login elsewhere, not-authorized after deletion or a
// password change, reset for admin actions). except, if not nil, is spared.
func (s *Server) KickUser(user, condition string, except *Session) {
	for _, ss := range s.router.Sessions(user) {
		if ss != except {
			ss.closeWith(condition, "")
		}
	}
}

// KickUserWait is KickUser for every session of user that returns once
// each of them has ended (its logout logged), or when ctx ends. The
// session bound to the full JID self, if any, is closed too but not waited
// for, and logs no logout: it is the caller's own (XEP-0077 <remove/> runs
// on that session's reader, which ends the stream only after the call
// returns).
func (s *Server) KickUserWait(ctx context.Context, user, self, condition string) error {
	sessions := s.router.Sessions(user)
	for _, ss := range sessions {
		ss.closeWith(condition, "")
	}
	for _, ss := range sessions {
		if self != "" && ss.full == self {
			// Nobody waits for its logout line to be written before the
			// connection logs are rewritten, so it writes none.
			// Privacy: the deleted account's lines are all removed.
			ss.unlogged.Store(true)
			continue
		}
		select {
		case <-ss.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// KickOthers closes every session of user except the one bound to the full
// JID keep (after an in-band password change).
func (s *Server) KickOthers(user, keep, condition string) {
	for _, ss := range s.router.Sessions(user) {
		if ss.full != keep {
			ss.closeWith(condition, "")
		}
	}
}

// AccountDeleted tells a deleted account's contacts that it is gone
// (RFC 6121 §2.5.2 as if every item had been removed): local contacts with
// a subscription get unsubscribe/unsubscribed and unavailable presence,
// and their online sessions a roster push removing the account. roster is
// the deleted account's roster; the contacts' stored rosters were already
// cleaned in the deletion transaction's preparation.
func (s *Server) AccountDeleted(ctx context.Context, user string, roster []store.RosterItem) {
	bare := user + "@" + s.cfg.Domain
	for i := range roster {
		it := &roster[i]
		a, err := parseAddr(it.JID)
		if err == nil && s.isRemote(a) {
			// A contact on another server is told through s2s.
			tell := func(typ string) {
				s.toOther(ctx, wire.New(wire.NSClient, "presence", "type", typ, "from", bare, "to", a.bare()), a.domain)
			}
			if it.Sub == store.SubFrom || it.Sub == store.SubBoth {
				tell("unavailable")
				tell("unsubscribed")
			}
			if it.Sub == store.SubTo || it.Sub == store.SubBoth || it.AskOut {
				tell("unsubscribe")
			}
			continue
		}
		if err != nil || !s.localUser(a) || a.local == user {
			continue
		}
		send := func(typ string) {
			p := wire.New(wire.NSClient, "presence", "type", typ, "from", bare, "to", a.bare())
			for _, t := range s.router.Sessions(a.local) {
				if t.available.Load() {
					t.Send(p)
				}
			}
		}
		if it.Sub == store.SubFrom || it.Sub == store.SubBoth {
			send("unavailable")
			send("unsubscribed")
		}
		if it.Sub == store.SubTo || it.Sub == store.SubBoth || it.AskOut {
			send("unsubscribe")
		}
		if ver, err := s.db.RosterVersion(ctx, a.local); err == nil {
			s.rosterPush(a.local, ver, &store.RosterItem{JID: bare}, true)
		}
	}
}
