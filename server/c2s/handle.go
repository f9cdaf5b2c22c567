package c2s

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/wire"
	"chatbx/store"
)

// addr is a parsed, normalised JID.
type addr struct {
	local, domain, resource string
}

func (a addr) bare() string {
	if a.local == "" {
		return a.domain
	}
	return a.local + "@" + a.domain
}

func (a addr) String() string {
	if a.resource == "" {
		return a.bare()
	}
	return a.bare() + "/" + a.resource
}

// parseAddr parses and normalises a JID. Plain ASCII JIDs that PRECIS and
// IDNA would leave unchanged take a fast path; everything else goes
// through mellium's full jid.Parse.
func parseAddr(s string) (addr, error) {
	if a, ok := fastAddr(s); ok {
		return a, nil
	}
	j, err := jid.Parse(s)
	if err != nil {
		return addr{}, err
	}
	return addr{j.Localpart(), j.Domainpart(), j.Resourcepart()}, nil
}

// handle processes one stanza from a bound client (RFC 6120 §8, RFC 6121 §8).
func (s *Server) handle(ctx context.Context, ss *Session, el *wire.Element) error {
	if el.Space != wire.NSClient {
		return streamError("unsupported-stanza-type")
	}
	switch el.Local {
	case "message", "presence", "iq":
	default:
		return streamError("unsupported-stanza-type")
	}
	s.d.Metrics.Routed(el.Local)
	// RFC 6120 §8.1.2.1: the server stamps the sender's full JID.
	el.Set("from", ss.full)
	var to addr
	if t := el.Get("to"); t != "" {
		var ok bool
		if to, ok = fastAddr(t); ok {
			// Already normalised: keep the attribute as it is.
		} else if a, err := parseFull(t); err != nil {
			if el.Get("type") != "error" {
				ss.Send(s.errorFrom(el, "", "modify", "jid-malformed"))
			}
			return nil
		} else {
			to = a
			el.Set("to", to.String())
		}
	}
	switch el.Local {
	case "message":
		s.handleMessage(ctx, ss, el, to)
	case "presence":
		s.handlePresence(ctx, ss, el, to)
	case "iq":
		s.handleIQ(ctx, ss, el, to)
	}
	return nil
}

// errorFrom returns an error reply to el addressed back to its sender, with
// from set to fromJID (or to el's to).
func (s *Server) errorFrom(el *wire.Element, fromJID, typ, cond string) *wire.Element {
	r := errorReply(el, typ, cond)
	if fromJID == "" {
		fromJID = el.Get("to")
	}
	r.Set("from", fromJID)
	r.Set("to", el.Get("from"))
	return r
}

// bounce sends an error for el back to its (local) sender, never for an
// error stanza (RFC 6120 §8.3.1).
func (s *Server) bounce(el *wire.Element, typ, cond string) {
	if el.Get("type") == "error" {
		return
	}
	from, err := parseAddr(el.Get("from"))
	if err == nil && s.isRemote(from) {
		s.toOther(context.Background(), s.errorFrom(el, "", typ, cond), from.domain)
		return
	}
	if err != nil || !s.localUser(from) {
		return
	}
	r := s.errorFrom(el, "", typ, cond)
	if t := s.router.Session(from.local, from.resource); t != nil {
		t.Send(r)
	}
}

func (s *Server) blocked(ctx context.Context, user, other string) bool {
	return s.d.Blocked != nil && s.d.Blocked(ctx, user, other)
}

