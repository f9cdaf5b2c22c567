package c2s

import (
	"context"
	"errors"
	"strconv"
	"strings"

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
		s.broadcastPresence(ctx, ss, el)
		if initial {
			s.initialPresence(ctx, ss)
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
	s.broadcastPresence(ctx, ss, el)
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
			s.deliverPresence(ctx, c, j)
		} else if _, h := s.domains.Lookup(a.domain); h != nil {
			h.Handle(ctx, c, s.Deliver)
		}
	}
	ss.directed = nil
}

type caps struct{ node, ver, hash string }

// broadcastPresence sends el (from ss.full) to the user's contacts with a
// subscription from the user, and to the user's other available sessions.
func (s *Server) broadcastPresence(ctx context.Context, ss *Session, el *wire.Element) {
	_, items, err := s.db.Roster(ctx, ss.user)
	if err != nil {
		return
	}
	for i := range items {
		it := &items[i]
		if (it.Sub == store.SubFrom || it.Sub == store.SubBoth) && !s.blocked(ctx, ss.user, it.JID) {
			// XEP-0191 §3.3: a blocked contact no longer sees the user.
			c := el.Copy()
			c.Set("to", it.JID)
			s.deliverPresence(ctx, c, it.JID)
		}
	}
	// RFC 6121 §4.2.2, §4.4.2: every available resource of the user,
	// including the one that sent it, gets the presence.
	for _, t := range s.router.Sessions(ss.user) {
		if t.available.Load() || t == ss {
			c := el.Copy()
			c.Set("to", t.full)
			t.Send(c)
		}
	}
}

// deliverPresence routes a presence stanza to a JID (bare: every available
// session; full: that session). Non-local contacts need s2s, which is not
// part of this build yet, so their presence is dropped.
func (s *Server) deliverPresence(ctx context.Context, el *wire.Element, to string) {
	a, err := parseAddr(to)
	if err == nil && !s.domains.IsHost(a.domain) {
		// Federation (or a local service): handed to the domain's handler.
		if el.Get("to") != to {
			el = el.Copy()
			el.Set("to", to)
		}
		s.toOther(ctx, el, a.domain)
		return
	}
	if err != nil || !s.localUser(a) {
		return
	}
	if from := el.Get("from"); from != "" && s.blocked(ctx, a.local, from) {
		return
	}
	for _, t := range s.router.Sessions(a.local) {
		if a.resource != "" && t.resource != a.resource {
			continue
		}
		if a.resource == "" && !t.available.Load() {
			continue
		}
		t.Send(el)
	}
}

// initialPresence runs after a session's first available presence: it
// learns its contacts' presence (the probe of RFC 6121 §4.3, answered
// locally), receives pending subscription requests, and offline messages.
func (s *Server) initialPresence(ctx context.Context, ss *Session) {
	_, items, err := s.db.Roster(ctx, ss.user)
	if err != nil {
		return
	}
	for i := range items {
		it := &items[i]
		if it.Sub == store.SubTo || it.Sub == store.SubBoth {
			s.probe(ctx, ss, it.JID)
		}
		if it.PendingIn {
			ss.Send(wire.New(wire.NSClient, "presence", "type", "subscribe", "from", it.JID, "to", ss.bare))
		}
	}
	// The user's own other resources.
	for _, t := range s.router.Sessions(ss.user) {
		if t != ss {
			if p := t.presence.Load(); p != nil {
				c := p.Copy()
				c.Set("to", ss.full)
				ss.Send(c)
			}
		}
	}
	if ss.priority.Load() >= 0 {
		s.deliverOffline(ctx, ss)
	}
}

// probe sends contact's current presence to ss (every available session).
func (s *Server) probe(ctx context.Context, ss *Session, contact string) {
	a, err := parseAddr(contact)
	if err == nil && s.isRemote(a) && !s.blocked(ctx, ss.user, contact) {
		// RFC 6121 §4.3.1: the contact's server answers the probe.
		s.toOther(ctx, wire.New(wire.NSClient, "presence", "type", "probe", "from", ss.bare, "to", a.bare()), a.domain)
		return
	}
	if err != nil || !s.localUser(a) {
		return
	}
	if s.blocked(ctx, ss.user, contact) {
		return
	}
	for _, t := range s.router.Sessions(a.local) {
		if p := t.presence.Load(); p != nil {
			c := p.Copy()
			c.Set("to", ss.full)
			ss.Send(c)
		}
	}
}

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
	s.deliverPresence(ctx, el, j)
}

// sendUnavailableFrom sends unavailable presence from each of user's
// available sessions to contact (after a subscription from user ended).
func (s *Server) sendUnavailableFrom(user, contact string) {
	for _, t := range s.router.Sessions(user) {
		if t.available.Load() {
			s.deliverPresence(context.Background(),
				wire.New(wire.NSClient, "presence", "type", "unavailable", "from", t.full, "to", contact), contact)
		}
	}
}

// sendPresenceFrom sends each available session's presence of user to
// contact (after contact's subscription was approved).
func (s *Server) sendPresenceFrom(user, contact string) {
	for _, t := range s.router.Sessions(user) {
		if p := t.presence.Load(); p != nil {
			c := p.Copy()
			c.Set("to", contact)
			s.deliverPresence(context.Background(), c, contact)
		}
	}
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
		s.sendUnavailableFrom(ss.user, contact)
	}
	s.inboundSubscription(ctx, ss.bare, contact, typ)
	if typ == "subscribed" {
		s.sendPresenceFrom(ss.user, contact)
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
		s.sendUnavailableFrom(a.local, from)
	}
	if typ == "subscribed" && deliver && s.hooks.Subscribed != nil {
		// a.local now receives from's presence, and its PEP events.
		s.hooks.Subscribed(ctx, a.local, from)
	}
	if autoReply != "" {
		s.inboundSubscription(ctx, contact, from, autoReply)
		if autoReply == "subscribed" {
			s.sendPresenceFrom(a.local, from)
		}
	}
}

// probeInto sends user's current presences to session t.
func (s *Server) probeInto(t *Session, user string) {
	for _, o := range s.router.Sessions(user) {
		if p := o.presence.Load(); p != nil {
			c := p.Copy()
			c.Set("to", t.full)
			t.Send(c)
		}
	}
}
