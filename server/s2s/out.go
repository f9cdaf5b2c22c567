package s2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"time"

	"chatbx/server/wire"
)

// errAuth means the peer could not be authenticated (or would not
// authenticate us) within the configured rules.
var errAuth = errors.New("s2s: peer not authenticated")

// verifyReq asks an authoritative server whether a dialback key is its
// own (XEP-0220 §2.2): the receiving side's db:verify.
type verifyReq struct {
	id, key string
	valid   bool
}

// connect resolves domain and races connection attempts to its
// addresses for a stream from local (one of our domains): an
// authenticated one, or, with v, one that answered v.
func (s *Server) connect(ctx context.Context, local, domain string, v *verifyReq) (*stream, error) {
	ts, err := s.targets(ctx, domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, errNotFound
		}
		return nil, err
	}
	var cands []candidate
	var last error = errNotFound
	for _, t := range ts {
		addrs, err := s.addresses(ctx, t.host)
		if err != nil {
			var de *net.DNSError
			if !(errors.As(err, &de) && de.IsNotFound) {
				last = err
			}
			continue
		}
		for _, a := range addrs {
			cands = append(cands, candidate{addr: net.JoinHostPort(a, t.port), direct: t.direct})
		}
	}
	if len(cands) == 0 {
		return nil, last
	}
	return s.race(ctx, local, domain, cands, v)
}

// candidate is one address to connect to, in order of preference.
type candidate struct {
	addr   string
	direct bool
}

// attemptDelay is the stagger between connection attempts (RFC 8305
// §5: 250 ms recommended).
const attemptDelay = 250 * time.Millisecond