func (s *Server) handleMessage(ctx context.Context, ss *Session, el *wire.Element, to addr) {
	if to.domain == "" {
		to = addr{local: ss.user, domain: s.cfg.Domain}
	}
	// A message to an account on another server gets the sender-side
	// rules of a local one (blocking, the archive, carbons) before
	// federation takes it; services on other domains get it as is.
	remote := to.local != "" && s.isRemote(to)
	if !s.domains.IsHost(to.domain) && !remote {
		s.elsewhere(ctx, ss, el, to)
		return
	}
	if to.local == "" {
		if el.Get("type") != "error" {
			ss.Send(s.errorFrom(el, s.cfg.Domain, "cancel", "service-unavailable"))
		}
		return
	}
	// handle left the 'to' attribute normalised: it is to.String() without
	// building the string again.
	if to.local != ss.user && s.blocked(ctx, ss.user, el.Get("to")) {
		// XEP-0191 §3.3: the sender has blocked the recipient.
		r := s.errorFrom(el, "", "cancel", "not-acceptable")
		r.Child(wire.NSClient, "error").Add(wire.New("urn:xmpp:blocking:errors", "blocked"))
		ss.Send(r)
		return
	}
	// XEP-0359 §3: stanza-ids claiming to be ours come only from us.
	el.RemoveChildren(nsSID, "stanza-id")
	// Message hooks for the sender (the archive): what they add (the
	// sender's stanza-id) goes into the sender's carbons, not to the
	// recipient.
	tagged := s.mux.RunMessage(ctx, ss.user, mux.Outgoing, el)
	if tagged == nil {
		return // a hook consumed it (mux.MessageHook)
	}
	// Copy hooks (carbons): which want the sent message, and what is
	// routed (without the XEP-0280 §7 <private/> marker, for the server
	// only).
	want := s.mux.WantCopies(el)
	el = s.mux.PrepareCopies(el)
	if remote {
		s.elsewhere(ctx, ss, el, to)
	} else {
		s.routeMessage(ctx, el, to)
	}
	if want != 0 {
		s.copyTo(s.router.Sessions(ss.user), mux.Outgoing, want, tagged, func(t *Session) bool { return t == ss })
	}
}

const nsSID = "urn:xmpp:sid:0"

// localUser reports whether a is an account on the local host (the
// domain table decides; see package router).
func (s *Server) localUser(a addr) bool { return a.local != "" && s.domains.IsHost(a.domain) }

// elsewhere hands a stanza for a domain other than the host to its
// handler in the domain table: a local service, or the remote side. A
// remote domain without server-to-server gets remote-server-not-found
// (RFC 6120 §10.4.3); presence to it is dropped.
func (s *Server) elsewhere(ctx context.Context, ss *Session, el *wire.Element, to addr) {
	_, h := s.domains.Lookup(to.domain)
	if h == nil {
		if el.Local != "presence" {
			s.bounceTo(ss, el, "cancel", "remote-server-not-found")
		}
		return
	}
	h.Handle(ctx, el, s.Deliver)
}

// Deliver routes a stanza from a local service or the remote side to a
// local address, with the same rules as a stanza from a local client
// (RFC 6121 §8). A stanza for another domain goes on through the domain
// table (a group chat's stanzas for occupants on other servers, a remote
// sender's for a local service), never from one remote domain to
// another. It never blocks; safe for concurrent use.
func (s *Server) Deliver(el *wire.Element) {
	to, err := parseAddr(el.Get("to"))
	if err != nil {
		return
	}
	if !s.domains.IsHost(to.domain) {
		s.deliverOther(el, to)
		return
	}
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// A stanza the remote side accepted during shutdown is still stored.
	ctx = context.WithoutCancel(ctx)
	if from, err := parseAddr(el.Get("from")); err == nil && s.isRemote(from) && s.deliverRemote(ctx, el, from, to) {
		return // federation: subscriptions, probes, IQs to the server (remote.go)
	}
	if !s.localUser(to) {
		return
	}
	switch el.Local {
	case "message":
		s.routeMessage(ctx, el, to)
	case "presence":
		s.pres.Deliver(ctx, el, to.String())
	case "iq":
		if to.resource == "" {
			if t := el.Get("type"); t == "result" || t == "error" {
				s.answer(el) // answers to IQs sent on the account's behalf
			}
			return
		}
		if t := s.router.Session(to.local, to.resource); t != nil {
			t.Send(el)
		}
	}
}

// Archivable reports whether a message is a candidate for the message
// archive: chat or normal with a body, or with a store hint (XEP-0313
// §5.1.1). It is the archive hook's Wants.
func Archivable(el *wire.Element) bool {
	switch el.Get("type") {
	case "", "normal", "chat":
	default:
		return false
	}
	if el.Child("urn:xmpp:hints", "no-store") != nil || el.Child("urn:xmpp:hints", "no-permanent-store") != nil {
		return false
	}
	return el.Child(wire.NSClient, "body") != nil || el.Child("urn:xmpp:hints", "store") != nil ||
		el.Child("eu.siacs.conversations.axolotl", "encrypted") != nil || el.Child("urn:xmpp:omemo:2", "encrypted") != nil
}

