package c2s

import (
	"context"

	"chatbx/server/wire"
)

// Client State Indication (XEP-0352): a client that says it is
// <inactive/> (a phone with the screen off) gets only what matters at
// once. Presence updates, chat states and other stanzas without content
// are held back, presence reduced to the newest per contact full JID;
// anything urgent (a message with a body, a carbon of one, an IQ, a
// subscription request, or what a registered check marks urgent) first
// sends what is held, in order. <active/> sends everything held. The hold
// is bounded: when it is full, it is flushed.
//
// A session that never sent <inactive/> carries one nil pointer.

const nsCSI = "urn:xmpp:csi:0"

// csiState is a session's CSI state, guarded by the session's mu.
type csiState struct {
	inactive bool
	held     []outItem
	// presence maps a contact's full JID to the index in held of its
	// newest presence.
	presence map[string]int
}

// csiMax is how many stanzas an inactive session holds at most.
func (s *Server) csiMax() int { return max(16, s.cfg.QueueMax/4) }

// Urgent registers a check for stanzas that must reach an inactive client
// at once (XEP-0352 §5: e.g. a call invitation without a body). Call
// before Run.
func (s *Server) Urgent(fn func(el *wire.Element) bool) { s.urgent = append(s.urgent, fn) }

// urgentStanza reports whether el goes out at once to an inactive client.
func (s *Server) urgentStanza(el *wire.Element) bool {
	switch el.Local {
	case "iq":
		return true
	case "presence":
		switch el.Get("type") {
		case "", "unavailable":
		default:
			return true // subscriptions, errors
		}
	case "message":
		if hasContent(el) || el.Get("type") == "error" {
			return true
		}
		// A carbon (XEP-0280) of a message with content: the user's own
		// messages from another device, or ones received there.
		for _, kind := range []string{"sent", "received"} {
			if c := el.Child(nsCarbons, kind); c != nil {
				if f := c.Child(nsForward, "forwarded"); f != nil {
					if m := f.Child(wire.NSClient, "message"); m != nil && hasContent(m) {
						return true
					}
				}
			}
		}
	}
	for _, fn := range s.urgent {
		if fn(el) {
			return true
		}
	}
	return false
}

// hasContent reports whether a message carries something for the user.
func hasContent(el *wire.Element) bool {
	return el.Child(wire.NSClient, "body") != nil || el.Child(wire.NSClient, "subject") != nil ||
		el.Child("eu.siacs.conversations.axolotl", "encrypted") != nil || el.Child("urn:xmpp:omemo:2", "encrypted") != nil
}

// csiHold holds it back if the session is inactive and it is not urgent,
// and reports whether it did. An urgent stanza, or one that finds the hold
// full, first moves what is held to the queue. Called with ss.mu held.
func (ss *Session) csiHold(it outItem) bool {
	c := ss.csi
	if c == nil || !c.inactive || it.el.Space != wire.NSClient {
		return false
	}
	if ss.srv.urgentStanza(it.el) || len(c.held) >= ss.srv.csiMax() {
		ss.csiFlush()
		return false
	}
	if it.el.Local == "presence" {
		from := it.el.Get("from")
		if i, ok := c.presence[from]; ok {
			// Superseded: the newest takes the older one's place, so a
			// chatty contact neither grows the hold nor forces a flush.
			c.held[i] = it
			return true
		}
		if c.presence == nil {
			c.presence = map[string]int{}
		}
		c.presence[from] = len(c.held)
	}
	c.held = append(c.held, it)
	return true
}

// csiFlush moves what is held to the queue, in order (the writer is not
// started here). Called with ss.mu held.
func (ss *Session) csiFlush() {
	c := ss.csi
	if c == nil {
		return
	}
	for _, it := range c.held {
		if it.el != nil {
			ss.queue = append(ss.queue, it)
			ss.qbytes += int32(encodedSize(it.el, wire.NSClient))
		}
	}
	c.held, c.presence = nil, nil
	if !c.inactive {
		ss.csi = nil
	}
}

// csiRest appends what is held to rest (a session that ends stores what
// it could not send). Called with ss.mu held.
func (ss *Session) csiRest(rest []outItem) []outItem {
	if c := ss.csi; c != nil {
		for _, it := range c.held {
			if it.el != nil {
				rest = append(rest, it)
			}
		}
		c.held, c.presence = nil, nil
	}
	return rest
}

// csiNonza handles <inactive/> and <active/> (XEP-0352 §4).
func (ss *Session) csiNonza(el *wire.Element) error {
	switch el.Local {
	case "inactive":
		ss.mu.Lock()
		if ss.csi == nil {
			ss.csi = &csiState{}
		}
		ss.csi.inactive = true
		ss.mu.Unlock()
	case "active":
		ss.csiActive()
	default:
		return streamError("unsupported-stanza-type")
	}
	return nil
}

// csiActive is <active/>: everything held goes out. (Bind2's inline CSI
// may call csiNonza with <inactive/>.)
func (ss *Session) csiActive() {
	ss.mu.Lock()
	if c := ss.csi; c != nil {
		c.inactive = false
		ss.csiFlush()
		ss.kick()
	}
	ss.mu.Unlock()
}

// csiInline takes <inactive/> or <active/> inside a Bind2 request
// (XEP-0386 §2.4); it answers nothing in <bound/>. Its signature is that
// of a Bind2 inline feature's Enable.
func csiInline(_ context.Context, ss *Session, el *wire.Element) *wire.Element {
	ss.csiNonza(el) // an unknown element is ignored here
	return nil
}
