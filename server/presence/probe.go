package presence

import (
	"context"

	"chatbx/server/wire"
	"chatbx/store"
)

// Initial runs after session ss of user sent its first available
// presence (RFC 6121 §4.2): ss learns its contacts' presence (the probe
// of §4.3, answered locally for local contacts), receives the pending
// subscription requests (§3.1.3) and the presence of the user's other
// resources. Offline messages are the caller's (they depend on the
// session's priority); it returns the error of reading the roster, when
// nothing was done.
func (r *Rules[S]) Initial(ctx context.Context, user string, ss S) error {
	_, items, err := r.db.Roster(ctx, user)
	if err != nil {
		return err
	}
	bare := r.bare(user)
	for i := range items {
		it := &items[i]
		if it.Sub == store.SubTo || it.Sub == store.SubBoth {
			r.Probe(ctx, user, ss, it.JID)
		}
		if it.PendingIn {
			r.h.Send(ss, wire.New(wire.NSClient, "presence", "type", "subscribe", "from", it.JID, "to", bare))
		}
	}
	// The user's own other resources.
	full := r.h.Full(ss)
	for _, t := range r.h.Sessions(user) {
		if t != ss {
			if p := r.h.Last(t); p != nil {
				c := p.Copy()
				c.Set("to", full)
				r.h.Send(ss, c)
			}
		}
	}
	return nil
}

// Probe gives session ss of user the current presence of contact (a bare
// JID): a local contact's available sessions answer at once; a remote
// contact's server gets a probe from the user's bare JID (RFC 6121
// §4.3.1). Nothing happens for a contact the user blocked.
func (r *Rules[S]) Probe(ctx context.Context, user string, ss S, contact string) {
	a, err := r.h.Parse(contact)
	if err == nil && r.isRemote(a) && !r.h.Blocked(ctx, user, contact) {
		r.h.Route(ctx, wire.New(wire.NSClient, "presence", "type", "probe", "from", r.bare(user), "to", a.Bare()), a.Domain)
		return
	}
	if err != nil || !r.localUser(a) {
		return
	}
	if r.h.Blocked(ctx, user, contact) {
		return
	}
	full := r.h.Full(ss)
	for _, t := range r.h.Sessions(a.Local) {
		if p := r.h.Last(t); p != nil {
			c := p.Copy()
			c.Set("to", full)
			r.h.Send(ss, c)
		}
	}
}

// RemoteProbe answers a presence probe from a remote contact to a local
// user (RFC 6121 §4.3.2): the user's current presence when the contact
// is subscribed to it, unavailable when no session is available,
// unsubscribed when the contact has no subscription (nothing is
// revealed; a blocked contact gets nothing at all).
func (r *Rules[S]) RemoteProbe(ctx context.Context, from, to JID) {
	send := func(p *wire.Element) { r.h.Route(ctx, p, from.Domain) }
	it, err := r.db.RosterItem(ctx, to.Local, from.Bare())
	if err != nil || (it.Sub != store.SubFrom && it.Sub != store.SubBoth) || r.h.Blocked(ctx, to.Local, from.Bare()) {
		if err == nil && !r.h.Blocked(ctx, to.Local, from.Bare()) {
			send(wire.New(wire.NSClient, "presence", "type", "unsubscribed", "from", to.Bare(), "to", from.Bare()))
		}
		return
	}
	sent := false
	for _, t := range r.h.Sessions(to.Local) {
		if p := r.h.Last(t); p != nil {
			c := p.Copy()
			c.Set("to", from.String())
			send(c)
			sent = true
		}
	}
	if !sent {
		send(wire.New(wire.NSClient, "presence", "type", "unavailable", "from", to.Bare(), "to", from.String()))
	}
}
