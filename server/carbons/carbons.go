// Package carbons implements Message Carbons (XEP-0280): a user's
// sessions that enabled carbons get copies of the one-to-one messages
// the user's other sessions send and receive, so every device shows the
// whole conversation (multi-device use with OMEMO relies on it).
//
// It plugs into the registry (package mux) as the <enable/> and
// <disable/> IQs (XEP-0280 §4), which switch the session's iq.FlagCarbons,
// and as a copy hook (mux.CopyHook, mux.OrderCarbons): the c2s layer,
// which owns the sessions, sends the copies Copy makes after delivery.
// Enabling carbons inside Bind2 (XEP-0386) is part of negotiation and
// stays in package c2s.
package carbons

import (
	"context"

	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/wire"
)

// NS is the Message Carbons namespace (XEP-0280 version 2).
const NS = "urn:xmpp:carbons:2"

const nsForward = "urn:xmpp:forward:0"

// Register adds the carbons IQs, the disco feature and the copy hook to
// r.
func Register(r *mux.Registry) {
	r.Namespace(NS, mux.Route{Handler: IQ})
	r.Feature(NS)
	r.Copy(mux.CopyHook{Name: "carbons", Order: mux.OrderCarbons, Flag: iq.FlagCarbons,
		Wants: Eligible, Prepare: Strip, Copy: Copy})
}

// IQ answers <enable/> and <disable/> (XEP-0280 §4): it switches the
// requesting session's carbons on or off.
func IQ(_ context.Context, c iq.Context, el *wire.Element) *wire.Element {
	q := iq.Payload(el)
	if el.Get("type") != "set" || (q.Local != "enable" && q.Local != "disable") {
		return iq.Error(el, "modify", "bad-request")
	}
	if c.Mark != nil {
		c.Mark(iq.FlagCarbons, q.Local == "enable")
	}
	return wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id"))
}

// Eligible reports whether a message is copied (XEP-0280 §6): chat, or
// normal with a body, not marked private or no-copy.
func Eligible(el *wire.Element) bool {
	switch el.Get("type") {
	case "chat":
	case "", "normal":
		if el.Child(wire.NSClient, "body") == nil {
			return false
		}
	default:
		return false
	}
	return el.Child(NS, "private") == nil && el.Child("urn:xmpp:hints", "no-copy") == nil
}

// Strip returns a sent message without the <private/> marker (XEP-0280
// §7: the marker is for the server only): a copy if it had one, el
// itself otherwise.
func Strip(el *wire.Element) *wire.Element {
	if el.Child(NS, "private") == nil {
		return el
	}
	el = el.Copy()
	el.RemoveChildren(NS, "private")
	return el
}

// Copy wraps el as a <sent/> (Outgoing) or <received/> (Incoming) copy
// for the session full of the account bare (XEP-0280 §5, §6). el is
// forwarded as it is, not copied: it must not change afterwards.
func Copy(dir mux.Direction, bare, full string, el *wire.Element) *wire.Element {
	kind := "received"
	if dir == mux.Outgoing {
		kind = "sent"
	}
	return wire.New(wire.NSClient, "message", "type", el.Get("type"), "from", bare, "to", full).Add(
		wire.New(NS, kind).Add(wire.New(nsForward, "forwarded").Add(el)))
}