// bounceTo sends an error for el straight to the sending session.
func (s *Server) bounceTo(ss *Session, el *wire.Element, typ, cond string) {
	if el.Get("type") != "error" {
		ss.Send(s.errorFrom(el, "", typ, cond))
	}
}

// routeMessage delivers a message to a local user per RFC 6121 §8.5.
func (s *Server) routeMessage(ctx context.Context, el *wire.Element, to addr) {
	typ := el.Get("type")
	if typ == "" {
		typ = "normal"
	}
	if s.locked(to.local) {
		// GDPR Art. 18: a locked account takes no messages, not even
		// offline; the sender learns it did not arrive, as for an
		// unknown account (RFC 6121 §8.5.2.2.1).
		if typ != "headline" {
			s.bounce(el, "cancel", "service-unavailable")
		}
		return
	}
	if from := el.Get("from"); from != "" && s.blocked(ctx, to.local, from) {
		// XEP-0191 §3.2: the recipient has blocked the sender.
		s.bounce(el, "cancel", "service-unavailable")
		return
	}
	// Message hooks for the recipient (the archive adds the stanza-id the
	// recipient sees live and in its archive).
	if el = s.mux.RunMessage(ctx, to.local, mux.Incoming, el); el == nil {
		return // a hook consumed it (mux.MessageHook)
	}
	sessions := s.router.Sessions(to.local)
	copies := s.mux.WantCopies(el)
	// A PEP notification from another server goes only to the sessions
	// that asked for its node (the owner's server cannot know).
	event := typ == "headline" && el.Child(nsPubsubEvent, "event") != nil && s.remoteSender(el)
	if to.resource != "" {
		for _, t := range sessions {
			if event && t.resource == to.resource && !s.remoteEvent(t, el) {
				return
			}
			// A session that is closing refuses the stanza; it is then
			// treated like an unavailable resource (and stored offline).
			if t.resource == to.resource && t.Send(el) {
				if copies != 0 {
					s.copyTo(sessions, mux.Incoming, copies, el, func(o *Session) bool { return o == t })
				}
				return
			}
		}
		// §8.5.3.2: no such resource.
		switch typ {
		case "groupchat":
			s.bounce(el, "cancel", "service-unavailable")
			return
		case "headline", "error":
			return
		}
	}
	delivered := false
	for _, t := range sessions {
		if t.available.Load() && t.priority.Load() >= 0 {
			if typ == "groupchat" {
				break
			}
			if event && !s.remoteEvent(t, el) {
				continue
			}
			if t.Send(el) {
				delivered = true
			}
		}
	}
	if delivered {
		if copies != 0 && typ != "groupchat" {
			// Resources that did not get it (negative priority) but
			// enabled carbons get a copy.
			s.copyTo(sessions, mux.Incoming, copies, el, func(o *Session) bool {
				return o.available.Load() && o.priority.Load() >= 0
			})
		}
		return
	}
	switch typ {
	case "groupchat":
		s.bounce(el, "cancel", "service-unavailable")
	case "chat", "normal":
		// RFC 6121 §8.5.2.1.1: offline storage (package offline, an
		// undelivered-message hook), or an error.
		if !s.mux.WantsUndelivered(el) {
			return // nothing worth keeping (no body, no-store hint)
		}
		taken, err := s.mux.RunUndelivered(ctx, to.local, el)
		switch {
		case taken:
			// A session that became available while this message was
			// being stored has already read the offline queue: deliver
			// again, or the message waits for the next login.
			for _, t := range s.router.Sessions(to.local) {
				if t.available.Load() && t.priority.Load() >= 0 {
					s.deliverOffline(ctx, t)
				}
			}
		case err == nil, errors.Is(err, store.ErrNotFound):
			// No hook kept it, or there is no such account.
			s.bounce(el, "cancel", "service-unavailable")
		case errors.Is(err, store.ErrQuota):
			// The recipient's queue, or this sender's share of it, is full
			// (RFC 6121 §8.5.2.1.1 lets the server refuse to store): wait
			// until the recipient collects what is queued.
			s.bounceText(el, "wait", "resource-constraint", "The recipient's offline storage is full.")
		default:
			s.log.Error().Err(err).Msg("store offline message")
			s.bounce(el, "wait", "internal-server-error")
		}
	default:
		// headline and error messages are not stored (§8.5.2.1.1).
		if ok, _ := s.db.UserExists(ctx, to.local); !ok && typ != "error" && typ != "headline" {
			s.bounce(el, "cancel", "service-unavailable")
		}
	}
}

