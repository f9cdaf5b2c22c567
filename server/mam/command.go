package mam

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/wire"
)

// Ad-hoc command (XEP-0050) that deletes the sender's own archive, for
// clients without a web browser at hand. It asks for confirmation first.
const (
	// NSCommands is the XEP-0050 namespace.
	NSCommands = "http://jabber.org/protocol/commands"
	// PurgeNode is the node of the purge command.
	PurgeNode = "urn:chatbx:mam:purge"
	// PurgeName is the command's human-readable name (disco#items).
	PurgeName = "Delete my message archive"

	commandTTL      = 10 * time.Minute
	maxCommandState = 1024
)

// commandSessions remembers which user started which purge session, so
// that a completion is accepted only from the session's owner.
type commandSessions struct {
	mu sync.Mutex
	m  map[string]commandSession
}

type commandSession struct {
	user    string
	expires time.Time
}

func (s *commandSessions) start(user string, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]commandSession)
	}
	if len(s.m) >= maxCommandState {
		for id, cs := range s.m {
			if now.After(cs.expires) {
				delete(s.m, id)
			}
		}
		if len(s.m) >= maxCommandState {
			clear(s.m)
		}
	}
	id := rand.Text()
	s.m[id] = commandSession{user: user, expires: now.Add(commandTTL)}
	return id
}

// end removes a session and reports whether user owned it and it was live.
func (s *commandSessions) end(id, user string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.m[id]
	delete(s.m, id)
	return ok && cs.user == user && !now.After(cs.expires)
}

// Command handles XEP-0050 commands IQs for PurgeNode, addressed to the
// server or the sender's own bare JID: execute starts a session with a
// confirmation form, complete (or execute/next with the session) with the
// confirm field true purges the archive, cancel ends the session. Other
// nodes get item-not-found, an unknown or expired session bad-request
// with <bad-sessionid/>.
func (a *Archive) Command(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	if el.Get("type") != "set" {
		if el.Get("type") == "get" {
			return iq.Error(el, "modify", "bad-request")
		}
		return nil
	}
	cmd := iq.Payload(el)
	if cmd == nil || cmd.Space != NSCommands || cmd.Local != "command" {
		return iq.Error(el, "modify", "bad-request")
	}
	switch target(c, el.Get("to")) {
	case c.Domain, c.User + "@" + c.Domain:
	default:
		return iq.Error(el, "auth", "forbidden")
	}
	if cmd.Get("node") != PurgeNode {
		return iq.Error(el, "cancel", "item-not-found")
	}
	now := a.now()
	reply := func(status, session string, children ...*wire.Element) *wire.Element {
		r := wire.New(NSCommands, "command", "node", PurgeNode, "sessionid", session, "status", status)
		return iq.Result(el, r.Add(children...))
	}
	session := cmd.Get("sessionid")
	action := cmd.Get("action")
	if session == "" {
		if action != "" && action != "execute" {
			return iq.Error(el, "modify", "bad-request")
		}
		id := a.commands.start(c.User, now)
		form := wire.New(nsData, "x", "type", "form").Add(
			wire.New(nsData, "title").AddText(PurgeName),
			wire.New(nsData, "instructions").AddText("This deletes every message in your archive on this server. It cannot be undone."),
			wire.New(nsData, "field", "var", "confirm", "type", "boolean", "label", "Delete all archived messages").
				Add(wire.New(nsData, "value").AddText("0")))
		actions := wire.New(NSCommands, "actions", "execute", "complete").Add(wire.New(NSCommands, "complete"))
		return reply("executing", id, actions, form)
	}
	if !a.commands.end(session, c.User, now) {
		r := iq.Error(el, "modify", "bad-request")
		r.Child(wire.NSClient, "error").Add(wire.New(NSCommands, "bad-sessionid"))
		return r
	}
	switch action {
	case "cancel":
		return reply("canceled", session)
	case "", "execute", "complete", "next":
	default:
		return iq.Error(el, "modify", "bad-request")
	}
	if !confirmed(cmd.Child(nsData, "x")) {
		return reply("completed", session, note("Nothing was deleted."))
	}
	if err := a.Purge(ctx, c.User); err != nil {
		return a.storeError(el, err)
	}
	return reply("completed", session, note("Your message archive was deleted."))
}

func note(text string) *wire.Element {
	return wire.New(NSCommands, "note", "type", "info").AddText(text)
}

// confirmed reports whether a submitted form has confirm set to true
// (XEP-0004 booleans: "1" or "true").
func confirmed(x *wire.Element) bool {
	if x == nil || x.Get("type") != "submit" {
		return false
	}
	for _, f := range x.Elements() {
		if f.Space == nsData && f.Local == "field" && f.Get("var") == "confirm" {
			v := f.ChildText(nsData, "value")
			return v == "1" || v == "true"
		}
	}
	return false
}

// Commands lists the archive's ad-hoc commands for disco#items
// (XEP-0050 §2.2) on the server's domain.
func (a *Archive) Commands() []disco.Item {
	return []disco.Item{{JID: a.domain, Node: PurgeNode, Name: PurgeName}}
}

// AccountFeatures returns the features to advertise on an account's bare
// JID, where the archive lives (XEP-0313 §6.1).
func (a *Archive) AccountFeatures() []string { return a.Features() }
