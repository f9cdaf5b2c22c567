package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"

	"chatbx/server/router"
	"chatbx/server/s2s"
	"chatbx/server/wire"
	"chatbx/store"
)

// secretSetting is the store setting that holds the dialback secret
// (XEP-0185): keys are derived from it and never stored.
const secretSetting = "s2s.dialback_secret"

// dialbackSecret returns the stored secret, creating it on first use.
func dialbackSecret(db *store.DB) ([]byte, error) {
	ctx := context.Background()
	b, err := db.Setting(ctx, secretSetting)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := db.SetSetting(ctx, secretSetting, b); err != nil {
		return nil, err
	}
	return b, nil
}

// newS2S builds the federation side; inbound stanzas go to deliver.
func newS2S(cfg Config, d Deps, deliver func(*wire.Element)) (*s2s.Server, error) {
	sc := *cfg.S2S
	sc.Domain = cfg.Domain
	if sc.MaxStanzaBytes == 0 {
		sc.MaxStanzaBytes = cfg.MaxStanzaBytes
	}
	secret, err := dialbackSecret(d.DB)
	if err != nil {
		return nil, fmt.Errorf("server: dialback secret: %w", err)
	}
	tc := d.S2S.TLS
	if tc == nil && d.StartTLS != nil {
		tc = d.StartTLS(cfg.Domain)
	}
	return s2s.New(sc, s2s.Deps{
		Log: d.Log, ConnLog: d.ConnLog, TLS: tc, Roots: d.S2S.Roots, Resolver: d.S2S.Resolver,
		Deliver: deliver, Secret: secret, Now: d.Now, Links: d.Metrics.S2SLinks(),
		// Local services (group chat) federate from their own domain.
		Local: func(domain string) bool {
			k, _ := d.Domains.Lookup(domain)
			return k == router.Service
		},
	})
}

// runFederated runs c2s and s2s until ctx ends; it returns once both
// have stopped (s2s delivers what peers sent until they closed).
func (s *Server) runFederated(ctx context.Context) error {
	errc := make(chan error, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- s.c2s.Run(ctx) }()
	// s2s delivers into c2s: it starts once c2s runs (c2s.Deliver reads
	// what Run sets up; an early peer stanza raced with it).
	select {
	case <-s.c2s.Ready():
		go func() { errc <- s.s2s.Run(ctx) }()
	case err := <-errc:
		return err
	}
	first := <-errc
	cancel()
	second := <-errc
	return errors.Join(first, second)
}

// ready is closed once both c2s and s2s listen.
func (s *Server) ready() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		<-s.c2s.Ready()
		<-s.s2s.Ready()
		close(ch)
	}()
	return ch
}

// S2SAddrs returns the s2s listener addresses (STARTTLS, then direct
// TLS), or nil without federation.
func (s *Server) S2SAddrs() []net.Addr {
	if s.s2s == nil {
		return nil
	}
	return s.s2s.Addrs()
}

// S2S returns the federation side, or nil (blocklist reload, spam
// counts, counters).
func (s *Server) S2S() *s2s.Server { return s.s2s }
