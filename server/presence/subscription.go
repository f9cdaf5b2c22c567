package presence

import (
	"context"
	"errors"

	"chatbx/server/roster"
	"chatbx/server/wire"
	"chatbx/store"
)

// Outbound handles a subscription stanza of type typ ("subscribe",
// "subscribed", "unsubscribe", "unsubscribed") that user sends about
// contact, a bare JID (RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4): the user's
// item changes in one transaction (roster.Outbound), the change is
// pushed, and the stanza goes on to the contact as Inbound, with the
// presence the change calls for.
func (r *Rules[S]) Outbound(ctx context.Context, user, contact, typ string) {
	var route bool
	var before store.RosterItem
	it, ver, err := r.db.UpdateRosterItem(ctx, user, contact, func(it *store.RosterItem, exists bool) (bool, error) {
		before = *it
		keep, rt := roster.Outbound(it, exists, typ)
		route = rt
		return keep, nil
	})
	if errors.Is(err, store.ErrQuota) {
		// The roster is full (store.Limits.RosterItems): not a fault.
		r.log.Warn().Msg("roster full")
		return
	}
	if err != nil {
		r.log.Error().Err(err).Msg("roster update")
		return
	}
	if roster.Changed(&it, &before) {
		r.h.RosterPush(user, ver, &it)
	}
	if !route {
		return
	}
	if typ == "unsubscribed" {
		r.UnavailableFrom(user, contact)
	}
	r.Inbound(ctx, r.bare(user), contact, typ)
	if typ == "subscribed" {
		r.PresenceFrom(user, contact)
	}
}

// Inbound delivers a subscription stanza from a bare JID (a local user
// or a remote contact) to contact and applies it to the contact's roster
// (RFC 6121 §3.1.3, §3.2.3, §3.3.3, §3.4): a remote contact's server gets
// the stanza; a local contact's item changes (roster.Inbound), is pushed,
// the stanza reaches the contact's available sessions when it changes
// something, and the server answers on the contact's behalf where the
// state machine says so (an approved or pre-approved request). A request
// to an unknown or locked account is answered unsubscribed; one from a
// JID the contact blocked is dropped.
func (r *Rules[S]) Inbound(ctx context.Context, from, contact, typ string) {
	a, err := r.h.Parse(contact)
	if err == nil && r.isRemote(a) {
		// Federation: the contact's server applies §3.1.3 and the rest.
		r.h.Route(ctx, wire.New(wire.NSClient, "presence", "type", typ, "from", from, "to", a.Bare()), a.Domain)
		return
	}
	if err != nil || !r.localUser(a) {
		return
	}
	if ok, _ := r.db.UserExists(ctx, a.Local); !ok {
		if typ == "subscribe" {
			// §3.1.3: no such account: answer unsubscribed on its behalf.
			r.Inbound(ctx, contact, from, "unsubscribed")
		}
		return
	}
	if r.h.Locked(a.Local) {
		// GDPR Art. 18: a locked account's roster is kept as it is; a
		// request is refused as for an unknown account.
		if typ == "subscribe" {
			r.Inbound(ctx, contact, from, "unsubscribed")
		}
		return
	}
	if r.h.Blocked(ctx, a.Local, from) {
		return
	}
	var deliver bool
	var autoReply string
	var before store.RosterItem
	it, ver, err := r.db.UpdateRosterItem(ctx, a.Local, from, func(it *store.RosterItem, exists bool) (bool, error) {
		before = *it
		keep, d, reply := roster.Inbound(it, exists, typ)
		deliver, autoReply = d, reply
		return keep, nil
	})
	if err != nil {
		return
	}
	if roster.Changed(&it, &before) {
		r.h.RosterPush(a.Local, ver, &it)
	}
	if deliver {
		p := wire.New(wire.NSClient, "presence", "type", typ, "from", from, "to", contact)
		for _, t := range r.h.Sessions(a.Local) {
			if r.h.Available(t) {
				r.h.Send(t, p)
			}
		}
	}
	if typ == "unsubscribe" && deliver {
		r.UnavailableFrom(a.Local, from)
	}
	if typ == "subscribed" && deliver {
		// a.Local now receives from's presence, and its PEP events.
		r.h.Subscribed(ctx, a.Local, from)
	}
	if autoReply != "" {
		r.Inbound(ctx, contact, from, autoReply)
		if autoReply == "subscribed" {
			r.PresenceFrom(a.Local, from)
		}
	}
}

// RosterRemoved cancels the subscriptions of a roster item user removed
// (RFC 6121 §2.5.2): the contact gets unsubscribe and unsubscribed as
// they apply, and unavailable presence from user's sessions. It
// implements roster.Presence.
func (r *Rules[S]) RosterRemoved(ctx context.Context, user, contact string, it store.RosterItem) {
	if it.Sub == store.SubTo || it.Sub == store.SubBoth || it.AskOut {
		r.Inbound(ctx, r.bare(user), contact, "unsubscribe")
	}
	if it.Sub == store.SubFrom || it.Sub == store.SubBoth || it.PendingIn {
		r.UnavailableFrom(user, contact)
		r.Inbound(ctx, r.bare(user), contact, "unsubscribed")
	}
}
