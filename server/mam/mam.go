package mam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/wire"
	"chatbx/store"
)

// Namespaces and disco features.
const (
	// NS is the XEP-0313 namespace of queries, results and preferences.
	NS = "urn:xmpp:mam:2"
	// NSExtended is the disco feature for before-id, after-id, ids,
	// flipped pages and metadata (XEP-0313 §7).
	NSExtended = "urn:xmpp:mam:2#extended"

	nsRSM     = "http://jabber.org/protocol/rsm"
	nsForward = "urn:xmpp:forward:0"
	nsDelay   = "urn:xmpp:delay"
	nsSID     = "urn:xmpp:sid:0"
	nsData    = "jabber:x:data"
)

// Preference modes (XEP-0441 §4.1).
const (
	Always = "always"
	Never  = "never"
	Roster = "roster"
)

// Config configures the archive.
type Config struct {
	// Default is the mode of accounts that never set preferences:
	// Never (the privacy policy's promise), Roster or Always.
	Default string
	// MaxAge, if positive, is how long Sweep keeps archived messages.
	MaxAge time.Duration
	// PageSize is the page size of queries without an RSM <max/>;
	// MaxPage caps every page (a larger <max/> is lowered to it).
	PageSize, MaxPage int
	// Log receives faults (store errors); the zero value discards.
	Log zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns archiving off for every account, no expiry, pages
// of 50 and at most 250 messages per page.
func DefaultConfig() Config {
	return Config{Default: Never, PageSize: 50, MaxPage: 250}
}

// Archive is the message archive service. It is safe for concurrent use.
type Archive struct {
	db     *store.DB
	domain string
	cfg    Config
	now    func() time.Time
	shards [cacheShards]cacheShard

	commands commandSessions
}

// New returns the archive of the users of domain, kept in db.
// Zero fields of cfg take the values of DefaultConfig; an unknown Default
// counts as Never.
func New(db *store.DB, domain string, cfg Config) *Archive {
	def := DefaultConfig()
	switch cfg.Default {
	case Always, Roster:
	default:
		cfg.Default = Never
	}
	if cfg.MaxPage <= 0 {
		cfg.MaxPage = def.MaxPage
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = def.PageSize
	}
	cfg.PageSize = min(cfg.PageSize, cfg.MaxPage)
	a := &Archive{db: db, domain: domain, cfg: cfg, now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	for i := range a.shards {
		a.shards[i].m = make(map[string]*prefs)
	}
	return a
}

// Features returns the disco features of an archiving JID (XEP-0313 §7).
func (a *Archive) Features() []string { return []string{NS, NSExtended} }

// Namespaces returns the IQ payload namespaces Handle serves.
func (a *Archive) Namespaces() []string { return []string{NS} }

// Archive is the c2s hook: it archives el in owner's archive if owner's
// preferences want it and returns the archive id, or "" (archiving off, an
// unknown user, or a store failure, which is logged). outgoing is true
// when owner sent el. el must carry normalised to/from addresses; it is
// not modified. For an owner who does not archive, Archive makes no store
// access (after the first call for that owner).
func (a *Archive) Archive(ctx context.Context, owner string, el *wire.Element, outgoing bool) string {
	p := a.prefs(ctx, owner)
	if p == nil || !p.maybe() {
		return ""
	}
	self := owner + "@" + a.domain
	other := el.Get("from")
	if outgoing {
		other = el.Get("to")
	}
	with := bare(other)
	if with == "" {
		with = self
	}
	if outgoing && with == self {
		// A message to oneself is archived once, as the incoming copy,
		// which then carries the stanza-id.
		return ""
	}
	// Privacy: resources are never stored; the archive keeps bare JIDs.
	c := el.Copy()
	if to := c.Get("to"); to != "" {
		c.Set("to", bare(to))
	}
	if from := c.Get("from"); from != "" {
		c.Set("from", bare(from))
	}
	c.RemoveChildren(nsSID, "stanza-id")
	var stanza []byte
	for try := 0; try < 2; try++ {
		if !a.wants(ctx, owner, p, with) {
			return ""
		}
		if stanza == nil {
			stanza = c.Bytes(wire.NSClient)
		}
		id, err := a.db.AppendArchive(ctx, owner, p.gen, a.now(), with, outgoing, stanza)
		switch {
		case err == nil:
			return id
		case errors.Is(err, store.ErrConflict):
			// The stored preferences changed behind the cache (another
			// process, or an account deleted and created again under the
			// same name): reload them and decide again.
			a.Forget(owner)
			if p = a.prefs(ctx, owner); p == nil || !p.maybe() {
				return ""
			}
			continue
		case errors.Is(err, store.ErrNotFound):
			a.Forget(owner) // the account is gone
		case errors.Is(err, store.ErrQuota):
			// Larger than the whole archive may be (store.Limits.ArchiveBytes):
			// not archived. A full archive drops its oldest messages instead.
		case !errors.Is(err, context.Canceled):
			a.cfg.Log.Error().Err(err).Msg("archive write failed")
		}
		return ""
	}
	return ""
}

// wants applies the preferences (XEP-0441 §4.1) to one partner.
func (a *Archive) wants(ctx context.Context, owner string, p *prefs, with string) bool {
	if _, ok := p.never[with]; ok {
		return false
	}
	if _, ok := p.always[with]; ok {
		return true
	}
	switch p.mode {
	case Always:
		return true
	case Roster:
		it, err := a.db.RosterItem(ctx, owner, with)
		if err != nil {
			return false
		}
		// An inbound subscription request alone does not put the contact
		// in the user's roster (RFC 6121 §3.1.3).
		return it.Sub != store.SubNone || it.AskOut || !it.PendingIn
	}
	return false
}

// bare returns the bare form of a normalised JID.
func bare(j string) string {
	b, _, _ := strings.Cut(j, "/")
	return b
}

// Purge deletes user's whole archive and scrubs the database file.
// Preferences stay as they are. It fails with store.ErrNotFound for an
// unknown user.
func (a *Archive) Purge(ctx context.Context, user string) error {
	if err := a.db.PurgeArchive(ctx, user); err != nil {
		return fmt.Errorf("mam: purge: %w", err)
	}
	return nil
}

// Sweep deletes the messages of every archive that are older than
// Config.MaxAge at now, scrubs the file if it deleted any, and returns how
// many it deleted. With MaxAge zero it does nothing.
func (a *Archive) Sweep(ctx context.Context, now time.Time) (int, error) {
	if a.cfg.MaxAge <= 0 {
		return 0, nil
	}
	n, err := a.db.ExpireArchive(ctx, now.Add(-a.cfg.MaxAge))
	if err != nil {
		return n, fmt.Errorf("mam: sweep: %w", err)
	}
	if n > 0 {
		if err := a.db.Scrub(ctx); err != nil {
			return n, fmt.Errorf("mam: sweep: %w", err)
		}
	}
	return n, nil
}

// Prefs returns user's preferences with the server's default filled in
// for a user who never set any. It fails with store.ErrNotFound for an
// unknown user.
func (a *Archive) Prefs(ctx context.Context, user string) (store.ArchivePrefs, error) {
	p, err := a.db.ArchivePrefs(ctx, user)
	if err != nil {
		return store.ArchivePrefs{}, fmt.Errorf("mam: prefs: %w", err)
	}
	if p.Default == "" {
		p.Default = a.cfg.Default
	}
	return p, nil
}

// SetDefault sets user's default mode (Always, Never or Roster), keeping
// the always/never lists (the account page's archive switch). It fails
// with store.ErrNotFound for an unknown user and store.ErrInvalid for an
// unknown mode. Switching to Never stops archiving at once; it does not
// delete the archive (see Purge).
func (a *Archive) SetDefault(ctx context.Context, user, mode string) error {
	switch mode {
	case Always, Never, Roster:
	default:
		return fmt.Errorf("mam: set default: %w: mode", store.ErrInvalid)
	}
	return a.update(ctx, user, func(p *store.ArchivePrefs) { p.Default = mode })
}

// SetPrefs replaces user's preferences (XEP-0441 §4.2): p.Default must be
// Always, Never or Roster; a JID on both lists stays only on the never
// list. It fails like SetDefault, and with store.ErrInvalid for more than
// 1000 JIDs on a list.
func (a *Archive) SetPrefs(ctx context.Context, user string, p store.ArchivePrefs) error {
	switch p.Default {
	case Always, Never, Roster:
	default:
		return fmt.Errorf("mam: set prefs: %w: mode", store.ErrInvalid)
	}
	return a.update(ctx, user, func(q *store.ArchivePrefs) { *q = p })
}

// update changes the stored preferences and the cache under the shard
// lock, so that a concurrent cache fill cannot install stale preferences.
func (a *Archive) update(ctx context.Context, user string, fn func(*store.ArchivePrefs)) error {
	s := a.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := a.db.ArchivePrefs(ctx, user)
	if err != nil {
		return fmt.Errorf("mam: set prefs: %w", err)
	}
	fn(&p)
	p.Always = dedupe(p.Always)
	p.Never = dedupe(p.Never)
	never := make(map[string]bool, len(p.Never))
	for _, j := range p.Never {
		never[j] = true
	}
	kept := p.Always[:0]
	for _, j := range p.Always {
		if !never[j] {
			kept = append(kept, j)
		}
	}
	p.Always = kept
	gen, err := a.db.SetArchivePrefs(ctx, user, p)
	if err != nil {
		delete(s.m, user)
		return fmt.Errorf("mam: set prefs: %w", err)
	}
	p.Gen = gen
	s.m[user] = a.compile(p, true)
	return nil
}

func dedupe(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, j := range list {
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}

// Forget drops the cached preferences of user (after account deletion,
// or a change made directly in the store).
func (a *Archive) Forget(user string) {
	s := a.shard(user)
	s.mu.Lock()
	delete(s.m, user)
	s.mu.Unlock()
}
