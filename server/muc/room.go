package muc

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"chatbx/server/wire"
	"chatbx/store"
)

// Affiliations and roles (XEP-0045 §5).
const (
	affOwner   = "owner"
	affAdmin   = "admin"
	affMember  = "member"
	affOutcast = "outcast"
	affNone    = "none"

	roleModerator   = "moderator"
	roleParticipant = "participant"
	roleVisitor     = "visitor"
	roleNone        = "none"
)

func affRank(a string) int {
	switch a {
	case affOwner:
		return 4
	case affAdmin:
		return 3
	case affMember:
		return 2
	case affNone:
		return 1
	}
	return 0
}

// roomConfig is what the muc#roomconfig form sets.
type roomConfig struct {
	Name          string `json:"name,omitempty"`
	Description   string `json:"desc,omitempty"`
	Persistent    bool   `json:"persistent,omitempty"`
	Public        bool   `json:"public,omitempty"`
	MembersOnly   bool   `json:"members_only,omitempty"`
	Moderated     bool   `json:"moderated,omitempty"`
	Password      string `json:"password,omitempty"`
	MaxUsers      int    `json:"max_users,omitempty"`
	Whois         string `json:"whois,omitempty"` // moderators, anyone
	HistoryLength int    `json:"history"`
	AllowPM       string `json:"allow_pm,omitempty"` // anyone, participants, moderators, none
	AllowInvites  bool   `json:"allow_invites,omitempty"`
	ChangeSubject bool   `json:"change_subject,omitempty"`
	Archive       bool   `json:"archive,omitempty"`
}

// room is one room. Guarded by Service.mu.
type room struct {
	local       string
	cfg         roomConfig
	affs        map[string]string // bare JID → affiliation (never "none")
	nicks       map[string]string // bare JID → registered nick
	subject     string
	subjectNick string
	created     time.Time
	locked      bool // reserved room awaiting its configuration

	occupants map[string]*occupant // by nick
	byFull    map[string]*occupant // by session full JID
	history   []hist
}

// occupant is a participant in a room: one nick, one bare JID, one or
// more sessions (multi-session nicks, XEP-0045 §7.2.9).
type occupant struct {
	nick     string
	bare     string
	sessions []string
	role     string
	pres     *wire.Element // last available presence, payload source
	occID    string
	tokens   float64
	last     time.Time
}

// hist is one message of the in-memory history.
type hist struct {
	at    time.Time
	occID string
	el    *wire.Element // as broadcast, without to
}

