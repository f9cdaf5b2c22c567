package c2s

import (
	"context"

	"chatbx/server/iq"
	"chatbx/server/wire"
)

// Message Carbons (XEP-0280): a user's resources that enabled carbons get
// copies of the one-to-one messages the user's other resources send and
// receive, so every device shows the whole conversation (multi-device use
// with OMEMO relies on it).

const (
	nsCarbons = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
)

// carbonsIQ answers <enable/> and <disable/> (XEP-0280 §4).
func carbonsIQ(_ context.Context, c iq.Context, el *wire.Element) *wire.Element {
	q := iq.Payload(el)
	if el.Get("type") != "set" || (q.Local != "enable" && q.Local != "disable") {
		return errorReply(el, "modify", "bad-request")
	}
	if c.Mark != nil {
		c.Mark(iq.FlagCarbons, q.Local == "enable")
	}
	return wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id"))
}

// carbonEligible reports whether a message is copied (XEP-0280 §6): chat,
// or normal with a body, not marked private or no-copy.
func carbonEligible(el *wire.Element) bool {
	switch el.Get("type") {
	case "chat":
	case "", "normal":
		if el.Child(wire.NSClient, "body") == nil {
			return false
		}
	default:
		return false
	}
	return el.Child(nsCarbons, "private") == nil && el.Child("urn:xmpp:hints", "no-copy") == nil
}

// carbon wraps el as a <sent/> or <received/> copy for session t.
func (s *Server) carbon(t *Session, kind string, el *wire.Element) *wire.Element {
	return wire.New(wire.NSClient, "message", "type", el.Get("type"), "from", t.bare, "to", t.full).Add(
		wire.New(nsCarbons, kind).Add(wire.New(nsForward, "forwarded").Add(el)))
}

// sentCarbons copies a message that ss sent to the user's other resources
// with carbons enabled. el is the message as the sender's message hooks
// left it (with the stanza-id the sender's archive knows it by).
func (s *Server) sentCarbons(ss *Session, el *wire.Element) {
	if el.Child(nsCarbons, "private") != nil {
		el = el.Copy()
		el.RemoveChildren(nsCarbons, "private")
	}
	for _, t := range s.router.Sessions(ss.user) {
		if t == ss || !t.carbons.Load() {
			continue
		}
		t.Send(s.carbon(t, "sent", el))
	}
}

// receivedCarbons copies a message delivered to some of user's sessions
// (got) to the user's other carbons-enabled sessions.
func (s *Server) receivedCarbons(sessions []*Session, got func(*Session) bool, el *wire.Element) {
	for _, t := range sessions {
		if t.carbons.Load() && !got(t) {
			t.Send(s.carbon(t, "received", el))
		}
	}
}
