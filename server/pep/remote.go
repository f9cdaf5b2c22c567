package pep

import (
	"context"
	"strings"
	"sync"

	"chatbx/server/c2s"
	"chatbx/server/wire"
	"chatbx/store"
)

// Federation (XEP-0163 with server-to-server). An owner's server does not
// know the caps of a contact's sessions on another server, so the work is
// split as XEP-0163 §4.3.2 allows:
//
//   - the owner's server sends notifications to the contact's bare JID
//     (notify), and the last items to a contact's full JID when its
//     available presence arrives (remotePresence, §4.3.3);
//   - the contact's server delivers a notification from another server
//     only to the sessions whose verified caps list node+notify
//     (remoteEvent), as it does for local owners.
//
// Privacy: which remote full JIDs got the last items is kept in memory
// only, bounded (maxRemoteSeen), forgotten on unavailable presence.

// maxRemoteSeen bounds the remote sessions remembered; over it all are
// forgotten at once (the cost: last items sent again).
const maxRemoteSeen = 10000

// remoteSeen remembers, per "owner full-JID", the caps version of the
// last presence that brought the last items.
type remoteSeen struct {
	mu sync.Mutex
	m  map[string]string
}

// first reports whether key's presence with caps ver is new (first, or
// caps changed) and records it.
func (r *remoteSeen) first(key, ver string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[key]; ok && old == ver {
		return false
	}
	if r.m == nil || len(r.m) >= maxRemoteSeen {
		r.m = map[string]string{}
	}
	r.m[key] = ver
	return true
}

func (r *remoteSeen) forget(key string) {
	r.mu.Lock()
	delete(r.m, key)
	r.mu.Unlock()
}

// forgetOwner drops what is remembered for owner's contacts.
func (r *remoteSeen) forgetOwner(owner string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.m {
		if strings.HasPrefix(k, owner+" ") {
			delete(r.m, k)
		}
	}
}

// remoteEvent is the c2s hook for PEP notifications from other servers:
// a session takes one when its caps asked for one of the event's nodes.
func (p *PEP) remoteEvent(st c2s.SessionState, el *wire.Element) bool {
	ev := el.Child(NSEvent, "event")
	if ev == nil {
		return true
	}
	for _, c := range ev.Elements() {
		if n := c.Get("node"); n != "" && p.wants(&st, n) {
			return true
		}
	}
	return false
}

// remotePresence is the c2s hook for presence from a remote full JID to
// user: on the first available presence of that session (or new caps),
// a contact with a subscription to user's presence gets the last item of
// each of user's nodes it may see (send_last_published_item
// on_sub_and_presence); its server filters by caps.
func (p *PEP) remotePresence(ctx context.Context, user, from string, el *wire.Element) {
	key := user + " " + from
	if el.Get("type") == "unavailable" {
		p.remote.forget(key)
		return
	}
	ver := ""
	if c := el.Child(nsCaps, "c"); c != nil {
		ver = c.Get("ver")
	}
	if p.sess == nil || !p.remote.first(key, ver) {
		return
	}
	bare, _, _ := strings.Cut(from, "/")
	if p.isBlocked(ctx, user, bare) {
		return
	}
	it, err := p.db.RosterItem(ctx, user, bare)
	if err != nil || (it.Sub != store.SubFrom && it.Sub != store.SubBoth) {
		return
	}
	nodes, last, err := p.db.PEPNodes(ctx, user)
	if err != nil {
		return
	}
	for i := range nodes {
		n := &nodes[i]
		if last[i] == nil || n.SendLast != "on_sub_and_presence" || !allowed(n, &it) {
			continue
		}
		ev := wire.New(NSEvent, "items", "node", n.Name).Add(itemElement(NSEvent, *last[i]))
		p.sess.SendTo(p.event(user, from, ev))
	}
}

// wants reports whether the session st asked (by its verified caps) for
// notifications of node. Caps not known yet are asked for (within the
// cache's bounds), so the next event finds them; this one is not
// delivered to that session.
func (p *PEP) wants(st *c2s.SessionState, node string) bool {
	if !st.Available || st.CapsHash == "" {
		return false
	}
	if f, ok := p.caps.lookup(st.CapsHash, st.CapsVer); ok {
		return hasNotify(f, node)
	}
	if p.sess != nil && p.caps.mayQuery(st.JID) {
		jid := st.JID
		p.caps.resolve(st.CapsHash, st.CapsVer, p.query(*st), func(_ []string, ok bool) {
			if !ok {
				p.caps.failed(jid)
			}
		})
	}
	return false
}
