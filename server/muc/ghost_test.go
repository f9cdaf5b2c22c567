package muc

import (
	"testing"

	"chatbx/server/wire"
)

// TestGhostOnServerBounce: a remote occupant's server is gone, so a
// groupchat message to it comes back from the occupant's real JID to the
// sender's occupant JID with remote-server-timeout (what s2s bounces).
// The room removes the ghost; an error from a client to a private
// message (another condition) does not.
func TestGhostOnServerBounce(t *testing.T) {
	h := newHarness(t, nil)
	h.join("owner", "r", "o")
	h.configure("owner", "r", map[string]string{"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig"})
	h.do(`<presence xmlns='jabber:client' from='far@remote.test/x' to='r@` + svc + `/far'/>`)
	h.do(`<presence xmlns='jabber:client' from='near@remote.test/y' to='r@` + svc + `/near'/>`)
	left := func(out []*wire.Element, nick string) bool {
		for _, e := range out {
			if e.Local == "presence" && e.Get("type") == "unavailable" && e.Get("from") == "r@"+svc+"/"+nick {
				return true
			}
		}
		return false
	}
	// A client's refusal of a private message: not a ghost.
	out := h.do(`<message xmlns='jabber:client' type='error' from='near@remote.test/y' to='r@` + svc + `/o'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	if left(out, "near") {
		t.Error("an occupant left on a client's error")
	}
	// Its server's bounce: a ghost.
	out = h.do(`<message xmlns='jabber:client' type='error' from='far@remote.test/x' to='r@` + svc + `/o'><error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	if !left(out, "far") {
		t.Errorf("ghost stays after its server's bounce: %d stanzas", len(out))
	}
}