// storeUndelivered moves messages that a closing session could not write
// into offline storage (the undelivered-message hooks), so nothing
// accepted is lost.
func (s *Server) storeUndelivered(user string, items []outItem) {
	for _, it := range items {
		if it.offline != 0 {
			continue // still in the store
		}
		el := it.el
		if el.Local != "message" || el.Space != wire.NSClient || !s.mux.WantsUndelivered(el) {
			continue
		}
		if t := el.Get("type"); t != "" && t != "chat" && t != "normal" {
			continue
		}
		if s.locked(user) {
			// Locked while the message was queued: no offline copy.
			s.bounce(el, "cancel", "service-unavailable")
			continue
		}
		ctx := context.Background()
		if it.at != 0 {
			// XEP-0203: stamped when it reached the hibernated session.
			ctx = mux.WithArrival(ctx, time.Unix(0, it.at))
		}
		taken, err := s.mux.RunUndelivered(ctx, user, el)
		switch {
		case taken:
		case errors.Is(err, store.ErrQuota):
			// The sender learns that this message did not arrive, as for
			// a message to a full queue.
			s.bounceText(el, "wait", "resource-constraint", "The recipient's offline storage is full.")
		default:
			s.log.Warn().Err(err).Msg("store undelivered message")
		}
	}
}

// bounceText is bounce with a human-readable <text/> in the error.
func (s *Server) bounceText(el *wire.Element, typ, cond, text string) {
	if el.Get("type") == "error" {
		return
	}
	from, err := parseAddr(el.Get("from"))
	r := s.errorFrom(el, "", typ, cond)
	r.Child(wire.NSClient, "error").Add(wire.New(wire.NSStanzas, "text").AddText(text))
	if err == nil && s.isRemote(from) {
		s.toOther(context.Background(), r, from.domain)
		return
	}
	if err != nil || !s.localUser(from) {
		return
	}
	if t := s.router.Session(from.local, from.resource); t != nil {
		t.Send(r)
	}
}

