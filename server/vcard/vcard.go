// Package vcard implements XEP-0054 vcard-temp storage: every account may
// store one vCard, which any local user may read.
//
// The vCard is kept as the serialised XML of the <vCard/> element a client
// set (one store value per account, capped by Config.MaxBytes) and parsed
// back when read. An account without a vCard reads as an empty <vCard/>
// (XEP-0054 §3.1), whether or not the account exists, so the answer does
// not tell who has an account.
package vcard

import (
	"bufio"
	"bytes"
	"context"
	"errors"

	"github.com/rs/zerolog"
	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

// NS is the vcard-temp namespace, the IQ payload namespace this package
// handles and the disco feature it adds.
const NS = "vcard-temp"

// Store is the part of store.DB the package uses.
type Store interface {
	// VCard returns the stored XML, or an error wrapping store.ErrNotFound.
	VCard(ctx context.Context, user string) ([]byte, error)
	// SetVCard stores the XML; an empty xml deletes the vCard.
	SetVCard(ctx context.Context, user string, xml []byte) error
}

var _ Store = (*store.DB)(nil)

// Config sets the limits.
type Config struct {
	// MaxBytes caps the serialised size of one vCard. Larger vCards are
	// refused with not-acceptable. Avatars belong in PEP (XEP-0084),
	// so a vCard need not be large.
	MaxBytes int
	// Log receives a warning (a count, never the content) when a stored
	// vCard is not well-formed; the zero value discards.
	Log zerolog.Logger
	// Changed, if not nil, runs after a client set its vCard (card nil:
	// deleted); the avatar conversion (XEP-0398) uses it.
	Changed func(ctx context.Context, user string, card *wire.Element)
}

// DefaultConfig returns a 64 KiB limit.
func DefaultConfig() Config { return Config{MaxBytes: 64 << 10} }

// VCard serves vcard-temp. It is safe for concurrent use.
type VCard struct {
	db      Store
	max     int
	log     zerolog.Logger
	changed func(ctx context.Context, user string, card *wire.Element)
}

// New returns a vCard service over db. A MaxBytes of zero or less means the
// default.
func New(db Store, cfg Config) *VCard {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultConfig().MaxBytes
	}
	return &VCard{db: db, max: cfg.MaxBytes, log: cfg.Log, changed: cfg.Changed}
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*VCard) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds.
func (*VCard) Features() []string { return []string{NS} }

// Handle answers vCard requests (XEP-0054 §3):
//   - get with no to or the sender's bare JID: the sender's vCard;
//   - get to another local account's bare JID: that account's vCard;
//   - set: only the sender's own vCard (otherwise forbidden); a vCard
//     larger than MaxBytes gets not-acceptable; an empty vCard deletes it.
//
// Other addresses get service-unavailable, storage faults
// internal-server-error. Results and errors get no answer (nil).
func (v *VCard) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	p := iq.Payload(el)
	if p == nil || p.Space != NS || p.Local != "vCard" {
		return iq.Error(el, "modify", "bad-request")
	}
	user, ok := owner(c, el.Get("to"))
	if !ok {
		return iq.Error(el, "cancel", "service-unavailable")
	}
	if typ == "get" {
		card, err := v.load(ctx, user)
		if err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		return iq.Result(el, card)
	}
	if user != c.User {
		return iq.Error(el, "auth", "forbidden")
	}
	var data []byte
	if len(p.Children) > 0 {
		// The stored form declares its own namespace, so it parses alone.
		data = p.Bytes("")
		if len(data) > v.max {
			return iq.Error(el, "modify", "not-acceptable")
		}
		// Store only what reads back: a vCard whose serialisation does
		// not parse would be unreadable for good.
		if _, err := parse(data); err != nil {
			return iq.Error(el, "modify", "bad-request")
		}
	}
	if err := v.db.SetVCard(ctx, user, data); err != nil {
		return iq.Error(el, "wait", "internal-server-error")
	}
	if v.changed != nil {
		var card *wire.Element
		if data != nil {
			card = p
		}
		v.changed(ctx, user, card)
	}
	return iq.Result(el)
}

// load returns the user's vCard, or an empty one.
func (v *VCard) load(ctx context.Context, user string) (*wire.Element, error) {
	data, err := v.db.VCard(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && len(data) == 0:
		return wire.New(NS, "vCard"), nil
	case err != nil:
		return nil, err
	}
	card, err := parse(data)
	if err != nil || card.Space != NS || card.Local != "vCard" {
		// Stored by an older version and not well-formed (or not a
		// vCard): it reads as no vCard, until the user sets a new one.
		// Privacy: a count only, never the content.
		v.log.Warn().Int("count", 1).Msg("skipped malformed stored vcard")
		return wire.New(NS, "vCard"), nil
	}
	return card, nil
}

// parse parses one stored element.
func parse(data []byte) (*wire.Element, error) {
	// A buffer the size of the value, not the decoder's default.
	r := bufio.NewReaderSize(bytes.NewReader(data), min(len(data), 4096))
	return wire.NewDecoder(r, 0).Next()
}

// owner returns the local account an IQ's to address names: the sender's
// for an empty to, otherwise the localpart of a bare JID at the server's
// domain. Normalised addresses compare without allocating; others are
// normalised first (RFC 7622).
func owner(c iq.Context, to string) (string, bool) {
	u, d := c.User, c.Domain
	if u == "" && to == "" {
		return "", false // a remote requester (no User) names the account
	}
	if to == "" || len(to) == len(u)+1+len(d) && to[len(u)] == '@' && to[:len(u)] == u && to[len(u)+1:] == d {
		return u, true
	}
	j, err := jid.Parse(to)
	if err != nil || j.Resourcepart() != "" || j.Localpart() == "" || j.Domainpart() != d {
		return "", false
	}
	return j.Localpart(), true
}
