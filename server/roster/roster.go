// Package roster implements rosters (RFC 6121 §2): jabber:iq:roster get
// and set, roster versioning (RFC 6121 §2.6, XEP-0237) and roster pushes
// (§2.1.6), as a handler in the registry (package mux).
//
// The roster lives in the store (store.DB: one transaction per change).
// The subscription state machine (RFC 6121 §3, Appendix A) is here as
// pure functions over an item (Outbound, Inbound, subscription.go); the
// c2s layer runs them inside its roster transactions and does the
// routing they call for, since that needs the sessions and presence,
// and builds the pushes they cause with Push. Removing an item (§2.5.2)
// hands the subscriptions it cancels to the Presence interface.
package roster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/wire"
	"chatbx/store"
)

// NS is the roster namespace.
const NS = "jabber:iq:roster"

// Limits on one item a client sets: its name's bytes and its groups.
const (
	MaxName   = 1024
	MaxGroups = 64
)

// Features are the disco features of rosters: the roster itself,
// versioning (RFC 6121 §2.6) and subscription pre-approval (§3.4).
var Features = []string{NS, "urn:xmpp:features:rosterver", "urn:xmpp:features:pre-approval"}

// Store is the part of store.DB the roster uses.
type Store interface {
	Roster(ctx context.Context, user string) (ver uint64, items []store.RosterItem, err error)
	RosterItem(ctx context.Context, user, jid string) (store.RosterItem, error)
	DeleteRosterItem(ctx context.Context, user, jid string) (ver uint64, err error)
	UpdateRosterItem(ctx context.Context, user, jid string, fn func(it *store.RosterItem, exists bool) (keep bool, err error)) (store.RosterItem, uint64, error)
}

// Presence is the presence side of removing a roster item (RFC 6121
// §2.5.2): the subscriptions it had are cancelled both ways, with the
// unavailable presence and the contact's roster changes that implies.
// The c2s layer implements it.
type Presence interface {
	// RosterRemoved runs after user removed contact (a bare JID) from
	// the roster; before is the item as it was.
	RosterRemoved(ctx context.Context, user, contact string, before store.RosterItem)
}

// Handler answers roster IQs. It is safe for concurrent use.
type Handler struct {
	db       Store
	presence Presence
}

// New returns a roster handler over db; presence may be nil (tests): a
// removal then cancels nothing.
func New(db Store, presence Presence) *Handler {
	return &Handler{db: db, presence: presence}
}

// Register adds the roster IQ and its features to r. A roster query to
// another account's bare JID is refused with forbidden (RFC 6121
// §2.1.5).
func (h *Handler) Register(r *mux.Registry) {
	r.IQ(NS, "query", mux.Route{Handler: h.Handle, Refuse: "forbidden"})
	r.Feature(Features...)
}

// Hidden reports whether an item only records an inbound subscription
// request: RFC 6121 §3.1.3 keeps such requests out of the roster until
// the user answers.
func Hidden(it *store.RosterItem) bool {
	return it.Sub == store.SubNone && !it.AskOut && it.PendingIn && it.Name == "" && len(it.Groups) == 0
}

// Item returns the <item/> element for it (RFC 6121 §2.1.2).
func Item(it *store.RosterItem) *wire.Element {
	e := wire.New(NS, "item", "jid", it.JID, "name", it.Name, "subscription", it.Sub.String())
	if it.AskOut {
		e.Set("ask", "subscribe")
	}
	if it.PreApproved {
		e.Set("approved", "true")
	}
	for _, g := range it.Groups {
		e.Add(wire.New(NS, "group").AddText(g))
	}
	return e
}

// Push returns the roster push (RFC 6121 §2.1.6) for a changed or
// removed item at roster version ver, without a to (each session's
// copy gets its own), or nil when the change is not shown to clients
// (a hidden item).
func Push(ver uint64, it *store.RosterItem, removed bool) *wire.Element {
	if !removed && Hidden(it) {
		return nil
	}
	item := Item(it)
	if removed {
		item = wire.New(NS, "item", "jid", it.JID, "subscription", "remove")
	}
	var b [8]byte
	rand.Read(b[:])
	push := wire.New(wire.NSClient, "iq", "type", "set", "id", "push-"+hex.EncodeToString(b[:]))
	return push.Add(wire.New(NS, "query", "ver", strconv.FormatUint(ver, 10)).Add(item))
}

// Handle answers roster get and set (RFC 6121 §2.1.3, §2.1.5) with
// versioning (XEP-0237, RFC 6121 §2.6). A get switches the session's
// roster pushes on (iq.FlagRoster); a set pushes the change to those
// sessions through c.Push.
func (h *Handler) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	q := iq.Payload(el)
	user, bare := c.User, c.User+"@"+c.Domain
	switch el.Get("type") {
	case "get":
		if c.Mark != nil {
			c.Mark(iq.FlagRoster, true)
		}
		ver, items, err := h.db.Roster(ctx, user)
		if err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		vs := strconv.FormatUint(ver, 10)
		if q.Has("ver") && q.Get("ver") == vs {
			// Up to date: empty result, changes come as pushes.
			return iq.Result(el)
		}
		res := wire.New(NS, "query", "ver", vs)
		for i := range items {
			if !Hidden(&items[i]) {
				res.Add(Item(&items[i]))
			}
		}
		return iq.Result(el, res)
	case "set":
		items := q.Elements()
		if len(items) != 1 || items[0].Local != "item" {
			return iq.Error(el, "modify", "bad-request")
		}
		item := items[0]
		j, err := jid.Parse(item.Get("jid"))
		if err != nil || j.Resourcepart() != "" {
			return iq.Error(el, "modify", "bad-request")
		}
		contact := j.String()
		if contact == bare {
			return iq.Error(el, "cancel", "not-allowed")
		}
		if item.Get("subscription") == "remove" {
			return h.remove(ctx, c, el, contact)
		}
		name := item.Get("name")
		var groups []string
		seen := map[string]bool{}
		for _, g := range item.Elements() {
			if g.Local != "group" || g.Space != NS {
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
		if len(name) > MaxName || len(groups) > MaxGroups {
			return iq.Error(el, "modify", "not-acceptable")
		}
		it, ver, err := h.db.UpdateRosterItem(ctx, user, contact, func(it *store.RosterItem, _ bool) (bool, error) {
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
		h.push(c, Push(ver, &it, false))
		return iq.Result(el)
	}
	return iq.Error(el, "modify", "bad-request")
}

// remove deletes an item and cancels subscriptions both ways
// (RFC 6121 §2.5.2).
func (h *Handler) remove(ctx context.Context, c iq.Context, el *wire.Element, contact string) *wire.Element {
	it, err := h.db.RosterItem(ctx, c.User, contact)
	if err != nil {
		return iq.Error(el, "cancel", "item-not-found")
	}
	ver, err := h.db.DeleteRosterItem(ctx, c.User, contact)
	if err != nil {
		return iq.Error(el, "wait", "internal-server-error")
	}
	h.push(c, Push(ver, &store.RosterItem{JID: contact}, true))
	if h.presence != nil {
		h.presence.RosterRemoved(ctx, c.User, contact, it)
	}
	return iq.Result(el)
}

func (h *Handler) push(c iq.Context, p *wire.Element) {
	if p != nil && c.Push != nil {
		c.Push(p)
	}
}
