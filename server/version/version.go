// Package version implements XEP-0092 Software Version for the server.
//
// Privacy: the answer names the software and its version only. It carries
// no <os/> element, so the server does not tell the operating system or its
// release to anyone who asks.
package version

import (
	"context"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
)

// NS is the XEP-0092 namespace, the IQ payload namespace this package
// handles and the disco feature it adds.
const NS = "jabber:iq:version"

// Name is the software name the server reports.
const Name = "chatbx"

// Version answers software version queries. It is safe for concurrent use.
type Version struct {
	// query is the shared, never modified answer payload.
	query *wire.Element
}

// New returns a handler that reports Name and the given version string.
func New(version string) *Version {
	q := wire.New(NS, "query")
	q.Add(wire.New(NS, "name").AddText(Name))
	if version == "" {
		version = "unknown"
	}
	q.Add(wire.New(NS, "version").AddText(version))
	return &Version{query: q}
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Version) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds.
func (*Version) Features() []string { return []string{NS} }

// Handle answers a version query (XEP-0092 §2) addressed to the server (to
// empty or the domain). Queries addressed to an account get
// service-unavailable: the server does not speak for its users' clients.
// Set requests get bad-request; results and errors get no answer (nil).
// The returned payload is shared between replies and must not be modified.
func (v *Version) Handle(_ context.Context, c iq.Context, el *wire.Element) *wire.Element {
	switch el.Get("type") {
	case "get":
	case "set":
		return iq.Error(el, "modify", "bad-request")
	default:
		return nil
	}
	p := iq.Payload(el)
	if p == nil || p.Space != NS || p.Local != "query" {
		return iq.Error(el, "modify", "bad-request")
	}
	if !server(c, el.Get("to")) {
		return iq.Error(el, "cancel", "service-unavailable")
	}
	return iq.Result(el, v.query)
}

// server reports whether to is empty or the server's domain, normalising
// addresses that do not match byte for byte (RFC 7622).
func server(c iq.Context, to string) bool {
	if to == "" || to == c.Domain {
		return true
	}
	j, err := jid.Parse(to)
	return err == nil && j.Localpart() == "" && j.Resourcepart() == "" && j.Domainpart() == c.Domain
}
