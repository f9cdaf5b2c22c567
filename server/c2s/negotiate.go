package c2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"chatbx/server/auth"
	"chatbx/server/iq"
	"chatbx/server/wire"
)

const (
	nsTLS  = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSess = "urn:ietf:params:xml:ns:xmpp-session"
	nsCB   = "urn:xmpp:sasl-cb:0"

	// preAuthLimit caps elements before authentication; nothing a client
	// needs to send before bind comes close.
	preAuthLimit = 16 << 10
	// maxAuthAttempts is the number of SASL failures allowed on one stream
	// (RFC 6120 §6.4.5 asks for 2 to 5).
	maxAuthAttempts = 5
)

// serve runs one TCP connection from either listener (direct: TLS from
// the first byte, XEP-0368).
func (s *Server) serve(ctx context.Context, raw net.Conn, direct bool) {
	tr := &tcpTransport{raw: raw, domain: s.cfg.Domain, writeTimeout: s.cfg.WriteTimeout, limit: preAuthLimit}
	ss := s.newSession(tr)
	tr.ic = &idleConn{Conn: raw, s: ss, timeout: s.cfg.IdleTimeout,
		deadline: s.d.Now().Add(s.cfg.NegotiationTimeout)}
	tr.conn = tr.ic
	if direct {
		tc := tls.Server(tr.ic, s.d.DirectTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close() // nothing to say on a failed handshake
			s.release(ss)
			return
		}
		st := tc.ConnectionState()
		tr.conn, tr.tls = tc, &st
	}
	s.stream(ctx, ss, func() { tr.ic.deadline = time.Time{} }, true)
}

// Serve runs a client stream over a transport other than the TCP
// listeners' (the WebSocket endpoint) until it ends. The transport must
// be encrypted already. ready, if not nil, is called once the stream is
// bound (the transport may lift its negotiation deadline then).
func (s *Server) Serve(ctx context.Context, tr Transport, ready func()) {
	if !s.track() {
		tr.Close("system-shutdown", nil)
		return
	}
	defer s.sessions.Done()
	// The same limits as the TCP listeners: new connections per
	// anonymised network (Config.ConnPerSecond, ConnBurst), and the caps
	// (Config.MaxConnections, MaxUnauthenticated) whose counts the
	// session's finish releases.
	if !s.limit(tr.RemoteAddr()).conn.Allow() || !s.admit() {
		tr.Close("policy-violation", nil)
		return
	}
	s.stream(ctx, s.newSession(tr), ready, false)
}

func (s *Server) newSession(tr Transport) *Session {
	return &Session{srv: s, tr: tr, id: newID(), done: make(chan struct{})}
}

// stream negotiates ss and then runs its stanza loop. With handOff, the
// loop continues in a fresh goroutine and stream returns at once: the TLS
// handshake grows a goroutine's stack to several KiB, and an idle session
// should not keep that stack for its whole life.
func (s *Server) stream(ctx context.Context, ss *Session, ready func(), handOff bool) {
	s.negotiating.Store(ss, struct{}{})
	if s.closing.Load() {
		ss.shutdown() // shutdown began after accept
	}
	handedOff := false
	cond := ""
	defer func() {
		s.negotiating.Delete(ss)
		if r := recover(); r != nil {
			// A bug in one session ends that session only.
			s.log.Error().Str("conn", ss.id).Str("panic", fmt.Sprint(r)).Msg("session panic")
			cond = "internal-server-error"
		}
		if !handedOff {
			ss.finish(cond, false)
			close(ss.done)
		}
	}()
	if err := ss.negotiate(ctx); err != nil {
		cond = streamCondition(err)
		if ss.full != "" {
			// Bound but the bind result could not be written.
			s.router.Unbind(ss)
		}
		return
	}
	s.connLog("login", ss)
	s.logins.Add(1)
	s.d.Metrics.SessionBound(ss.tr.Kind())
	if d, ok := ss.tr.(interface{ dropTLS() }); ok {
		d.dropTLS() // only SASL needed it; keep idle sessions small
	}
	if ready != nil {
		ready()
	}
	ss.tr.SetLimit(s.cfg.MaxStanzaBytes)
	handedOff = true
	s.negotiating.Delete(ss)
	if !handOff {
		s.run(ctx, ss)
		return
	}
	s.sessions.Add(1)
	go func() {
		defer s.sessions.Done()
		s.run(ctx, ss)
	}()
}

