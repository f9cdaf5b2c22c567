package c2s

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"

	"chatbx/server/auth"
	"chatbx/server/wire"
)

// SASL2 (XEP-0388): authentication that ends without a stream restart,
// with resource binding (Bind2, bind2.go) and FAST tokens (fast.go)
// negotiated inside it. It runs the mechanisms of legacy SASL (package
// auth) under the same limits: the network's SASL bucket and the account
// guard are consulted before any verdict, at most maxAuthAttempts failures
// per stream, and the same connection log lines.
//
// Privacy: the <user-agent/> element (its id, software and device) is read
// in memory only. It is never logged or stored; the id is used to key
// FAST tokens by a hash of it, and to derive the Bind2 resource suffix.

const (
	nsSASL2 = "urn:xmpp:sasl:2"
	nsBind2 = "urn:xmpp:bind:0"
	nsFast  = "urn:xmpp:fast:0"
)

// sasl2Feature is the SASL2 entry of the negotiation list: offered beside
// legacy SASL on an encrypted stream before authentication; it owns
// <authenticate/>.
func (s *Server) sasl2Feature() feature {
	return feature{
		name: "sasl2",
		offer: func(ss *Session) []*wire.Element {
			cs := ss.tr.TLS()
			if cs == nil || ss.user != "" {
				return nil
			}
			mechs := s.auth.Mechanisms(cs)
			if len(mechs) == 0 {
				return nil // XEP-0388 §2.1: not offered without a mechanism
			}
			a := wire.New(nsSASL2, "authentication")
			for _, m := range mechs {
				a.Add(wire.New(nsSASL2, "mechanism").AddText(m))
			}
			// XEP-0198 §5 with XEP-0388: <resume/> inside <authenticate/>.
			inline := wire.New(nsSASL2, "inline").Add(wire.New(nsSM, "sm")).Add(s.bind2Offer())
			if fm := s.auth.FastMechanisms(cs, ss.hasEndpoint()); len(fm) > 0 {
				f := wire.New(nsFast, "fast")
				for _, m := range fm {
					f.Add(wire.New(nsFast, "mechanism").AddText(m))
				}
				inline.Add(f)
			}
			return []*wire.Element{a.Add(inline)}
		},
		owns: func(_ *Session, el *wire.Element) bool {
			return el.Space == nsSASL2 && el.Local == "authenticate"
		},
		negotiate: (*Session).authenticate2,
	}
}

// authResult is the outcome of one SASL2 exchange.
type authResult struct {
	user string
	data []byte // additional data of the success
	// fast is set when a FAST token authenticated (fast.go).
	fast *fastUse
}

// authenticate2 runs SASL2 exchanges, starting with first, until one
// succeeds or the attempts run out. After a failure the client may also
// fall back to legacy SASL on the same stream.
func (ss *Session) authenticate2(ctx context.Context, first *wire.Element) (step, error) {
	s := ss.srv
	failures := 0
	for el := first; ; {
		if el.Space != nsSASL2 || el.Local != "authenticate" {
			return ss.authenticate(ctx, el)
		}
		res, err := ss.sasl2Exchange(ctx, el)
		if err == nil && s.locked(res.user) {
			// GDPR Art. 18: the account's user restricted it. Told only
			// after the right password or token, as on the legacy path.
			err = errLocked
		}
		if err == nil {
			s.d.Metrics.Login(true)
			return ss.sasl2Success(ctx, el, res)
		}
		var se streamError
		if errors.As(err, &se) || errors.Is(err, errTransport) {
			return 0, err
		}
		cond := auth.Condition(err)
		if errors.Is(err, errAborted) {
			cond = "aborted"
		}
		if errors.Is(err, errLocked) {
			cond = "account-disabled"
		}
		failures++
		f := wire.New(nsSASL2, "failure").Add(wire.New(nsSASL, cond))
		switch {
		case errors.Is(err, errReplay):
			f.Add(wire.New(nsSASL2, "text").AddText("FAST count was used before"))
		case errors.Is(err, errLocked):
			f.Add(wire.New(nsSASL2, "text").AddText(lockedText))
		}
		if cond == "not-authorized" || cond == "account-disabled" {
			s.d.Metrics.Login(false)
		}
		if err := ss.writeEl(f); err != nil {
			return 0, err
		}
		if cond == "not-authorized" {
			s.d.ConnLog.Info().Str("event", "auth-failure").Str("ip_anon", ss.logIP()).Msg("")
		}
		if failures >= maxAuthAttempts {
			return 0, streamError("policy-violation")
		}
		if el, err = ss.tr.Next(); err != nil {
			return 0, err
		}
	}
}

// errTransport wraps read and write errors of an exchange: they end the
// stream instead of failing the attempt.
var errTransport = errors.New("c2s: transport")

type transportError struct{ err error }

func (e transportError) Error() string { return e.err.Error() }
func (e transportError) Unwrap() []error {
	return []error{errTransport, e.err}
}

// errLocked is a right password or token for an account its user
// locked (accounts.Service.Lock).
var errLocked = errors.New("c2s: account locked")

// errReplay is a FAST count that is not above the last one seen.
var errReplay = errors.New("c2s: fast replay")

// remoteIP returns the peer's address for the account guard.
func (ss *Session) remoteIP() netip.Addr {
	if ta, ok := ss.tr.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr()
	}
	return netip.Addr{}
}

