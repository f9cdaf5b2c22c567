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

// serve negotiates one connection. Once the stream is bound, the stanza
// loop continues in a fresh goroutine (run) and this one returns: the TLS
// handshake grows a goroutine's stack to several KiB, and an idle session
// should not keep that stack for its whole life.
func (s *Server) serve(ctx context.Context, raw net.Conn, direct bool) {
	ss := &Session{srv: s, raw: raw, id: newID(), done: make(chan struct{})}
	ic := &idleConn{Conn: raw, s: ss, timeout: s.cfg.IdleTimeout,
		deadline: s.d.Now().Add(s.cfg.NegotiationTimeout)}
	ss.conn = ic
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
	if direct {
		tc := tls.Server(ic, s.d.DirectTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			ss.mu.Lock()
			ss.closed = true // nothing to say on a failed handshake
			ss.mu.Unlock()
			return
		}
		st := tc.ConnectionState()
		ss.conn, ss.tls = tc, &st
	}
	if err := ss.negotiate(ctx, ic); err != nil {
		cond = streamCondition(err)
		if ss.full != "" {
			// Bound but the bind result could not be written.
			s.router.Unbind(ss)
		}
		return
	}
	s.connLog("login", ss)
	s.logins.Add(1)
	ss.tls = nil // only SASL needed it; keep idle sessions small
	ic.deadline = time.Time{}
	ss.dec.SetLimit(s.cfg.MaxStanzaBytes)
	handedOff = true
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
			cond = "internal-server-error"
		}
		s.unbind(ss)
		ss.finish(cond, peerClosed)
		if !ss.unlogged.Load() {
			s.connLog("logout", ss)
		}
		close(ss.done)
	}()
	for {
		el, err := ss.dec.Next()
		if err != nil {
			cond = streamCondition(err)
			// The client closed its stream (or the connection): it will
			// not read what is still queued, so finish keeps that offline.
			peerClosed = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			return
		}
		if err := s.handle(ctx, ss, el); err != nil {
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
	return ss.srv.d.Anon.IP(ss.raw.RemoteAddr())
}

func (s *Server) connLog(event string, ss *Session) {
	s.d.ConnLog.Info().Str("event", event).Str("user", ss.user).Str("ip_anon", ss.logIP()).Msg("")
}

// header state written by sendHeader; finish writes one if missing.
func (ss *Session) sendHeader(features *bytes.Buffer) error {
	var b bytes.Buffer
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='`)
	b.WriteString(newID())
	b.WriteString(`' from='`)
	b.WriteString(ss.srv.cfg.Domain)
	b.WriteString(`' version='1.0' xml:lang='en'>`)
	if features != nil {
		b.WriteString(`<stream:features>`)
		b.Write(features.Bytes())
		b.WriteString(`</stream:features>`)
	}
	ss.headerSent = true
	return ss.write(b.Bytes())
}

// write writes directly to the connection; only used while negotiating,
// before the writer goroutine exists.
func (ss *Session) write(p []byte) error {
	ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.cfg.WriteTimeout))
	_, err := ss.conn.Write(p)
	return err
}

func (ss *Session) writeEl(el *wire.Element) error {
	return ss.write(el.Bytes(wire.NSClient))
}

// readHeader reads and checks a stream header (RFC 6120 §4.7).
func (ss *Session) readHeader() error {
	h, err := ss.dec.Header()
	if err != nil {
		// A stream that does not even start properly still gets a header
		// and an error (finish writes them).
		return err
	}
	if ss.dec.DefaultNS() != wire.NSClient {
		return streamError("invalid-namespace")
	}
	to := strings.ToLower(strings.TrimSuffix(h.Get("to"), "."))
	if to != ss.srv.cfg.Domain {
		return streamError("host-unknown")
	}
	if v := h.Get("version"); v == "" || v[0] < '1' {
		return streamError("unsupported-version")
	}
	return nil
}