// run is a bound session's stanza loop, from bind to close.
func (s *Server) run(ctx context.Context, ss *Session) {
	cond := ""
	peerClosed := false
	defer func() {
		if r := recover(); r != nil {
			// A bug in one session ends that session only.
			s.log.Error().Str("conn", ss.id).Str("panic", fmt.Sprint(r)).Msg("session panic")
			cond, ss.lost = "internal-server-error", false
		}
		if s.smPark(ss, ss.lost) {
			return // hibernated for resumption (XEP-0198): still bound
		}
		s.unbind(ss)
		s.d.Metrics.SessionEnded(ss.tr.Kind())
		ss.finish(cond, peerClosed)
		if !ss.unlogged.Load() {
			s.connLog("logout", ss)
		}
		close(ss.done)
	}()
	for {
		el, err := ss.tr.Next()
		if err != nil {
			cond = streamCondition(err)
			// The client closed its stream (or the connection): it will
			// not read what is still queued, so finish keeps that offline.
			peerClosed = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			ss.lost = transportLost(err)
			return
		}
		if err := s.dispatch(ctx, ss, el); err != nil {
			cond = streamCondition(err)
			return
		}
	}
}

// logIP returns the peer address as it may be logged now: anonymised, or
// in full while the maintenance switch is on. Privacy: it is computed at
// each log line, never cached, so a session opened during a maintenance
// window logs its logout anonymised once the window has ended.
func (ss *Session) logIP() string {
	if ss.srv.d.Anon == nil {
		return ""
	}
	return ss.srv.d.Anon.IP(ss.tr.RemoteAddr())
}

// connLog writes a connection log line: time, event, user, anonymised
// address, the same for TCP and WebSocket.
func (s *Server) connLog(event string, ss *Session) {
	s.d.ConnLog.Info().Str("event", event).Str("user", ss.user).Str("ip_anon", ss.logIP()).Msg("")
}

// write writes one serialised element; only used while negotiating,
// before the writer goroutine exists.
func (ss *Session) write(p []byte) error { return ss.tr.WriteRaw(p) }

func (ss *Session) writeEl(el *wire.Element) error {
	return ss.tr.WriteRaw(el.Bytes(wire.NSClient))
}

// openStream reads and checks a stream opening (RFC 6120 §4.7).
func (ss *Session) openStream() error {
	h, err := ss.tr.ReadOpen()
	if err != nil {
		// A stream that does not even start properly still gets a header
		// and an error (finish writes them).
		return err
	}
	if hostOf(h) != ss.srv.cfg.Domain {
		return streamError("host-unknown")
	}
	if v := h.Get("version"); v == "" || v[0] < '1' {
		return streamError("unsupported-version")
	}
	return nil
}

// step is what a stream feature's negotiation leads to.
type step int

const (
	stepRestart step = iota // the client opens a new stream (RFC 6120 §4.3.3)
	stepBound               // negotiation is done: the session is bound
	// stepContinue: new features follow on the same stream without a
	// restart (after SASL2 success, XEP-0388 §2.6.1).
	stepContinue
)

// A feature is one stream feature (RFC 6120 §4.3.2). Negotiation runs in
// rounds: each round opens a stream and offers every feature whose offer
// returns elements; the client's first element goes to the first offered
// feature that owns it, and that feature negotiates until the stream
// restarts or the session is bound. Any transport runs the same list.
type feature struct {
	name string
	// offer returns the elements advertised in <stream:features/> for ss
	// now, or nil when the feature is not available in this state.
	offer func(ss *Session) []*wire.Element
	// owns reports whether el starts this feature's negotiation; nil for
	// an informational feature (RFC 6120 §4.3.2 voluntary-to-negotiate).
	owns func(ss *Session, el *wire.Element) bool
	// negotiate runs the feature starting with el.
	negotiate func(ss *Session, ctx context.Context, el *wire.Element) (step, error)
}

