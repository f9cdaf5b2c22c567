package c2s

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"chatbx/server/presence"
	"chatbx/server/roster"
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
		s.outboundSubscription(ctx, ss, contact, typ)
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
		s.directedPresence(ctx, ss, el, to)
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

// directedUnavailable sends unavailable presence to every JID that got
// directed presence from ss (RFC 6121 §4.6.3), local services such as
// group chat rooms included, and forgets them.
func (s *Server) directedUnavailable(ctx context.Context, ss *Session, el *wire.Element) {
	for j := range ss.directed {
		a, err := parseAddr(j)
		if err != nil {
			continue
		}
		c := el.Copy()
		c.Set("from", ss.full)
		c.Set("to", j)
		if s.domains.IsHost(a.domain) {
			s.pres.Deliver(ctx, c, j)
		} else if _, h := s.domains.Lookup(a.domain); h != nil {
			h.Handle(ctx, c, s.Deliver)
		}
	}
	ss.directed = nil
}

type caps struct{ node, ver, hash string }

// directedPresence sends presence to one JID (RFC 6121 §4.6) and remembers
// it, so the target learns when the session goes offline.
func (s *Server) directedPresence(ctx context.Context, ss *Session, el *wire.Element, to addr) {
	j := to.String()
	if el.Get("type") == "" {
		if ss.directed == nil {
			ss.directed = map[string]bool{}
		}
		if len(ss.directed) < 1000 {
			ss.directed[j] = true
		}
	} else {
		delete(ss.directed, j)
	}
	if !s.domains.IsHost(to.domain) {
		// A local service (a group chat room) or a remote domain: it
		// learns when the session ends, too (directedUnavailable).
		s.elsewhere(ctx, ss, el, to)
		return
	}
	s.pres.Deliver(ctx, el, j)
}

// outboundSubscription handles a subscription stanza the user sends about
// contact (RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4).
func (s *Server) outboundSubscription(ctx context.Context, ss *Session, contact, typ string) {
	var route bool
	var before store.RosterItem
	it, ver, err := s.db.UpdateRosterItem(ctx, ss.user, contact, func(it *store.RosterItem, exists bool) (bool, error) {
		before = *it
		keep, r := roster.Outbound(it, exists, typ)
		route = r
		return keep, nil
	})
	if errors.Is(err, store.ErrQuota) {
		// The roster is full (store.Limits.RosterItems): not a fault.
		s.log.Warn().Msg("roster full")
		return
	}
	if err != nil {
		s.log.Error().Err(err).Msg("roster update")
		return
	}
	if roster.Changed(&it, &before) {
		s.rosterPush(ss.user, ver, &it, false)
	}
	if !route {
		return
	}
	if typ == "unsubscribed" {
		s.pres.UnavailableFrom(ss.user, contact)
	}
	s.inboundSubscription(ctx, ss.bare, contact, typ)
	if typ == "subscribed" {
		s.pres.PresenceFrom(ss.user, contact)
	}
}

// inboundSubscription delivers a subscription stanza from user (bare JID)
// to a local contact and updates the contact's roster (RFC 6121 §3.1.3,
// §3.2.3, §3.3.3).
func (s *Server) inboundSubscription(ctx context.Context, from, contact, typ string) {
	a, err := parseAddr(contact)
	if err == nil && s.isRemote(a) {
		// Federation: the contact's server applies §3.1.3 and the rest.
		s.toOther(ctx, wire.New(wire.NSClient, "presence", "type", typ, "from", from, "to", a.bare()), a.domain)
		return
	}
	if err != nil || !s.localUser(a) {
		return
	}
	if ok, _ := s.db.UserExists(ctx, a.local); !ok {
		if typ == "subscribe" {
			// §3.1.3: no such account: answer unsubscribed on its behalf.
			s.inboundSubscription(ctx, contact, from, "unsubscribed")
		}
		return
	}
	if s.locked(a.local) {
		// GDPR Art. 18: a locked account's roster is kept as it is; a
		// request is refused as for an unknown account.
		if typ == "subscribe" {
			s.inboundSubscription(ctx, contact, from, "unsubscribed")
		}
		return
	}
	if s.blocked(ctx, a.local, from) {
		return
	}
	var deliver bool
	var autoReply string
	var before store.RosterItem
	it, ver, err := s.db.UpdateRosterItem(ctx, a.local, from, func(it *store.RosterItem, exists bool) (bool, error) {
		before = *it
		keep, d, reply := roster.Inbound(it, exists, typ)
		deliver, autoReply = d, reply
		return keep, nil
	})
	if err != nil {
		return
	}
	if roster.Changed(&it, &before) {
		s.rosterPush(a.local, ver, &it, false)
	}
	if deliver {
		p := wire.New(wire.NSClient, "presence", "type", typ, "from", from, "to", contact)
		for _, t := range s.router.Sessions(a.local) {
			if t.available.Load() {
				t.Send(p)
			}
		}
	}
	if typ == "unsubscribe" && deliver {
		s.pres.UnavailableFrom(a.local, from)
	}
	if typ == "subscribed" && deliver && s.hooks.Subscribed != nil {
		// a.local now receives from's presence, and its PEP events.
		s.hooks.Subscribed(ctx, a.local, from)
	}
	if autoReply != "" {
		s.inboundSubscription(ctx, contact, from, autoReply)
		if autoReply == "subscribed" {
			s.pres.PresenceFrom(a.local, from)
		}
	}
}

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