// race connects to the candidates happy-eyeballs style (RFC 8305 §5):
// the first now, each next one attemptDelay later or as soon as an
// attempt fails; the first to finish negotiating (TLS and
// authentication) wins and the others are abandoned, their streams
// closed. The order of preference (SRV priority, then addresses
// interleaved by family) is kept. It returns the last error when all
// fail.
func (s *Server) race(ctx context.Context, local, domain string, cands []candidate, v *verifyReq) (*stream, error) {
	if len(cands) == 1 {
		return s.dialOne(ctx, local, domain, cands[0].addr, cands[0].direct, v)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		st  *stream
		err error
		v   *verifyReq
	}
	results := make(chan result, len(cands))
	next, running := 0, 0
	start := func() {
		c := cands[next]
		next++
		running++
		var mine *verifyReq // each attempt asks on its own (no shared writes)
		if v != nil {
			cp := *v
			mine = &cp
		}
		go func() {
			st, err := s.dialOne(rctx, local, domain, c.addr, c.direct, mine)
			results <- result{st, err, mine}
		}()
	}
	start()
	stagger := time.NewTimer(attemptDelay)
	defer stagger.Stop()
	var last error = errNotFound
	for running > 0 {
		select {
		case <-stagger.C:
			if next < len(cands) {
				start()
				stagger.Reset(attemptDelay)
			}
		case r := <-results:
			running--
			if r.err == nil {
				if v != nil {
					v.valid = r.v.valid
				}
				// The others stop (cancel) and whatever they still
				// negotiate is closed.
				go func(n int) {
					for range n {
						if o := <-results; o.err == nil {
							o.st.raw.Close()
						}
					}
				}(running)
				return r.st, nil
			}
			last = r.err
			if ctx.Err() != nil {
				continue // every attempt ends; the loop drains them
			}
			if next < len(cands) {
				start()
				if !stagger.Stop() {
					select {
					case <-stagger.C:
					default:
					}
				}
				stagger.Reset(attemptDelay)
			}
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, last
}

func (s *Server) dial(ctx context.Context, addr string) (net.Conn, error) {
	if s.d.Dial != nil {
		return s.d.Dial(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// dialOne connects to one address and negotiates: TLS (required), then
// SASL EXTERNAL when the peer offers it and its certificate authenticates
// domain, else dialback when secure_auth is off.
func (s *Server) dialOne(ctx context.Context, local, domain, addr string, direct bool, v *verifyReq) (st *stream, err error) {
	conn, err := s.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	st = newStream(conn, s.cfg.MaxStanzaBytes, s.cfg.WriteTimeout)
	if direct {
		if err := st.startTLS(ctx, tls.Client(conn, s.clientTLS(local, domain, true))); err != nil {
			return nil, err
		}
	}
	authed := false
	for round := 0; round < 4; round++ {
		if err := st.header(local, domain, ""); err != nil {
			return nil, err
		}
		h, err := st.readHeader()
		if err != nil {
			return nil, err
		}
		st.id = h.Get("id")
		f, err := st.next()
		if err != nil {
			return nil, err
		}
		if f.Space == wire.NSStream && f.Local == "error" {
			// Refused (host-unknown, policy-violation for a blocked
			// domain): retrying would not help.
			return nil, fmt.Errorf("%w: stream error from %s", errAuth, domain)
		}
		if f.Space != wire.NSStream || f.Local != "features" {
			return nil, fmt.Errorf("s2s: want features, got %s", f.Local)
		}
		if st.tls == nil {
			if f.Child(nsTLS, "starttls") == nil {
				st.fail("policy-violation")
				return nil, fmt.Errorf("%w: no TLS offered", errAuth)
			}
			if err := st.write([]byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
				return nil, err
			}
			el, err := st.next()
			if err != nil {
				return nil, err
			}
			if el.Local != "proceed" || el.Space != nsTLS {
				return nil, fmt.Errorf("%w: starttls refused", errAuth)
			}
			if err := st.startTLS(ctx, tls.Client(conn, s.clientTLS(local, domain, false))); err != nil {
				return nil, err
			}
			continue
		}
		if authed {
			return st, nil
		}
		certOK := peerOK(st.tls, s.roots, domain)
		if v != nil {
			// The authoritative server's own certificate does not matter
			// to the question asked (XEP-0220 §2.3), only TLS does.
			return st, s.askVerify(st, local, domain, v)
		}
		if s.cfg.SecureAuth && !certOK {
			st.fail("remote-connection-failed")
			return nil, fmt.Errorf("%w: certificate of %s", errAuth, domain)
		}
		if certOK && hasMechanism(f, "EXTERNAL") {
			if f.Child(nsBidiFeat, "bidi") != nil && !st.bidi {
				// XEP-0288 §2: asked before authentication; the peer's
				// stanzas on this stream are checked against the domain
				// its certificate authenticated.
				if err := st.write([]byte(`<bidi xmlns='urn:xmpp:bidi'/>`)); err != nil {
					return nil, err
				}
				st.bidi = true
			}
			ok, err := s.external(st, local)
			if err != nil {
				return nil, err
			}
			if ok {
				authed = true
				continue
			}
		}
		if s.cfg.SecureAuth {
			st.fail("not-authorized")
			return nil, fmt.Errorf("%w: %s does not accept our certificate", errAuth, domain)
		}
		if err := s.dialback(st, local, domain); err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, errors.New("s2s: too many stream restarts")
}

func hasMechanism(f *wire.Element, name string) bool {
	ms := f.Child(nsSASL, "mechanisms")
	if ms == nil {
		return false
	}
	for _, m := range ms.Elements() {
		if m.Local == "mechanism" && m.Text() == name {
			return true
		}
	}
	return false
}

// external runs SASL EXTERNAL with our domain local as the
// authorisation identity (XEP-0178 §3).
func (s *Server) external(st *stream, local string) (bool, error) {
	if err := st.write([]byte(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>` +
		base64.StdEncoding.EncodeToString([]byte(local)) + `</auth>`)); err != nil {
		return false, err
	}
	el, err := st.next()
	if err != nil {
		return false, err
	}
	return el.Space == nsSASL && el.Local == "success", nil
}

// dialback authenticates our domain local to the receiving server
// (XEP-0220 §2.1).
func (s *Server) dialback(st *stream, local, domain string) error {
	key := s.dialbackKey(domain, local, st.id)
	if err := st.writeEl(wire.New(NSDialback, "result", "from", local, "to", domain).AddText(key)); err != nil {
		return err
	}
	for {
		el, err := st.next()
		if err != nil {
			return err
		}
		if el.Space == NSDialback && el.Local == "result" {
			if el.Get("type") == "valid" {
				return nil
			}
			return fmt.Errorf("%w: dialback refused by %s", errAuth, domain)
		}
		if el.Space == wire.NSStream && el.Local == "error" {
			return fmt.Errorf("%w: stream error from %s", errAuth, domain)
		}
	}
}

// askVerify sends db:verify to the authoritative server and reads its
// answer (XEP-0220 §2.3), then closes the stream.
func (s *Server) askVerify(st *stream, local, domain string, v *verifyReq) error {
	defer func() {
		st.closeWith("")
		st.raw.Close()
	}()
	if err := st.writeEl(wire.New(NSDialback, "verify", "from", local, "to", domain, "id", v.id).AddText(v.key)); err != nil {
		return err
	}
	for {
		el, err := st.next()
		if err != nil {
			return err
		}
		if el.Space == NSDialback && el.Local == "verify" && el.Get("id") == v.id {
			v.valid = el.Get("type") == "valid"
			return nil
		}
	}
}
