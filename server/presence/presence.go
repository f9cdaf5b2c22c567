package presence

import (
	"context"

	"chatbx/server/wire"
	"chatbx/store"

	"github.com/rs/zerolog"
)

// JID is a parsed, normalised address.
type JID struct{ Local, Domain, Resource string }

// Bare returns local@domain, or the domain when there is no localpart.
func (j JID) Bare() string {
	if j.Local == "" {
		return j.Domain
	}
	return j.Local + "@" + j.Domain
}

// String returns the full JID.
func (j JID) String() string {
	if j.Resource == "" {
		return j.Bare()
	}
	return j.Bare() + "/" + j.Resource
}

// Host is the session table and routing as the presence rules see them.
// S is the host's session type (c2s uses *c2s.Session). Sessions are
// identified by user, the localpart on the local host.
type Host[S comparable] interface {
	// Sessions returns the bound sessions of user (a snapshot the
	// caller does not modify).
	Sessions(user string) []S
	// Full is the session's full JID, Resource its resource.
	Full(s S) string
	Resource(s S) string
	// Available reports whether the session sent available presence and
	// not unavailable since.
	Available(s S) bool
	// Last is the session's last available presence (from its full JID),
	// nil when it is not available.
	Last(s S) *wire.Element
	// Send queues el on the session; it never blocks.
	Send(s S, el *wire.Element) bool

	// Parse parses and normalises a JID.
	Parse(jid string) (JID, error)
	// IsHost reports whether domain is the local host; IsRemote whether
	// it is served by the remote side (server-to-server).
	IsHost(domain string) bool
	IsRemote(domain string) bool
	// Route hands a stanza to the handler of a domain other than the
	// host (a local service or the remote side); false when none serves
	// it.
	Route(ctx context.Context, el *wire.Element, domain string) bool

	// Blocked reports whether user blocked other (XEP-0191); Locked
	// whether user's account is restricted (GDPR Art. 18).
	Blocked(ctx context.Context, user, other string) bool
	Locked(user string) bool
	// RosterPush sends a roster push of the item to user's sessions
	// that requested the roster (RFC 6121 §2.1.6).
	RosterPush(user string, ver uint64, it *store.RosterItem)
	// Subscribed runs when user's subscription to contact (a bare JID)
	// was approved (RFC 6121 §3.1.6): PEP follows it.
	Subscribed(ctx context.Context, user, contact string)
}

// Store is the part of store.DB the presence rules use.
type Store interface {
	Roster(ctx context.Context, user string) (ver uint64, items []store.RosterItem, err error)
	RosterItem(ctx context.Context, user, jid string) (store.RosterItem, error)
	UpdateRosterItem(ctx context.Context, user, jid string, fn func(it *store.RosterItem, exists bool) (keep bool, err error)) (store.RosterItem, uint64, error)
	UserExists(ctx context.Context, user string) (bool, error)
}

// Rules applies the presence rules for one host. It keeps no state of
// its own and is safe for concurrent use.
type Rules[S comparable] struct {
	domain string
	db     Store
	h      Host[S]
	log    zerolog.Logger
}

// New returns the rules for the local host domain.
func New[S comparable](domain string, db Store, h Host[S], log zerolog.Logger) *Rules[S] {
	return &Rules[S]{domain: domain, db: db, h: h, log: log}
}

func (r *Rules[S]) bare(user string) string { return user + "@" + r.domain }

// localUser reports whether a is an account on the local host.
func (r *Rules[S]) localUser(a JID) bool { return a.Local != "" && r.h.IsHost(a.Domain) }

// isRemote reports whether a is on a domain the remote side serves.
func (r *Rules[S]) isRemote(a JID) bool {
	return a.Domain != "" && !r.h.IsHost(a.Domain) && r.h.IsRemote(a.Domain)
}
