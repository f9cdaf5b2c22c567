package pep

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"chatbx/server/c2s"
	"chatbx/server/wire"
	"chatbx/store"
)

// deliver sends msg, a notification of node, to the session st of user
// if it is available and its verified caps list node+notify (XEP-0163
// §4.3.2). When the session's caps are not (or no longer) in the cache,
// they are asked again through the bounded disco#info path and msg is
// sent once they are known; a session whose query failed is not asked
// again for the query timeout.
func (p *PEP) deliver(st c2s.SessionState, node string, msg *wire.Element) {
	if !st.Available || st.CapsHash == "" {
		return
	}
	if f, ok := p.caps.lookup(st.CapsHash, st.CapsVer); ok {
		if hasNotify(f, node) {
			p.sess.SendTo(msg)
		}
		return
	}
	if !p.caps.mayQuery(st.JID) {
		return
	}
	p.caps.resolve(st.CapsHash, st.CapsVer, p.query(st), func(f []string, ok bool) {
		if !ok {
			p.caps.failed(st.JID)
			return
		}
		if hasNotify(f, node) {
			p.sess.SendTo(msg)
		}
	})
}

func hasNotify(features []string, node string) bool {
	_, found := slices.BinarySearch(features, node+"+notify")
	return found
}

// event returns a notification message from owner's bare JID to a full
// JID; payload is shared between messages and must not be changed.
func (p *PEP) event(owner, to string, payload *wire.Element) *wire.Element {
	m := wire.New(wire.NSClient, "message", "type", "headline", "from", p.bare(owner), "to", to, "id", randomID())
	return m.Add(wire.New(NSEvent, "event").Add(payload))
}

// localContact returns the localpart of a bare JID on this host.
func (p *PEP) localContact(jid string) (string, bool) {
	local, dom, ok := strings.Cut(jid, "@")
	if !ok || local == "" || dom != p.cfg.Domain {
		return "", false
	}
	return local, true
}

// notify sends an event about node n of owner to every interested session
// that may see it: the owner's, and those of contacts with a presence
// subscription to the owner (XEP-0163 §4.3.1), within the access model.
func (p *PEP) notify(ctx context.Context, owner string, n *store.PEPNode, payload *wire.Element) {
	if p.sess == nil {
		return
	}
	for _, st := range p.sess.SessionStates(owner) {
		p.deliver(st, n.Name, p.event(owner, st.JID, payload))
	}
	if n.Access == "whitelist" && len(n.Members) == 0 {
		return
	}
	_, roster, err := p.db.Roster(ctx, owner)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.cfg.Log.Error().Err(err).Msg("pep notify roster")
		}
		return
	}
	ownerBare := p.bare(owner)
	for i := range roster {
		it := &roster[i]
		if it.Sub != store.SubFrom && it.Sub != store.SubBoth {
			continue
		}
		local, ok := p.localContact(it.JID)
		if !ok && allowed(n, it) && strings.Contains(it.JID, "@") && !p.isBlocked(ctx, owner, it.JID) {
			// A contact on another server (federation): its server
			// delivers the headline to the contact's available
			// resources; their caps are not known here.
			p.sess.SendTo(p.event(owner, it.JID, payload))
			continue
		}
		if !ok || local == owner || !allowed(n, it) {
			continue
		}
		sessions := p.sess.SessionStates(local)
		if len(sessions) == 0 {
			continue
		}
		if p.isBlocked(ctx, owner, it.JID) || p.isBlocked(ctx, local, ownerBare) {
			continue
		}
		for _, st := range sessions {
			p.deliver(st, n.Name, p.event(owner, st.JID, payload))
		}
	}
}

func (p *PEP) isBlocked(ctx context.Context, user, jid string) bool {
	return p.blocked != nil && p.blocked(ctx, user, jid)
}

// presence is the c2s presence hook: on a session's first available
// presence, and when its caps change, it learns the caps' +notify
// features (from the cache or a disco#info query) and sends the last item
// of each node it is interested in (send_last_published_item
// on_sub_and_presence, XEP-0163 §4.3.3).
func (p *PEP) presence(ctx context.Context, user string, st c2s.SessionState, initial, capsChanged bool) {
	if !initial && !capsChanged {
		return
	}
	if st.CapsHash == "" {
		p.caps.unpin(st.JID)
		return
	}
	// The session's caps stay cached while it is connected.
	if p.caps.pin(user, st.JID, st.CapsHash, st.CapsVer) {
		p.caps.sweep(p.alive)
	}
	if _, ok := p.caps.lookup(st.CapsHash, st.CapsVer); !ok && !p.caps.mayQuery(st.JID) {
		return
	}
	p.caps.resolve(st.CapsHash, st.CapsVer, p.query(st), func(features []string, ok bool) {
		if !ok {
			p.caps.failed(st.JID)
			return
		}
		if len(features) == 0 {
			return
		}
		// The session's ctx may be over when a query's answer arrives.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p.sendLast(ctx, user, st.JID, features, "", true)
	})
}