// deliverOffline starts handing ss what the undelivered-message hooks
// keep for its user (offline messages, mux.UndeliveredHook.Deliver), in
// a goroutine that ends with the session. Each message is deleted from
// the store only once the session's writer wrote it to the socket
// (outItem.offline). A session runs at most one delivery at a time.
//
// A call while a delivery runs asks it for one more pass, so a message
// stored while the delivery was reading its last page is not stranded
// until the next login.
func (s *Server) deliverOffline(ctx context.Context, ss *Session) {
	if len(s.mux.UndeliveredHooks()) == 0 {
		return
	}
	again := new(atomic.Bool)
	key := ss.key() // the same across XEP-0198 resumptions
	if v, busy := s.offlineBusy.LoadOrStore(key, again); busy {
		v.(*atomic.Bool).Store(true)
		return
	}
	s.sessions.Add(1)
	go func() {
		defer s.sessions.Done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// The delivery ends with the session.
		go func() {
			select {
			case <-ss.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		for {
			s.streamOffline(ctx, ss)
			if again.Swap(false) && ctx.Err() == nil {
				continue
			}
			s.offlineBusy.Delete(key)
			// A request that came between the Swap and the Delete set
			// the flag of this delivery: take it.
			if !again.Load() || ctx.Err() != nil {
				return
			}
			if _, busy := s.offlineBusy.LoadOrStore(key, again); busy {
				return // a new delivery started and will see the message
			}
			again.Store(false)
		}
	}()
}

// streamOffline is deliverOffline's loop: one pass of each hook. Offline
// messages fill at most half of the queue (Session.enqueue), so a page
// is at most a quarter of it.
func (s *Server) streamOffline(ctx context.Context, ss *Session) {
	enqueue := func(el *wire.Element, id uint64) bool { return ss.enqueue(outItem{el: el, offline: id}) }
	for _, h := range s.mux.UndeliveredHooks() {
		if h.Deliver != nil && ctx.Err() == nil {
			h.Deliver(ctx, ss.user, max(1, s.cfg.QueueMax/4), enqueue)
		}
	}
}

func (s *Server) handleIQ(ctx context.Context, ss *Session, el *wire.Element, to addr) {
	typ := el.Get("type")
	switch typ {
	case "get", "set":
		if el.Get("id") == "" || len(el.Elements()) != 1 {
			ss.Send(s.errorFrom(el, "", "modify", "bad-request"))
			return
		}
	case "result", "error":
		if el.Get("id") == "" {
			return
		}
	default:
		ss.Send(s.errorFrom(el, "", "modify", "bad-request"))
		return
	}
	local := to.domain == "" || (s.domains.IsHost(to.domain) && to.resource == "" && (to.local == "" || to.local == ss.user))
	if local {
		if typ == "result" || typ == "error" {
			s.answered(ss, el) // answers to our pings and queries
			return
		}
		s.serverIQ(ctx, ss, el, to)
		return
	}
	if !s.domains.IsHost(to.domain) {
		s.elsewhere(ctx, ss, el, to)
		return
	}
	if to.local == "" {
		s.bounceTo(ss, el, "cancel", "service-unavailable")
		return
	}
	if s.blocked(ctx, to.local, ss.full) || s.locked(to.local) {
		// A locked account's data is not served on its behalf either
		// (GDPR Art. 18).
		s.bounceTo(ss, el, "cancel", "service-unavailable")
		return
	}
	if to.resource == "" {
		// An IQ to another account's bare JID is answered by the server on
		// its behalf (RFC 6121 §8.5.2.1.3), for the services that allow it;
		// a set is refused there with the service's condition (forbidden
		// for pubsub, XEP-0060 §7.1.3.1), not a generic one.
		if typ == "get" || typ == "set" {
			s.serverIQ(ctx, ss, el, to)
			return
		}
		if typ == "result" || typ == "error" {
			s.answer(el) // answers to IQs sent on the account's behalf
			return
		}
		s.bounceTo(ss, el, "cancel", "service-unavailable")
		return
	}
	if t := s.router.Session(to.local, to.resource); t != nil {
		t.Send(el)
		return
	}
	if typ == "get" || typ == "set" {
		s.bounceTo(ss, el, "cancel", "service-unavailable")
	}
}

// serverIQ answers an IQ addressed to the server or to the sender's own (or,
// for get, another local user's) bare JID.
func (s *Server) serverIQ(ctx context.Context, ss *Session, el *wire.Element, to addr) {
	payload := el.FirstChild()
	target := mux.Server
	switch {
	case to.local == "":
	case to.local == ss.user:
		target = mux.Self
	default:
		target = mux.Others
	}
	var reply *wire.Element
	route, ok := s.mux.Lookup(payload.Space, payload.Local)
	switch {
	case !ok:
		reply = iq.Error(el, "cancel", "service-unavailable")
	case !route.Allowed(target, el.Get("type")):
		if route.Refuse != "" {
			reply = iq.Error(el, "auth", route.Refuse)
		} else {
			reply = iq.Error(el, "cancel", "service-unavailable")
		}
	default:
		pushFlag := route.Push
		reply = route.Handler(ctx, iq.Context{User: ss.user, Domain: s.cfg.Domain, From: ss.full,
			Push: func(p *wire.Element) { s.pushTo(ss.user, p, func(t *Session) bool { return t.flag(pushFlag) }) },
			Send: func(p *wire.Element) { ss.Send(p) },
			Mark: ss.mark}, el)
	}
	if reply == nil {
		return
	}
	if t := el.Get("to"); t != "" {
		reply.Set("from", t)
	}
	reply.Set("to", ss.full)
	ss.Send(reply)
}

// pushInterested sends el to every session of user that requested the
// roster, with to set to each session's full JID.
func (s *Server) pushInterested(user string, el *wire.Element) {
	s.pushTo(user, el, func(t *Session) bool { return t.interested.Load() })
}

// pushTo sends el to every session of user for which want is true, with to
// set to each session's full JID.
func (s *Server) pushTo(user string, el *wire.Element, want func(*Session) bool) {
	for _, t := range s.router.Sessions(user) {
		if want(t) {
			c := el.Copy()
			c.Set("to", t.full)
			t.Send(c)
		}
	}
}

// unbind removes a session after its stream ended: it leaves the table and
// its contacts learn it went offline (RFC 6121 §4.5.3).
func (s *Server) unbind(ss *Session) {
	if !s.router.Unbind(ss) {
		return
	}
	u := wire.New(wire.NSClient, "presence", "type", "unavailable", "from", ss.full)
	if ss.available.Load() {
		s.pres.Broadcast(context.Background(), ss.user, ss, u)
	}
	// Rooms and others that got directed presence learn the session is
	// gone (RFC 6121 §4.6.3; XEP-0045 occupants leave).
	s.directedUnavailable(context.Background(), ss, u)
}

var _ = time.Second

// fastAddr splits an all-ASCII JID whose localpart is lower-case
// [a-z0-9._-], whose domain is lower-case [a-z0-9.-] and whose resource is
// printable ASCII without spaces: for those, normalisation is the identity.
func fastAddr(s string) (addr, bool) {
	if len(s) == 0 || len(s) > 1023 {
		return addr{}, false
	}
	var a addr
	rest := s
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		a.resource = rest[i+1:]
		rest = rest[:i]
		if a.resource == "" {
			return addr{}, false
		}
		for j := 0; j < len(a.resource); j++ {
			if c := a.resource[j]; c <= 0x20 || c >= 0x7f {
				return addr{}, false
			}
		}
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		a.local = rest[:i]
		rest = rest[i+1:]
		if a.local == "" {
			return addr{}, false
		}
		for j := 0; j < len(a.local); j++ {
			c := a.local[j]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return addr{}, false
			}
		}
	}
	// Each label: 1-63 of [a-z0-9-], no hyphen at either end, and no "--"
	// in positions 3-4 (reserved for IDNA's xn-- form).
	for labels := rest; ; {
		label, more, found := strings.Cut(labels, ".")
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			(len(label) >= 4 && label[2:4] == "--") {
			return addr{}, false
		}
		for j := 0; j < len(label); j++ {
			c := label[j]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return addr{}, false
			}
		}
		if !found {
			break
		}
		labels = more
	}
	a.domain = rest
	return a, true
}

