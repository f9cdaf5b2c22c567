// Package offline implements offline messages (RFC 6121 §8.5.2.1.1,
// XEP-0160): a chat or normal message that no session of its recipient
// can take is stored, and handed to the recipient's next session that
// sends initial presence, with a XEP-0203 delay stamp.
//
// It plugs into the registry (package mux) as an undelivered-message
// hook (mux.UndeliveredHook, mux.OrderOffline). The c2s layer decides
// when a message is undelivered (RFC 6121 §8.5 rules), bounces what the
// store refuses, and owns the session queue Deliver fills: it deletes
// each message from the store once written or acknowledged (XEP-0198).
// After a message was stored, Config.Stored runs (XEP-0357 push).
//
// Privacy: stored messages carry bare JIDs only (resources must not
// outlive the session that used them), and logs carry counts only.
package offline

import (
	"context"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/mux"
	"chatbx/server/wire"
	"chatbx/store"
)

// Features are the disco features of offline storage: XEP-0160's
// msgoffline and the XEP-0203 delay stamps.
var Features = []string{"msgoffline", "urn:xmpp:delay"}

// Store is the part of store.DB offline storage uses.
type Store interface {
	PushOfflineFrom(ctx context.Context, user, sender string, at time.Time, stanza []byte, max int) (uint64, error)
	OfflinePage(ctx context.Context, user string, after uint64, n, maxBytes int) ([]store.OfflineMessage, error)
	DeleteOffline(ctx context.Context, user string, ids ...uint64) error
	WaitOfflineGone(ctx context.Context, user string, id uint64) error
}

// Config holds the offline settings.
type Config struct {
	// Domain stamps the delay's from (XEP-0203).
	Domain string
	// Max is the most messages kept for one user (the store also caps
	// one sender's share); zero means DefaultConfig's.
	Max int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Stored runs after a message for user was stored (push
	// notifications, XEP-0357); it must not block. May be nil.
	Stored func(user string, el *wire.Element)
	Log    zerolog.Logger
}

// DefaultConfig returns the defaults (c2s.DefaultConfig().OfflineMax).
func DefaultConfig() Config { return Config{Max: 1000} }

// Delivery pages: small enough that a page never fills the session's
// bounded queue, large enough that one store read serves many messages.
// The session caps the messages per page further (Deliver's page).
const (
	pageMessages = 100
	pageBytes    = 512 << 10
)

// Offline stores and delivers offline messages. It is safe for
// concurrent use.
type Offline struct {
	db  Store
	cfg Config
}

// New returns offline storage over db.
func New(db Store, cfg Config) *Offline {
	if cfg.Max <= 0 {
		cfg.Max = DefaultConfig().Max
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Offline{db: db, cfg: cfg}
}

// Register adds the undelivered-message hook and the features to r.
func (o *Offline) Register(r *mux.Registry) {
	r.Undelivered(mux.UndeliveredHook{Name: "offline", Order: mux.OrderOffline,
		Wants: Wanted, Run: o.Store, Deliver: o.Deliver})
	r.Feature(Features...)
}

// Wanted reports whether a message is kept offline: chat or normal
// (RFC 6121 §8.5.2.1.1: headline, groupchat and error messages are not),
// and Storable.
func Wanted(el *wire.Element) bool {
	if el.Local != "message" || el.Space != wire.NSClient {
		return false
	}
	if t := el.Get("type"); t != "" && t != "chat" && t != "normal" {
		return false
	}
	return Storable(el)
}

// Storable reports whether a message is worth keeping offline
// (XEP-0160, XEP-0334): it has content, and no no-store hint.
func Storable(el *wire.Element) bool {
	if el.Child("urn:xmpp:hints", "no-store") != nil {
		return false
	}
	return el.Child(wire.NSClient, "body") != nil || el.Child(wire.NSClient, "subject") != nil ||
		el.Child("urn:xmpp:hints", "store") != nil || el.Child("eu.siacs.conversations.axolotl", "encrypted") != nil ||
		el.Child("urn:xmpp:omemo:2", "encrypted") != nil
}

// Store keeps el for user and runs Config.Stored. It fails with
// store.ErrNotFound for an unknown user and store.ErrQuota when the
// user's queue, or this sender's share of it, is full.
func (o *Offline) Store(ctx context.Context, user string, el *wire.Element) (bool, error) {
	at, ok := mux.Arrival(ctx)
	if !ok {
		at = o.cfg.Now()
	}
	if _, err := o.db.PushOfflineFrom(ctx, user, bareOf(el.Get("from")), at, Bytes(el), o.cfg.Max); err != nil {
		return false, err
	}
	if o.cfg.Stored != nil {
		o.cfg.Stored(user, el)
	}
	return true, nil
}

// Bytes serialises a message for offline storage with bare JIDs in from
// and to. Privacy: resource names must not outlive the session that
// used them, and a stored message may wait for days.
func Bytes(el *wire.Element) []byte {
	c := el.Copy()
	for _, name := range []string{"from", "to"} {
		if v := c.Get(name); v != "" {
			if i := strings.IndexByte(v, '/'); i >= 0 {
				c.Set(name, v[:i])
			}
		}
	}
	return c.Bytes(wire.NSClient)
}

// bareOf returns the bare part of a JID string (everything before '/').
func bareOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// Deliver hands user's stored messages to enqueue with a XEP-0203
// delay, a page (at most page messages) at a time: memory stays bounded
// by one page whatever the queue holds. It waits until the session
// wrote (and deleted) a page before reading the next, so pages never
// pile up in the session's queue. A stored record that does not parse
// is dropped. It returns when nothing is left, enqueue reports false
// (the rest stays stored) or ctx ends.
func (o *Offline) Deliver(ctx context.Context, user string, page int, enqueue func(el *wire.Element, id uint64) bool) {
	after := uint64(0)
	dropped := 0
	defer func() {
		if dropped > 0 {
			// Privacy: a count only, never the content.
			o.cfg.Log.Warn().Int("count", dropped).Msg("dropped malformed offline messages")
		}
	}()
	for {
		msgs, err := o.db.OfflinePage(ctx, user, after, min(pageMessages, max(1, page)), pageBytes)
		if err != nil {
			if ctx.Err() == nil {
				o.cfg.Log.Error().Err(err).Msg("load offline messages")
			}
			return
		}
		if len(msgs) == 0 {
			return
		}
		after = msgs[len(msgs)-1].ID
		var bad []uint64
		last := uint64(0)
		for _, m := range msgs {
			el := wire.StoredMessage(m.Stanza)
			if el == nil {
				bad = append(bad, m.ID)
				continue
			}
			el.Add(wire.New("urn:xmpp:delay", "delay", "from", o.cfg.Domain,
				"stamp", m.At.UTC().Format("2006-01-02T15:04:05.000Z")))
			if !enqueue(el, m.ID) {
				return // the session is closing; the rest stays stored
			}
			last = m.ID
		}
		if len(bad) > 0 {
			// A record an older version stored that does not parse must not
			// block the messages after it: it is dropped.
			dropped += len(bad)
			if err := o.db.DeleteOffline(ctx, user, bad...); err != nil && ctx.Err() == nil {
				o.cfg.Log.Error().Err(err).Msg("delete malformed offline messages")
			}
		}
		if last != 0 {
			// Wait until the session wrote the page and deleted it.
			if err := o.db.WaitOfflineGone(ctx, user, last); err != nil {
				return
			}
		}
	}
}
