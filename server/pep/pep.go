package pep

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/c2s"
	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/wire"
	"chatbx/store"
)

// Namespaces (XEP-0060).
const (
	NS       = "http://jabber.org/protocol/pubsub"
	NSOwner  = "http://jabber.org/protocol/pubsub#owner"
	NSEvent  = "http://jabber.org/protocol/pubsub#event"
	NSErrors = "http://jabber.org/protocol/pubsub#errors"
)

// Config holds the limits. Zero fields mean DefaultConfig's values.
type Config struct {
	Domain string
	// MaxItems and MaxBytes cap one account's stored items over all
	// nodes (item ids and payloads); MaxNodes caps its nodes. A publish
	// beyond them gets policy-violation.
	MaxItems int
	MaxBytes int64
	MaxNodes int
	// MaxNodeItems is the largest pubsub#max_items, and what "max" means.
	MaxNodeItems int
	// MaxItemBytes caps one item's payload (not-acceptable with
	// payload-too-big beyond it).
	MaxItemBytes int
	// CapsCache is how many verified caps hashes are kept in memory;
	// CapsQueries how many disco#info queries to clients may be
	// outstanding; CapsTimeout how long one may take.
	CapsCache   int
	CapsQueries int
	CapsTimeout time.Duration
	// VCardMaxBytes is the vCard size cap (vcard-temp) the avatar
	// conversion keeps to (XEP-0398); zero means 64 KiB.
	VCardMaxBytes int
	Log           zerolog.Logger
}

// DefaultConfig returns the documented defaults (docs/configuration.md).
func DefaultConfig() Config {
	return Config{
		MaxItems:     1000,
		MaxBytes:     8 << 20,
		MaxNodes:     256,
		MaxNodeItems: 256,
		MaxItemBytes: 128 << 10,
		CapsCache:    4096,
		CapsQueries:  64,
		CapsTimeout:  30 * time.Second,
	}
}

// Store is the part of store.DB the package uses.
type Store interface {
	PEPPublish(ctx context.Context, user, node string, prepare func(n *store.PEPNode, exists bool) error, item *store.PEPItem, lim store.PEPLimits) (store.PEPNode, error)
	PEPNode(ctx context.Context, user, node string) (store.PEPNode, error)
	PEPItems(ctx context.Context, user, node string, ids []string, last int) (store.PEPNode, []store.PEPItem, error)
	PEPNodes(ctx context.Context, user string) ([]store.PEPNode, []*store.PEPItem, error)
	PEPRetract(ctx context.Context, user, node string, ids []string) (store.PEPNode, []string, error)
	PEPPurge(ctx context.Context, user, node string, deleteNode bool) (store.PEPNode, error)
	Roster(ctx context.Context, user string) (uint64, []store.RosterItem, error)
	RosterItem(ctx context.Context, user, jid string) (store.RosterItem, error)
}

var _ Store = (*store.DB)(nil)

// Sessions is the part of the c2s server the package uses (*c2s.Server).
type Sessions interface {
	SessionStates(user string) []c2s.SessionState
	SendTo(el *wire.Element) bool
	Await(id, from string, fn func(*wire.Element))
	Unawait(id string)
}

// PEP is the service. Attach it to the c2s server before it runs.
type PEP struct {
	db      Store
	cfg     Config
	sess    Sessions
	blocked func(ctx context.Context, user, jid string) bool
	caps    *capsCache
	conv    Conversions // nil: no avatar and bookmark conversions
	hashes  photoHashes
	remote  remoteSeen // remote sessions that got the last items (remote.go)
}