// parseFull parses with mellium only (tests compare it with fastAddr).
func parseFull(s string) (addr, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return addr{}, err
	}
	return addr{j.Localpart(), j.Domainpart(), j.Resourcepart()}, nil
}

// OfflineExpired bounces an offline message that retention deleted before
// its recipient came online (issue 4): the sender's online sessions get a
// recipient-unavailable error, so nobody believes it was delivered. An
// offline sender learns nothing; errors are not stored (RFC 6121 §8.5.2).
func (s *Server) OfflineExpired(user string, stanza []byte) {
	el, err := wire.Parse(stanza)
	if err != nil || el.Local != "message" || el.Get("type") == "error" {
		return
	}
	from, err := parseAddr(el.Get("from"))
	if err != nil || !s.localUser(from) {
		return
	}
	r := wire.New(wire.NSClient, "message", "type", "error", "id", el.Get("id"),
		"from", user+"@"+s.cfg.Domain, "to", from.bare())
	r.Add(iq.StanzaError("wait", "recipient-unavailable", "The message expired before the recipient came online."))
	for _, t := range s.router.Sessions(from.local) {
		if t.available.Load() {
			t.Send(r)
		}
	}
}

// BlocklistChanged applies XEP-0191 §3.3 and §3.4 to presence after user
// blocked or unblocked JIDs (presence.Rules.BlocklistChanged).
func (s *Server) BlocklistChanged(user string, blocked, unblocked []string) {
	s.pres.BlocklistChanged(user, blocked, unblocked)
}