// negotiate runs STARTTLS (unless direct TLS), SASL and resource binding.
func (ss *Session) negotiate(ctx context.Context, ic *idleConn) error {
	s := ss.srv
	ss.dec = wire.NewDecoder(ss.conn, preAuthLimit)
	if ss.tls == nil {
		if err := ss.readHeader(); err != nil {
			return err
		}
		if err := ss.sendHeader(bytes.NewBufferString(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>`)); err != nil {
			return err
		}
		el, err := ss.dec.Next()
		if err != nil {
			return err
		}
		switch {
		case el.Space == nsTLS && el.Local == "starttls":
		case el.Space == nsSASL && el.Local == "auth":
			// RFC 6120 §5.3.1: TLS is mandatory here; no SASL in the clear.
			ss.write([]byte(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>`))
			return streamError("policy-violation")
		default:
			return streamError("not-authorized")
		}
		if !ss.dec.DiscardBufferedSpace() {
			// Data pipelined after <starttls/> would be read in the clear.
			return streamError("not-well-formed")
		}
		if err := ss.write([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
			return err
		}
		tc := tls.Server(ic, s.startTLSConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		st := tc.ConnectionState()
		ss.conn, ss.tls = tc, &st
		ss.headerSent = false
		ss.dec = wire.NewDecoder(tc, preAuthLimit)
	}

	// SASL (RFC 6120 §6).
	if err := ss.readHeader(); err != nil {
		return err
	}
	var f bytes.Buffer
	f.WriteString(`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>`)
	for _, m := range s.auth.Mechanisms(ss.tls) {
		f.WriteString(`<mechanism>` + m + `</mechanism>`)
	}
	f.WriteString(`</mechanisms>`)
	if cbs := s.auth.ChannelBindings(ss.tls); len(cbs) > 0 {
		f.WriteString(`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>`)
		for _, c := range cbs {
			f.WriteString(`<channel-binding type='` + c + `'/>`)
		}
		f.WriteString(`</sasl-channel-binding>`)
	}
	if s.d.Register != nil {
		if rf := s.d.Register.StreamFeature(); rf != nil {
			rf.WriteTo(&f, wire.NSClient)
		}
	}
	if err := ss.sendHeader(&f); err != nil {
		return err
	}
	if err := ss.authenticate(ctx); err != nil {
		return err
	}
	s.authenticated(ss) // no longer counts against Config.MaxUnauthenticated

	// Restart, then bind (RFC 6120 §7).
	ss.dec = wire.NewDecoder(ss.conn, preAuthLimit)
	ss.headerSent = false
	if err := ss.readHeader(); err != nil {
		return err
	}
	f.Reset()
	f.WriteString(`<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>` +
		`<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>` +
		`<ver xmlns='urn:xmpp:features:rosterver'/><sub xmlns='urn:xmpp:features:pre-approval'/>`)
	if err := ss.sendHeader(&f); err != nil {
		return err
	}
	for {
		el, err := ss.dec.Next()
		if err != nil {
			return err
		}
		if el.Space != wire.NSClient || el.Local != "iq" {
			return streamError("not-authorized")
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
			return streamError("system-shutdown")
		}
		if old := s.router.Bind(ss); old != nil {
			// Conflict policy: the newest session wins (as Prosody's
			// default); the old one is closed with <conflict/>.
			old.closeWith("conflict", "")
		}
		reply := wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id"))
		reply.Add(wire.New(nsBind, "bind").Add(wire.New(nsBind, "jid").AddText(ss.full)))
		return ss.writeEl(reply)
	}
}

// authenticate runs SASL exchanges until one succeeds or the attempts
// run out.
//
// Guessing limits apply before any verdict: each exchange first reserves
// one failure from the network's allowance (over all accounts), and once
// the username is known, one from the account's (Deps.Guard, through the
// exchange's gate). When either is used up the exchange fails with
// <temporary-auth-failure/> and the password is not evaluated. A success
// hands both reservations back.
func (ss *Session) authenticate(ctx context.Context) error {
	s := ss.srv
	failures := 0
	lim := s.limit(ss.raw.RemoteAddr())
	var ip netip.Addr
	if ta, ok := ss.raw.RemoteAddr().(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	}
	gate := func(user string) (func(bool), bool) {
		done, _, ok := s.d.Guard.Begin(user, ip)
		return done, ok
	}
	fail := func(cond string) error {
		failures++
		ss.write([]byte(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><` + cond + `/></failure>`))
		if cond == "not-authorized" {
			s.d.ConnLog.Info().Str("event", "auth-failure").Str("ip_anon", ss.logIP()).Msg("")
		}
		if failures >= maxAuthAttempts {
			return streamError("policy-violation")
		}
		return nil
	}
	for {
		el, err := ss.dec.Next()
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
				if ta, ok := ss.raw.RemoteAddr().(*net.TCPAddr); ok {
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
		x, err := s.auth.Start(el.Get("mechanism"), ss.tls)
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
		for err == nil {
			var out []byte
			var done bool
			out, done, err = x.Step(ctx, in)
			if err != nil {
				break
			}
			if done {
				netDone(true)
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
			resp, rerr := ss.dec.Next()
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
	r.Add(wire.New(wire.NSClient, "error", "type", typ).Add(wire.New(wire.NSStanzas, cond)))
	return r
}