// New returns the service over db.
func New(db Store, cfg Config) *PEP {
	def := DefaultConfig()
	if cfg.MaxItems == 0 {
		cfg.MaxItems = def.MaxItems
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = def.MaxBytes
	}
	if cfg.MaxNodes == 0 {
		cfg.MaxNodes = def.MaxNodes
	}
	if cfg.MaxNodeItems <= 0 {
		cfg.MaxNodeItems = def.MaxNodeItems
	}
	if cfg.MaxItemBytes <= 0 {
		cfg.MaxItemBytes = def.MaxItemBytes
	}
	if cfg.CapsCache <= 0 {
		cfg.CapsCache = def.CapsCache
	}
	if cfg.CapsQueries == 0 {
		cfg.CapsQueries = def.CapsQueries
	}
	if cfg.CapsTimeout <= 0 {
		cfg.CapsTimeout = def.CapsTimeout
	}
	if cfg.VCardMaxBytes <= 0 {
		cfg.VCardMaxBytes = 64 << 10
	}
	return &PEP{db: db, cfg: cfg, caps: newCapsCache(cfg.CapsCache, cfg.CapsQueries, cfg.CapsTimeout)}
}

// Features are the pubsub features advertised on accounts (XEP-0163 §6.1).
var Features = []string{
	NS, NS + "#access-open", NS + "#access-presence", NS + "#access-roster", NS + "#access-whitelist",
	NS + "#auto-create", NS + "#config-node", NS + "#create-and-configure", NS + "#create-nodes",
	NS + "#delete-items", NS + "#delete-nodes", NS + "#filtered-notifications", NS + "#item-ids",
	NS + "#last-published", NS + "#modify-affiliations", NS + "#persistent-items", NS + "#publish",
	NS + "#publish-options", NS + "#purge-nodes", NS + "#retract-items", NS + "#retrieve-affiliations",
	NS + "#retrieve-default", NS + "#retrieve-items", NS + "#multi-items",
}

// Register adds the service's IQ routes and account features to r.
func (p *PEP) Register(r *mux.Registry) {
	// Publishing clients send to their bare JID or to no address at all
	// (Server); others may only retrieve (get) from an account.
	r.IQ(NS, "pubsub", mux.Route{Handler: p.handle, Targets: mux.Server | mux.Self | mux.Others, Refuse: "forbidden"})
	r.IQ(NSOwner, "pubsub", mux.Route{Handler: p.handleOwner, Targets: mux.Server | mux.Self, Refuse: "forbidden"})
	r.AccountFeature(Features...)
	if p.conv != nil {
		r.AccountFeature(ConversionFeatures...)
	}
}

// Convert switches on the avatar and bookmark conversions (convert.go)
// over c; call before Register.
func (p *PEP) Convert(c Conversions) { p.conv = c }

// Attach connects the service to the sessions and the blocklist, and
// returns the c2s hooks it needs. Call before the server runs.
func (p *PEP) Attach(s Sessions, blocked func(ctx context.Context, user, jid string) bool) c2s.Hooks {
	p.sess, p.blocked = s, blocked
	p.caps.forget = s.Unawait
	return c2s.Hooks{Presence: p.presence, Subscribed: p.subscribed,
		RemoteEvent: p.remoteEvent, RemotePresence: p.remotePresence}
}

func (p *PEP) limits() store.PEPLimits {
	return store.PEPLimits{Items: p.cfg.MaxItems, Bytes: p.cfg.MaxBytes, Nodes: p.cfg.MaxNodes}
}

func (p *PEP) defaults(name string) store.PEPNode {
	return store.PEPNode{Name: name, Access: "presence", MaxItems: 1, Persist: true,
		SendLast: "on_sub_and_presence", NotifyRetract: true}
}

func (p *PEP) bare(user string) string { return user + "@" + p.cfg.Domain }

// owner returns the account whose PEP service an IQ addresses and
// whether that is the sender's own; ok is false for an address that is
// not an account on this host (the domain has no pubsub service).
func (p *PEP) owner(c iq.Context, el *wire.Element) (owner string, self, ok bool) {
	to := el.Get("to")
	if to == "" {
		return c.User, true, true
	}
	local, dom, found := strings.Cut(to, "@")
	if !found || local == "" || dom != c.Domain {
		return "", false, false
	}
	return local, local == c.User, true
}

