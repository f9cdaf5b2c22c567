package server

import (
	"context"

	"chatbx/server/c2s"
	"chatbx/server/ping"
)

// services holds the IQ service handlers and what the c2s layer asks of
// them (the blocklist check).
type services struct {
	cfg  Config
	d    Deps
	ping *ping.Ping
}

func newServices(cfg Config, d Deps) *services {
	return &services{cfg: cfg, d: d, ping: ping.New()}
}

// register installs every IQ handler on the c2s server.
func (v *services) register(c *c2s.Server) {
	c.HandleIQ(ping.NS, v.ping.Handle)
}

// blocked reports whether user blocked jid (XEP-0191).
func (v *services) blocked(ctx context.Context, user, jid string) bool { return false }

// forget drops cached per-user state (after account deletion).
func (v *services) forget(user string) {}
