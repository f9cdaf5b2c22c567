package c2s

import (
	"context"

	"chatbx/server/roster"
	"chatbx/store"
)

// Rosters (RFC 6121 §2) are package roster's, the subscription rules
// (RFC 6121 §3) package presence's; the c2s layer pushes roster changes
// to the sessions that asked.

// hiddenItem reports whether an item only records an inbound
// subscription request (roster.Hidden).
func hiddenItem(it *store.RosterItem) bool { return roster.Hidden(it) }

// RosterRemoved cancels the subscriptions of a roster item user removed
// (RFC 6121 §2.5.2, package presence). It implements roster.Presence.
func (s *Server) RosterRemoved(ctx context.Context, user, contact string, it store.RosterItem) {
	s.pres.RosterRemoved(ctx, user, contact, it)
}

// rosterPush sends a roster push (RFC 6121 §2.1.6) to every session of
// user that requested the roster.
func (s *Server) rosterPush(user string, ver uint64, it *store.RosterItem, removed bool) {
	if p := roster.Push(ver, it, removed); p != nil {
		s.pushInterested(user, p)
	}
}
