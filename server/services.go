package server

import (
	"context"
	"time"

	"chatbx/server/blocking"
	"chatbx/server/c2s"
	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/last"
	"chatbx/server/ping"
	"chatbx/server/private"
	"chatbx/server/vcard"
	"chatbx/server/version"
	"chatbx/server/wire"
)

// service is what every feature package offers the c2s layer.
type service interface {
	Namespaces() []string
	Features() []string
	Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element
}

// commander is a service with ad-hoc commands (XEP-0050).
type commander interface {
	Commands() []disco.Item
	Command(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element
}

// services holds the IQ service handlers and what the c2s layer asks of
// them (the blocklist check).
type services struct {
	cfg   Config
	d     Deps
	block *blocking.Blocking
	list  []service
	c2s   *c2s.Server // set by register; the blocking hook needs it
}

func newServices(cfg Config, d Deps) *services {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	v := &services{cfg: cfg, d: d}
	bcfg := blocking.DefaultConfig()
	bcfg.Changed = func(user string, blocked, unblocked []string) {
		if v.c2s != nil {
			v.c2s.BlocklistChanged(user, blocked, unblocked)
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
	return v
}

// register installs every IQ handler on the c2s server and builds disco
// from everyone's features.
func (v *services) register(c *c2s.Server) {
	v.c2s = c
	features := c.Features()
	for _, s := range v.list {
		features = append(features, s.Features()...)
	}
	dc := disco.Config{
		Name:            "chatbx",
		Features:        features,
		Contact:         disco.Contact{Admin: v.cfg.ContactAdmin, Abuse: v.cfg.ContactAbuse},
		DataPolicy:      v.cfg.DataPolicy,
		Items:           v.cfg.DiscoItems,
		AccountFeatures: v.cfg.AccountFeatures,
	}
	for _, s := range v.list {
		// Optional parts of a service's disco answer (XEP-0128 forms such
		// as upload's max-file-size, extra identities).
		if f, ok := s.(interface{ Form() disco.Form }); ok {
			dc.Forms = append(dc.Forms, f.Form())
		}
		if id, ok := s.(interface{ Identity() disco.Identity }); ok {
			dc.Identities = append(dc.Identities, id.Identity())
		}
		if af, ok := s.(interface{ AccountFeatures() []string }); ok {
			dc.AccountFeatures = append(dc.AccountFeatures, af.AccountFeatures()...)
		}
		// Ad-hoc commands (XEP-0050). One service offers them today; a
		// second would need a dispatcher by node.
		if cmd, ok := s.(commander); ok {
			dc.Commands = append(dc.Commands, cmd.Commands()...)
			c.HandleIQ(disco.NSCommands, cmd.Command)
		}
	}
	all := append([]service{disco.New(dc, v.d.DB)}, v.list...)
	for _, s := range all {
		for _, ns := range s.Namespaces() {
			c.HandleIQ(ns, s.Handle)
		}
	}
}

// blocked reports whether user blocked jid (XEP-0191).
func (v *services) blocked(ctx context.Context, user, jid string) bool {
	return v.block.Blocked(ctx, user, jid)
}

// forget drops cached per-user state (after account deletion).
func (v *services) forget(user string) { v.block.Forget(user) }
