// Package blocking implements XEP-0191 Blocking Command: each account keeps
// a list of JIDs it does not want to hear from or talk to, and the router
// asks Blocked before it delivers a stanza.
//
// The list is stored by the store (one key per JID, normalised with RFC
// 7622). Blocked answers from an in-memory cache: one immutable entry per
// user, loaded from the store on first use and dropped whenever the list
// changes, spread over shards so that readers of different users do not
// contend. A cached lookup takes no allocation.
//
// JIDs match as in XEP-0016 §2.1, to which XEP-0191 §3.1 refers: a stanza
// from (or to) user@domain/resource is blocked by an item that equals the
// full JID, the bare JID user@domain, domain/resource, or the domain.
//
// What the c2s layer does with the answer (XEP-0191 §3.5, §3.6): inbound
// presence from a blocked JID is dropped, messages and IQ get/set are
// answered with service-unavailable (the contact must not learn it is
// blocked), and outbound stanzas to a blocked JID bounce to the user with
// BlockedError.
package blocking

import (
	"context"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

// Namespaces of XEP-0191.
const (
	// NS is the blocking namespace: the IQ payload namespace this package
	// handles and the disco feature it adds.
	NS = "urn:xmpp:blocking"
	// NSErrors qualifies the <blocked/> application error condition.
	NSErrors = "urn:xmpp:blocking:errors"
)

// Store is the part of store.DB the package uses.
type Store interface {
	// Blocklist returns the user's blocked JIDs, or an error wrapping
	// store.ErrNotFound for an unknown user.
	Blocklist(ctx context.Context, user string) ([]string, error)
	// Block adds JIDs to the list.
	Block(ctx context.Context, user string, jids []string) error
	// Unblock removes JIDs from the list; none means all.
	Unblock(ctx context.Context, user string, jids []string) error
}

var _ Store = (*store.DB)(nil)

// Config sets the limits and the change hook.
type Config struct {
	// MaxItems caps the length of one user's blocklist; a block request
	// that would exceed it gets policy-violation. Zero means the default.
	MaxItems int
	// Changed, if not nil, is called after a user's list changed, with the
	// JIDs added and the JIDs removed (every previous item when the client
	// unblocked all). The presence layer uses it to send unavailable
	// presence to newly blocked contacts and current presence to
	// unblocked ones (XEP-0191 §3.3, §3.4). It runs on the handler's
	// goroutine and must not block.
	Changed func(user string, blocked, unblocked []string)
	// Reported, if not nil, is called for each blocked JID whose item
	// carried a spam or abuse report (XEP-0377); the caller keeps only
	// what it needs (a count per remote domain). It must not block.
	Reported func(jid string)
}

// DefaultConfig returns a limit of 1000 JIDs per user.
func DefaultConfig() Config { return Config{MaxItems: 1000} }

const shards = 64

// Blocking serves XEP-0191 and answers Blocked. It is safe for concurrent
// use.
type Blocking struct {
	db      Store
	max     int
	changed func(user string, blocked, unblocked []string)
	report  func(jid string)
	seed    maphash.Seed
	pushes  atomic.Uint64
	shards  [shards]shard
}

// shard holds the cached lists of the users that hash to it.
type shard struct {
	mu sync.RWMutex
	// gen counts invalidations; a load that raced one is not cached.
	gen uint64
	m   map[string]*entry
}

// entry is one user's blocklist, immutable once built.
type entry struct {
	jids      map[string]struct{}    // full JIDs, bare JIDs and domains
	domainRes map[[2]string]struct{} // domain/resource items as {domain, resource}
}

// empty is the entry of every user without a blocklist.
var empty = &entry{}

// New returns a blocking service over db.
func New(db Store, cfg Config) *Blocking {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultConfig().MaxItems
	}
	b := &Blocking{db: db, max: cfg.MaxItems, changed: cfg.Changed, report: cfg.Reported, seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].m = make(map[string]*entry)
	}
	return b
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Blocking) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds.
func (*Blocking) Features() []string { return []string{NS} }

// BlockedError returns the stanza error for an outbound stanza to a JID the
// sender blocks (XEP-0191 §3.6): not-acceptable with <blocked/>.
func BlockedError() *wire.Element {
	return iq.StanzaError("cancel", "not-acceptable", "").Add(wire.New(NSErrors, "blocked"))
}

