package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"chatbx/internal/admin"
	"chatbx/internal/config"
	"chatbx/retention"
	"chatbx/server/register"
	"chatbx/store"
	"chatbx/web/account"
)

// Invitations: `chatbx invite create|list|delete` and the adapter that
// hands the store's invites to the invite page (web/account), in-band
// registration (server/register) and retention.
//
// The store keeps only a hash of each token: the token is printed once,
// by `invite create`, and cannot be shown again.

// Limits of `invite create`.
const (
	defaultInviteUses    = 1
	maxInviteUses        = 1000
	defaultInviteExpires = 7 * day
	// maxInviteExpires bounds an invite's validity: an invite link is a
	// bearer credential and should not live for long.
	maxInviteExpires = 30 * day
)

// storeInvites adapts *store.DB to the invite interfaces of web/account
// and server/register (InviteValid) and retention (Sweeper: expired
// invites). Registration spends a use in the transaction that creates the
// account (accounts.Service.CreateInvited). now is the clock; nil means
// time.Now.
type storeInvites struct {
	db  *store.DB
	now func() time.Time
}

var (
	_ account.Invites   = storeInvites{}
	_ register.Invites  = storeInvites{}
	_ retention.Sweeper = storeInvites{}
)

func (s storeInvites) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

// InviteValid reports whether token names an invite that has not expired
// (it has uses left, or the store would have deleted it).
func (s storeInvites) InviteValid(ctx context.Context, token string) (bool, error) {
	inv, err := s.db.Invite(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.clock().Before(inv.Expires) && inv.Uses > 0, nil
}

// UseInvite consumes one use of token and reports whether it was valid.
func (s storeInvites) UseInvite(ctx context.Context, token string) (bool, error) {
	return s.db.UseInvite(ctx, token, s.clock())
}

// Sweep deletes the invites that expired at or before cutoff.
func (s storeInvites) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	return s.db.ExpireInvites(ctx, cutoff)
}

// inviteLinks builds the links printed by `invite create`.
type inviteLinks struct {
	// Domain is the XMPP domain, for the xmpp: URI.
	Domain string
	// Site is the HTTPS base URL of the first web host (siteURL).
	Site string
}

// links returns the landing page URL and the XEP-0379 / XEP-0401 URI.
func (l inviteLinks) links(token string) (page, uri string) {
	return l.Site + "/invite/" + token, account.InviteURI(l.Domain, token)
}

// inviteHandlers returns the admin socket commands "invite create",
// "invite list" and "invite delete" over db. now is the clock (nil means
// time.Now). Privacy: tokens travel in requests and answers only, and
// the admin server logs command names alone.
func inviteHandlers(l inviteLinks, db *store.DB, now func() time.Time) map[string]admin.Handler {
	if now == nil {
		now = time.Now
	}
	return map[string]admin.Handler{
		"invite create": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			uses, expires, err := inviteOptions(req.Flags)
			if err != nil {
				return admin.Response{}, err
			}
			token, err := store.NewInviteToken()
			if err != nil {
				return admin.Response{}, err
			}
			t := now().UTC()
			inv := store.Invite{Token: token, Created: t, Expires: t.Add(expires), Uses: uses}
			if err := db.CreateInvite(ctx, inv); err != nil {
				return admin.Response{}, err
			}
			page, uri := l.links(token)
			regs := "registration"
			if uses != 1 {
				regs = "registrations"
			}
			return admin.Response{Output: fmt.Sprintf("invite for %d %s, valid until %s (shown only now: the server keeps a hash)\n  %s\n  %s\n",
				uses, regs, inv.Expires.Format(time.RFC3339), page, uri)}, nil
		},
		"invite list": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			list, err := db.Invites(ctx)
			if err != nil {
				return admin.Response{}, err
			}
			var b strings.Builder
			t := now()
			for _, inv := range list {
				state := ""
				if !t.Before(inv.Expires) {
					state = " (expired)"
				}
				creator := "operator"
				if inv.Creator != "" {
					creator = inv.Creator
				}
				fmt.Fprintf(&b, "%s  uses %d  expires %s%s  by %s\n", inv.ID, inv.Uses, inv.Expires.Format(time.RFC3339), state, creator)
			}
			return admin.Response{Output: b.String()}, nil
		},
		"invite delete": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			if len(req.Args) != 1 {
				return admin.Response{}, errors.New("invite delete: want exactly one TOKEN or ID")
			}
			arg := req.Args[0]
			err := db.DeleteInvite(ctx, arg)
			if errors.Is(err, store.ErrNotFound) {
				// Not a token: perhaps an ID from `invite list`.
				err = db.DeleteInviteID(ctx, arg)
			}
			if errors.Is(err, store.ErrNotFound) {
				return admin.Response{}, errors.New("no such invite")
			}
			if err != nil {
				return admin.Response{}, err
			}
			return admin.Response{Output: "invite deleted\n"}, nil
		},
	}
}

