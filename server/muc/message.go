package muc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"

	"chatbx/server/wire"
	"chatbx/store"
)

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// message handles a message to a room or an occupant.
func (s *Service) message(ctx context.Context, el *wire.Element, local, nick string, o *out) {
	typ := el.Get("type")
	from := el.Get("from")
	r := s.rooms[local]
	if typ == "error" {
		// A session that bounces room traffic is gone (a ghost); so is
		// one whose server cannot be reached any more: the s2s bounce of
		// a message the room relayed comes back to the sender's
		// occupant JID.
		if r != nil {
			if occ := r.byFull[from]; occ != nil && (nick == "" || serverGone(el)) {
				s.leave(ctx, r, occ, from, nil, o)
			}
		}
		return
	}
	if r == nil || (r.locked && r.byFull[from] == nil) {
		o.add(errorReply(el, "cancel", "item-not-found", ""))
		return
	}
	if nick != "" {
		if typ == "groupchat" {
			o.add(errorReply(el, "modify", "bad-request", "Groupchat messages go to the room."))
			return
		}
		s.private(ctx, r, el, nick, o)
		return
	}
	if x := el.Child(NSUser, "x"); x != nil && typ != "groupchat" {
		if inv := x.Child(NSUser, "invite"); inv != nil {
			s.invite(ctx, r, el, inv, o)
			return
		}
		if d := x.Child(NSUser, "decline"); d != nil {
			s.decline(r, el, d, o)
			return
		}
	}
	if f := el.Child(NSData, "x"); f != nil && formType(f) == NSRequest {
		s.voiceRequest(ctx, r, el, f, o)
		return
	}
	if typ != "groupchat" {
		if el.Child(wire.NSClient, "body") != nil {
			o.add(errorReply(el, "modify", "bad-request", "Send groupchat messages to the room."))
		}
		return
	}
	s.groupchat(ctx, r, el, o)
}

// allow takes one token of occ's message rate (a leaky bucket).
func (s *Service) allow(occ *occupant) bool {
	now := s.cfg.Now()
	occ.tokens += now.Sub(occ.last).Seconds() * s.cfg.MessageRate
	occ.last = now
	occ.tokens = min(occ.tokens, float64(s.cfg.MessageBurst))
	if occ.tokens < 1 {
		return false
	}
	occ.tokens--
	return true
}

// groupchat broadcasts a message to every occupant (§7.4), changes the
// subject (§8.1) or refuses.
func (s *Service) groupchat(ctx context.Context, r *room, el *wire.Element, o *out) {
	occ := r.byFull[el.Get("from")]
	if occ == nil {
		o.add(errorReply(el, "modify", "not-acceptable", "Only occupants may send messages to the room."))
		return
	}
	if occ.role == roleVisitor {
		o.add(errorReply(el, "auth", "forbidden", "Visitors may not speak in this moderated room."))
		return
	}
	subject := el.Child(wire.NSClient, "subject")
	body := el.Child(wire.NSClient, "body")
	if subject != nil && body == nil {
		if !r.cfg.ChangeSubject && occ.role != roleModerator {
			o.add(errorReply(el, "auth", "forbidden", "Only moderators may change the subject."))
			return
		}
		old, oldNick := r.subject, r.subjectNick
		r.subject, r.subjectNick = subject.Text(), occ.nick
		if err := s.save(ctx, r); errors.Is(err, store.ErrQuota) {
			r.subject, r.subjectNick = old, oldNick
			o.add(errorReply(el, "wait", "resource-constraint", "The room's stored state is full."))
			return
		}
	}
	if !s.allow(occ) {
		o.add(errorReply(el, "wait", "resource-constraint", "You are sending messages too fast."))
		return
	}
	room := s.roomJID(r.local)
	m := el.Copy()
	m.Set("from", room+"/"+occ.nick)
	m.Set("to", "")
	m.Attr = slices.DeleteFunc(m.Attr, func(a wire.Attr) bool { return a.Local == "to" && a.Space == "" })
	// XEP-0359 §3 and XEP-0421 §4: ids by the room come only from the
	// room.
	m.Children = slices.DeleteFunc(m.Children, func(n wire.Node) bool {
		return n.El != nil && ((n.El.Space == NSSID && n.El.Local == "stanza-id" && n.El.Get("by") == room) ||
			(n.El.Space == NSOccupant && n.El.Local == "occupant-id"))
	})
	m.Add(wire.New(NSOccupant, "occupant-id", "id", occ.occID))
	id := ""
	now := s.cfg.Now()
	if r.cfg.Archive && archivable(m) {
		// The commit (an fsync) runs without the service lock, so that
		// other rooms do not wait for the disk (Handle holds the lock
		// and releases it when this returns).
		from := el.Get("from")
		s.archiveMu.RLock()
		s.mu.Unlock()
		aid, err := s.db.AppendMUCArchive(ctx, room, now, occ.occID, m.Bytes(wire.NSClient), s.cfg.ArchiveBytes)
		s.archiveMu.RUnlock()
		s.mu.Lock()
		if err == nil {
			id = aid
		} else if !errors.Is(err, store.ErrQuota) {
			s.log.Error().Err(err).Msg("archive room message")
		}
		if s.rooms[r.local] != r || r.byFull[from] != occ {
			// The room went, or the sender left, meanwhile: the message
			// is archived as sent (a destroyed room's archive went after
			// it, see archiveMu), but it is not delivered.
			return
		}
	}
	if id == "" {
		id = randomID()
	}
	m.Add(wire.New(NSSID, "stanza-id", "id", id, "by", room))
	if body != nil || subject == nil {
		if limit := min(r.cfg.HistoryLength, s.cfg.MaxHistory); limit > 0 && body != nil {
			r.history = append(r.history, hist{at: now, occID: occ.occID, el: m})
			if len(r.history) > limit {
				r.history = slices.Delete(r.history, 0, len(r.history)-limit)
			}
		}
	}
	s.fanout(r, m, o)
}

