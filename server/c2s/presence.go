package c2s

import (
	"context"
	"strconv"
	"strings"

	"chatbx/server/presence"
	"chatbx/server/wire"
	"chatbx/store"
)

// handlePresence processes presence from a bound client (RFC 6121 §3, §4).
func (s *Server) handlePresence(ctx context.Context, ss *Session, el *wire.Element, to addr) {
	typ := el.Get("type")
	switch typ {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		if to.domain == "" || to.local == "" {
			ss.Send(s.errorFrom(el, "", "modify", "bad-request"))
			return
		}
		contact := to.bare()
		if contact == ss.bare {
			return
		}
		s.pres.Outbound(ctx, ss.user, contact, typ)
		return
	case "probe":
		return // probes are the server's business (RFC 6121 §4.3)
	case "", "unavailable", "error":
	default:
		ss.Send(s.errorFrom(el, "", "modify", "bad-request"))
		return
	}
	if typ == "" {
		// Presence hooks (mux.PresenceHook): the XEP-0398 §4 photo hash.
		if el = s.mux.RunPresence(ctx, ss.user, el); el == nil {
			return
		}
	}
	if to.domain != "" {
		// Directed presence (RFC 6121 §4.6): remembered on the session
		// so that the target learns when it goes unavailable.
		ss.directed = presence.Track(ss.directed, to.String(), typ)
		s.pres.Directed(ctx, el, to.jid())
		return
	}
	if typ == "error" {
		return
	}
	// Broadcast presence (RFC 6121 §4.2, §4.4, §4.5).
	if typ == "" {
		p := int32(0)
		if v := el.ChildText(wire.NSClient, "priority"); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < -128 || n > 127 {
				ss.Send(s.errorFrom(el, s.cfg.Domain, "modify", "bad-request"))
				return
			}
			p = int32(n)
		}
		ss.priority.Store(p)
		capsChanged := false
		if c := el.Child("http://jabber.org/protocol/caps", "c"); c != nil {
			// XEP-0115: remember the entity capabilities for this session.
			nc := caps{node: c.Get("node"), ver: c.Get("ver"), hash: c.Get("hash")}
			if old := ss.caps.Load(); old == nil || *old != nc {
				ss.caps.Store(&nc)
				capsChanged = true
			}
		}
		initial := !ss.available.Load()
		ss.presence.Store(el)
		ss.available.Store(true)
		s.pres.Broadcast(ctx, ss.user, ss, el)
		if initial {
			// RFC 6121 §4.2 (package presence), then offline messages.
			if err := s.pres.Initial(ctx, ss.user, ss); err == nil && ss.priority.Load() >= 0 {
				s.deliverOffline(ctx, ss)
			}
		}
		s.presenceHook(ctx, ss, initial, capsChanged)
		return
	}
	// unavailable
	if !ss.available.Load() {
		return
	}
	ss.available.Store(false)
	ss.presence.Store(nil)
	s.pres.Broadcast(ctx, ss.user, ss, el)
	s.directedUnavailable(ctx, ss, el)
}

// directedUnavailable sends el (unavailable presence) to every JID that
// got directed presence from ss (RFC 6121 §4.6.3, presence.Withdraw) and
// forgets them.
func (s *Server) directedUnavailable(ctx context.Context, ss *Session, el *wire.Element) {
	s.pres.Withdraw(ctx, ss.full, ss.directed, el)
	ss.directed = nil
}

type caps struct{ node, ver, hash string }

// presenceHost is the session table as package presence sees it
// (presence.Host): the rules live there, the state on the sessions.
type presenceHost struct{ s *Server }

var _ presence.Host[*Session] = presenceHost{}

func (h presenceHost) Sessions(user string) []*Session      { return h.s.router.Sessions(user) }
func (presenceHost) Full(t *Session) string                 { return t.full }
func (presenceHost) Resource(t *Session) string             { return t.resource }
func (presenceHost) Available(t *Session) bool              { return t.available.Load() }
func (presenceHost) Last(t *Session) *wire.Element          { return t.presence.Load() }
func (presenceHost) Send(t *Session, el *wire.Element) bool { return t.Send(el) }
func (h presenceHost) IsHost(domain string) bool            { return h.s.domains.IsHost(domain) }
func (h presenceHost) IsRemote(domain string) bool          { return h.s.isRemote(addr{domain: domain}) }
func (h presenceHost) Locked(user string) bool              { return h.s.locked(user) }
func (h presenceHost) Blocked(ctx context.Context, user, other string) bool {
	return h.s.blocked(ctx, user, other)
}
func (h presenceHost) Route(ctx context.Context, el *wire.Element, domain string) bool {
	return h.s.toOther(ctx, el, domain)
}
func (h presenceHost) RosterPush(user string, ver uint64, it *store.RosterItem) {
	h.s.rosterPush(user, ver, it, false)
}
func (h presenceHost) Subscribed(ctx context.Context, user, contact string) {
	if h.s.hooks.Subscribed != nil {
		h.s.hooks.Subscribed(ctx, user, contact)
	}
}
func (presenceHost) Parse(j string) (presence.JID, error) {
	a, err := parseAddr(j)
	return presence.JID{Local: a.local, Domain: a.domain, Resource: a.resource}, err
}

// jid converts a parsed address for package presence.
func (a addr) jid() presence.JID {
	return presence.JID{Local: a.local, Domain: a.domain, Resource: a.resource}
}