// pubsubError returns an error reply (with its legacy code, as every
// stanza error) and an optional pubsub#errors condition.
func pubsubError(el *wire.Element, typ, cond, app string, attrs ...string) *wire.Element {
	r := iq.Error(el, typ, cond)
	e := r.Child(wire.NSClient, "error")
	if app != "" {
		e.Add(wire.New(NSErrors, app, attrs...))
	}
	return r
}

func errText(r *wire.Element, text string) *wire.Element {
	r.Child(wire.NSClient, "error").Add(wire.New(wire.NSStanzas, "text").AddText(text))
	return r
}

var (
	errPrecondition = errors.New("pep: precondition not met")
	errExists       = errors.New("pep: node exists")
	errNoNode       = errors.New("pep: no such node")
)

// storeError maps a store error to a reply.
func (p *PEP) storeError(el *wire.Element, err error) *wire.Element {
	switch {
	case errors.Is(err, errPrecondition):
		return pubsubError(el, "cancel", "conflict", "precondition-not-met")
	case errors.Is(err, errExists):
		return pubsubError(el, "cancel", "conflict", "")
	case errors.Is(err, errNoNode), errors.Is(err, store.ErrNotFound):
		return pubsubError(el, "cancel", "item-not-found", "")
	case errors.Is(err, store.ErrQuota):
		return errText(pubsubError(el, "modify", "policy-violation", ""), "The account's personal eventing storage is full.")
	case errors.Is(err, store.ErrInvalid):
		return pubsubError(el, "modify", "not-acceptable", "")
	}
	p.cfg.Log.Error().Err(err).Msg("pep store")
	return pubsubError(el, "wait", "internal-server-error", "")
}

// handle serves <pubsub xmlns='http://jabber.org/protocol/pubsub'/>.
func (p *PEP) handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	owner, self, ok := p.owner(c, el)
	if !ok {
		return pubsubError(el, "cancel", "service-unavailable", "")
	}
	ps := iq.Payload(el)
	var op *wire.Element
	for _, ch := range ps.Elements() {
		if ch.Space == NS && ch.Local != "publish-options" && ch.Local != "configure" && ch.Local != "options" {
			op = ch
			break
		}
	}
	if op == nil {
		return pubsubError(el, "modify", "bad-request", "")
	}
	switch typ + " " + op.Local {
	case "set publish", "set retract", "set create":
		if !self {
			return pubsubError(el, "auth", "forbidden", "")
		}
	}
	switch typ + " " + op.Local {
	case "set publish":
		return p.publish(ctx, c, el, owner, op, ps.Child(NS, "publish-options"))
	case "set retract":
		return p.retract(ctx, el, owner, op)
	case "set create":
		return p.create(ctx, el, owner, op, ps.Child(NS, "configure"))
	case "get items":
		return p.items(ctx, c, el, owner, self, op)
	case "get subscriptions", "get affiliations":
		// No explicit subscriptions; the owner affiliations are in the
		// #owner namespace.
		return iq.Result(el, wire.New(NS, "pubsub").Add(wire.New(NS, op.Local)))
	case "set subscribe", "set unsubscribe", "get options", "set options":
		return pubsubError(el, "cancel", "feature-not-implemented", "unsupported", "feature", "subscribe")
	}
	return pubsubError(el, "cancel", "feature-not-implemented", "")
}

func nodeOf(el *wire.Element) string { return el.Get("node") }