// sasl2Exchange runs one <authenticate/> to its verdict. Errors are
// auth's (the failure condition), errAborted, errReplay, or a
// streamError / transportError that ends the stream.
func (ss *Session) sasl2Exchange(ctx context.Context, el *wire.Element) (authResult, error) {
	s := ss.srv
	mech := el.Get("mechanism")
	var in []byte
	ir := el.Child(nsSASL2, "initial-response")
	if ir != nil {
		var err error
		if in, err = decodeSASL(ir.Text()); err != nil {
			return authResult{}, err
		}
	}
	if isFast(mech) {
		return ss.fastAuth(ctx, el, mech, in)
	}
	x, err := s.auth.Start(mech, ss.tr.TLS())
	if err != nil {
		return authResult{}, err
	}
	netDone, _, ok := s.limit(ss.tr.RemoteAddr()).auth.Begin(s.d.Now())
	if !ok {
		return authResult{}, auth.ErrTemporary
	}
	ip := ss.remoteIP()
	x.Gate = func(user string) (func(bool), bool) {
		done, _, ok := s.d.Guard.Begin(user, ip)
		return done, ok
	}
	if ir == nil {
		// No initial response: an empty challenge asks for it.
		if in, err = ss.sasl2Challenge(nil); err != nil {
			return authResult{}, err
		}
	}
	for {
		out, done, err := x.Step(ctx, in)
		if errors.Is(err, auth.ErrTemporary) {
			// The account's limit refused it before the verdict: no
			// guess was made, so the network's allowance is not spent.
			netDone(true)
		}
		if err != nil {
			return authResult{}, err
		}
		if done {
			netDone(true)
			return authResult{user: x.User(), data: out}, nil
		}
		if in, err = ss.sasl2Challenge(out); err != nil {
			return authResult{}, err
		}
	}
}

// sasl2Challenge sends a challenge and returns the decoded response.
func (ss *Session) sasl2Challenge(out []byte) ([]byte, error) {
	ch := wire.New(nsSASL2, "challenge")
	if len(out) > 0 {
		ch.AddText(base64.StdEncoding.EncodeToString(out))
	}
	if err := ss.writeEl(ch); err != nil {
		return nil, transportError{err}
	}
	resp, err := ss.tr.Next()
	if err != nil {
		return nil, transportError{err}
	}
	switch {
	case resp.Space == nsSASL2 && resp.Local == "response":
		return decodeSASL(resp.Text())
	case resp.Space == nsSASL2 && resp.Local == "abort":
		return nil, errAborted
	}
	// XEP-0388 §2.4: anything else during authentication ends the stream.
	return nil, streamError("not-authorized")
}

// sasl2Success completes a successful exchange: Bind2 and FAST inline
// requests, <success/>, and the new stream features without a restart.
func (ss *Session) sasl2Success(ctx context.Context, el *wire.Element, res authResult) (step, error) {
	s := ss.srv
	ss.user = res.user
	uaid := ""
	if ua := el.Child(nsSASL2, "user-agent"); ua != nil {
		uaid = ua.Get("id") // Privacy: memory only.
	}
	success := wire.New(nsSASL2, "success")
	if len(res.data) > 0 {
		success.Add(wire.New(nsSASL2, "additional-data").AddText(base64.StdEncoding.EncodeToString(res.data)))
	}
	// Inline resumption (XEP-0198 with XEP-0388): a resumed session needs
	// no Bind2; a failed one binds as asked, with <failed/> in <success/>.
	if r := el.Child(nsSM, "resume"); r != nil {
		answer, ok := ss.resumeSM(ctx, r.Get("previd"), r.Get("h"))
		if ok {
			return ss.sasl2Resumed(ctx, el, uaid, res, success, answer)
		}
		success.Add(answer)
	}
	var bound *wire.Element
	if b := el.Child(nsBind2, "bind"); b != nil {
		var err error
		if bound, err = ss.bind2(ctx, b, uaid); err != nil {
			return 0, err
		}
	}
	aid := ss.user + "@" + s.cfg.Domain
	if ss.full != "" {
		aid = ss.full
	}
	success.Add(wire.New(nsSASL2, "authorization-identifier").AddText(aid))
	if bound != nil {
		success.Add(bound)
	}
	if tok := ss.fastToken(ctx, el, uaid, res.fast); tok != nil {
		success.Add(tok)
	}
	if err := ss.writeEl(success); err != nil {
		return 0, err
	}
	s.authenticated(ss)
	if ss.full == "" {
		return stepContinue, nil // negotiate writes the features
	}
	// Bound already: the features of the bound stream still follow
	// <success/> (XEP-0388 §2.6.1).
	offer, _ := ss.offer()
	return stepBound, ss.writeFeatures(offer)
}

// sasl2Resumed completes a SASL2 exchange whose inline <resume/> took
// over a hibernated session: <success/> carries the full JID and
// <resumed/>, the bound stream's features follow, and then the writer
// resends what the client had not acknowledged.
func (ss *Session) sasl2Resumed(ctx context.Context, el *wire.Element, uaid string, res authResult, success, resumed *wire.Element) (step, error) {
	success.Add(wire.New(nsSASL2, "authorization-identifier").AddText(ss.full))
	success.Add(resumed)
	if tok := ss.fastToken(ctx, el, uaid, res.fast); tok != nil {
		success.Add(tok)
	}
	ss.srv.authenticated(ss)
	// A failed write shows up as a lost transport in the stanza loop:
	// the session hibernates again.
	if err := ss.writeEl(success); err == nil {
		offer, _ := ss.offer()
		ss.writeFeatures(offer)
	}
	ss.smRelease()
	return stepBound, nil
}
