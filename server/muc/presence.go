package muc

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"chatbx/server/wire"
)

// presence handles presence to room@service/nick (XEP-0045 §7.2-7.6).
func (s *Service) presence(ctx context.Context, el *wire.Element, local, nick string, o *out) {
	from := el.Get("from")
	r := s.rooms[local]
	typ := el.Get("type")
	var occ *occupant
	if r != nil {
		occ = r.byFull[from]
	}
	switch typ {
	case "unavailable":
		if occ == nil {
			return
		}
		s.leave(ctx, r, occ, from, el, o)
		return
	case "error":
		// An occupant's session that answers with an error is gone
		// (a ghost, XEP-0045 §7.2.x): remove it quietly for the others.
		if occ != nil {
			s.leave(ctx, r, occ, from, nil, o)
		}
		return
	case "":
	default:
		return // subscriptions and probes mean nothing to a room
	}
	if nick == "" {
		o.add(errorReply(el, "modify", "jid-malformed", "A nickname is required to join."))
		return
	}
	if occ != nil {
		if occ.nick == nick {
			// A presence update: broadcast it.
			occ.pres = el
			s.broadcastPresence(r, occ, "", nil, nil, o)
			return
		}
		s.changeNick(ctx, r, occ, from, nick, el, o)
		return
	}
	s.join(ctx, el, local, nick, o)
}

// join lets a session into a room, creating the room if needed (§7.2,
// §10.1).
func (s *Service) join(ctx context.Context, el *wire.Element, local, nick string, o *out) {
	from := el.Get("from")
	bare := bareOf(from)
	x := el.Child(NS, "x")
	r := s.rooms[local]
	created := false
	if r == nil {
		if !s.mayCreate(bare) {
			o.add(errorReply(el, "cancel", "not-allowed", "Room creation is restricted."))
			return
		}
		if s.ownedBy(bare) >= s.cfg.MaxRoomsPerUser && !s.isAdmin(bare) {
			o.add(errorReply(el, "wait", "resource-constraint", "You own as many rooms as this service allows."))
			return
		}
		r = s.newRoom(local)
		r.affs[bare] = affOwner
		// A client that speaks MUC gets a locked room to configure
		// (§10.1.1); an old groupchat client gets an instant room.
		r.locked = x != nil
		s.rooms[local] = r
		created = true
	}
	aff := s.affiliation(r, bare)
	switch {
	case aff == affOutcast:
		o.add(errorReply(el, "auth", "forbidden", "You are banned from this room."))
		return
	case r.locked && aff != affOwner:
		o.add(errorReply(el, "cancel", "item-not-found", "The room is being set up."))
		return
	case r.cfg.MembersOnly && affRank(aff) < affRank(affMember):
		o.add(errorReply(el, "auth", "registration-required", "This room is for members only."))
		return
	case r.cfg.Password != "" && affRank(aff) < affRank(affAdmin) && (x == nil || x.ChildText(NS, "password") != r.cfg.Password):
		o.add(errorReply(el, "auth", "not-authorized", "A password is required."))
		return
	}
	// §7.2.x: a registered nick is the occupant's nick in this room; the
	// service says so with 210 when the client asked for another.
	renamed := false
	if reg := r.nicks[bare]; reg != "" && reg != nick {
		nick, renamed = reg, true
	}
	if other := r.occupants[nick]; other != nil && other.bare != bare {
		o.add(errorReply(el, "cancel", "conflict", "That nickname is in use."))
		return
	}
	for owner, reserved := range r.nicks {
		if reserved == nick && owner != bare {
			o.add(errorReply(el, "cancel", "conflict", "That nickname is registered to someone else."))
			return
		}
	}
	if len(r.byFull) >= min(r.cfg.MaxUsers, s.cfg.MaxOccupants) && affRank(aff) < affRank(affAdmin) {
		o.add(errorReply(el, "wait", "service-unavailable", "The room is full."))
		return
	}
	if len(r.byFull) >= s.cfg.MaxOccupants {
		o.add(errorReply(el, "wait", "service-unavailable", "The room is full."))
		return
	}
	occ := r.occupants[nick]
	newNick := occ == nil
	if newNick {
		occ = &occupant{nick: nick, bare: bare, role: r.defaultRole(aff), occID: s.occupantID(s.roomJID(local), bare),
			tokens: float64(s.cfg.MessageBurst), last: s.cfg.Now()}
		r.occupants[nick] = occ
	}
	occ.sessions = append(occ.sessions, from)
	occ.pres = el
	r.byFull[from] = occ
	// §7.2.3: first the other occupants' presence, then its own.
	for _, other := range r.occupants {
		if other == occ {
			continue
		}
		p := s.presenceOf(r, other, occ, "", nil)
		p.Set("to", from)
		o.add(p)
	}
	var codes []int
	if created {
		codes = append(codes, 201)
	}
	if r.cfg.Archive {
		codes = append(codes, 170)
	}
	if renamed {
		codes = append(codes, 210)
	}
	if newNick {
		s.broadcastPresence(r, occ, "", nil, codes, o)
	} else {
		p := s.presenceOf(r, occ, occ, "", codes)
		p.Set("to", from)
		o.add(p)
	}
	// A locked new room has no history; its (empty) subject still ends
	// the join for clients that wait for it (slixmpp's join_muc_wait).
	s.sendHistory(r, from, x, o)
	s.sendSubject(r, from, o)
}