// features returns the negotiation list, in offer order: STARTTLS (only
// on a transport that is not encrypted yet), SASL with in-band
// registration, then resource binding with the informational features.
func (s *Server) features() []feature {
	authed := func(ss *Session) bool { return ss.user != "" }
	static := func(when func(*Session) bool, els ...*wire.Element) func(*Session) []*wire.Element {
		return func(ss *Session) []*wire.Element {
			if when(ss) {
				return els
			}
			return nil
		}
	}
	return []feature{
		{
			name: "starttls",
			offer: func(ss *Session) []*wire.Element {
				if _, ok := ss.tr.(startTLS); !ok || ss.tr.TLS() != nil {
					return nil
				}
				return []*wire.Element{wire.New(nsTLS, "starttls").Add(wire.New(nsTLS, "required"))}
			},
			// STARTTLS is required: it owns everything in its round.
			owns:      func(*Session, *wire.Element) bool { return true },
			negotiate: (*Session).negotiateTLS,
		},
		s.sasl2Feature(),
		{
			name: "sasl",
			offer: func(ss *Session) []*wire.Element {
				if ss.tr.TLS() == nil || authed(ss) {
					return nil
				}
				return s.saslFeatures(ss)
			},
			// Before authentication, SASL (with the pre-auth IQs it
			// allows) owns every element.
			owns:      func(*Session, *wire.Element) bool { return true },
			negotiate: (*Session).authenticate,
		},
		{
			// XEP-0198 stream management: <resume/> after SASL instead
			// of bind; <enable/> comes after bind, in the stanza loop.
			name:      "sm",
			offer:     static(authed, wire.New(nsSM, "sm")),
			owns:      func(_ *Session, el *wire.Element) bool { return el.Space == nsSM },
			negotiate: (*Session).negotiateSM,
		},
		{
			name:      "bind",
			offer:     static(func(ss *Session) bool { return authed(ss) && ss.full == "" }, wire.New(nsBind, "bind")),
			owns:      func(*Session, *wire.Element) bool { return true },
			negotiate: (*Session).bind,
		},
		{name: "session", offer: static(authed, wire.New(nsSess, "session").Add(wire.New(nsSess, "optional")))},
		{name: "rosterver", offer: static(authed, wire.New("urn:xmpp:features:rosterver", "ver"))},
		{name: "pre-approval", offer: static(authed, wire.New("urn:xmpp:features:pre-approval", "sub"))},
		{name: "csi", offer: static(authed, wire.New(nsCSI, "csi"))}, // XEP-0352
	}
}

// negotiate runs the rounds of stream negotiation until the session is
// bound.
func (ss *Session) negotiate(ctx context.Context) error {
	restart := true
	for {
		if restart {
			if err := ss.openStream(); err != nil {
				return err
			}
		}
		offer, offered := ss.offer()
		if !restart {
			if err := ss.writeFeatures(offer); err != nil {
				return err
			}
		} else if err := ss.tr.WriteOpen(newID(), offer); err != nil {
			return err
		}
		el, err := ss.tr.Next()
		if err != nil {
			return err
		}
		var f *feature
		for _, o := range offered {
			if o.owns(ss, el) {
				f = o
				break
			}
		}
		if f == nil {
			return streamError("not-authorized")
		}
		st, err := f.negotiate(ss, ctx, el)
		if err != nil {
			return err
		}
		if st == stepBound {
			return nil
		}
		restart = st == stepRestart
	}
}

// offer returns the stream features to advertise to ss now, and those of
// them that negotiate.
func (ss *Session) offer() (*wire.Element, []*feature) {
	feats := ss.srv.negotiation
	offer := wire.New("", "features")
	var offered []*feature
	for i := range feats {
		f := &feats[i]
		els := f.offer(ss)
		if els == nil {
			continue
		}
		offer.Add(els...)
		if f.owns != nil {
			offered = append(offered, f)
		}
	}
	return offer, offered
}

// writeFeatures writes <stream:features/> with offer's children inside
// the current stream (no restart).
func (ss *Session) writeFeatures(offer *wire.Element) error {
	var b bytes.Buffer
	b.WriteString(`<stream:features xmlns:stream='http://etherx.jabber.org/streams'>`)
	for _, c := range offer.Elements() {
		c.WriteTo(&b, wire.NSClient)
	}
	b.WriteString(`</stream:features>`)
	return ss.write(b.Bytes())
}

