// Package iq defines the shape of server-side IQ handlers (RFC 6120
// §8.2.3), which are registered in the handler registry (package mux) and
// called by the c2s layer, and the helpers they use to answer (RFC 6120
// §8.3 stanza errors).
//
// A handler gets the IQ as parsed by package wire and returns the reply:
// a result or an error stanza. It never writes to a session itself; the
// c2s layer enqueues the reply on the requesting stream, and Context.Push
// and Context.Send reach the sender's own sessions only.
package iq

import (
	"context"

	"chatbx/server/wire"
)

// Context describes who sent an IQ.
type Context struct {
	// User is the sender's normalised localpart.
	User string
	// Domain is the server's domain.
	Domain string
	// From is the sender's full JID as bound on this stream.
	From string
	// Peer is the sender's bare JID when it is on another server
	// (federation); User is empty then.
	Peer string
	// Push sends a stanza to every resource of the sender that has
	// requested the roster (blocklist and roster pushes). It never blocks.
	Push func(*wire.Element)
	// Send queues a stanza to the requesting session. It never blocks.
	Send func(*wire.Element)
	// Mark switches a session opt-in of the requesting session on or off
	// (roster or blocklist pushes, carbons). May be nil in tests.
	Mark func(f Flag, on bool)
}

// Bare returns the sender's bare JID: Peer for a remote sender, else
// User at Domain.
func (c Context) Bare() string {
	if c.Peer != "" {
		return c.Peer
	}
	return c.User + "@" + c.Domain
}

// Flag is a per-session opt-in that an IQ switches on.
type Flag uint8

const (
	// FlagRoster: the session requested the roster and gets roster
	// pushes (RFC 6121 §2.1.6).
	FlagRoster Flag = iota
	// FlagBlocklist: the session requested the blocklist and gets
	// blocklist pushes (XEP-0191 §3.5).
	FlagBlocklist
	// FlagCarbons: the session enabled Message Carbons (XEP-0280).
	FlagCarbons
)

// Handler answers one IQ. The returned element is sent to the requester;
// a nil return means the handler has arranged the answer itself.
type Handler func(ctx context.Context, c Context, iq *wire.Element) *wire.Element

// Result returns an empty result for iq, with payload as its child if not
// nil. to/from are swapped by the caller (the c2s layer stamps them).
func Result(iq *wire.Element, payload ...*wire.Element) *wire.Element {
	r := wire.New(wire.NSClient, "iq", "type", "result", "id", iq.Get("id"))
	r.Add(payload...)
	return r
}

// Error returns an error reply to iq with a stanza error of the given type
// (cancel, modify, auth, wait) and condition (RFC 6120 §8.3.3), echoing
// nothing of the request's payload.
func Error(iq *wire.Element, typ, condition string) *wire.Element {
	r := wire.New(wire.NSClient, "iq", "type", "error", "id", iq.Get("id"))
	r.Add(StanzaError(typ, condition, ""))
	return r
}

// StanzaError returns an <error/> element (RFC 6120 §8.3.2), with optional
// human-readable text.
func StanzaError(typ, condition, text string) *wire.Element {
	e := wire.New(wire.NSClient, "error", "type", typ)
	if code := LegacyCode(condition); code != "" {
		// XEP-0086: the pre-RFC code, which some clients still read
		// (Profanity 0.13 treats a PEP item-not-found as empty only
		// with code='404').
		e.Set("code", code)
	}
	e.Add(wire.New(wire.NSStanzas, condition))
	if text != "" {
		e.Add(wire.New(wire.NSStanzas, "text").AddText(text))
	}
	return e
}

// Payload returns the first child of iq, or nil.
func Payload(el *wire.Element) *wire.Element { return el.FirstChild() }

// LegacyCode returns the pre-RFC numeric code of a stanza error condition
// (XEP-0086 §3), or "" for conditions without one. Some clients still
// look only at the code (Profanity treats a PEP item-not-found as an
// empty node only with code='404').
func LegacyCode(condition string) string { return legacyCodes[condition] }

var legacyCodes = map[string]string{
	"bad-request": "400", "conflict": "409", "feature-not-implemented": "501",
	"forbidden": "403", "gone": "302", "internal-server-error": "500",
	"item-not-found": "404", "jid-malformed": "400", "not-acceptable": "406",
	"not-allowed": "405", "not-authorized": "401", "payment-required": "402",
	"recipient-unavailable": "404", "redirect": "302",
	"registration-required": "407", "remote-server-not-found": "404",
	"remote-server-timeout": "504", "resource-constraint": "500",
	"service-unavailable": "503", "subscription-required": "407",
	"undefined-condition": "500", "unexpected-request": "400",
}