// Handle answers blocklist requests (XEP-0191 §3.2–3.4) from the account
// itself (to empty or the sender's bare JID; anything else is forbidden):
//   - get <blocklist/>: the list, in byte order;
//   - set <block/>: adds the items (at least one: bad-request otherwise);
//   - set <unblock/>: removes the items, or all without items.
//
// An item without a valid JID gets jid-malformed and changes nothing.
// After a change the list is pushed to the user's interested resources
// through c.Push as an <iq type='set'/> carrying the same <block/> or
// <unblock/> with normalised JIDs; the c2s layer stamps to on each copy.
// Storage faults get internal-server-error. Results and errors get no
// answer (nil).
// PushTo tells the registry that blocklist pushes go to the sessions that
// requested the blocklist (XEP-0191 §3.5), not the roster.
func (b *Blocking) PushTo() iq.Flag { return iq.FlagBlocklist }

func (b *Blocking) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	p := iq.Payload(el)
	if p == nil || p.Space != NS {
		return iq.Error(el, "modify", "bad-request")
	}
	if !self(c, el.Get("to")) {
		return iq.Error(el, "cancel", "forbidden")
	}
	switch {
	case typ == "get" && p.Local == "blocklist":
		if c.Mark != nil {
			// XEP-0191 §3.5: this session now gets blocklist pushes.
			c.Mark(iq.FlagBlocklist, true)
		}
		list, err := b.db.Blocklist(ctx, c.User)
		if err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		return iq.Result(el, items(wire.New(NS, "blocklist"), list))
	case typ == "set" && (p.Local == "block" || p.Local == "unblock"):
	default:
		return iq.Error(el, "modify", "bad-request")
	}

	jids, ok := b.parseItems(p)
	if !ok {
		return iq.Error(el, "modify", "jid-malformed")
	}
	if jids == nil && p.Local == "block" {
		return iq.Error(el, "modify", "bad-request")
	}
	if len(jids) > b.max {
		return iq.Error(el, "modify", "policy-violation")
	}

	var removed []string
	switch {
	case p.Local == "block":
		current, err := b.db.Blocklist(ctx, c.User)
		if err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		if countNew(current, jids)+len(current) > b.max {
			return iq.Error(el, "modify", "policy-violation")
		}
		if err := b.db.Block(ctx, c.User, jids); err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		if b.report != nil {
			b.reports(p)
		}
	case len(jids) == 0: // unblock all
		if b.changed != nil {
			var err error
			if removed, err = b.db.Blocklist(ctx, c.User); err != nil {
				return iq.Error(el, "wait", "internal-server-error")
			}
		}
		if err := b.db.Unblock(ctx, c.User, nil); err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
	default:
		if err := b.db.Unblock(ctx, c.User, jids); err != nil {
			return iq.Error(el, "wait", "internal-server-error")
		}
		removed = jids
	}
	b.Forget(c.User)

	if c.Push != nil {
		id := "block-" + strconv.FormatUint(b.pushes.Add(1), 36)
		c.Push(wire.New(wire.NSClient, "iq", "type", "set", "id", id).
			Add(items(wire.New(NS, p.Local), jids)))
	}
	if b.changed != nil {
		if p.Local == "block" {
			b.changed(c.User, jids, nil)
		} else if len(removed) > 0 {
			b.changed(c.User, nil, removed)
		}
	}
	return iq.Result(el)
}

// parseItems returns the normalised, deduplicated JIDs of p's <item/>
// children, nil if there are none, and false if one is not a valid JID.
func (b *Blocking) parseItems(p *wire.Element) ([]string, bool) {
	var jids []string
	for _, n := range p.Children {
		it := n.El
		if it == nil || it.Space != NS || it.Local != "item" {
			continue
		}
		j, err := jid.Parse(it.Get("jid"))
		if err != nil || it.Get("jid") == "" {
			return nil, false
		}
		s := j.String()
		dup := false
		for _, seen := range jids {
			if seen == s {
				dup = true
				break
			}
		}
		if !dup {
			jids = append(jids, s)
		}
		if len(jids) > b.max {
			break // refused by the caller; spare the rest
		}
	}
	return jids, true
}

// countNew counts the JIDs of add not already in list.
func countNew(list, add []string) int {
	have := make(map[string]struct{}, len(list))
	for _, j := range list {
		have[j] = struct{}{}
	}
	n := 0
	for _, j := range add {
		if _, ok := have[j]; !ok {
			n++
		}
	}
	return n
}

// items adds an <item jid/> per JID to el.
func items(el *wire.Element, jids []string) *wire.Element {
	for _, j := range jids {
		el.Add(wire.New(NS, "item", "jid", j))
	}
	return el
}

