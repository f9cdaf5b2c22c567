package server

import (
	"context"
	"strings"
	"time"

	"chatbx/server/blocking"
	"chatbx/server/c2s"
	"chatbx/server/carbons"
	"chatbx/server/disco"
	"chatbx/server/last"
	"chatbx/server/mux"
	"chatbx/server/offline"
	"chatbx/server/pep"
	"chatbx/server/ping"
	"chatbx/server/private"
	"chatbx/server/push"
	"chatbx/server/roster"
	"chatbx/server/router"
	"chatbx/server/vcard"
	"chatbx/server/version"
	"chatbx/server/wire"
)

// service is the shape of the IQ services (package mux's Service).
type service = mux.Service

// services holds the IQ services and what the c2s layer asks of them
// (the blocklist check).
type services struct {
	cfg   Config
	d     Deps
	block *blocking.Blocking
	pep   *pep.PEP
	push  *push.Push
	list  []service
	mux   *mux.Registry
	c2s   *c2s.Server // set by register; the blocking hook needs it
	// reported counts XEP-0377 reports (set with federation).
	reported func(jid string)
}

func newServices(cfg Config, d Deps) *services {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	v := &services{cfg: cfg, d: d, mux: mux.New()}
	bcfg := blocking.DefaultConfig()
	bcfg.Changed = func(user string, blocked, unblocked []string) {
		if v.c2s != nil {
			v.c2s.BlocklistChanged(user, blocked, unblocked)
		}
	}
	bcfg.Reported = func(jid string) {
		// XEP-0377: a count per remote domain, in memory (federation).
		if v.reported != nil {
			v.reported(jid)
		}
	}
	v.block = blocking.New(d.DB, bcfg)
	v.list = []service{
		ping.New(),
		version.New(cfg.Version),
		last.New(now(), now),
		vcard.New(d.DB, vcard.Config{MaxBytes: cfg.VCardMaxBytes, Log: d.Log.With().Str("component", "vcard").Logger(),
			Changed: func(ctx context.Context, user string, card *wire.Element) { v.pep.VCardChanged(ctx, user, card) }}),
		private.New(d.DB, private.Config{Log: d.Log.With().Str("component", "private").Logger(),
			Changed: func(ctx context.Context, user string, frag *wire.Element) { v.pep.PrivateChanged(ctx, user, frag) }}),
		v.block,
	}
	v.list = append(v.list, cfg.Extra...)
	for _, s := range v.list {
		v.mux.AddService(s)
	}
	// The server answers vcard-temp gets on behalf of accounts (XEP-0054
	// §3.2).
	v.mux.Namespace(vcard.NS, mux.Route{Handler: v.list[3].Handle, Targets: mux.Server | mux.Self | mux.Others})
	// PEP (XEP-0163): every account is a pubsub service.
	pcfg := cfg.PEP
	pcfg.Domain = cfg.Domain
	pcfg.Log = d.Log.With().Str("component", "pep").Logger()
	pcfg.VCardMaxBytes = cfg.VCardMaxBytes
	v.pep = pep.New(d.DB, pcfg)
	// Avatars (XEP-0398) and bookmarks (XEP-0402 #compat, XEP-0411).
	v.pep.Convert(d.DB)
	v.pep.Register(v.mux)
	// Push notifications (XEP-0357).
	pucfg := cfg.Push
	pucfg.Domain = cfg.Domain
	pucfg.Log = d.Log.With().Str("component", "push").Logger()
	v.push = push.New(d.DB, pucfg)
	v.mux.AddService(v.push)
	return v
}