func (p *PEP) publish(ctx context.Context, c iq.Context, el *wire.Element, owner string, pub, opts *wire.Element) *wire.Element {
	node := nodeOf(pub)
	if node == "" {
		return pubsubError(el, "modify", "bad-request", "nodeid-required")
	}
	var items []*wire.Element
	for _, ch := range pub.Elements() {
		if ch.Space == NS && ch.Local == "item" {
			items = append(items, ch)
		}
	}
	switch {
	case len(items) == 0:
		return pubsubError(el, "modify", "bad-request", "item-required")
	case len(items) > 1:
		return pubsubError(el, "modify", "bad-request", "invalid-payload")
	}
	payloads := items[0].Elements()
	switch {
	case len(payloads) == 0:
		return pubsubError(el, "modify", "bad-request", "payload-required")
	case len(payloads) > 1:
		return pubsubError(el, "modify", "bad-request", "invalid-payload")
	}
	id := items[0].Get("id")
	if id == "" {
		id = randomID()
	}
	if len(id) > 1024 || len(node) > 1024 {
		return pubsubError(el, "modify", "not-acceptable", "")
	}
	payload := payloads[0].Bytes("")
	if len(payload) > p.cfg.MaxItemBytes {
		return pubsubError(el, "modify", "not-acceptable", "payload-too-big")
	}
	var o options
	if opts != nil {
		f, err := parseForm(opts.Child(nsData, "x"), formPublishOpts)
		if err != nil {
			return pubsubError(el, "modify", "bad-request", "invalid-options")
		}
		if o, err = readOptions(f, p.cfg.MaxNodeItems); err != nil {
			return pubsubError(el, "cancel", "conflict", "precondition-not-met")
		}
	}
	n, err := p.db.PEPPublish(ctx, owner, node, func(n *store.PEPNode, exists bool) error {
		if !exists {
			*n = p.defaults(node)
			o.apply(n)
			return nil
		}
		if !o.matches(n) {
			return errPrecondition
		}
		return nil
	}, &store.PEPItem{ID: id, Payload: payload}, p.limits())
	if err != nil {
		return p.storeError(el, err)
	}
	ev := wire.New(NSEvent, "items", "node", node).Add(
		wire.New(NSEvent, "item", "id", id).Add(payloads[0]))
	p.notify(ctx, owner, &n, ev)
	p.changed(ctx, owner, node)
	return iq.Result(el, wire.New(NS, "pubsub").Add(
		wire.New(NS, "publish", "node", node).Add(wire.New(NS, "item", "id", id))))
}

func (p *PEP) retract(ctx context.Context, el *wire.Element, owner string, op *wire.Element) *wire.Element {
	node := nodeOf(op)
	if node == "" {
		return pubsubError(el, "modify", "bad-request", "nodeid-required")
	}
	var ids []string
	for _, ch := range op.Elements() {
		if ch.Space == NS && ch.Local == "item" && ch.Get("id") != "" {
			ids = append(ids, ch.Get("id"))
		}
	}
	if len(ids) == 0 {
		return pubsubError(el, "modify", "bad-request", "item-required")
	}
	n, gone, err := p.db.PEPRetract(ctx, owner, node, ids)
	if err != nil {
		return p.storeError(el, err)
	}
	if len(gone) == 0 {
		return pubsubError(el, "cancel", "item-not-found", "")
	}
	if v := op.Get("notify"); v == "1" || v == "true" {
		ev := wire.New(NSEvent, "items", "node", node)
		for _, id := range gone {
			ev.Add(wire.New(NSEvent, "retract", "id", id))
		}
		p.notify(ctx, owner, &n, ev)
	}
	p.changed(ctx, owner, node)
	return iq.Result(el)
}

func (p *PEP) create(ctx context.Context, el *wire.Element, owner string, op, conf *wire.Element) *wire.Element {
	node := nodeOf(op)
	if node == "" {
		return pubsubError(el, "modify", "not-acceptable", "nodeid-required") // no instant nodes
	}
	var o options
	if conf != nil {
		if x := conf.Child(nsData, "x"); x != nil {
			f, err := parseForm(x, formNodeConfig)
			if err == nil {
				o, err = readOptions(f, p.cfg.MaxNodeItems)
			}
			if err != nil {
				return pubsubError(el, "modify", "not-acceptable", "")
			}
		}
	}
	_, err := p.db.PEPPublish(ctx, owner, node, func(n *store.PEPNode, exists bool) error {
		if exists {
			return errExists
		}
		*n = p.defaults(node)
		o.apply(n)
		return nil
	}, nil, p.limits())
	if err != nil {
		return p.storeError(el, err)
	}
	return iq.Result(el)
}

