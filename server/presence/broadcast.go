package presence

import (
	"context"

	"chatbx/server/wire"
	"chatbx/store"
)

// Broadcast sends el (from the full JID of user's session from) to the
// user's contacts with a subscription from the user, except those the
// user blocked (XEP-0191 §3.3), and to the user's available sessions,
// from included (RFC 6121 §4.2.2, §4.4.2, §4.5.2).
func (r *Rules[S]) Broadcast(ctx context.Context, user string, from S, el *wire.Element) {
	_, items, err := r.db.Roster(ctx, user)
	if err != nil {
		return
	}
	for i := range items {
		it := &items[i]
		if (it.Sub == store.SubFrom || it.Sub == store.SubBoth) && !r.h.Blocked(ctx, user, it.JID) {
			c := el.Copy()
			c.Set("to", it.JID)
			r.Deliver(ctx, c, it.JID)
		}
	}
	// RFC 6121 §4.2.2, §4.4.2: every available resource of the user,
	// including the one that sent it, gets the presence.
	for _, t := range r.h.Sessions(user) {
		if r.h.Available(t) || t == from {
			c := el.Copy()
			c.Set("to", r.h.Full(t))
			r.h.Send(t, c)
		}
	}
}

// Deliver routes a presence stanza to a JID: a bare local JID reaches
// every available session, a full one that session (unless the
// recipient blocked the sender); another domain gets it through its
// handler (Host.Route).
func (r *Rules[S]) Deliver(ctx context.Context, el *wire.Element, to string) {
	a, err := r.h.Parse(to)
	if err == nil && !r.h.IsHost(a.Domain) {
		// Federation (or a local service): handed to the domain's handler.
		if el.Get("to") != to {
			el = el.Copy()
			el.Set("to", to)
		}
		r.h.Route(ctx, el, a.Domain)
		return
	}
	if err != nil || !r.localUser(a) {
		return
	}
	if from := el.Get("from"); from != "" && r.h.Blocked(ctx, a.Local, from) {
		return
	}
	for _, t := range r.h.Sessions(a.Local) {
		if a.Resource != "" && r.h.Resource(t) != a.Resource {
			continue
		}
		if a.Resource == "" && !r.h.Available(t) {
			continue
		}
		r.h.Send(t, el)
	}
}

// UnavailableFrom sends unavailable presence from each of user's
// available sessions to contact (after a subscription from user ended).
func (r *Rules[S]) UnavailableFrom(user, contact string) {
	for _, t := range r.h.Sessions(user) {
		if r.h.Available(t) {
			r.Deliver(context.Background(),
				wire.New(wire.NSClient, "presence", "type", "unavailable", "from", r.h.Full(t), "to", contact), contact)
		}
	}
}

// PresenceFrom sends each available session's presence of user to
// contact (after contact's subscription was approved, or the contact
// was unblocked).
func (r *Rules[S]) PresenceFrom(user, contact string) {
	for _, t := range r.h.Sessions(user) {
		if p := r.h.Last(t); p != nil {
			c := p.Copy()
			c.Set("to", contact)
			r.Deliver(context.Background(), c, contact)
		}
	}
}

// BlocklistChanged applies XEP-0191 §3.3 and §3.4 to presence after user
// blocked or unblocked JIDs: a newly blocked local contact receives
// unavailable presence from the user's available sessions (it must not
// learn of them any more), and an unblocked contact with a subscription
// from the user gets the current presence again.
func (r *Rules[S]) BlocklistChanged(user string, blocked, unblocked []string) {
	for _, j := range blocked {
		a, err := r.h.Parse(j)
		if err != nil || !r.localUser(a) {
			continue
		}
		for _, t := range r.h.Sessions(user) {
			if r.h.Available(t) {
				p := wire.New(wire.NSClient, "presence", "type", "unavailable", "from", r.h.Full(t), "to", a.String())
				// The contact has not blocked the user, so this is an
				// ordinary delivery; the user's later presence stops.
				for _, c := range r.h.Sessions(a.Local) {
					if (a.Resource == "" && r.h.Available(c)) || r.h.Resource(c) == a.Resource {
						r.h.Send(c, p)
					}
				}
			}
		}
	}
	for _, j := range unblocked {
		a, err := r.h.Parse(j)
		if err != nil || !r.localUser(a) {
			continue
		}
		it, err := r.db.RosterItem(context.Background(), user, a.Bare())
		if err == nil && (it.Sub == store.SubFrom || it.Sub == store.SubBoth) {
			r.PresenceFrom(user, a.Bare())
		}
	}
}
