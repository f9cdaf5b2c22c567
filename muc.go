package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/accounts"
	"chatbx/server"
	"chatbx/server/muc"
	"chatbx/server/wire"
	"chatbx/store"
)

// newMUC builds the group chat service (XEP-0045) from the configuration,
// or returns nil when muc.enabled is off or no domain is known.
func newMUC(ctx context.Context, cfg Config, domain string, db *store.DB, log zerolog.Logger) (*muc.Service, error) {
	if !cfg.MUC.Enabled || domain == "" {
		return nil, nil
	}
	mucDomain := cfg.MUC.Domain
	if mucDomain == "" {
		mucDomain = muc.DefaultDomain(domain)
	}
	s, err := muc.New(ctx, muc.Config{
		Domain:          mucDomain,
		Host:            domain,
		Create:          cfg.MUC.Create,
		Admins:          append([]string(nil), cfg.MUC.Admins...),
		MaxRoomsPerUser: cfg.MUC.MaxRoomsPerUser,
		MaxOccupants:    cfg.MUC.MaxOccupants,
		MaxHistory:      cfg.MUC.HistoryMax,
		HistoryDefault:  cfg.MUC.HistoryDefault,
		MessageRate:     float64(cfg.MUC.MessageRate),
		MessageBurst:    cfg.MUC.MessageBurst,
		ArchiveMaxAge:   cfg.MUC.ArchiveMaxAge,
		ArchiveBytes:    int64(cfg.MUC.ArchiveBytes),
		StateBytes:      cfg.MUC.StateBytes,
		MaxAffiliations: cfg.MUC.MaxAffiliations,
		Log:             log,
	}, db)
	if err != nil {
		return nil, fmt.Errorf("muc: %w", err)
	}
	return s, nil
}

// mucHook removes a deleted account from every room (issue 13): it leaves
// them, loses its affiliations, its archived messages go, and rooms it
// alone owned are destroyed. send routes the presences (nil: nobody is
// online, as in direct mode).
func mucHook(rooms *muc.Service, domain string, send func(*wire.Element)) accounts.Hooks {
	if send == nil {
		send = func(*wire.Element) {}
	}
	return accounts.Hooks{
		AfterDelete: func(ctx context.Context, d accounts.Deleted, _ string) error {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := rooms.Forget(ctx, d.User+"@"+domain, send); err != nil {
				return fmt.Errorf("group chats: %w", err)
			}
			return nil
		},
	}
}

// certNames are the names the certificate covers: the domain, the web
// hosts and the group chat service's domain.
func certNames(cfg Config) []string {
	names := append([]string{cfg.Domain}, cfg.Web.Hosts...)
	if cfg.MUC.Enabled && cfg.MUC.Domain != "" && !slices.Contains(names, cfg.MUC.Domain) {
		names = append(names, cfg.MUC.Domain)
	}
	return names
}

// mucPolicy are the group chat fields of the data-policy form
// (urn:chatbx:data-policy): what rooms keep, for how long, who decides.
func mucPolicy(cfg Config, rooms *muc.Service) map[string]string {
	if rooms == nil {
		return nil
	}
	c := rooms.Config()
	return map[string]string{
		"muc-history":            "memory-only",
		"muc-history-max":        strconv.Itoa(c.MaxHistory),
		"muc-archive-default":    "off",
		"muc-archive-decided-by": "room-owner",
		"retention-muc-archive":  strconv.FormatInt(int64(c.ArchiveMaxAge/time.Second), 10),
		"muc-deleted-account":    "removed",
	}
}

// mucDomainOf is the group chat domain the privacy page names, or "".
func mucDomainOf(rooms *muc.Service) string {
	if rooms == nil {
		return ""
	}
	return rooms.Domain()
}

// xmppRun runs the XMPP server; with group chats, when ctx ends the
// occupants first learn that the service goes away (status 332) and only
// then do the sessions close.
func xmppRun(srv *server.Server, rooms *muc.Service) func(context.Context) error {
	if rooms == nil {
		return srv.Run
	}
	return func(ctx context.Context) error {
		inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		stop := context.AfterFunc(ctx, func() {
			rooms.Shutdown(srv.Deliver)
			cancel()
		})
		defer stop()
		return srv.Run(inner)
	}
}