// fanout sends m to every session of every occupant. The copies share
// m's children: only the to attribute differs.
func (s *Service) fanout(r *room, m *wire.Element, o *out) {
	n := 0
	for _, v := range r.occupants {
		n += len(v.sessions)
	}
	// One allocation for the copies and one for their attributes.
	els := make([]wire.Element, n)
	per := len(m.Attr) + 1
	attrs := make([]wire.Attr, n*per)
	*o = slices.Grow(*o, n)
	i := 0
	for _, v := range r.occupants {
		for _, to := range v.sessions {
			a := attrs[i*per : (i+1)*per : (i+1)*per]
			copy(a, m.Attr)
			a[per-1] = wire.Attr{Local: "to", Value: to}
			els[i] = wire.Element{Space: m.Space, Local: m.Local, Attr: a, Children: m.Children}
			o.add(&els[i])
			i++
		}
	}
}

// archivable: messages with a body, not hinted no-store.
func archivable(m *wire.Element) bool {
	if m.Child("urn:xmpp:hints", "no-store") != nil || m.Child("urn:xmpp:hints", "no-permanent-store") != nil {
		return false
	}
	return m.Child(wire.NSClient, "body") != nil
}

// private relays a private message between occupants (§7.5).
func (s *Service) private(ctx context.Context, r *room, el *wire.Element, nick string, o *out) {
	occ := r.byFull[el.Get("from")]
	if occ == nil {
		o.add(errorReply(el, "modify", "not-acceptable", "Only occupants may send private messages."))
		return
	}
	switch r.cfg.AllowPM {
	case "none":
		o.add(errorReply(el, "cancel", "not-allowed", "Private messages are off in this room."))
		return
	case "moderators":
		if occ.role != roleModerator {
			o.add(errorReply(el, "cancel", "not-allowed", "Only moderators may send private messages."))
			return
		}
	case "participants":
		if occ.role == roleVisitor {
			o.add(errorReply(el, "cancel", "not-allowed", "Visitors may not send private messages."))
			return
		}
	}
	target := r.occupants[nick]
	if target == nil {
		o.add(errorReply(el, "cancel", "item-not-found", "No such occupant."))
		return
	}
	if !s.allow(occ) {
		o.add(errorReply(el, "wait", "resource-constraint", "You are sending messages too fast."))
		return
	}
	m := el.Copy()
	m.Set("from", s.roomJID(r.local)+"/"+occ.nick)
	m.Children = slices.DeleteFunc(m.Children, func(n wire.Node) bool {
		return n.El != nil && n.El.Space == NSUser && n.El.Local == "x"
	})
	m.Add(wire.New(NSUser, "x"))
	for _, to := range target.sessions {
		c := m.Copy()
		c.Set("to", to)
		o.add(c)
	}
}

