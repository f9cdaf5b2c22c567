package muc

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"chatbx/server/wire"
	"chatbx/store"
)

// maxPage caps one MAM page on a room.
const maxPage = 100

// mam answers XEP-0313 queries on the room JID, when the room's owner
// switched archiving on. Who may read: whoever may join (members in a
// members-only room, never outcasts).
func (s *Service) mam(ctx context.Context, r *room, el, q *wire.Element, o *out) {
	if !r.cfg.Archive {
		o.add(errorReply(el, "cancel", "service-unavailable", "This room keeps no archive."))
		return
	}
	if !s.mayRead(r, el.Get("from")) {
		o.add(errorReply(el, "auth", "forbidden", ""))
		return
	}
	if el.Get("type") == "get" {
		x := wire.New(NSData, "x", "type", "form")
		x.Add(field("FORM_TYPE", "hidden", NSMAM), field("start", "text-single"), field("end", "text-single"))
		o.add(result(el, wire.New(NSMAM, "query").Add(x)))
		return
	}
	var aq store.MUCArchiveQuery
	aq.Max = maxPage
	if x := q.Child(NSData, "x"); x != nil {
		v := formValues(x)
		for _, k := range []string{"start", "end"} {
			raw := strings.TrimSpace(v[k])
			if raw == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil {
				o.add(errorReply(el, "modify", "bad-request", "Bad timestamp."))
				return
			}
			if k == "start" {
				aq.Start = t
			} else {
				aq.End = t
			}
		}
		if v["with"] != "" {
			// Filtering by sender would reveal who said what.
			o.add(errorReply(el, "modify", "bad-request", "with is not supported on rooms."))
			return
		}
	}
	flip := q.Child(NSMAM, "flip-page") != nil
	if set := q.Child(NSRSM, "set"); set != nil {
		if m := set.Child(NSRSM, "max"); m != nil {
			n, err := strconv.Atoi(strings.TrimSpace(m.Text()))
			if err != nil || n < 0 {
				o.add(errorReply(el, "modify", "bad-request", ""))
				return
			}
			aq.Max = min(n, maxPage)
		}
		if a := set.Child(NSRSM, "after"); a != nil {
			aq.After = strings.TrimSpace(a.Text())
		}
		if b := set.Child(NSRSM, "before"); b != nil {
			aq.Before = strings.TrimSpace(b.Text())
			aq.Last = aq.Before == ""
		}
	}
	room := s.roomJID(r.local)
	page, err := s.db.QueryMUCArchive(ctx, room, aq)
	if errors.Is(err, store.ErrArchiveID) {
		o.add(errorReply(el, "cancel", "item-not-found", ""))
		return
	}
	if err != nil {
		o.add(errorReply(el, "wait", "internal-server-error", ""))
		return
	}
	msgs := page.Messages
	if flip {
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
	}
	qid := q.Get("queryid")
	for _, m := range msgs {
		fwd, err := wire.Parse(m.Stanza)
		if err != nil {
			continue
		}
		fwd.Add(wire.New(NSSID, "stanza-id", "id", m.ID, "by", room))
		res := wire.New(NSMAM, "result", "queryid", qid, "id", m.ID).Add(
			wire.New(NSForward, "forwarded").Add(
				wire.New(NSDelay, "delay", "stamp", m.At.UTC().Format("2006-01-02T15:04:05.000000Z")),
				fwd))
		o.add(wire.New(wire.NSClient, "message", "to", el.Get("from"), "from", room, "id", randomID()).Add(res))
	}
	fin := wire.New(NSMAM, "fin")
	if page.Complete {
		fin.Set("complete", "true")
	}
	set := wire.New(NSRSM, "set")
	if len(page.Messages) > 0 {
		first := wire.New(NSRSM, "first").AddText(page.Messages[0].ID)
		if !aq.Last && aq.Before == "" {
			first.Set("index", strconv.Itoa(page.Index))
		}
		set.Add(first, wire.New(NSRSM, "last").AddText(page.Messages[len(page.Messages)-1].ID))
	}
	set.Add(wire.New(NSRSM, "count").AddText(strconv.Itoa(page.Count)))
	o.add(result(el, fin.Add(set)))
}

// mayRead reports whether the sender of a request may read what the room
// says (its archive, its subject): whoever may join without a secret
// (members in a members-only room), members, and occupants (who passed
// the password check); never outcasts.
func (s *Service) mayRead(r *room, from string) bool {
	aff := s.affiliation(r, bareOf(from))
	switch {
	case aff == affOutcast:
		return false
	case r.byFull[from] != nil || affRank(aff) >= affRank(affMember):
		return true
	}
	return !r.cfg.MembersOnly && r.cfg.Password == ""
}
