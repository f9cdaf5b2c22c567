package c2s

import (
	"context"

	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/router"
	"chatbx/server/wire"
)

// Federation (RFC 6121 with server-to-server): the c2s side hands
// stanzas for other domains to the domain table's handler and takes the
// remote side's stanzas through Deliver. Subscriptions and probes from
// remote contacts follow the same rules as local ones (RFC 6121 §3,
// §4.3); IQs from remote entities to the server or an account's bare JID
// are answered through the handler registry like a local requester's,
// for gets only and, at the server's address, only for the namespaces in
// remoteServerNS.

// remoteServerNS are the IQ namespaces a remote entity may query at the
// server's own address.
var remoteServerNS = map[string]bool{
	"urn:xmpp:ping":                          true,
	"jabber:iq:version":                      true,
	"jabber:iq:last":                         true,
	"http://jabber.org/protocol/disco#info":  true,
	"http://jabber.org/protocol/disco#items": true,
	"vcard-temp":                             true,
}

// toOther hands a stanza for another domain (a local service or a remote
// domain) to its handler; it reports false when nobody serves it.
func (s *Server) toOther(ctx context.Context, el *wire.Element, domain string) bool {
	_, h := s.domains.Lookup(domain)
	if h == nil {
		return false
	}
	h.Handle(ctx, el, s.Deliver)
	return true
}

// deliverOther passes a stanza that Deliver got for a domain other than
// the host to that domain's handler: a local service, or the remote side
// when the sender is local (a service); a remote sender's stanza for a
// remote domain is dropped (no relaying), as is one a service addressed
// to itself.
func (s *Server) deliverOther(el *wire.Element, to addr) {
	kind, h := s.domains.Lookup(to.domain)
	if h == nil {
		return
	}
	from, err := parseAddr(el.Get("from"))
	if err != nil || from.domain == to.domain || (kind == router.Remote && s.isRemote(from)) {
		return
	}
	// Not s.ctx: the remote side may deliver before Run has set it.
	h.Handle(context.Background(), el, s.Deliver)
}

// nsPubsubEvent is the namespace of PEP notifications (XEP-0060 §7.1.2).
const nsPubsubEvent = "http://jabber.org/protocol/pubsub#event"

// remoteSender reports whether el comes from a domain this server does
// not serve.
func (s *Server) remoteSender(el *wire.Element) bool {
	from, err := parseAddr(el.Get("from"))
	return err == nil && s.isRemote(from)
}

// isRemote reports whether a is on a domain this server does not serve.
func (s *Server) isRemote(a addr) bool {
	if a.domain == "" || s.domains.IsHost(a.domain) {
		return false
	}
	k, _ := s.domains.Lookup(a.domain)
	return k == router.Remote
}

// deliverRemote takes the stanzas from a remote sender that need more
// than routing: subscription management, probes and IQs to the server or
// a bare JID. It reports whether it handled el.
func (s *Server) deliverRemote(ctx context.Context, el *wire.Element, from, to addr) bool {
	switch el.Local {
	case "message":
		if to.local != "" && !s.strangerAllowed(ctx, el, from, to) {
			s.bounce(el, "cancel", "service-unavailable")
			return true
		}
	case "presence":
		switch typ := el.Get("type"); typ {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
			if to.local != "" && from.local != "" {
				s.pres.Inbound(ctx, from.bare(), to.bare(), typ)
			}
			return true
		case "probe":
			if to.local != "" {
				s.pres.RemoteProbe(ctx, from.jid(), to.jid())
			}
			return true
		case "", "unavailable":
			if to.local != "" && to.resource == "" && from.resource != "" && s.hooks.RemotePresence != nil {
				s.hooks.RemotePresence(ctx, to.local, from.String(), el)
			}
		}
	case "iq":
		if to.resource == "" {
			s.remoteIQ(ctx, el, from, to)
			return true
		}
	}
	return false
}

// remoteIQ answers an IQ from a remote entity to the server or to an
// account's bare JID through the handler registry, as serverIQ does for
// local requesters (target Server, or Others for a bare JID; gets only).
func (s *Server) remoteIQ(ctx context.Context, el *wire.Element, from, to addr) {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		// Answers to IQs sent on an account's behalf (push
		// notifications to a remote app server); others are dropped.
		if to.local != "" {
			s.answer(el)
		}
		return
	}
	answer := func(r *wire.Element) {
		r.Set("from", el.Get("to"))
		r.Set("to", el.Get("from"))
		s.toOther(ctx, r, from.domain)
	}
	if el.Get("id") == "" || len(el.Elements()) != 1 {
		answer(iq.Error(el, "modify", "bad-request"))
		return
	}
	payload := el.FirstChild()
	target := mux.Server
	if to.local != "" {
		target = mux.Others
		if s.blocked(ctx, to.local, from.bare()) {
			answer(iq.Error(el, "cancel", "service-unavailable"))
			return
		}
	}
	route, ok := s.mux.Lookup(payload.Space, payload.Local)
	var reply *wire.Element
	switch {
	case !ok || typ != "get" || (target == mux.Server && !remoteServerNS[payload.Space]):
		reply = iq.Error(el, "cancel", "service-unavailable")
	case !route.Allowed(target, typ):
		if route.Refuse != "" {
			reply = iq.Error(el, "auth", route.Refuse)
		} else {
			reply = iq.Error(el, "cancel", "service-unavailable")
		}
	default:
		reply = route.Handler(ctx, iq.Context{Domain: s.cfg.Domain, From: from.String(), Peer: from.bare(),
			Send: func(p *wire.Element) {
				p.Set("to", from.String())
				s.toOther(ctx, p, from.domain)
			}}, el)
	}
	if reply != nil {
		answer(reply)
	}
}
