package c2s

import (
	"context"
	"errors"
	"strconv"

	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

const nsRoster = "jabber:iq:roster"

const (
	maxRosterName   = 1024
	maxRosterGroups = 64
)

// hiddenItem reports whether an item only records an inbound subscription
// request: RFC 6121 §3.1.3 keeps such requests out of the roster until the
// user answers.
func hiddenItem(it *store.RosterItem) bool {
	return it.Sub == store.SubNone && !it.AskOut && it.PendingIn && it.Name == "" && len(it.Groups) == 0
}

func rosterItemEl(it *store.RosterItem) *wire.Element {
	e := wire.New(nsRoster, "item", "jid", it.JID, "name", it.Name, "subscription", it.Sub.String())
	if it.AskOut {
		e.Set("ask", "subscribe")
	}
	if it.PreApproved {
		e.Set("approved", "true")
	}
	for _, g := range it.Groups {
		e.Add(wire.New(nsRoster, "group").AddText(g))
	}
	return e
}

// rosterIQ answers roster get and set (RFC 6121 §2.1.3, §2.1.5) with
// versioning (XEP-0237, RFC 6121 §2.6).
func (s *Server) rosterIQ(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	q := iq.Payload(el)
	user, bare := c.User, c.User+"@"+c.Domain
	switch el.Get("type") {
	case "get":
		if c.Mark != nil {
			c.Mark(iq.FlagRoster, true)
		}
		ver, items, err := s.db.Roster(ctx, user)
		if err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		vs := strconv.FormatUint(ver, 10)
		if q.Has("ver") && q.Get("ver") == vs {
			// Up to date: empty result, changes come as pushes.
			return iq.Result(el)
		}
		res := wire.New(nsRoster, "query", "ver", vs)
		for i := range items {
			if !hiddenItem(&items[i]) {
				res.Add(rosterItemEl(&items[i]))
			}
		}
		return iq.Result(el, res)
	case "set":
		items := q.Elements()
		if len(items) != 1 || items[0].Local != "item" {
			return iq.Error(el, "modify", "bad-request")
		}
		item := items[0]
		a, err := parseAddr(item.Get("jid"))
		if err != nil || a.resource != "" {
			return iq.Error(el, "modify", "bad-request")
		}
		contact := a.bare()
		if contact == bare {
			return iq.Error(el, "cancel", "not-allowed")
		}
		if item.Get("subscription") == "remove" {
			return s.rosterRemove(ctx, user, el, contact)
		}
		name := item.Get("name")
		var groups []string
		seen := map[string]bool{}
		for _, g := range item.Elements() {
			if g.Local != "group" || g.Space != nsRoster {
				continue
			}
			t := g.Text()
			if t == "" {
				return iq.Error(el, "modify", "not-acceptable")
			}
			if !seen[t] {
				seen[t] = true
				groups = append(groups, t)
			}
		}
		if len(name) > maxRosterName || len(groups) > maxRosterGroups {
			return iq.Error(el, "modify", "not-acceptable")
		}
		it, ver, err := s.db.UpdateRosterItem(ctx, user, contact, func(it *store.RosterItem, _ bool) (bool, error) {
			it.Name, it.Groups = name, groups
			return true, nil
		})
		if errors.Is(err, store.ErrQuota) {
			// The per-user cap on roster items (store.Limits.RosterItems).
			return iq.Error(el, "cancel", "policy-violation")
		}
		if err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		s.rosterPush(user, ver, &it, false)
		return iq.Result(el)
	}
	return iq.Error(el, "modify", "bad-request")
}

// rosterRemove deletes an item and cancels subscriptions both ways
// (RFC 6121 §2.5.2).
func (s *Server) rosterRemove(ctx context.Context, user string, el *wire.Element, contact string) *wire.Element {
	it, err := s.db.RosterItem(ctx, user, contact)
	if err != nil {
		return iq.Error(el, "cancel", "item-not-found")
	}
	ver, err := s.db.DeleteRosterItem(ctx, user, contact)
	if err != nil {
		return iq.Error(el, "wait", "internal-server-error")
	}
	s.rosterPush(user, ver, &store.RosterItem{JID: contact}, true)
	if it.Sub == store.SubTo || it.Sub == store.SubBoth || it.AskOut {
		s.inboundSubscription(ctx, user+"@"+s.cfg.Domain, contact, "unsubscribe")
	}
	if it.Sub == store.SubFrom || it.Sub == store.SubBoth || it.PendingIn {
		s.sendUnavailableFrom(user, contact)
		s.inboundSubscription(ctx, user+"@"+s.cfg.Domain, contact, "unsubscribed")
	}
	return iq.Result(el)
}

// rosterPush sends a roster push (RFC 6121 §2.1.6) to every interested
// session of user.
func (s *Server) rosterPush(user string, ver uint64, it *store.RosterItem, removed bool) {
	if !removed && hiddenItem(it) {
		return
	}
	item := rosterItemEl(it)
	if removed {
		item = wire.New(nsRoster, "item", "jid", it.JID, "subscription", "remove")
	}
	push := wire.New(wire.NSClient, "iq", "type", "set", "id", "push-"+newID())
	push.Add(wire.New(nsRoster, "query", "ver", strconv.FormatUint(ver, 10)).Add(item))
	s.pushInterested(user, push)
}
