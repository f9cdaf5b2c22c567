package roster

import "chatbx/store"

// The subscription state machine (RFC 6121 §3 and Appendix A) as pure
// functions over a roster item: the c2s layer runs them inside
// store.DB.UpdateRosterItem (one transaction per change) and does the
// routing they call for, because that needs the sessions.

// Outbound applies a subscription stanza of type typ ("subscribe",
// "subscribed", "unsubscribe", "unsubscribed") that the user sends about
// the contact to the user's item for that contact (RFC 6121 §3.1.2,
// §3.2.2, §3.3.2, §3.4 pre-approval). exists tells whether the item was
// stored before. It reports whether the item is kept and whether the
// stanza goes on to the contact.
func Outbound(it *store.RosterItem, exists bool, typ string) (keep, route bool) {
	route = true
	switch typ {
	case "subscribe":
		if it.Sub != store.SubTo && it.Sub != store.SubBoth {
			it.AskOut = true
		}
	case "unsubscribe":
		it.Sub = removeTo(it.Sub)
		it.AskOut = false
	case "subscribed":
		switch {
		case it.PendingIn:
			it.Sub = addFrom(it.Sub)
			it.PendingIn = false
		case it.Sub == store.SubFrom || it.Sub == store.SubBoth:
			route = false
		default:
			// Pre-approval (RFC 6121 §3.4).
			it.PreApproved = true
			route = false
		}
	case "unsubscribed":
		if it.Sub != store.SubFrom && it.Sub != store.SubBoth && !it.PendingIn && !it.PreApproved {
			route = false
		}
		it.Sub = removeFrom(it.Sub)
		it.PendingIn = false
		it.PreApproved = false
	}
	return exists || it.AskOut || it.PreApproved, route
}

// Inbound applies a subscription stanza of type typ from the contact to
// the user's item for that contact (RFC 6121 §3.1.3, §3.2.3, §3.3.3,
// §3.4). It reports whether the item is kept, whether the stanza is
// delivered to the user's available sessions, and the answer the server
// gives on the user's behalf ("subscribed" for an approved or
// pre-approved request, else "").
func Inbound(it *store.RosterItem, exists bool, typ string) (keep, deliver bool, autoReply string) {
	deliver = true
	switch typ {
	case "subscribe":
		switch {
		case it.Sub == store.SubFrom || it.Sub == store.SubBoth:
			autoReply, deliver = "subscribed", false
		case it.PreApproved:
			it.Sub = addFrom(it.Sub)
			it.PreApproved = false
			autoReply, deliver = "subscribed", false
		default:
			it.PendingIn = true
		}
	case "subscribed":
		if !it.AskOut {
			return exists, false, ""
		}
		it.Sub = addTo(it.Sub)
		it.AskOut = false
	case "unsubscribe":
		if it.Sub != store.SubFrom && it.Sub != store.SubBoth && !it.PendingIn {
			deliver = false
		}
		it.Sub = removeFrom(it.Sub)
		it.PendingIn = false
	case "unsubscribed":
		if it.Sub != store.SubTo && it.Sub != store.SubBoth && !it.AskOut {
			deliver = false
		}
		it.Sub = removeTo(it.Sub)
		it.AskOut = false
	}
	return exists || it.PendingIn, deliver, autoReply
}

// Changed reports whether the subscription state of two versions of an
// item differs, i.e. whether a roster push is due.
func Changed(a, b *store.RosterItem) bool {
	return a.Sub != b.Sub || a.AskOut != b.AskOut || a.PendingIn != b.PendingIn || a.PreApproved != b.PreApproved
}

func addTo(s store.Subscription) store.Subscription {
	if s == store.SubFrom || s == store.SubBoth {
		return store.SubBoth
	}
	return store.SubTo
}

func addFrom(s store.Subscription) store.Subscription {
	if s == store.SubTo || s == store.SubBoth {
		return store.SubBoth
	}
	return store.SubFrom
}

func removeTo(s store.Subscription) store.Subscription {
	if s == store.SubBoth || s == store.SubFrom {
		return store.SubFrom
	}
	return store.SubNone
}

func removeFrom(s store.Subscription) store.Subscription {
	if s == store.SubBoth || s == store.SubTo {
		return store.SubTo
	}
	return store.SubNone
}
