package s2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"chatbx/server/wire"
)

func (s *Server) accept(ctx context.Context, ln net.Listener, direct bool) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(backoff*2, 5*time.Millisecond), time.Second)
			s.log.Warn().Err(err).Msg("accept failed")
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if s.conns.Add(1) > int64(s.cfg.MaxConnections) || !s.trackIn() {
			s.conns.Add(-1)
			conn.Close()
			continue
		}
		go func() {
			defer s.inWG.Done()
			defer s.conns.Add(-1)
			s.serveIn(ctx, conn, direct)
		}()
	}
}

// inbound is the state of one inbound stream.
type inbound struct {
	st      *stream
	peer    string // the domain in the stream header's from
	local   string // our domain in the header's to (the host or a service)
	authed  string // the authenticated domain, once authenticated
	counted bool   // counted in Deps.Links
	// closing is set when our side has closed its stream (shutdown).
	closing atomic.Bool
	// wantBidi: the peer asked for bidirectional use (XEP-0288) before
	// authenticating; external: it authenticated with SASL EXTERNAL;
	// bidi: the stream is registered for our stanzas.
	wantBidi, external bool
	bidi               atomic.Pointer[bidiStream]
}

// serveIn runs one inbound stream: TLS (required), authentication of the
// peer (SASL EXTERNAL; dialback when allowed), then stanzas to Deliver.
func (s *Server) serveIn(ctx context.Context, conn net.Conn, direct bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Msg("s2s stream panic")
			conn.Close()
		}
	}()
	in := &inbound{st: newStream(conn, s.cfg.MaxStanzaBytes, s.cfg.WriteTimeout)}
	st := in.st
	// Negotiation must finish within ConnectTimeout.
	conn.SetDeadline(s.d.Now().Add(s.cfg.ConnectTimeout))
	shutdown := make(chan struct{})
	var once sync.Once
	s.inbound.Store(st, func() { once.Do(func() { in.closing.Store(true); close(shutdown) }) })
	defer s.inbound.Delete(st)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-shutdown:
			// Our side ends (a restart): close our stream, then keep
			// reading until the peer closes its own, so every stanza
			// it wrote before it saw our closing tag is delivered.
			s.stopBidi(in.bidi.Load())
			st.closeWith("")
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		case <-done:
		}
	}()
	if direct {
		tc := tls.Server(conn, s.serverTLS(true))
		if err := st.startTLS(ctx, tc); err != nil {
			conn.Close()
			return
		}
	}
	err := s.negotiateIn(ctx, in)
	s.log.Debug().Err(err).Str("domain", in.peer).Msg("s2s inbound stream ended")
	if in.authed != "" {
		s.connLog("s2s-in-closed", in.authed)
	}
	if in.counted {
		s.linkDown()
	}
	s.stopBidi(in.bidi.Load())
	if err != nil {
		if c := condition(err); c != "" {
			st.fail(c)
			return
		}
	}
	st.closeWith("")
	conn.Close()
}

// negotiateIn reads stream headers and elements until the stream ends.
func (s *Server) negotiateIn(ctx context.Context, in *inbound) error {
	st := in.st
	for {
		h, err := st.readHeader()
		if err != nil {
			return err
		}
		st.id = newID()
		to, from := normalise(h.Get("to")), normalise(h.Get("from"))
		local := to
		if !s.ours(to) {
			local = s.cfg.Domain
		}
		if err := st.header(local, from, st.id); err != nil {
			return err
		}
		if !s.ours(to) || (in.local != "" && to != in.local) {
			return streamErr("host-unknown")
		}
		in.local = to
		if h.Get("version") != "1.0" {
			return streamErr("unsupported-version")
		}
		if from != "" {
			if s.Blocked(from) {
				s.connLog("s2s-in-refused", from)
				return streamErr("policy-violation")
			}
			if in.peer == "" && !s.rates.connAllowed(from, s.d.Now()) {
				s.connLog("s2s-in-refused", from)
				return streamErr("policy-violation")
			}
			in.peer = from
		}
		if err := st.write(s.features(in)); err != nil {
			return err
		}
		if in.authed != "" && in.external && in.wantBidi && in.bidi.Load() == nil && !in.closing.Load() {
			// The restarted stream is ours to write on now (XEP-0288).
			s.attachBidi(in)
		}
		restart, err := s.readIn(ctx, in)
		if err != nil || !restart {
			return err
		}
	}
}

