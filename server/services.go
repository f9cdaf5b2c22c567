package server

import (
	"context"
	"time"

	"chatbx/server/blocking"
	"chatbx/server/c2s"
	"chatbx/server/disco"
	"chatbx/server/last"
	"chatbx/server/mux"
	"chatbx/server/pep"
	"chatbx/server/ping"
	"chatbx/server/private"
	"chatbx/server/vcard"
	"chatbx/server/version"
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
		vcard.New(d.DB, vcard.Config{MaxBytes: cfg.VCardMaxBytes, Log: d.Log.With().Str("component", "vcard").Logger()}),
		private.New(d.DB, private.Config{Log: d.Log.With().Str("component", "private").Logger()}),
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
	v.pep = pep.New(d.DB, pcfg)
	v.pep.Register(v.mux)
	return v
}

// register completes the registry once c2s has added its own handlers:
// disco (XEP-0030) is built from everyone's contributions and answers
// disco#info on behalf of accounts too.
func (v *services) register(c *c2s.Server) {
	v.c2s = c
	c.SetHooks(v.pep.Attach(c, v.blocked))
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
func (v *services) forget(user string) { v.block.Forget(user) }
