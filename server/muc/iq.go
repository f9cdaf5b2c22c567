package muc

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"chatbx/server/wire"
	"chatbx/store"
)

func result(el *wire.Element, payload ...*wire.Element) *wire.Element {
	r := wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id"), "from", el.Get("to"), "to", el.Get("from"))
	return r.Add(payload...)
}

// iq handles IQs to the service, a room or an occupant.
func (s *Service) iq(ctx context.Context, el *wire.Element, local, nick string, o *out) {
	typ := el.Get("type")
	if typ == "result" || typ == "error" {
		s.proxyAnswer(el, local, nick, o)
		return
	}
	if typ != "get" && typ != "set" {
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	p := el.FirstChild()
	if p == nil {
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	if local == "" {
		s.serviceIQ(el, p, o)
		return
	}
	r := s.rooms[local]
	if nick != "" {
		s.occupantIQ(el, p, r, nick, o)
		return
	}
	if r == nil {
		o.add(errorReply(el, "cancel", "item-not-found", ""))
		return
	}
	key := p.Space + " " + p.Local + " " + typ
	switch key {
	case NSDiscoInfo + " query get":
		if p.Get("node") != "" {
			o.add(errorReply(el, "cancel", "item-not-found", ""))
			return
		}
		o.add(result(el, s.roomInfo(r, s.mayRead(r, el.Get("from")))))
	case NSDiscoItem + " query get":
		// Occupants are not listed: nicks are for those in the room.
		o.add(result(el, wire.New(NSDiscoItem, "query")))
	case NSPing + " ping get":
		o.add(result(el))
	case NSAdmin + " query get", NSAdmin + " query set":
		s.admin(ctx, r, el, p, o)
	case NSOwner + " query get", NSOwner + " query set":
		s.owner(ctx, r, el, p, o)
	case NSRegister + " query get", NSRegister + " query set":
		s.register(ctx, r, el, p, o)
	case NSMAM + " query get", NSMAM + " query set":
		s.mam(ctx, r, el, p, o)
	default:
		o.add(errorReply(el, "cancel", "service-unavailable", ""))
	}
}

// serviceIQ answers IQs to the service's domain (§6.1-6.3).
func (s *Service) serviceIQ(el, p *wire.Element, o *out) {
	switch p.Space + " " + p.Local + " " + el.Get("type") {
	case NSDiscoInfo + " query get":
		q := wire.New(NSDiscoInfo, "query")
		q.Add(wire.New(NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", "Group chats"))
		for _, f := range []string{NS, NSDiscoInfo, NSDiscoItem, NSPing, NSStableID, NSOccupant} {
			q.Add(wire.New(NSDiscoInfo, "feature", "var", f))
		}
		o.add(result(el, q))
	case NSDiscoItem + " query get":
		q := wire.New(NSDiscoItem, "query")
		names := slices.Sorted(maps.Keys(s.rooms))
		for _, n := range names {
			r := s.rooms[n]
			if !r.cfg.Public || r.locked {
				continue
			}
			it := wire.New(NSDiscoItem, "item", "jid", s.roomJID(n), "name", r.cfg.Name)
			if r.cfg.Name == "" {
				it.Set("name", n)
			}
			q.Add(it)
		}
		o.add(result(el, q))
	case NSPing + " ping get":
		o.add(result(el))
	default:
		o.add(errorReply(el, "cancel", "service-unavailable", ""))
	}
}

// roomInfo is the room's disco#info (§6.4).
func (s *Service) roomInfo(r *room, reader bool) *wire.Element {
	q := wire.New(NSDiscoInfo, "query")
	name := r.cfg.Name
	if name == "" {
		name = r.local
	}
	q.Add(wire.New(NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", name))
	c := r.cfg
	pick := func(b bool, yes, no string) string {
		if b {
			return yes
		}
		return no
	}
	features := []string{NS, NSDiscoInfo, NSDiscoItem, NSPing, NSStableID, NSSelfPing, NSOccupant, NSSID, NSRegister,
		pick(c.Persistent, "muc_persistent", "muc_temporary"),
		pick(c.Public, "muc_public", "muc_hidden"),
		pick(c.MembersOnly, "muc_membersonly", "muc_open"),
		pick(c.Moderated, "muc_moderated", "muc_unmoderated"),
		pick(c.Password != "", "muc_passwordprotected", "muc_unsecured"),
		pick(c.Whois == "anyone", "muc_nonanonymous", "muc_semianonymous"),
	}
	if c.Archive {
		features = append(features, NSMAM)
	}
	slices.Sort(features)
	for _, f := range features {
		q.Add(wire.New(NSDiscoInfo, "feature", "var", f))
	}
	q.Add(s.infoForm(r, reader))
	return q
}

// occupantIQ answers IQs to room@service/nick: self-ping (XEP-0410) by
// the service, others are relayed to the occupant (§7.5 vCards and such).
func (s *Service) occupantIQ(el, p *wire.Element, r *room, nick string, o *out) {
	from := el.Get("from")
	var sender *occupant
	if r != nil {
		sender = r.byFull[from]
	}
	if sender == nil {
		// XEP-0410 §3: the client is not joined (any more).
		o.add(errorReply(el, "cancel", "not-acceptable", "You are not in this room."))
		return
	}
	target := r.occupants[nick]
	if target == nil {
		o.add(errorReply(el, "cancel", "item-not-found", ""))
		return
	}
	if p.Space == NSPing && p.Local == "ping" {
		// XEP-0410 with self-ping optimisation: the service answers.
		o.add(result(el))
		return
	}
	if len(s.proxy) >= 10000 {
		s.prune()
		if len(s.proxy) >= 10000 {
			o.add(errorReply(el, "wait", "resource-constraint", ""))
			return
		}
	}
	id := randomID()
	s.proxy[id] = proxied{id: el.Get("id"), from: from, to: s.roomJID(r.local) + "/" + nick, at: s.cfg.Now()}
	f := el.Copy()
	f.Set("id", id)
	f.Set("from", s.roomJID(r.local)+"/"+sender.nick)
	f.Set("to", target.sessions[0])
	o.add(f)
}

// proxyAnswer returns an occupant's answer to a relayed IQ to the
// requester.
func (s *Service) proxyAnswer(el *wire.Element, local, nick string, o *out) {
	p, ok := s.proxy[el.Get("id")]
	if !ok {
		return
	}
	delete(s.proxy, el.Get("id"))
	r := s.rooms[local]
	if r == nil || r.byFull[el.Get("from")] == nil || s.roomJID(r.local)+"/"+r.byFull[el.Get("from")].nick != p.to {
		return
	}
	a := el.Copy()
	a.Set("id", p.id)
	a.Set("from", p.to)
	a.Set("to", p.from)
	o.add(a)
}

func (s *Service) prune() {
	cut := s.cfg.Now().Add(-time.Minute)
	for k, p := range s.proxy {
		if p.at.Before(cut) {
			delete(s.proxy, k)
		}
	}
}

// admin handles muc#admin: lists (get) and role and affiliation changes
// (set), §8 and §9.
func (s *Service) admin(ctx context.Context, r *room, el, q *wire.Element, o *out) {
	from := el.Get("from")
	bare := bareOf(from)
	aff := s.affiliation(r, bare)
	actor := r.byFull[from]
	items := q.Elements()
	if len(items) == 0 {
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	if el.Get("type") == "get" {
		it := items[0]
		res := wire.New(NSAdmin, "query")
		if a := it.Get("affiliation"); a != "" {
			if affRank(aff) < affRank(affAdmin) && !(a == affMember && actor != nil && actor.role == roleModerator) {
				o.add(errorReply(el, "auth", "forbidden", ""))
				return
			}
			if affRank(a) == 0 && a != affOutcast {
				o.add(errorReply(el, "modify", "bad-request", ""))
				return
			}
			for _, j := range slices.Sorted(maps.Keys(r.affs)) {
				if r.affs[j] == a {
					item := wire.New(NSAdmin, "item", "affiliation", a, "jid", j, "nick", r.nicks[j])
					res.Add(item)
				}
			}
			o.add(result(el, res))
			return
		}
		if role := it.Get("role"); role != "" {
			if actor == nil || actor.role != roleModerator {
				o.add(errorReply(el, "auth", "forbidden", ""))
				return
			}
			for _, n := range slices.Sorted(maps.Keys(r.occupants)) {
				v := r.occupants[n]
				if v.role == role {
					res.Add(wire.New(NSAdmin, "item", "role", role, "nick", n, "affiliation", s.affiliation(r, v.bare), "jid", v.bare))
				}
			}
			o.add(result(el, res))
			return
		}
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	// set: check every item, then apply them all.
	type change struct {
		role, aff, nick, jid, reason string
	}
	var changes []change
	for _, it := range items {
		c := change{role: it.Get("role"), aff: it.Get("affiliation"), nick: it.Get("nick"), reason: it.ChildText(NSAdmin, "reason")}
		switch {
		case c.role != "" && c.nick != "":
			if actor == nil || actor.role != roleModerator {
				o.add(errorReply(el, "auth", "forbidden", ""))
				return
			}
			t := r.occupants[c.nick]
			if t == nil {
				o.add(errorReply(el, "cancel", "item-not-found", ""))
				return
			}
			ta := s.affiliation(r, t.bare)
			switch c.role {
			case roleNone, roleVisitor:
				// §8.2, §8.4: not someone with a higher affiliation,
				// and never an admin or owner.
				if affRank(ta) >= affRank(affAdmin) || affRank(ta) > affRank(aff) {
					o.add(errorReply(el, "cancel", "not-allowed", ""))
					return
				}
			case roleParticipant:
				if t.role == roleModerator && affRank(ta) >= affRank(affAdmin) {
					o.add(errorReply(el, "cancel", "not-allowed", ""))
					return
				}
				if t.role == roleModerator && affRank(aff) < affRank(affAdmin) {
					o.add(errorReply(el, "cancel", "not-allowed", ""))
					return
				}
			case roleModerator:
				if affRank(aff) < affRank(affAdmin) {
					o.add(errorReply(el, "cancel", "not-allowed", ""))
					return
				}
			default:
				o.add(errorReply(el, "modify", "bad-request", ""))
				return
			}
		case c.aff != "" && it.Get("jid") != "":
			c.jid = normBare(it.Get("jid"))
			if c.jid == "" || (affRank(c.aff) == 0 && c.aff != affOutcast) {
				o.add(errorReply(el, "modify", "bad-request", ""))
				return
			}
			if affRank(aff) < affRank(affAdmin) {
				o.add(errorReply(el, "auth", "forbidden", ""))
				return
			}
			cur := s.affiliation(r, c.jid)
			if aff == affAdmin && (affRank(cur) >= affRank(affAdmin) || affRank(c.aff) >= affRank(affAdmin)) {
				o.add(errorReply(el, "cancel", "not-allowed", ""))
				return
			}
		default:
			o.add(errorReply(el, "modify", "bad-request", ""))
			return
		}
		changes = append(changes, c)
	}
	// The last owner stays (§10.6).
	after := maps.Clone(r.affs)
	for _, c := range changes {
		if c.jid != "" {
			if c.aff == affNone {
				delete(after, c.jid)
			} else {
				after[c.jid] = c.aff
			}
		}
	}
	if len(r.owners()) > 0 && !slices.ContainsFunc(slices.Collect(maps.Values(after)), func(a string) bool { return a == affOwner }) {
		o.add(errorReply(el, "cancel", "conflict", "A room keeps at least one owner."))
		return
	}
	if len(after) > s.cfg.MaxAffiliations {
		o.add(errorReply(el, "wait", "resource-constraint", "The room's affiliation list is full."))
		return
	}
	old := r.affs
	r.affs = after
	if err := s.save(ctx, r); errors.Is(err, store.ErrQuota) {
		r.affs = old
		o.add(errorReply(el, "wait", "resource-constraint", "The room's stored state is full."))
		return
	}
	actorEl := func(reason string) *wire.Element {
		ic := wire.New(NSUser, "item-child")
		if actor != nil {
			ic.Add(wire.New(NSUser, "actor", "nick", actor.nick))
		}
		if reason != "" {
			ic.Add(wire.New(NSUser, "reason").AddText(reason))
		}
		return ic
	}
	for _, c := range changes {
		if c.nick != "" {
			t := r.occupants[c.nick]
			if t == nil {
				continue
			}
			if c.role == roleNone {
				s.removeOccupant(ctx, r, t, []int{307}, o, actorEl(c.reason))
				continue
			}
			was := t.role
			t.role = c.role
			s.broadcastPresence(r, t, "", nil, nil, o, actorEl(c.reason))
			s.revealIfModerator(r, t, was, o)
			continue
		}
		for _, t := range r.sessionsOf(c.jid) {
			switch {
			case c.aff == affOutcast:
				s.removeOccupant(ctx, r, t, []int{301}, o, actorEl(c.reason))
			case c.aff == affNone && r.cfg.MembersOnly:
				s.removeOccupant(ctx, r, t, []int{321}, o, actorEl(c.reason))
			default:
				was := t.role
				t.role = r.defaultRole(c.aff)
				s.broadcastPresence(r, t, "", nil, nil, o, actorEl(c.reason))
				s.revealIfModerator(r, t, was, o)
			}
		}
	}
	o.add(result(el))
}

// owner handles muc#owner: the configuration form and destruction (§10).
func (s *Service) owner(ctx context.Context, r *room, el, q *wire.Element, o *out) {
	bare := bareOf(el.Get("from"))
	if s.affiliation(r, bare) != affOwner {
		o.add(errorReply(el, "auth", "forbidden", "Only owners may configure the room."))
		return
	}
	if el.Get("type") == "get" {
		o.add(result(el, wire.New(NSOwner, "query").Add(s.configForm(r))))
		return
	}
	if d := q.Child(NSOwner, "destroy"); d != nil {
		alt := ""
		if j := d.Get("jid"); j != "" {
			alt = normBare(j)
		}
		s.destroy(ctx, r, alt, d.ChildText(NSOwner, "reason"), d.ChildText(NSOwner, "password"), o)
		o.add(result(el))
		return
	}
	x := q.Child(NSData, "x")
	if x == nil {
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	switch x.Get("type") {
	case "cancel":
		if r.locked {
			// §10.1.3: cancelling the initial configuration destroys
			// the room.
			s.destroy(ctx, r, "", "", "", o)
		}
		o.add(result(el))
		return
	case "submit":
	default:
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	if ft := formType(x); ft != "" && ft != NSRoomConf {
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	cfg, ok := s.applyConfig(r.cfg, x)
	if !ok {
		o.add(errorReply(el, "modify", "not-acceptable", "A value is out of range."))
		return
	}
	old := r.cfg
	wasLocked := r.locked
	r.cfg = cfg
	if cfg.Persistent {
		if err := s.save(ctx, r); err != nil {
			r.cfg = old
			if errors.Is(err, store.ErrQuota) {
				o.add(errorReply(el, "wait", "resource-constraint", "The room's stored state is full."))
			} else {
				o.add(errorReply(el, "wait", "internal-server-error", ""))
			}
			return
		}
	} else if old.Persistent {
		s.deleteRoomData(ctx, s.roomJID(r.local))
	}
	if old.Archive && !cfg.Archive && cfg.Persistent {
		// Switching archiving off deletes what was archived.
		s.deleteRoomData(ctx, s.roomJID(r.local))
		s.save(ctx, r)
		s.db.Scrub(context.WithoutCancel(ctx))
	}
	if old.Archive && !cfg.Archive && !cfg.Persistent {
		s.deleteRoomData(ctx, s.roomJID(r.local))
		s.db.Scrub(context.WithoutCancel(ctx))
	}
	r.locked = false
	r.history = trimHistory(r.history, min(cfg.HistoryLength, s.cfg.MaxHistory))
	o.add(result(el))
	// Non-members leave a room that became members-only (§9.3, 322).
	if cfg.MembersOnly && !old.MembersOnly {
		for _, v := range slices.Collect(maps.Values(r.occupants)) {
			if affRank(s.affiliation(r, v.bare)) < affRank(affMember) {
				s.removeOccupant(ctx, r, v, []int{322}, o)
			}
		}
	}
	// Roles follow a change of moderation.
	if cfg.Moderated != old.Moderated {
		for _, v := range r.occupants {
			if nr := r.defaultRole(s.affiliation(r, v.bare)); nr != v.role && v.role != roleModerator {
				v.role = nr
				s.broadcastPresence(r, v, "", nil, nil, o)
			}
		}
	}
	if wasLocked {
		for _, v := range r.occupants {
			for _, to := range v.sessions {
				s.sendSubject(r, to, o)
			}
		}
		return
	}
	// §10.2.1: tell the occupants what changed that they can notice.
	codes := []int{104}
	if cfg.Archive != old.Archive {
		codes = append(codes, map[bool]int{true: 170, false: 171}[cfg.Archive])
	}
	if cfg.Whois != old.Whois {
		codes = append(codes, map[bool]int{true: 172, false: 173}[cfg.Whois == "anyone"])
	}
	x2 := wire.New(NSUser, "x")
	for _, c := range codes {
		x2.Add(wire.New(NSUser, "status", "code", strconv.Itoa(c)))
	}
	m := wire.New(wire.NSClient, "message", "type", "groupchat", "from", s.roomJID(r.local), "id", randomID())
	m.Add(x2)
	s.fanout(r, m, o)
}

func trimHistory(h []hist, n int) []hist {
	if len(h) > n {
		return slices.Delete(h, 0, len(h)-n)
	}
	return h
}

// register handles nick registration (§7.10): members (and, in open
// rooms, anyone not banned, who then becomes a member) reserve a nick.
func (s *Service) register(ctx context.Context, r *room, el, q *wire.Element, o *out) {
	bare := bareOf(el.Get("from"))
	aff := s.affiliation(r, bare)
	if aff == affOutcast {
		o.add(errorReply(el, "auth", "forbidden", ""))
		return
	}
	if el.Get("type") == "get" {
		res := wire.New(NSRegister, "query")
		if n, ok := r.nicks[bare]; ok {
			res.Add(wire.New(NSRegister, "registered"), wire.New(NSRegister, "username").AddText(n))
			o.add(result(el, res))
			return
		}
		if r.cfg.MembersOnly && affRank(aff) < affRank(affMember) {
			o.add(errorReply(el, "auth", "registration-required", "Ask an admin for membership."))
			return
		}
		res.Add(wire.New(NSRegister, "instructions").AddText("Register a nickname in this room."))
		x := wire.New(NSData, "x", "type", "form")
		x.Add(field("FORM_TYPE", "hidden", "http://jabber.org/protocol/muc#register"))
		x.Add(labelled("muc#register_roomnick", "text-single", "Nickname"))
		res.Add(x)
		o.add(result(el, res))
		return
	}
	if q.Child(NSRegister, "remove") != nil {
		delete(r.nicks, bare)
		s.save(ctx, r)
		o.add(result(el))
		return
	}
	if r.cfg.MembersOnly && affRank(aff) < affRank(affMember) {
		o.add(errorReply(el, "auth", "registration-required", "Ask an admin for membership."))
		return
	}
	x := q.Child(NSData, "x")
	if x == nil {
		o.add(errorReply(el, "modify", "bad-request", ""))
		return
	}
	nick := formValues(x)["muc#register_roomnick"]
	if nick == "" || len(nick) > 1023 {
		o.add(errorReply(el, "modify", "not-acceptable", ""))
		return
	}
	for owner, n := range r.nicks {
		if n == nick && owner != bare {
			o.add(errorReply(el, "cancel", "conflict", ""))
			return
		}
	}
	if occ := r.occupants[nick]; occ != nil && occ.bare != bare {
		o.add(errorReply(el, "cancel", "conflict", ""))
		return
	}
	if len(r.affs) >= s.cfg.MaxAffiliations && r.affs[bare] == "" {
		o.add(errorReply(el, "wait", "resource-constraint", ""))
		return
	}
	oldNick, had := r.nicks[bare]
	oldAff, hadAff := r.affs[bare]
	r.nicks[bare] = nick
	if aff == affNone {
		r.affs[bare] = affMember
	}
	if err := s.save(ctx, r); errors.Is(err, store.ErrQuota) {
		if had {
			r.nicks[bare] = oldNick
		} else {
			delete(r.nicks, bare)
		}
		if hadAff {
			r.affs[bare] = oldAff
		} else {
			delete(r.affs, bare)
		}
		o.add(errorReply(el, "wait", "resource-constraint", ""))
		return
	}
	o.add(result(el))
}

// revealIfModerator sends a new moderator of a semi-anonymous room the
// others' presence again, now with their real JIDs (XEP-0045 §5.1.3:
// moderators see real JIDs in semi-anonymous rooms).
func (s *Service) revealIfModerator(r *room, t *occupant, was string, o *out) {
	if was == roleModerator || t.role != roleModerator || r.cfg.Whois == "anyone" {
		return
	}
	for _, other := range r.occupants {
		if other == t {
			continue
		}
		p := s.presenceOf(r, other, t, "", nil)
		for _, to := range t.sessions {
			c := p.Copy()
			c.Set("to", to)
			o.add(c)
		}
	}
}