// features returns the stream features for the stream's state.
func (s *Server) features(in *inbound) []byte {
	st := in.st
	b := []byte(`<stream:features>`)
	switch {
	case st.tls == nil:
		b = append(b, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>`...)
	case in.authed == "":
		b = append(b, `<bidi xmlns='urn:xmpp:features:bidi'/>`...)
		if in.peer != "" && peerOK(st.tls, s.roots, in.peer) {
			b = append(b, `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>`...)
		}
		if !s.cfg.SecureAuth {
			b = append(b, `<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>`...)
		}
	}
	return append(b, `</stream:features>`...)
}

// readIn reads elements of one stream; it returns restart when a new
// header follows (after STARTTLS and SASL).
func (s *Server) readIn(ctx context.Context, in *inbound) (restart bool, err error) {
	st := in.st
	for {
		if in.authed != "" && !in.closing.Load() {
			// An idle peer closes its link after its own idle timeout.
			st.raw.SetReadDeadline(time.Now().Add(2 * s.cfg.IdleTimeout))
		}
		el, err := st.next()
		if err != nil {
			return false, err
		}
		switch {
		case el.Space == nsTLS && el.Local == "starttls":
			if st.tls != nil {
				return false, streamErr("policy-violation")
			}
			if st.dec.Buffered() > 0 {
				return false, streamErr("policy-violation") // pipelined plaintext
			}
			if err := st.write([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
				return false, err
			}
			if err := st.startTLS(ctx, tls.Server(st.raw, s.serverTLS(false))); err != nil {
				return false, err
			}
			return true, nil
		case st.tls == nil:
			// Nothing but STARTTLS before TLS: this server is TLS-only.
			return false, streamErr("policy-violation")
		case el.Space == nsSASL && el.Local == "auth":
			if in.authed != "" {
				return false, streamErr("policy-violation")
			}
			if s.saslExternal(in, el) {
				in.authed, in.external = in.peer, true
				s.connLog("s2s-in", in.authed)
				in.counted = true
				s.linkUp()
				if err := st.write([]byte(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)); err != nil {
					return false, err
				}
				st.raw.SetDeadline(time.Time{})
				return true, nil
			}
			s.connLog("s2s-in-refused", in.peer)
			if err := st.write([]byte(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>`)); err != nil {
				return false, err
			}
		case el.Space == nsBidi && el.Local == "bidi":
			// XEP-0288 §2: only before authentication.
			if in.authed != "" {
				return false, streamErr("policy-violation")
			}
			in.wantBidi = true
		case el.Space == NSDialback && el.Local == "verify":
			if err := s.answerVerify(st, el); err != nil {
				return false, err
			}
		case el.Space == NSDialback && el.Local == "result":
			if err := s.dialbackIn(ctx, in, el); err != nil {
				return false, err
			}
		case el.Space == wire.NSServer && (el.Local == "message" || el.Local == "presence" || el.Local == "iq"):
			if in.authed == "" {
				return false, streamErr("not-authorized")
			}
			if err := s.inboundStanza(ctx, in, el); err != nil {
				return false, err
			}
		case el.Space == wire.NSStream && el.Local == "error":
			return false, nil
		default:
			if in.authed == "" {
				return false, streamErr("not-authorized")
			}
			return false, streamErr("unsupported-stanza-type")
		}
	}
}