// register completes the registry once c2s has added its own handlers:
// disco (XEP-0030) is built from everyone's contributions and answers
// disco#info on behalf of accounts too.
func (v *services) register(c *c2s.Server) {
	v.c2s = c
	// Rosters (RFC 6121 §2); c2s cancels subscriptions on removal.
	roster.New(v.d.DB, c).Register(v.mux)
	// Message Carbons (XEP-0280): IQs and the copy hook.
	carbons.Register(v.mux)
	// Offline messages (RFC 6121 §8.5.2.1.1); what is stored wakes the
	// user's devices (XEP-0357 push).
	offline.New(v.d.DB, offline.Config{Domain: v.cfg.Domain, Max: v.cfg.OfflineMax, Now: v.d.Now,
		Stored: v.push.Offline, Log: v.d.Log.With().Str("component", "offline").Logger()}).Register(v.mux)
	hooks := v.pep.Attach(c, v.blocked)
	hooks.Answer = v.push.Answer
	// XEP-0398 §4: available presence carries the XEP-0153 photo hash.
	v.mux.Presence(mux.PresenceHook{Name: "avatar-hash", Order: mux.OrderAvatar,
		Run: func(_ context.Context, owner string, el *wire.Element) *wire.Element {
			return v.pep.PresenceStanza(owner, el)
		}})
	c.SetHooks(hooks)
	// A message queued to a session that stream management holds while
	// its phone is away wakes the phone like an offline one (XEP-0357
	// with XEP-0198), if it is one a person would want to see.
	c.OnHibernated(func(user string, el *wire.Element) {
		if pushWorthy(el) {
			v.push.Offline(user, el)
		}
	})
	v.push.Attach(v.route)
	dc := v.mux.Disco(disco.Config{
		Name:            "chatbx",
		Contact:         disco.Contact{Admin: v.cfg.ContactAdmin, Abuse: v.cfg.ContactAbuse},
		DataPolicy:      v.cfg.DataPolicy,
		Items:           v.cfg.DiscoItems,
		AccountFeatures: v.cfg.AccountFeatures,
		// XEP-0163 §6.1: the account is a PEP service.
		AccountIdentities: []disco.Identity{{Category: "pubsub", Type: "pep"}},
	})
	d := disco.New(dc, v.d.DB)
	for _, ns := range d.Namespaces() {
		t := mux.Server | mux.Self
		if ns == disco.NSInfo {
			t |= mux.Others
		}
		v.mux.Namespace(ns, mux.Route{Handler: d.Handle, Targets: t})
	}
}

// blocked reports whether user blocked jid (XEP-0191).
func (v *services) blocked(ctx context.Context, user, jid string) bool {
	return v.block.Blocked(ctx, user, jid)
}

// forget drops cached per-user state (after account deletion).
func (v *services) forget(user string) {
	v.block.Forget(user)
	v.push.Forget(user)
	v.pep.Forget(user)
}

// route sends a stanza the server originates to any address through the
// domain table: the host's sessions, a local service, or the remote side
// (server-to-server, when main sets it). It never blocks.
func (v *services) route(el *wire.Element) {
	to := el.Get("to")
	dom := to
	if i := strings.IndexByte(dom, '@'); i >= 0 {
		dom = dom[i+1:]
	}
	if i := strings.IndexByte(dom, '/'); i >= 0 {
		dom = dom[:i]
	}
	if v.d.Domains == nil || v.d.Domains.IsHost(dom) {
		v.c2s.Deliver(el)
		return
	}
	if kind, h := v.d.Domains.Lookup(dom); h != nil && kind != router.Host {
		h.Handle(context.Background(), el, v.c2s.Deliver)
	}
}

// pushWorthy reports whether a stanza queued to a hibernated session
// should wake the device: a chat or normal message with a body or an
// OMEMO payload. Presence, chat states, receipts and errors wait for the
// client to come back by itself.
func pushWorthy(el *wire.Element) bool {
	if el.Local != "message" || el.Space != wire.NSClient {
		return false
	}
	switch el.Get("type") {
	case "error", "headline":
		return false
	}
	return el.Child(wire.NSClient, "body") != nil ||
		el.Child("eu.siacs.conversations.axolotl", "encrypted") != nil ||
		el.Child("urn:xmpp:omemo:2", "encrypted") != nil
}
