package presence

import (
	"context"

	"chatbx/server/wire"
)

// MaxDirected bounds the directed-presence targets remembered per
// session; presence to more still goes out, but they are not told when
// the session goes unavailable.
const MaxDirected = 1000

// Track records in set (a session's directed-presence targets, kept by
// the session) that presence of type typ went to jid: available presence
// adds it, anything else removes it (RFC 6121 §4.6.2). It returns the
// set, allocated on first use.
func Track(set map[string]bool, jid, typ string) map[string]bool {
	if typ == "" {
		if set == nil {
			set = map[string]bool{}
		}
		if len(set) < MaxDirected {
			set[jid] = true
		}
		return set
	}
	delete(set, jid)
	return set
}

// Directed sends presence to one JID (RFC 6121 §4.6): a local account
// through Deliver, a local service (a group chat room) or a remote
// domain through its handler.
func (r *Rules[S]) Directed(ctx context.Context, el *wire.Element, to JID) {
	if !r.h.IsHost(to.Domain) {
		r.h.Route(ctx, el, to.Domain)
		return
	}
	r.Deliver(ctx, el, to.String())
}

// Withdraw sends a copy of el (unavailable presence) from the full JID
// from to every JID in set, the session's directed-presence targets, local
// services such as group chat rooms included (RFC 6121 §4.6.3). The
// caller forgets the set.
func (r *Rules[S]) Withdraw(ctx context.Context, from string, set map[string]bool, el *wire.Element) {
	for j := range set {
		a, err := r.h.Parse(j)
		if err != nil {
			continue
		}
		c := el.Copy()
		c.Set("from", from)
		c.Set("to", j)
		if r.h.IsHost(a.Domain) {
			r.Deliver(ctx, c, j)
		} else {
			r.h.Route(ctx, c, a.Domain)
		}
	}
}