// saslExternal checks SASL EXTERNAL (XEP-0178 §3): the authorisation
// identity, if any, is the header's from, and the certificate
// authenticates it.
func (s *Server) saslExternal(in *inbound, el *wire.Element) bool {
	if el.Get("mechanism") != "EXTERNAL" || in.peer == "" {
		return false
	}
	authzid, ok := parseExternal(el.Text())
	if !ok || (authzid != "" && normalise(authzid) != in.peer) {
		return false
	}
	return peerOK(in.st.tls, s.roots, in.peer)
}

// parseExternal decodes the initial response of SASL EXTERNAL: "=" or
// empty for none, else base64 of the authorisation identity.
func parseExternal(text string) (string, bool) {
	if text == "" || text == "=" {
		return "", true
	}
	if len(text) > 2048 {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(b) == 0 {
		return "", false
	}
	for _, c := range b {
		if c < 0x21 || c == 0x7f {
			return "", false
		}
	}
	return string(b), true
}

// answerVerify answers db:verify for a key we issued (XEP-0220 §2.4).
func (s *Server) answerVerify(st *stream, el *wire.Element) error {
	from, to, id := normalise(el.Get("from")), normalise(el.Get("to")), el.Get("id")
	typ := "invalid"
	if s.ours(to) && id != "" && validKey(el.Text(), s.dialbackKey(from, to, id)) {
		typ = "valid"
	}
	return st.writeEl(wire.New(NSDialback, "verify", "from", to, "to", from, "id", id, "type", typ))
}

// validKey compares keys in constant time.
func validKey(got, want string) bool {
	if len(got) != len(want) {
		return false
	}
	var d byte
	for i := 0; i < len(got); i++ {
		d |= got[i] ^ want[i]
	}
	return d == 0
}

// dialbackIn authenticates the peer by dialback (XEP-0220 §2.2): allowed
// only when secure_auth is off, over TLS; the authoritative server is
// asked over a new stream.
func (s *Server) dialbackIn(ctx context.Context, in *inbound, el *wire.Element) error {
	from, to := normalise(el.Get("from")), normalise(el.Get("to"))
	reply := func(typ string) error {
		return in.st.writeEl(wire.New(NSDialback, "result", "from", in.local, "to", from, "type", typ))
	}
	if s.cfg.SecureAuth || from == "" || to != in.local || (in.peer != "" && from != in.peer) || s.Blocked(from) {
		s.connLog("s2s-in-refused", from)
		return reply("invalid")
	}
	if in.authed != "" {
		return reply("invalid") // one domain per stream
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	v := &verifyReq{id: in.st.id, key: el.Text()}
	if _, err := s.connect(cctx, in.local, from, v); err != nil || !v.valid {
		s.connLog("s2s-in-refused", from)
		return reply("invalid")
	}
	in.peer, in.authed = from, from
	s.connLog("s2s-in", from)
	if !in.counted {
		in.counted = true
		s.linkUp()
	}
	in.st.raw.SetDeadline(time.Time{})
	return reply("valid")
}

// inboundStanza checks one stanza from an authenticated peer and hands it
// to Deliver: from at the authenticated domain, to at the stream's domain
// (RFC 6120 §13.3; ours, the host or a local service). A flooding peer
// is slowed down (its reader waits).
func (s *Server) inboundStanza(ctx context.Context, in *inbound, el *wire.Element) error {
	from, to := el.Get("from"), el.Get("to")
	if from == "" || to == "" {
		return streamErr("improper-addressing")
	}
	if normalise(domainOf(from)) != in.authed {
		return streamErr("invalid-from")
	}
	if normalise(domainOf(to)) != in.local {
		return streamErr("host-unknown")
	}
	// Not the server's context: during shutdown the stream is read to its
	// end and what the peer sent is still delivered.
	if err := s.rates.wait(context.WithoutCancel(ctx), in.authed, s.d.Now); err != nil {
		return err
	}
	s.stats.Received.Add(1)
	if s.d.Deliver != nil {
		s.d.Deliver(convert(el, wire.NSServer, wire.NSClient))
	}
	return nil
}