func (s *Service) mayCreate(bare string) bool {
	if s.isAdmin(bare) {
		return true
	}
	if s.cfg.Create == CreateAdmins {
		return false
	}
	_, domain, _ := strings.Cut(bare, "@")
	return domain == s.cfg.Host && strings.Contains(bare, "@")
}

// sendHistory sends the join history the client asked for (§7.2.15),
// from memory only.
func (s *Service) sendHistory(r *room, to string, x *wire.Element, o *out) {
	max := len(r.history)
	var since time.Time
	if x != nil {
		if h := x.Child(NS, "history"); h != nil {
			if v := h.Get("maxstanzas"); v != "" {
				if n, err := strconv.Atoi(v); err == nil && n >= 0 {
					max = min(max, n)
				}
			}
			if v := h.Get("maxchars"); v == "0" {
				max = 0
			}
			if v := h.Get("seconds"); v != "" {
				if n, err := strconv.Atoi(v); err == nil && n >= 0 {
					since = s.cfg.Now().Add(-time.Duration(n) * time.Second)
				}
			}
			if v := h.Get("since"); v != "" {
				if t, err := time.Parse(time.RFC3339, v); err == nil && t.After(since) {
					since = t
				}
			}
		}
	}
	start := len(r.history) - max
	for _, h := range r.history[start:] {
		if !since.IsZero() && h.at.Before(since) {
			continue
		}
		m := h.el.Copy()
		m.Set("to", to)
		m.Add(wire.New(NSDelay, "delay", "stamp", h.at.UTC().Format("2006-01-02T15:04:05.000Z"), "from", s.roomJID(r.local)))
		o.add(m)
	}
}

func (s *Service) sendSubject(r *room, to string, o *out) {
	from := s.roomJID(r.local)
	if r.subjectNick != "" {
		from += "/" + r.subjectNick
	}
	m := wire.New(wire.NSClient, "message", "type", "groupchat", "from", from, "to", to, "id", randomID())
	m.Add(wire.New(wire.NSClient, "subject").AddText(r.subject))
	o.add(m)
}

// leave ends one session's presence in the room (§7.14).
func (s *Service) leave(ctx context.Context, r *room, occ *occupant, from string, el *wire.Element, o *out) {
	delete(r.byFull, from)
	var extra []*wire.Element
	if el != nil {
		if st := el.Child(wire.NSClient, "status"); st != nil {
			extra = append(extra, st)
		}
	}
	if len(occ.sessions) > 1 {
		occ.sessions = slices.DeleteFunc(occ.sessions, func(f string) bool { return f == from })
		p := s.presenceOf(r, occ, occ, "unavailable", nil)
		p.Set("to", from)
		o.add(p)
		return
	}
	delete(r.occupants, occ.nick)
	p := s.presenceOf(r, occ, occ, "unavailable", nil)
	p.Add(extra...)
	p.Set("to", from)
	o.add(p)
	for _, v := range r.occupants {
		q := s.presenceOf(r, occ, v, "unavailable", nil)
		q.Add(extra...)
		for _, to := range v.sessions {
			c := q.Copy()
			c.Set("to", to)
			o.add(c)
		}
	}
	s.maybeGone(ctx, r)
}

// changeNick renames an occupant (§7.6): unavailable with 303 and the new
// nick, then available under the new nick.
func (s *Service) changeNick(_ context.Context, r *room, occ *occupant, from, nick string, el *wire.Element, o *out) {
	if other := r.occupants[nick]; other != nil {
		o.add(errorReply(el, "cancel", "conflict", "That nickname is in use."))
		return
	}
	for owner, reserved := range r.nicks {
		if reserved == nick && owner != occ.bare {
			o.add(errorReply(el, "cancel", "conflict", "That nickname is registered to someone else."))
			return
		}
	}
	// Unavailable with the new nick on the item (§7.6.3).
	for _, v := range r.occupants {
		p := s.presenceOf(r, occ, v, "unavailable", []int{303})
		it := p.Child(NSUser, "x").Child(NSUser, "item")
		it.Set("nick", nick)
		it.Set("role", occ.role)
		for _, to := range v.sessions {
			c := p.Copy()
			c.Set("to", to)
			o.add(c)
		}
	}
	delete(r.occupants, occ.nick)
	occ.nick = nick
	occ.pres = el
	r.occupants[nick] = occ
	s.broadcastPresence(r, occ, "", nil, nil, o)
}