// alive reports whether session full of user is still bound and uses the
// caps hashName/ver.
func (p *PEP) alive(user, full, hashName, ver string) bool {
	for _, st := range p.sess.SessionStates(user) {
		if st.JID == full {
			return st.CapsHash == hashName && st.CapsVer == ver
		}
	}
	return false
}

// query returns the sender of a disco#info query to the session's caps
// node (XEP-0115 §6.2).
func (p *PEP) query(st c2s.SessionState) func(id string, answer func(*wire.Element)) bool {
	return func(id string, answer func(*wire.Element)) bool {
		q := wire.New(wire.NSClient, "iq", "type", "get", "id", id, "from", p.cfg.Domain, "to", st.JID)
		q.Add(wire.New(nsDiscoInf, "query", "node", st.CapsNode+"#"+st.CapsVer))
		p.sess.Await(id, st.JID, answer)
		if !p.sess.SendTo(q) {
			p.sess.Unawait(id)
			return false
		}
		return true
	}
}

// subscribed is the c2s subscription hook: user's presence subscription
// to contact was approved, so user's interested sessions get the last
// item of contact's nodes (send_last_published_item on_sub or
// on_sub_and_presence).
func (p *PEP) subscribed(ctx context.Context, user, contact string) {
	local, ok := p.localContact(contact)
	if !ok || p.sess == nil {
		return
	}
	for _, st := range p.sess.SessionStates(user) {
		if !st.Available || st.CapsHash == "" {
			continue
		}
		if f, ok := p.caps.lookup(st.CapsHash, st.CapsVer); ok {
			if len(f) > 0 {
				p.sendLast(ctx, user, st.JID, f, local, false)
			}
			continue
		}
		if !p.caps.mayQuery(st.JID) {
			continue
		}
		full := st.JID
		p.caps.resolve(st.CapsHash, st.CapsVer, p.query(st), func(f []string, ok bool) {
			if !ok {
				p.caps.failed(full)
				return
			}
			if len(f) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				p.sendLast(ctx, user, full, f, local, false)
			}
		})
	}
}

// sendLast sends to the session full (of user) the last item of every
// node it has +notify for, of user's own account and of each contact user
// is subscribed to (or only of the account only, if not empty).
func (p *PEP) sendLast(ctx context.Context, user, full string, features []string, only string, onPresence bool) {
	var owners []string
	if only != "" {
		owners = []string{only}
	} else {
		owners = []string{user}
		_, roster, err := p.db.Roster(ctx, user)
		if err != nil {
			return
		}
		for i := range roster {
			it := &roster[i]
			if it.Sub != store.SubTo && it.Sub != store.SubBoth {
				continue
			}
			if local, ok := p.localContact(it.JID); ok && local != user {
				owners = append(owners, local)
			}
		}
	}
	userBare := p.bare(user)
	for _, owner := range owners {
		nodes, last, err := p.db.PEPNodes(ctx, owner)
		if err != nil {
			continue
		}
		var item *store.RosterItem // owner's roster item for user, read once
		checked := false
		for i := range nodes {
			n := &nodes[i]
			if last[i] == nil {
				continue
			}
			if _, ok := slices.BinarySearch(features, n.Name+"+notify"); !ok {
				continue
			}
			switch n.SendLast {
			case "on_sub_and_presence":
			case "on_sub":
				if onPresence {
					continue
				}
			default:
				continue
			}
			if owner != user {
				if !checked {
					checked = true
					if p.isBlocked(ctx, owner, userBare) || p.isBlocked(ctx, user, p.bare(owner)) {
						break
					}
					it, err := p.db.RosterItem(ctx, owner, userBare)
					if err != nil {
						break
					}
					item = &it
				}
				if item == nil || !allowed(n, item) {
					continue
				}
			}
			ev := wire.New(NSEvent, "items", "node", n.Name).Add(itemElement(NSEvent, *last[i]))
			p.sess.SendTo(p.event(owner, full, ev))
		}
	}
}
