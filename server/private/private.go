// Package private implements XEP-0049 Private XML Storage: an account keeps
// XML fragments on the server, each under the qualified name of its root
// element (older clients keep bookmarks here, XEP-0048).
//
// Each fragment is one store value under the key "name namespace", holding
// the fragment serialised with its own namespace declaration, so that it
// parses alone. Only the account itself can read or write its storage.
package private

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

// NS is the XEP-0049 namespace, the IQ payload namespace this package
// handles and the disco feature it adds.
const NS = "jabber:iq:private"

// maxKey bounds the length of a storage key (element name and namespace).
const maxKey = 1024

// Store is the part of store.DB the package uses.
type Store interface {
	// Private returns the XML stored under key, or an error wrapping
	// store.ErrNotFound.
	Private(ctx context.Context, user, key string) ([]byte, error)
	// SetPrivate stores xml under key; an empty xml deletes it.
	SetPrivate(ctx context.Context, user, key string, xml []byte) error
}

var _ Store = (*store.DB)(nil)

// Config sets the limits.
type Config struct {
	// MaxBytes caps the serialised size of one stored fragment. Larger
	// fragments are refused with not-acceptable.
	MaxBytes int
	// Log receives a warning (a count, never the content) when a stored
	// fragment is not well-formed; the zero value discards.
	Log zerolog.Logger
	// Changed, if not nil, runs after a client stored a fragment (an
	// empty one when deleted); the bookmarks conversion (XEP-0411) uses it.
	Changed func(ctx context.Context, user string, frag *wire.Element)
}

// DefaultConfig returns a 64 KiB limit per fragment. The total of one
// account's fragments is capped by the store (store.Limits.PrivateBytes).
func DefaultConfig() Config { return Config{MaxBytes: 64 << 10} }

// Private serves jabber:iq:private. It is safe for concurrent use.
type Private struct {
	db      Store
	max     int
	log     zerolog.Logger
	changed func(ctx context.Context, user string, frag *wire.Element)
}

// New returns a private storage service over db. A MaxBytes of zero or less
// means the default.
func New(db Store, cfg Config) *Private {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultConfig().MaxBytes
	}
	return &Private{db: db, max: cfg.MaxBytes, log: cfg.Log, changed: cfg.Changed}
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Private) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds.
func (*Private) Features() []string { return []string{NS} }

// Handle answers private storage requests (XEP-0049 §2). The <query/> must
// hold exactly one element (bad-request otherwise), which names the
// fragment:
//   - get returns the stored fragment, or the requested element back as
//     sent but empty when nothing is stored;
//   - set stores the element; an element without attributes or children
//     deletes the fragment (it reads back the same).
//
// A to address other than empty or the sender's bare JID gets forbidden;
// the namespaces jabber:client, jabber:server and jabber:iq:private (and
// none at all) get not-acceptable, as does a fragment over MaxBytes; a set
// that would take the account's storage over its total cap gets
// policy-violation. A stored fragment that is not well-formed (written by
// an older version) reads as empty. Storage faults get
// internal-server-error. Results and errors get no
// answer (nil).
func (p *Private) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	q := iq.Payload(el)
	if q == nil || q.Space != NS || q.Local != "query" {
		return iq.Error(el, "modify", "bad-request")
	}
	if !self(c, el.Get("to")) {
		return iq.Error(el, "cancel", "forbidden")
	}
	var frag *wire.Element
	for _, n := range q.Children {
		if n.El == nil {
			continue
		}
		if frag != nil {
			return iq.Error(el, "modify", "bad-request")
		}
		frag = n.El
	}
	if frag == nil {
		return iq.Error(el, "modify", "bad-request")
	}
	switch frag.Space {
	case "", wire.NSClient, wire.NSServer, NS:
		return iq.Error(el, "modify", "not-acceptable")
	}
	if len(frag.Local)+1+len(frag.Space) > maxKey {
		return iq.Error(el, "modify", "not-acceptable")
	}
	key := frag.Local + " " + frag.Space

	if typ == "get" {
		data, err := p.db.Private(ctx, c.User, key)
		if errors.Is(err, store.ErrNotFound) || err == nil && len(data) == 0 {
			return iq.Result(el, wire.New(NS, "query").Add(wire.New(frag.Space, frag.Local)))
		}
		if err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		stored, err := parseFragment(data)
		if err != nil || stored.Space != frag.Space || stored.Local != frag.Local {
			// Stored by an older version and not well-formed: it reads as
			// empty until the client stores it again.
			// Privacy: a count only, never the content.
			p.log.Warn().Int("count", 1).Msg("skipped malformed private fragment")
			return iq.Result(el, wire.New(NS, "query").Add(wire.New(frag.Space, frag.Local)))
		}
		return iq.Result(el, wire.New(NS, "query").Add(stored))
	}

	var data []byte
	if len(frag.Children) > 0 || len(frag.Attr) > 0 {
		data = frag.Bytes("")
		if len(data) > p.max {
			return iq.Error(el, "modify", "not-acceptable")
		}
		// Store only what reads back: a fragment whose serialisation does
		// not parse would make the key unreadable for good.
		if _, err := parseFragment(data); err != nil {
			return iq.Error(el, "modify", "bad-request")
		}
	}
	err := p.db.SetPrivate(ctx, c.User, key, data)
	if errors.Is(err, store.ErrQuota) {
		// The account's fragments together would exceed
		// store.Limits.PrivateBytes.
		return iq.Error(el, "cancel", "policy-violation")
	}
	if err != nil {
		return iq.Error(el, "wait", "internal-server-error")
	}
	if p.changed != nil {
		p.changed(ctx, c.User, frag)
	}
	return iq.Result(el)
}

// parseFragment parses one stored element.
func parseFragment(data []byte) (*wire.Element, error) {
	// A buffer the size of the value, not the decoder's default.
	r := bufio.NewReaderSize(bytes.NewReader(data), min(len(data), 4096))
	return wire.NewDecoder(r, 0).Next()
}

// self reports whether to is empty or the sender's own bare JID.
// Normalised addresses compare without allocating; others are normalised
// first (RFC 7622).
func self(c iq.Context, to string) bool {
	u, d := c.User, c.Domain
	if u == "" {
		return false
	}
	if to == "" || len(to) == len(u)+1+len(d) && to[len(u)] == '@' && to[:len(u)] == u && to[len(u)+1:] == d {
		return true
	}
	j, err := jid.Parse(to)
	return err == nil && j.Resourcepart() == "" && j.Localpart() == u && j.Domainpart() == d
}
