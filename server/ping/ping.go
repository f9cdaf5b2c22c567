// Package ping implements XEP-0199 XMPP Ping on the server side: it answers
// pings addressed to the server or to the sender's own account, and builds
// the pings the c2s layer sends to probe idle clients (XEP-0199 §4.2).
package ping

import (
	"context"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
)

// NS is the XEP-0199 namespace, the IQ payload namespace this package
// handles and the disco feature it adds.
const NS = "urn:xmpp:ping"

// Ping answers XEP-0199 pings. The zero value is ready to use and it is safe
// for concurrent use.
type Ping struct{}

// New returns a ping handler.
func New() *Ping { return &Ping{} }

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Ping) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds.
func (*Ping) Features() []string { return []string{NS} }

// Handle answers a ping (XEP-0199 §4.2, §4.3) with an empty result when it
// is addressed to the server (to empty or the domain) or to the sender's
// own bare JID, and with service-unavailable for anything else.
// Results and errors are not answered (RFC 6120 §8.2.3): Handle returns nil.
func (*Ping) Handle(_ context.Context, c iq.Context, el *wire.Element) *wire.Element {
	switch el.Get("type") {
	case "get":
	case "set":
		return iq.Error(el, "modify", "bad-request")
	default:
		return nil
	}
	p := iq.Payload(el)
	if p == nil || p.Space != NS || p.Local != "ping" {
		return iq.Error(el, "modify", "bad-request")
	}
	if !local(c, el.Get("to")) {
		return iq.Error(el, "cancel", "service-unavailable")
	}
	return iq.Result(el)
}

// local reports whether to is empty, the server's domain or the sender's
// own bare JID. Normalised addresses compare without allocating; others
// are normalised first (RFC 7622).
func local(c iq.Context, to string) bool {
	u, d := c.User, c.Domain
	if to == "" || to == d ||
		u != "" && len(to) == len(u)+1+len(d) && to[len(u)] == '@' && to[:len(u)] == u && to[len(u)+1:] == d {
		return true
	}
	j, err := jid.Parse(to)
	if err != nil || j.Resourcepart() != "" || j.Domainpart() != d {
		return false
	}
	l := j.Localpart()
	return l == "" || l == u
}

// Request returns a server-to-client ping <iq type='get'/> with the given
// id, to (the client's full JID) and from (usually the server's domain).
// The c2s layer sends it to a client that has been idle and treats the
// result or any error reply with the same id as a sign of life.
func Request(id, to, from string) *wire.Element {
	return wire.New(wire.NSClient, "iq", "type", "get", "id", id, "to", to, "from", from).
		Add(wire.New(NS, "ping"))
}
