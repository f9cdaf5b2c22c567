package c2s

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/wire"
	"chatbx/store"
)

// Spam control without analysing people: each account chooses who may
// send it messages from other servers (store.PrefStrangers):
//
//   - "accept" (the default): anyone, but messages from strangers (not in
//     the roster) are limited per remote domain (first contacts), in memory;
//   - "servers": only senders on a domain where the account has a contact;
//   - "contacts": only contacts.
//
// A refused message gets service-unavailable, as for an unknown account.
// The setting is an ad-hoc command (XEP-0050, StrangersNode) and a form
// on the account pages.

// Stranger policies.
const (
	StrangersAccept   = "accept"
	StrangersServers  = "servers"
	StrangersContacts = "contacts"
	// StrangersNode is the ad-hoc command's node.
	StrangersNode = "urn:chatbx:strangers"
)

// Limits of first-contact messages from one remote domain (in memory).
const (
	strangerPerMinute  = 30
	strangerBurst      = 30
	maxStrangerDomains = 10000
)

// strangerLimits are the per-remote-domain budgets of messages from
// senders not in the recipient's roster.
type strangerLimits struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (l *strangerLimits) allow(domain string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxStrangerDomains {
		l.m = map[string]*rate.Limiter{} // bounded: forget all at once
	}
	r := l.m[domain]
	if r == nil {
		r = rate.NewLimiter(rate.Every(time.Minute/strangerPerMinute), strangerBurst)
		l.m[domain] = r
	}
	return r.Allow()
}

// strangerAllowed applies the recipient's stranger policy to a message
// from a remote sender.
func (s *Server) strangerAllowed(ctx context.Context, el *wire.Element, from, to addr) bool {
	switch el.Get("type") {
	case "error", "groupchat":
		return true // answers, and rooms the user joined
	}
	if it, err := s.db.RosterItem(ctx, to.local, from.bare()); err == nil && !hiddenItem(&it) {
		return true
	}
	policy, _ := s.db.UserPref(ctx, to.local, store.PrefStrangers)
	switch policy {
	case StrangersContacts:
		return false
	case StrangersServers:
		_, items, err := s.db.Roster(ctx, to.local)
		if err != nil {
			return false
		}
		for i := range items {
			if _, d, ok := strings.Cut(items[i].JID, "@"); ok && d == from.domain && !hiddenItem(&items[i]) {
				return true
			}
		}
		return false
	}
	return s.strangers.allow(from.domain)
}

// strangersCommand is the ad-hoc command that shows and sets the
// sender's stranger policy: execute returns a form with the current
// value, a submitted form sets it.
func (s *Server) strangersCommand(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	if el.Get("type") != "set" || c.User == "" {
		return iq.Error(el, "modify", "bad-request")
	}
	cmd := iq.Payload(el)
	session := cmd.Get("sessionid")
	reply := func(status string, children ...*wire.Element) *wire.Element {
		r := wire.New(disco.NSCommands, "command", "node", StrangersNode, "sessionid", session, "status", status)
		return iq.Result(el, r.Add(children...))
	}
	if cmd.Get("action") == "cancel" {
		return reply("canceled")
	}
	if x := cmd.Child(disco.NSData, "x"); x != nil && x.Get("type") == "submit" && session != "" {
		v := ""
		for _, f := range x.Elements() {
			if f.Local == "field" && f.Get("var") == "policy" {
				v = f.ChildText(disco.NSData, "value")
			}
		}
		switch v {
		case StrangersAccept, StrangersServers, StrangersContacts:
		default:
			return iq.Error(el, "modify", "bad-request")
		}
		if err := s.db.SetUserPref(ctx, c.User, store.PrefStrangers, v); err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		return reply("completed", wire.New(disco.NSCommands, "note", "type", "info").AddText("Saved."))
	}
	if session == "" {
		session = rand.Text()
	}
	cur, err := s.db.UserPref(ctx, c.User, store.PrefStrangers)
	if err != nil {
		return iq.Error(el, "wait", "internal-server-error")
	}
	if cur == "" {
		cur = StrangersAccept
	}
	field := wire.New(disco.NSData, "field", "var", "policy", "type", "list-single", "label", "Messages from people on other servers who are not in your contacts")
	for _, o := range []struct{ v, label string }{
		{StrangersAccept, "Accept (a few per server at a time)"},
		{StrangersServers, "Only from servers where I have contacts"},
		{StrangersContacts, "Only from my contacts"},
	} {
		field.Add(wire.New(disco.NSData, "option", "label", o.label).Add(wire.New(disco.NSData, "value").AddText(o.v)))
	}
	field.Add(wire.New(disco.NSData, "value").AddText(cur))
	form := wire.New(disco.NSData, "x", "type", "form").Add(
		wire.New(disco.NSData, "title").AddText("Messages from strangers"), field)
	actions := wire.New(disco.NSCommands, "actions", "execute", "complete").Add(wire.New(disco.NSCommands, "complete"))
	return reply("executing", actions, form)
}

// registerStrangers adds the ad-hoc command to the registry.
func (s *Server) registerStrangers() {
	s.mux.Command(mux.Command{
		Item:    disco.Item{JID: s.cfg.Domain, Node: StrangersNode, Name: "Messages from strangers on other servers"},
		Handler: s.strangersCommand,
	})
}