// storedRoom is the stored state of a persistent room.
type storedRoom struct {
	Config      roomConfig        `json:"config"`
	Affs        map[string]string `json:"affs,omitempty"`
	Nicks       map[string]string `json:"nicks,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	SubjectNick string            `json:"subject_nick,omitempty"`
	Created     time.Time         `json:"created"`
}

func (s *Service) newRoom(local string) *room {
	return &room{
		local: local,
		cfg: roomConfig{
			Whois: "moderators", HistoryLength: s.cfg.HistoryDefault, AllowPM: "anyone",
			AllowInvites: false, ChangeSubject: false, MaxUsers: s.cfg.MaxOccupants,
		},
		affs:      map[string]string{},
		nicks:     map[string]string{},
		created:   s.cfg.Now(),
		occupants: map[string]*occupant{},
		byFull:    map[string]*occupant{},
	}
}

func (s *Service) decodeRoom(local string, b []byte) (*room, error) {
	var st storedRoom
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	r := s.newRoom(local)
	r.cfg = st.Config
	r.cfg.Persistent = true
	if r.cfg.MaxUsers <= 0 || r.cfg.MaxUsers > s.cfg.MaxOccupants {
		r.cfg.MaxUsers = s.cfg.MaxOccupants // the operator's cap may have changed
	}
	if r.cfg.Whois != "anyone" {
		r.cfg.Whois = "moderators"
	}
	if r.cfg.AllowPM == "" {
		r.cfg.AllowPM = "anyone"
	}
	r.cfg.HistoryLength = min(max(r.cfg.HistoryLength, 0), s.cfg.MaxHistory)
	if st.Affs != nil {
		r.affs = st.Affs
	}
	if st.Nicks != nil {
		r.nicks = st.Nicks
	}
	r.subject, r.subjectNick, r.created = st.Subject, st.SubjectNick, st.Created
	return r, nil
}

func (r *room) encode() ([]byte, []string) {
	st := storedRoom{Config: r.cfg, Affs: r.affs, Nicks: r.nicks, Subject: r.subject, SubjectNick: r.subjectNick, Created: r.created}
	b, _ := json.Marshal(st)
	return b, r.owners()
}

func (r *room) owners() []string {
	var o []string
	for j, a := range r.affs {
		if a == affOwner {
			o = append(o, j)
		}
	}
	slices.Sort(o)
	return o
}

// save stores a persistent room; it reports ErrQuota (the room's stored
// state is capped) to the caller.
func (s *Service) save(ctx context.Context, r *room) error {
	if !r.cfg.Persistent {
		return nil
	}
	data, owners := r.encode()
	err := s.db.PutMUCRoom(ctx, store.MUCRoom{JID: s.roomJID(r.local), Owners: owners, Data: data}, s.cfg.StateBytes)
	if err != nil && !errors.Is(err, store.ErrQuota) {
		s.log.Error().Err(err).Msg("store room")
	}
	return err
}

// affiliation returns bare's affiliation (service admins are owners).
func (s *Service) affiliation(r *room, bare string) string {
	if s.isAdmin(bare) {
		return affOwner
	}
	if a, ok := r.affs[bare]; ok {
		return a
	}
	return affNone
}

// defaultRole is the role an occupant with affiliation aff gets.
func (r *room) defaultRole(aff string) string {
	switch aff {
	case affOwner, affAdmin:
		return roleModerator
	case affMember:
		return roleParticipant
	}
	if r.cfg.Moderated {
		return roleVisitor
	}
	return roleParticipant
}

// canSeeJIDs reports whether viewer sees real JIDs (whois).
func (r *room) canSeeJIDs(viewer *occupant) bool {
	return r.cfg.Whois == "anyone" || (viewer != nil && viewer.role == roleModerator)
}

func (r *room) sessionsOf(bare string) []*occupant {
	var out []*occupant
	for _, o := range r.occupants {
		if o.bare == bare {
			out = append(out, o)
		}
	}
	return out
}

// presenceOf builds the presence of occupant o as viewer sees it, with the
// status codes given. typ is "" or "unavailable".
func (s *Service) presenceOf(r *room, o *occupant, viewer *occupant, typ string, codes []int, extra ...*wire.Element) *wire.Element {
	p := wire.New(wire.NSClient, "presence", "from", s.roomJID(r.local)+"/"+o.nick, "type", typ)
	if typ == "" && o.pres != nil {
		for _, c := range o.pres.Children {
			if c.El == nil {
				continue
			}
			switch c.El.Space {
			case NS, NSUser, NSOccupant:
				continue
			}
			if c.El.Local == "error" {
				continue
			}
			p.Add(c.El)
		}
	}
	x := wire.New(NSUser, "x")
	item := wire.New(NSUser, "item", "affiliation", s.affiliation(r, o.bare), "role", o.role)
	if typ == "unavailable" {
		item.Set("role", roleNone)
	}
	if r.canSeeJIDs(viewer) || viewer == o {
		if len(o.sessions) > 0 {
			item.Set("jid", o.sessions[0])
		} else {
			item.Set("jid", o.bare)
		}
	}
	for _, e := range extra {
		if e.Local == "item-child" {
			item.Add(e.Elements()...)
		} else {
			x.Add(e)
		}
	}
	x.Children = append([]wire.Node{{El: item}}, x.Children...)
	if viewer == o {
		codes = append(codes, 110)
		if r.cfg.Whois == "anyone" {
			codes = append(codes, 100)
		}
	}
	slices.Sort(codes)
	codes = slices.Compact(codes)
	for _, c := range codes {
		x.Add(wire.New(NSUser, "status", "code", strconv.Itoa(c)))
	}
	p.Add(x)
	p.Add(wire.New(NSOccupant, "occupant-id", "id", o.occID))
	return p
}

// broadcastPresence sends o's presence to every occupant's sessions (the
// occupant itself included, with 110).
func (s *Service) broadcastPresence(r *room, o *occupant, typ string, codes []int, selfCodes []int, o2 *out, extra ...*wire.Element) {
	for _, v := range r.occupants {
		c := codes
		if v == o {
			c = append(slices.Clone(codes), selfCodes...)
		}
		p := s.presenceOf(r, o, v, typ, slices.Clone(c), extra...)
		for _, to := range v.sessions {
			q := p.Copy()
			q.Set("to", to)
			o2.add(q)
		}
	}
	if _, in := r.occupants[o.nick]; !in || r.occupants[o.nick] != o {
		// o has left already: it still gets its own unavailable.
		p := s.presenceOf(r, o, o, typ, append(slices.Clone(codes), selfCodes...), extra...)
		for _, to := range o.sessions {
			q := p.Copy()
			q.Set("to", to)
			o2.add(q)
		}
	}
}

// removeOccupant takes o out of the room and tells everyone with codes;
// an empty temporary room goes away.
func (s *Service) removeOccupant(ctx context.Context, r *room, o *occupant, codes []int, o2 *out, extra ...*wire.Element) {
	delete(r.occupants, o.nick)
	for _, f := range o.sessions {
		delete(r.byFull, f)
	}
	s.broadcastPresence(r, o, "unavailable", codes, nil, o2, extra...)
	s.maybeGone(ctx, r)
}

// maybeGone forgets an empty temporary room (its history with it).
func (s *Service) maybeGone(ctx context.Context, r *room) {
	if len(r.occupants) > 0 || r.cfg.Persistent {
		return
	}
	delete(s.rooms, r.local)
	if r.cfg.Archive {
		// A temporary room's archive ends with the room.
		if err := s.deleteRoomData(ctx, s.roomJID(r.local)); err == nil {
			s.db.Scrub(context.WithoutCancel(ctx))
		}
	}
}

// destroy ends a room: every occupant gets unavailable presence with
// <destroy/> (alternate venue, reason), and its stored state and archive
// are deleted.
func (s *Service) destroy(ctx context.Context, r *room, alt, reason, password string, o2 *out) {
	d := wire.New(NSUser, "destroy", "jid", alt)
	if reason != "" {
		d.Add(wire.New(NSUser, "reason").AddText(reason))
	}
	if password != "" {
		d.Add(wire.New(NSUser, "password").AddText(password))
	}
	for _, o := range r.occupants {
		p := s.presenceOf(r, o, o, "unavailable", nil, d)
		for _, to := range o.sessions {
			q := p.Copy()
			q.Set("to", to)
			o2.add(q)
		}
	}
	r.occupants = map[string]*occupant{}
	r.byFull = map[string]*occupant{}
	r.history = nil
	delete(s.rooms, r.local)
	if err := s.deleteRoomData(ctx, s.roomJID(r.local)); err != nil {
		s.log.Error().Err(err).Msg("delete room")
	}
	if r.cfg.Archive {
		s.db.Scrub(context.WithoutCancel(ctx))
	}
}

// ownedBy counts the rooms bare owns.
func (s *Service) ownedBy(bare string) int {
	n := 0
	for _, r := range s.rooms {
		if r.affs[bare] == affOwner {
			n++
		}
	}
	return n
}