// invite relays a mediated invitation (§7.8.2).
func (s *Service) invite(ctx context.Context, r *room, el *wire.Element, inv *wire.Element, o *out) {
	from := el.Get("from")
	bare := bareOf(from)
	occ := r.byFull[from]
	aff := s.affiliation(r, bare)
	if occ == nil {
		o.add(errorReply(el, "modify", "not-acceptable", "Only occupants may invite."))
		return
	}
	if r.cfg.MembersOnly && !r.cfg.AllowInvites && affRank(aff) < affRank(affAdmin) {
		o.add(errorReply(el, "auth", "forbidden", "Only admins may invite to this room."))
		return
	}
	to := normBare(inv.Get("to"))
	if to == "" {
		o.add(errorReply(el, "modify", "jid-malformed", ""))
		return
	}
	if s.affiliation(r, to) == affOutcast {
		o.add(errorReply(el, "cancel", "not-allowed", "That address is banned from the room."))
		return
	}
	if !s.allow(occ) {
		o.add(errorReply(el, "wait", "resource-constraint", "You are sending messages too fast."))
		return
	}
	if r.cfg.MembersOnly && s.affiliation(r, to) == affNone {
		// The service adds the invitee to the member list (§7.8.2).
		if len(r.affs) >= s.cfg.MaxAffiliations {
			o.add(errorReply(el, "wait", "resource-constraint", "The room's member list is full."))
			return
		}
		r.affs[to] = affMember
		if err := s.save(ctx, r); errors.Is(err, store.ErrQuota) {
			delete(r.affs, to)
			o.add(errorReply(el, "wait", "resource-constraint", "The room's stored state is full."))
			return
		}
	}
	room := s.roomJID(r.local)
	m := wire.New(wire.NSClient, "message", "from", room, "to", to, "id", el.Get("id"))
	x := wire.New(NSUser, "x")
	i := wire.New(NSUser, "invite", "from", bare)
	if reason := inv.ChildText(NSUser, "reason"); reason != "" {
		i.Add(wire.New(NSUser, "reason").AddText(reason))
	}
	x.Add(i)
	if r.cfg.Password != "" {
		x.Add(wire.New(NSUser, "password").AddText(r.cfg.Password))
	}
	m.Add(x)
	// XEP-0249-style hint for clients that only read that.
	m.Add(wire.New(NSConference, "x", "jid", room))
	// A plain text for clients that know neither, as Prosody sends; it
	// also makes the invitation wait in offline storage for an invitee
	// who is not online.
	text := bare + " invited you to the room " + room
	if reason := inv.ChildText(NSUser, "reason"); reason != "" {
		text += " (" + reason + ")"
	}
	m.Add(wire.New(wire.NSClient, "body").AddText(text))
	o.add(m)
}

// decline passes a declined invitation back to the inviter (§7.8.2).
func (s *Service) decline(r *room, el *wire.Element, d *wire.Element, o *out) {
	to := normBare(d.Get("to"))
	if to == "" {
		return
	}
	m := wire.New(wire.NSClient, "message", "from", s.roomJID(r.local), "to", to, "id", el.Get("id"))
	x := wire.New(NSUser, "x")
	dd := wire.New(NSUser, "decline", "from", bareOf(el.Get("from")))
	if reason := d.ChildText(NSUser, "reason"); reason != "" {
		dd.Add(wire.New(NSUser, "reason").AddText(reason))
	}
	m.Add(x.Add(dd))
	o.add(m)
}

// voiceRequest handles the muc#request form (§7.13, §8.6): from a
// visitor it goes to the moderators; from a moderator with
// muc#request_allow it grants voice.
func (s *Service) voiceRequest(ctx context.Context, r *room, el *wire.Element, f *wire.Element, o *out) {
	occ := r.byFull[el.Get("from")]
	if occ == nil {
		o.add(errorReply(el, "modify", "not-acceptable", ""))
		return
	}
	v := formValues(f)
	if occ.role == roleModerator && v["muc#roomnick"] != "" {
		if v["muc#request_allow"] == "true" || v["muc#request_allow"] == "1" {
			if t := r.occupants[v["muc#roomnick"]]; t != nil && t.role == roleVisitor {
				t.role = roleParticipant
				s.broadcastPresence(r, t, "", nil, nil, o)
			}
		}
		return
	}
	if occ.role != roleVisitor || !s.allow(occ) {
		return
	}
	form := wire.New(NSData, "x", "type", "form")
	form.Add(wire.New(NSData, "title").AddText("Voice request"))
	form.Add(field("FORM_TYPE", "hidden", NSRequest))
	form.Add(field("muc#role", "list-single", roleParticipant))
	form.Add(field("muc#jid", "jid-single", occ.bare))
	form.Add(field("muc#roomnick", "text-single", occ.nick))
	form.Add(field("muc#request_allow", "boolean", "false"))
	for _, mod := range r.occupants {
		if mod.role != roleModerator {
			continue
		}
		for _, to := range mod.sessions {
			m := wire.New(wire.NSClient, "message", "from", s.roomJID(r.local), "to", to, "id", randomID())
			m.Add(form)
			o.add(m)
		}
	}
}

// serverGone reports whether an error stanza says the server of its
// sender's address cannot be reached (RFC 6120 §8.3.3.15, §8.3.3.16):
// only servers say that, never a client.
func serverGone(el *wire.Element) bool {
	e := el.Child(wire.NSClient, "error")
	if e == nil {
		return false
	}
	return e.Child(wire.NSStanzas, "remote-server-timeout") != nil || e.Child(wire.NSStanzas, "remote-server-not-found") != nil
}