// access returns nil when requester (a bare JID) may retrieve the node's
// items, else the error reply (XEP-0060 §6.5.2-§6.5.5).
func (p *PEP) access(ctx context.Context, el *wire.Element, owner string, n *store.PEPNode, requester string) *wire.Element {
	if requester == p.bare(owner) || n.Access == "open" {
		return nil
	}
	if n.Access == "whitelist" {
		if slices.Contains(n.Members, requester) {
			return nil
		}
		return pubsubError(el, "cancel", "not-allowed", "closed-node")
	}
	it, err := p.db.RosterItem(ctx, owner, requester)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return p.storeError(el, err)
	}
	if allowed(n, &it) {
		return nil
	}
	if n.Access == "roster" {
		return pubsubError(el, "auth", "not-authorized", "not-in-roster-group")
	}
	return pubsubError(el, "auth", "not-authorized", "presence-subscription-required")
}

// allowed reports whether a contact with roster item it (zero if none)
// may access the node under the presence or roster model.
func allowed(n *store.PEPNode, it *store.RosterItem) bool {
	sub := it.Sub == store.SubFrom || it.Sub == store.SubBoth
	switch n.Access {
	case "open":
		return true
	case "presence":
		return sub
	case "roster":
		if len(n.Groups) == 0 {
			return sub
		}
		for _, g := range it.Groups {
			if slices.Contains(n.Groups, g) {
				return true
			}
		}
		return false
	case "whitelist":
		return slices.Contains(n.Members, it.JID)
	}
	return false
}

func (p *PEP) items(ctx context.Context, c iq.Context, el *wire.Element, owner string, self bool, op *wire.Element) *wire.Element {
	node := nodeOf(op)
	if node == "" {
		return pubsubError(el, "modify", "bad-request", "nodeid-required")
	}
	var ids []string
	for _, ch := range op.Elements() {
		if ch.Space == NS && ch.Local == "item" && ch.Get("id") != "" {
			ids = append(ids, ch.Get("id"))
		}
	}
	last := 0
	if v := op.Get("max_items"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return pubsubError(el, "modify", "bad-request", "")
		}
		last = n
	}
	if !self && p.blocked != nil && p.blocked(ctx, owner, c.Bare()) {
		return pubsubError(el, "cancel", "item-not-found", "")
	}
	n, items, err := p.db.PEPItems(ctx, owner, node, ids, last)
	if err != nil {
		return p.storeError(el, err)
	}
	if !self {
		if r := p.access(ctx, el, owner, &n, c.Bare()); r != nil {
			return r
		}
	}
	if len(ids) > 0 && len(items) == 0 {
		return pubsubError(el, "cancel", "item-not-found", "")
	}
	out := wire.New(NS, "items", "node", node)
	for _, it := range items {
		out.Add(itemElement(NS, it))
	}
	return iq.Result(el, wire.New(NS, "pubsub").Add(out))
}

// itemElement returns <item id='…'>payload</item> in namespace space; a
// payload that does not parse (never written by this version) is left
// out.
func itemElement(space string, it store.PEPItem) *wire.Element {
	e := wire.New(space, "item", "id", it.ID)
	if pl, err := wire.Parse(it.Payload); err == nil {
		e.Add(pl)
	}
	return e
}