// hideInviteToken serves h and then cuts the token from r's path.
// Privacy and security: the site's error log (package web) records the
// path of every 4xx or 5xx answer after the handler has returned, and a
// token there (say, of a registration form sent with mismatched
// passwords) would be a working credential in a file kept for 30 days.
// The handler sees the whole path; the log sees "/invite/".
func hideInviteToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { r.URL.Path, r.URL.RawPath = "/invite/", "" }()
		h.ServeHTTP(w, r)
	})
}

// inviteOptions reads --uses and --expires with their defaults and limits.
func inviteOptions(flags map[string]string) (uses int, expires time.Duration, err error) {
	uses, expires = defaultInviteUses, defaultInviteExpires
	if s, ok := flags["uses"]; ok {
		uses, err = strconv.Atoi(strings.TrimSpace(s))
		if err != nil || uses < 1 || uses > maxInviteUses {
			return 0, 0, fmt.Errorf("invite create: --uses %q: want a number from 1 to %d", s, maxInviteUses)
		}
	}
	if s, ok := flags["expires"]; ok {
		expires, err = config.ParseDuration(s)
		if err != nil || expires < time.Second || expires > maxInviteExpires {
			return 0, 0, fmt.Errorf("invite create: --expires %q: want a duration from 1s to %s (e.g. 7d, 12h)", s, config.FormatDuration(maxInviteExpires))
		}
	}
	return uses, expires, nil
}

// inviteCommand describes one `chatbx invite` subcommand.
type inviteCommand struct {
	args int             // positional arguments wanted
	opts map[string]bool // own options (name → boolean)
}

var inviteCommands = map[string]inviteCommand{
	"create": {opts: map[string]bool{"uses": false, "expires": false}},
	"list":   {},
	"delete": {args: 1},
}

// cmdInvite runs `chatbx invite create|list|delete`: through the running
// server's admin socket, or on the database directly when none runs.
func (e *cmdEnv) cmdInvite(args []string) error {
	if len(args) == 0 {
		return usagef("invite: missing subcommand (create, list or delete)")
	}
	c, ok := inviteCommands[args[0]]
	if !ok {
		return usagef("invite: unknown subcommand %q", args[0])
	}
	name := "invite " + args[0]
	p, err := parseArgs(args[1:], c.opts)
	if err != nil {
		return err
	}
	if p.helpReq {
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	if len(p.pos) != c.args {
		if c.args == 0 {
			return usagef("%s takes no arguments", name)
		}
		return usagef("%s: want exactly one TOKEN or ID", name)
	}
	req := admin.Request{Cmd: name, Args: p.pos}
	if len(c.opts) > 0 {
		req.Flags = map[string]string{}
		for o := range c.opts {
			if v, ok := p.opts[o]; ok {
				req.Flags[o] = v
			}
		}
		// Refuse bad options here, with the usage exit status.
		if _, _, err := inviteOptions(req.Flags); err != nil {
			return usagef("%v", err)
		}
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	resp, err := e.callOrDirect(cfg, req, false)
	if err != nil {
		return err
	}
	_, err = io.WriteString(e.stdout, resp.Output)
	return err
}