// negotiateTLS answers <starttls/> and upgrades the transport (RFC 6120 §5).
func (ss *Session) negotiateTLS(ctx context.Context, el *wire.Element) (step, error) {
	switch {
	case el.Space == nsTLS && el.Local == "starttls":
	case el.Space == nsSASL && el.Local == "auth":
		// RFC 6120 §5.3.1: TLS is mandatory here; no SASL in the clear.
		ss.write([]byte(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>`))
		return 0, streamError("policy-violation")
	default:
		return 0, streamError("not-authorized")
	}
	st := ss.tr.(startTLS)
	if st.Buffered() {
		// Data pipelined after <starttls/> would be read in the clear.
		return 0, streamError("not-well-formed")
	}
	if err := ss.write([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
		return 0, err
	}
	if err := st.StartTLS(ctx, ss.srv.startTLSConfig()); err != nil {
		return 0, err
	}
	return stepRestart, nil
}

// saslFeatures advertises the SASL mechanisms (RFC 6120 §6.4.1), the
// channel-binding types (XEP-0440) and in-band registration (XEP-0077).
func (s *Server) saslFeatures(ss *Session) []*wire.Element {
	tlsState := ss.tr.TLS()
	mechs := wire.New(nsSASL, "mechanisms")
	for _, m := range s.auth.Mechanisms(tlsState) {
		mechs.Add(wire.New(nsSASL, "mechanism").AddText(m))
	}
	out := []*wire.Element{mechs}
	if cbs := s.auth.ChannelBindings(tlsState); len(cbs) > 0 {
		cb := wire.New(nsCB, "sasl-channel-binding")
		for _, c := range cbs {
			cb.Add(wire.New(nsCB, "channel-binding", "type", c))
		}
		out = append(out, cb)
	}
	if s.d.Register != nil {
		if rf := s.d.Register.StreamFeature(); rf != nil {
			out = append(out, rf)
		}
	}
	return out
}

// bind runs resource binding (RFC 6120 §7), starting with el.
func (ss *Session) bind(ctx context.Context, el *wire.Element) (step, error) {
	s := ss.srv
	for ; ; el = nil {
		if el == nil {
			var err error
			if el, err = ss.tr.Next(); err != nil {
				return 0, err
			}
		}
		if el.Space != wire.NSClient || el.Local != "iq" {
			return 0, streamError("not-authorized")
		}
		b := el.Child(nsBind, "bind")
		if b == nil || el.Get("type") != "set" {
			ss.writeEl(errorReply(el, "cancel", "service-unavailable"))
			continue
		}
		res := b.ChildText(nsBind, "resource")
		if res == "" {
			res = "chatbx-" + newID()[:8]
		}
		j, err := jid.New(ss.user, s.cfg.Domain, res)
		if err != nil || len(j.Resourcepart()) > 1023 {
			ss.writeEl(errorReply(el, "modify", "bad-request"))
			continue
		}
		ss.resource = j.Resourcepart()
		ss.bare = ss.user + "@" + s.cfg.Domain
		ss.full = ss.bare + "/" + ss.resource
		if s.closing.Load() {
			return 0, streamError("system-shutdown")
		}
		if s.locked(ss.user) {
			// Locked between authentication and bind: the Locked hook
			// closed only bound sessions.
			return 0, streamError("not-authorized")
		}
		if old := s.router.Bind(ss); old != nil {
			// Conflict policy: the newest session wins (as Prosody's
			// default); the old one is closed with <conflict/>.
			old.closeWith("conflict", "")
		}
		reply := wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id"))
		reply.Add(wire.New(nsBind, "bind").Add(wire.New(nsBind, "jid").AddText(ss.full)))
		return stepBound, ss.writeEl(reply)
	}
}

// authenticate is the SASL feature's negotiation: it ends with the
// stream restart that follows <success/>, when the stream no longer
// counts against Config.MaxUnauthenticated.
func (ss *Session) authenticate(ctx context.Context, first *wire.Element) (step, error) {
	if err := ss.sasl(ctx, first); err != nil {
		return 0, err
	}
	ss.srv.authenticated(ss)
	return stepRestart, nil
}

// sasl runs SASL exchanges, starting with first, until one succeeds or
// the attempts run out.
//
// Guessing limits apply before any verdict: each exchange first reserves
// one failure from the network's allowance (over all accounts), and once
// the username is known, one from the account's (Deps.Guard, through the
// exchange's gate). When either is used up the exchange fails with
// <temporary-auth-failure/> and the password is not evaluated. A success
// hands both reservations back.
func (ss *Session) sasl(ctx context.Context, first *wire.Element) error {
	s := ss.srv
	failures := 0
	lim := s.limit(ss.tr.RemoteAddr())
	var ip netip.Addr
	if ta, ok := ss.tr.RemoteAddr().(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	}
	gate := func(user string) (func(bool), bool) {
		done, _, ok := s.d.Guard.Begin(user, ip)
		return done, ok
	}
	fail := func(cond string) error {
		failures++
		ss.write([]byte(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><` + cond + `/></failure>`))
		if cond == "not-authorized" || cond == "account-disabled" {
			s.d.Metrics.Login(false)
		}
		if cond == "not-authorized" {
			s.d.ConnLog.Info().Str("event", "auth-failure").Str("ip_anon", ss.logIP()).Msg("")
		}
		if failures >= maxAuthAttempts {
			return streamError("policy-violation")
		}
		return nil
	}
	for {
		el, err := first, error(nil)
		if first = nil; el == nil {
			el, err = ss.tr.Next()
		}
		if err != nil {
			return err
		}
		if el.Space == wire.NSClient && el.Local == "iq" && s.d.Register != nil {
			// XEP-0401: a <preauth/> token, checked now and used for the
			// registration that follows on this stream.
			if q := el.FirstChild(); q != nil && q.Space == "urn:xmpp:pars:0" && q.Local == "preauth" {
				pa, ok := s.d.Register.(interface {
					Preauth(ctx context.Context, token string) bool
				})
				if ok && el.Get("type") == "set" && pa.Preauth(ctx, q.Get("token")) {
					ss.preauth = q.Get("token")
					err = ss.writeEl(wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id")))
				} else {
					err = ss.writeEl(errorReply(el, "cancel", "item-not-found"))
				}
				if err != nil {
					return err
				}
				continue
			}
			// In-band registration before authentication (XEP-0077 §3).
			if q := el.FirstChild(); q != nil && q.Space == "jabber:iq:register" {
				if ss.preauth != "" && q.Child("jabber:iq:register", "key") == nil && el.Get("type") == "set" {
					// The form carries the XEP-0401 token as its key.
					c := q.Copy()
					c.Add(wire.New("jabber:iq:register", "key").AddText(ss.preauth))
					el = el.Copy()
					el.Children = []wire.Node{{El: c}}
				}
				var ip netip.Addr
				if ta, ok := ss.tr.RemoteAddr().(*net.TCPAddr); ok {
					ip = ta.AddrPort().Addr()
				}
				if r := s.d.Register.HandleUnauthenticated(ctx, s.cfg.Domain, ip, el); r != nil {
					if err := ss.writeEl(r); err != nil {
						return err
					}
				}
				continue
			}
		}
		if el.Space != nsSASL || el.Local != "auth" {
			if el.Space == nsSASL && el.Local == "abort" {
				if err := fail("aborted"); err != nil {
					return err
				}
				continue
			}
			return streamError("not-authorized")
		}
		x, err := s.auth.Start(el.Get("mechanism"), ss.tr.TLS())
		if err != nil {
			if err := fail(auth.Condition(err)); err != nil {
				return err
			}
			continue
		}
		netDone, _, ok := lim.auth.Begin(s.d.Now())
		if !ok {
			if err := fail("temporary-auth-failure"); err != nil {
				return err
			}
			continue
		}
		x.Gate = gate
		in, err := decodeSASL(el.Text())
		lockedOut := false
		for err == nil {
			var out []byte
			var done bool
			out, done, err = x.Step(ctx, in)
			if err != nil {
				break
			}
			if done && s.locked(x.User()) {
				// GDPR Art. 18: the account's user restricted it. Told
				// only after the right password (RFC 6120 §6.5.1).
				netDone(true)
				lockedOut = true
				break
			}
			if done {
				netDone(true)
				s.d.Metrics.Login(true)
				ss.user = x.User()
				msg := `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`
				if len(out) > 0 {
					msg = `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + base64.StdEncoding.EncodeToString(out) + `</success>`
				}
				return ss.write([]byte(msg))
			}
			if err := ss.write([]byte(`<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + base64.StdEncoding.EncodeToString(out) + `</challenge>`)); err != nil {
				return err
			}
			resp, rerr := ss.tr.Next()
			if rerr != nil {
				return rerr
			}
			switch {
			case resp.Space == nsSASL && resp.Local == "response":
				in, err = decodeSASL(resp.Text())
			case resp.Space == nsSASL && resp.Local == "abort":
				err = errAborted
			default:
				return streamError("not-authorized")
			}
		}
		if lockedOut {
			s.d.Metrics.Login(false)
			if err := ss.write([]byte(lockedFailure)); err != nil {
				return err
			}
			if failures++; failures >= maxAuthAttempts {
				return streamError("policy-violation")
			}
			continue
		}
		cond := auth.Condition(err)
		if err == errAborted {
			cond = "aborted"
		}
		if errors.Is(err, auth.ErrTemporary) {
			// The account's limit refused it before the verdict: no
			// guess was made, so the network's allowance is not spent.
			netDone(true)
		}
		if err := fail(cond); err != nil {
			return err
		}
	}
}

var errAborted = fmt.Errorf("aborted")

func decodeSASL(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "=" || s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, auth.ErrIncorrectEncoding
	}
	return b, nil
}

// errorReply builds an error response to a stanza from the server.
func errorReply(el *wire.Element, typ, cond string) *wire.Element {
	r := wire.New(wire.NSClient, el.Local, "type", "error", "id", el.Get("id"))
	r.Add(iq.StanzaError(typ, cond, ""))
	return r
}
