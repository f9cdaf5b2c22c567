// Package last implements the server side of XEP-0012 Last Activity, with
// one deliberate restriction.
//
// Privacy: chatbx keeps no last-login or last-activity record of any user
// (the privacy policy promises that no such metadata is stored, issue 4).
// A query about an account, the sender's own included, is therefore
// answered with service-unavailable, exactly as if the account did not
// offer the feature; the server cannot tell what it never records.
// Only a query addressed to the server itself is answered: with the
// server's uptime in seconds (XEP-0012 §5), which says nothing about
// anyone.
package last

import (
	"context"
	"strconv"
	"time"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
)

// NS is the XEP-0012 namespace, the IQ payload namespace this package
// handles and the disco feature it adds.
const NS = "jabber:iq:last"

// Last answers last-activity queries. It is safe for concurrent use.
type Last struct {
	start time.Time
	now   func() time.Time
}

// New returns a handler that reports the time since start as the server's
// uptime. now is the clock (time.Now if nil).
func New(start time.Time, now func() time.Time) *Last {
	if now == nil {
		now = time.Now
	}
	return &Last{start: start, now: now}
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Last) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds: the
// server answers jabber:iq:last for itself.
func (*Last) Features() []string { return []string{NS} }

// Handle answers a query addressed to the server (to empty or the domain)
// with <query seconds='uptime'/>, and every other query with
// service-unavailable (see the package comment for why).
// Set requests get bad-request; results and errors get no answer (nil).
func (l *Last) Handle(_ context.Context, c iq.Context, el *wire.Element) *wire.Element {
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
	up := int64(l.now().Sub(l.start) / time.Second)
	if up < 0 {
		up = 0
	}
	return iq.Result(el, wire.New(NS, "query", "seconds", strconv.FormatInt(up, 10)))
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