// handleOwner serves <pubsub xmlns='http://jabber.org/protocol/pubsub#owner'/>,
// for the account itself only.
func (p *PEP) handleOwner(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	owner, self, ok := p.owner(c, el)
	if !ok {
		return pubsubError(el, "cancel", "service-unavailable", "")
	}
	if !self {
		return pubsubError(el, "auth", "forbidden", "")
	}
	op := iq.Payload(el).FirstChild()
	if op == nil || op.Space != NSOwner {
		return pubsubError(el, "modify", "bad-request", "")
	}
	node := nodeOf(op)
	switch typ + " " + op.Local {
	case "get default":
		d := p.defaults("")
		return iq.Result(el, wire.New(NSOwner, "pubsub").Add(wire.New(NSOwner, "default").Add(configForm(&d, "form"))))
	case "get configure":
		n, err := p.db.PEPNode(ctx, owner, node)
		if err != nil {
			return p.storeError(el, err)
		}
		return iq.Result(el, wire.New(NSOwner, "pubsub").Add(
			wire.New(NSOwner, "configure", "node", node).Add(configForm(&n, "form"))))
	case "set configure":
		x := op.Child(nsData, "x")
		f, err := parseForm(x, formNodeConfig)
		if err != nil {
			return pubsubError(el, "modify", "bad-request", "")
		}
		if f.typ == "cancel" {
			return iq.Result(el)
		}
		o, err := readOptions(f, p.cfg.MaxNodeItems)
		if err != nil {
			return pubsubError(el, "modify", "not-acceptable", "")
		}
		_, err = p.db.PEPPublish(ctx, owner, node, func(n *store.PEPNode, exists bool) error {
			if !exists {
				return errNoNode
			}
			o.apply(n)
			return nil
		}, nil, p.limits())
		if err != nil {
			return p.storeError(el, err)
		}
		return iq.Result(el)
	case "set delete", "set purge":
		n, err := p.db.PEPPurge(ctx, owner, node, op.Local == "delete")
		if err != nil {
			return p.storeError(el, err)
		}
		p.notify(ctx, owner, &n, wire.New(NSEvent, op.Local, "node", node))
		p.changed(ctx, owner, node)
		return iq.Result(el)
	case "get affiliations":
		n, err := p.db.PEPNode(ctx, owner, node)
		if err != nil {
			return p.storeError(el, err)
		}
		affs := wire.New(NSOwner, "affiliations", "node", node)
		affs.Add(wire.New(NSOwner, "affiliation", "jid", p.bare(owner), "affiliation", "owner"))
		for _, m := range n.Members {
			affs.Add(wire.New(NSOwner, "affiliation", "jid", m, "affiliation", "member"))
		}
		return iq.Result(el, wire.New(NSOwner, "pubsub").Add(affs))
	case "set affiliations":
		return p.setAffiliations(ctx, el, owner, op)
	case "get subscriptions":
		return iq.Result(el, wire.New(NSOwner, "pubsub").Add(wire.New(NSOwner, "subscriptions", "node", node)))
	}
	return pubsubError(el, "cancel", "feature-not-implemented", "")
}

// maxMembers bounds a node's whitelist.
const maxMembers = 256

func (p *PEP) setAffiliations(ctx context.Context, el *wire.Element, owner string, op *wire.Element) *wire.Element {
	type change struct {
		jid string
		in  bool
	}
	var changes []change
	for _, a := range op.Elements() {
		if a.Space != NSOwner || a.Local != "affiliation" {
			continue
		}
		j := a.Get("jid")
		if j == "" || strings.ContainsRune(j, '/') || len(j) > 1024 {
			return pubsubError(el, "modify", "bad-request", "")
		}
		switch a.Get("affiliation") {
		case "member", "publisher":
			changes = append(changes, change{j, true})
		case "none", "outcast":
			changes = append(changes, change{j, false})
		default:
			return pubsubError(el, "modify", "not-acceptable", "")
		}
	}
	_, err := p.db.PEPPublish(ctx, owner, nodeOf(op), func(n *store.PEPNode, exists bool) error {
		if !exists {
			return errNoNode
		}
		for _, c := range changes {
			n.Members = slices.DeleteFunc(n.Members, func(m string) bool { return m == c.jid })
			if c.in {
				n.Members = append(n.Members, c.jid)
			}
		}
		if len(n.Members) > maxMembers {
			return store.ErrQuota
		}
		return nil
	}, nil, p.limits())
	if err != nil {
		return p.storeError(el, err)
	}
	return iq.Result(el)
}