// Blocked reports whether user's blocklist blocks the JID peer, the other
// end of a stanza to or from user (XEP-0016 §2.1 matching: full JID, bare
// JID, domain/resource or domain). peer should be normalised; one that is
// not is normalised first, and one that is not a valid JID matches nothing.
//
// The first call for a user loads the list from the store; later calls
// answer from memory without allocating until the list changes or Forget
// drops it. An unknown user, or a store fault, reports false and caches
// nothing: a stanza is not dropped because the list could not be read.
func (b *Blocking) Blocked(ctx context.Context, user, peer string) bool {
	s := &b.shards[maphash.String(b.seed, user)%shards]
	s.mu.RLock()
	e := s.m[user]
	s.mu.RUnlock()
	if e == nil {
		if e = b.load(ctx, s, user); e == nil {
			return false
		}
	}
	if e == empty {
		return false
	}
	return e.match(peer)
}

// load reads user's list from the store and caches it unless the list was
// invalidated meanwhile. It returns nil if the list cannot be read.
func (b *Blocking) load(ctx context.Context, s *shard, user string) *entry {
	s.mu.RLock()
	gen := s.gen
	s.mu.RUnlock()
	list, err := b.db.Blocklist(ctx, user)
	if err != nil {
		return nil
	}
	e := newEntry(list)
	s.mu.Lock()
	if cur := s.m[user]; cur != nil {
		e = cur
	} else if s.gen == gen {
		s.m[user] = e
	}
	s.mu.Unlock()
	return e
}

// Forget drops user's cached list; the next Blocked call reads the store.
// Call it when an account is deleted. It is safe for concurrent use.
func (b *Blocking) Forget(user string) {
	s := &b.shards[maphash.String(b.seed, user)%shards]
	s.mu.Lock()
	delete(s.m, user)
	s.gen++
	s.mu.Unlock()
}

// newEntry builds the matcher of a stored list, normalising each JID
// (items the store holds from before normalisation still match).
func newEntry(list []string) *entry {
	if len(list) == 0 {
		return empty
	}
	e := &entry{jids: make(map[string]struct{}, len(list))}
	for _, s := range list {
		j, err := jid.Parse(s)
		if err != nil {
			continue
		}
		if j.Localpart() == "" && j.Resourcepart() != "" {
			if e.domainRes == nil {
				e.domainRes = make(map[[2]string]struct{})
			}
			e.domainRes[[2]string{j.Domainpart(), j.Resourcepart()}] = struct{}{}
			continue
		}
		e.jids[j.String()] = struct{}{}
	}
	if len(e.jids) == 0 && len(e.domainRes) == 0 {
		return empty
	}
	return e
}

// match applies XEP-0016 §2.1 to peer, splitting it without allocating.
func (e *entry) match(peer string) bool {
	if !normalised(peer) {
		j, err := jid.Parse(peer)
		if err != nil {
			return false
		}
		peer = j.String()
	}
	if _, ok := e.jids[peer]; ok {
		return true
	}
	bare, res := peer, ""
	if i := strings.IndexByte(peer, '/'); i >= 0 {
		bare, res = peer[:i], peer[i+1:]
	}
	domain := bare
	if i := strings.IndexByte(bare, '@'); i >= 0 {
		domain = bare[i+1:]
	}
	if bare != peer {
		if _, ok := e.jids[bare]; ok {
			return true
		}
		if e.domainRes != nil {
			if _, ok := e.domainRes[[2]string{domain, res}]; ok {
				return true
			}
		}
	}
	if domain != peer {
		if _, ok := e.jids[domain]; ok {
			return true
		}
	}
	return false
}

// normalised reports whether peer is certainly in RFC 7622 normal form as
// far as matching goes: before the resource ASCII only, no upper-case
// letter and no trailing dot on the domain; no empty part after a
// separator. Anything else goes through jid.Parse.
func normalised(peer string) bool {
	n := len(peer)
	if n == 0 || peer[0] == '@' || peer[0] == '/' || peer[n-1] == '@' || peer[n-1] == '/' || peer[n-1] == '.' {
		return false
	}
	for i := 0; i < n; i++ {
		c := peer[i]
		switch {
		case c >= 0x80:
			return false
		case c == '/':
			// The resource may hold anything ASCII; check what precedes it.
			return peer[i-1] != '.' && peer[i-1] != '@'
		case 'A' <= c && c <= 'Z':
			return false
		}
	}
	return true
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

// XEP-0377 report namespaces (version 1 and the older 0).
const (
	nsReporting  = "urn:xmpp:reporting:1"
	nsReporting0 = "urn:xmpp:reporting:0"
)

// reports calls the Reported hook for each item of a block with a
// <report/> child.
func (b *Blocking) reports(p *wire.Element) {
	for _, it := range p.Elements() {
		if it.Space != NS || it.Local != "item" {
			continue
		}
		if it.Child(nsReporting, "report") != nil || it.Child(nsReporting0, "report") != nil {
			if j, err := jid.Parse(it.Get("jid")); err == nil {
				b.report(j.String())
			}
		}
	}
}
