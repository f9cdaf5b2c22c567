// Package mux is the handler registry of the XMPP server: every feature
// package plugs in here instead of into a switch in the session code.
//
//   - IQ handlers by the payload's (namespace, element), or by namespace
//     alone, with the addresses each answers on (RFC 6120 §8.2.3, RFC 6121
//     §8.5.2.1.3: the server answers some IQs on behalf of an account).
//   - Ad-hoc commands (XEP-0050) by node; the registry answers the
//     commands namespace and lists the nodes in disco#items.
//   - Disco features, identities, data forms (XEP-0128) and account
//     features contributed by each handler (XEP-0030).
//   - Ordered message hooks: each says which messages it cares about, so
//     a message skips the hooks that do not. Three kinds, by where they
//     sit on a message's path (see Order for the effective order):
//     MessageHook before delivery (may change or consume a message: the
//     XEP-0313 archive), CopyHook after delivery (copies to the owner's
//     other sessions: XEP-0280 carbons) and UndeliveredHook when no
//     session took it (RFC 6121 §8.5.2 offline storage, which then
//     wakes XEP-0357 push, and hands the messages over at the next
//     initial presence). Presence hooks change an available presence
//     before it goes out (the XEP-0153 photo hash).
//
// A Registry is filled before the server runs and only read afterwards;
// reads need no lock.
package mux

import (
	"context"
	"slices"
	"strings"
	"time"

	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/wire"
)

// Target is a set of addresses an IQ handler answers on.
type Target uint8

const (
	// Server: IQs to the domain, or without a to.
	Server Target = 1 << iota
	// Self: IQs to the sender's own bare JID.
	Self
	// Others: get requests to another local account's bare JID, answered
	// by the server on its behalf (vcard-temp, disco#info).
	Others
)

// Flag is a session opt-in an IQ handler may switch on (iq.Context.Mark).
type Flag = iq.Flag

// Route is one registered IQ handler.
type Route struct {
	Handler iq.Handler
	// Targets are the addresses it answers on; zero means Server|Self.
	Targets Target
	// Push selects the sessions of the user that get the handler's pushes
	// (iq.Context.Push): FlagRoster (default) or FlagBlocklist.
	Push Flag
	// Refuse is the stanza error condition for an IQ to a target the
	// route does not answer on; empty means service-unavailable.
	Refuse string
}

type key struct{ space, local string }

// Command is an ad-hoc command (XEP-0050) with its disco#items entry.
type Command struct {
	Item    disco.Item
	Handler iq.Handler
}

// Registry is the handler registry. Fill it before Run; it is then
// read-only and safe for concurrent use.
type Registry struct {
	iqs        map[key]Route
	spaces     map[string]Route
	commands   map[string]Command
	order      []string // command nodes in registration order
	features   []string
	identities []disco.Identity
	forms      []disco.Form
	accountFs  []string
	hooks      []MessageHook
	copies     []CopyHook
	undeliv    []UndeliveredHook
	presence   []PresenceHook
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{iqs: map[key]Route{}, spaces: map[string]Route{}, commands: map[string]Command{}}
}

// IQ registers h for IQ payloads <local xmlns=space/>. A later
// registration for the same payload replaces the earlier one.
func (r *Registry) IQ(space, local string, route Route) {
	r.iqs[key{space, local}] = route
}

// Namespace registers h for every IQ payload in namespace space that has
// no (namespace, element) registration of its own.
func (r *Registry) Namespace(space string, route Route) {
	r.spaces[space] = route
}

// Lookup returns the route for an IQ payload.
func (r *Registry) Lookup(space, local string) (Route, bool) {
	if rt, ok := r.iqs[key{space, local}]; ok {
		return rt, true
	}
	rt, ok := r.spaces[space]
	return rt, ok
}

// Allowed reports whether the route answers an IQ of type typ sent to
// target (Others only for get).
func (rt Route) Allowed(target Target, typ string) bool {
	t := rt.Targets
	if t == 0 {
		t = Server | Self
	}
	if target == Others && typ != "get" {
		return false
	}
	return t&target != 0
}

// Command registers an ad-hoc command by its node.
func (r *Registry) Command(c Command) {
	if _, ok := r.commands[c.Item.Node]; !ok {
		r.order = append(r.order, c.Item.Node)
	}
	r.commands[c.Item.Node] = c
	if _, ok := r.spaces[disco.NSCommands]; !ok {
		r.Namespace(disco.NSCommands, Route{Handler: r.command})
	}
}

// command dispatches <command node='…'/> by node (XEP-0050 §4).
func (r *Registry) command(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	q := iq.Payload(el)
	if q == nil || q.Local != "command" {
		return iq.Error(el, "modify", "bad-request")
	}
	cmd, ok := r.commands[q.Get("node")]
	if !ok {
		return iq.Error(el, "cancel", "item-not-found")
	}
	return cmd.Handler(ctx, c, el)
}

// Commands returns the registered commands' disco items in registration
// order.
func (r *Registry) Commands() []disco.Item {
	out := make([]disco.Item, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.commands[n].Item)
	}
	return out
}

// Feature adds disco features of the server (XEP-0030 §3.1).
func (r *Registry) Feature(vars ...string) { r.features = append(r.features, vars...) }

// AccountFeature adds disco features of every account's bare JID.
func (r *Registry) AccountFeature(vars ...string) { r.accountFs = append(r.accountFs, vars...) }

// Identity adds a disco identity of the server.
func (r *Registry) Identity(id disco.Identity) { r.identities = append(r.identities, id) }

// Form adds an extended disco form (XEP-0128) of the server.
func (r *Registry) Form(f disco.Form) { r.forms = append(r.forms, f) }

// Disco fills the contributed parts of a disco configuration: features
// (sorted, without duplicates), identities, forms, account features and
// the ad-hoc commands.
func (r *Registry) Disco(c disco.Config) disco.Config {
	c.Features = dedupe(append(slices.Clone(c.Features), r.features...))
	c.AccountFeatures = dedupe(append(slices.Clone(c.AccountFeatures), r.accountFs...))
	c.Identities = append(slices.Clone(c.Identities), r.identities...)
	c.Forms = append(slices.Clone(c.Forms), r.forms...)
	c.Commands = append(slices.Clone(c.Commands), r.Commands()...)
	return c
}

func dedupe(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// Direction tells a message hook which way a message goes.
type Direction uint8

const (
	// Outgoing: a local user sent it (the hook runs for the sender).
	Outgoing Direction = iota
	// Incoming: it is being delivered to a local user.
	Incoming
)

// Order numbers place a hook on a message's path; hooks of one kind run
// lower Order first, and a registration order breaks ties. The effective
// order of a one-to-one message from a local user to a local user is:
//
//  1. blocking (XEP-0191 §3.3, the sender's list: c2s asks Deps.Blocked,
//     before any hook; the sender gets <blocked/>)
//  2. MessageHooks for the sender, Outgoing (OrderArchive: the sender's
//     archive tags the copy its carbons show with a stanza-id)
//  3. CopyHook.Prepare (OrderCarbons: the <private/> marker is removed)
//  4. locked account (GDPR Art. 18), then blocking (XEP-0191 §3.2, the
//     recipient's list; the sender gets service-unavailable)
//  5. MessageHooks for the recipient, Incoming (OrderArchive)
//  6. delivery to the recipient's sessions (RFC 6121 §8.5), then the
//     CopyHooks for the recipient (OrderCarbons: received copies)
//  7. if no session took it: UndeliveredHooks (OrderOffline: stored,
//     then push, XEP-0357, for what was stored), else bounce or drop
//  8. CopyHooks for the sender (OrderCarbons: sent copies)
//
// Blocking and the lock are checks of the account, not hooks: they also
// govern presence and IQs, so c2s asks them once for every stanza kind.
const (
	OrderBlocking = 10
	OrderCarbons  = 50
	OrderArchive  = 100
	OrderOffline  = 200
	OrderPush     = 300
	// OrderAvatar places the XEP-0398 photo hash among presence hooks.
	OrderAvatar = 100
)

// MessageHook runs for one-to-one messages before delivery, in order of
// Order (lower first). Wants, if not nil, selects the messages the hook
// cares about; a message it does not want skips the hook without a call.
//
// Run gets the owner's localpart (sender for Outgoing, recipient for
// Incoming) and may add elements to the message it returns (for example
// a XEP-0359 stanza-id); returning el unchanged is the usual case. It
// returns a copy to change a message, never changing el itself. It
// returns nil to consume the message: later hooks do not run and the
// message goes no further (RunMessage returns nil). It must be quick
// and never block on the network.
type MessageHook struct {
	Name  string
	Order int
	Wants func(el *wire.Element) bool
	Run   func(ctx context.Context, owner string, dir Direction, el *wire.Element) *wire.Element
}

// Message registers a message hook.
func (r *Registry) Message(h MessageHook) {
	r.hooks = append(r.hooks, h)
	slices.SortStableFunc(r.hooks, func(a, b MessageHook) int { return a.Order - b.Order })
}

// RunMessage runs the message hooks over el for owner and returns the
// message as the hooks left it, or nil when a hook consumed it. It does
// not allocate beyond what the hooks do.
func (r *Registry) RunMessage(ctx context.Context, owner string, dir Direction, el *wire.Element) *wire.Element {
	for i := range r.hooks {
		h := &r.hooks[i]
		if h.Wants != nil && !h.Wants(el) {
			continue
		}
		if el = h.Run(ctx, owner, dir, el); el == nil {
			return nil
		}
	}
	return el
}

// HasMessageHooks reports whether any message hook is registered.
func (r *Registry) HasMessageHooks() bool { return len(r.hooks) > 0 }

// CopyHook copies one-to-one messages to the owner's other sessions
// after delivery (XEP-0280 carbons): for a sent message (Outgoing) to the
// sender's other sessions, for a delivered one (Incoming) to the
// recipient's sessions that did not get it; in both cases only to the
// sessions that switched Flag on (iq.Context.Mark).
//
// Wants selects the messages to copy (nil: every one); it sees a sent
// message before Prepare. Prepare, if not nil, runs on a sent message
// after the sender's MessageHooks and returns the message to route on
// (a copy if it changes anything, such as removing a marker meant for
// the server). Copy returns the copy for the session with full JID full
// of the account with bare JID bare; it must not change el. The c2s layer
// runs the hooks (it owns the sessions); the registry only holds them.
type CopyHook struct {
	Name    string
	Order   int
	Flag    Flag
	Wants   func(el *wire.Element) bool
	Prepare func(el *wire.Element) *wire.Element
	Copy    func(dir Direction, bare, full string, el *wire.Element) *wire.Element
}

// Copy registers a copy hook. At most 64 may be registered.
func (r *Registry) Copy(h CopyHook) {
	if len(r.copies) == 64 {
		panic("mux: more than 64 copy hooks")
	}
	r.copies = append(r.copies, h)
	slices.SortStableFunc(r.copies, func(a, b CopyHook) int { return a.Order - b.Order })
}

// CopyHooks returns the copy hooks in order. The slice must not be
// modified.
func (r *Registry) CopyHooks() []CopyHook { return r.copies }

// WantCopies returns a bit set of the copy hooks that want el (bit i for
// CopyHooks()[i]); zero when none does. It does not allocate.
func (r *Registry) WantCopies(el *wire.Element) uint64 {
	var want uint64
	for i := range r.copies {
		if w := r.copies[i].Wants; w == nil || w(el) {
			want |= 1 << i
		}
	}
	return want
}

// PrepareCopies runs the copy hooks' Prepare over a sent message and
// returns the message to route.
func (r *Registry) PrepareCopies(el *wire.Element) *wire.Element {
	for i := range r.copies {
		if p := r.copies[i].Prepare; p != nil {
			el = p(el)
		}
	}
	return el
}

// PresenceHook runs, in order of Order, on an available presence a
// local user's session sends (broadcast or directed, RFC 6121 §4.2,
// §4.6) before it goes out, if Wants (nil: every one) selects it. Run
// returns the presence to send: el itself, a changed copy (the XEP-0153
// photo hash, XEP-0398 §4), never el changed in place, or nil to
// consume it. It must be quick and never block on the network.
type PresenceHook struct {
	Name  string
	Order int
	Wants func(el *wire.Element) bool
	Run   func(ctx context.Context, owner string, el *wire.Element) *wire.Element
}

// Presence registers a presence hook.
func (r *Registry) Presence(h PresenceHook) {
	r.presence = append(r.presence, h)
	slices.SortStableFunc(r.presence, func(a, b PresenceHook) int { return a.Order - b.Order })
}

// RunPresence runs the presence hooks over el for owner and returns the
// presence as the hooks left it, or nil when a hook consumed it.
func (r *Registry) RunPresence(ctx context.Context, owner string, el *wire.Element) *wire.Element {
	for i := range r.presence {
		h := &r.presence[i]
		if h.Wants != nil && !h.Wants(el) {
			continue
		}
		if el = h.Run(ctx, owner, el); el == nil {
			return nil
		}
	}
	return el
}

// UndeliveredHook keeps messages for an account while none of its
// sessions can take them (RFC 6121 §8.5.2.1.1 offline storage) and
// hands them over later.
//
// Run is offered, in order of Order, a chat or normal message to a
// local account that no session took (§8.5.2.1.1, §8.5.3.2.1; and
// messages a closing session could not write) if Wants (nil: every one)
// selects it. Run reports whether it took the message (stored it); the
// first hook that takes it, or fails, ends the round. An error is the
// store's (for example store.ErrQuota or store.ErrNotFound); the c2s
// layer turns it into the bounce the sender gets. Run must not change el.
//
// Deliver, if not nil, hands what the hook keeps for owner to a session
// that became available (its initial presence, RFC 6121 §4.2.2, with a
// non-negative priority), at most page messages per round: enqueue
// queues one with its store id, waits for room in the session's queue,
// and reports false once the session is ending. The session deletes a
// message from the store once written (or acknowledged, XEP-0198), so
// Deliver waits for a round to be gone before reading the next, and
// returns when nothing is left, the session ends or ctx ends. The c2s
// layer runs at most one Deliver per session at a time, and again when
// a message was stored during a run.
type UndeliveredHook struct {
	Name    string
	Order   int
	Wants   func(el *wire.Element) bool
	Run     func(ctx context.Context, owner string, el *wire.Element) (taken bool, err error)
	Deliver func(ctx context.Context, owner string, page int, enqueue func(el *wire.Element, id uint64) bool)
}

// Undelivered registers an undelivered-message hook.
func (r *Registry) Undelivered(h UndeliveredHook) {
	r.undeliv = append(r.undeliv, h)
	slices.SortStableFunc(r.undeliv, func(a, b UndeliveredHook) int { return a.Order - b.Order })
}

// UndeliveredHooks returns the undelivered-message hooks in order. The
// slice must not be modified.
func (r *Registry) UndeliveredHooks() []UndeliveredHook { return r.undeliv }

// WantsUndelivered reports whether some undelivered-message hook may
// keep el.
func (r *Registry) WantsUndelivered(el *wire.Element) bool {
	for i := range r.undeliv {
		if w := r.undeliv[i].Wants; w == nil || w(el) {
			return true
		}
	}
	return false
}

// RunUndelivered offers el to the undelivered hooks that want it; it
// reports whether one took it and the error of the hook that failed.
// With no hook, or none that takes it, the message is not kept.
func (r *Registry) RunUndelivered(ctx context.Context, owner string, el *wire.Element) (bool, error) {
	for i := range r.undeliv {
		h := &r.undeliv[i]
		if h.Wants != nil && !h.Wants(el) {
			continue
		}
		if taken, err := h.Run(ctx, owner, el); taken || err != nil {
			return taken, err
		}
	}
	return false, nil
}

// Service is the shape of the older IQ services (namespaces, features
// and one handler); AddService registers one.
type Service interface {
	Namespaces() []string
	Features() []string
	Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element
}

// AddService registers s for each of its namespaces, with its features
// and whatever optional parts it has: Form() disco.Form, Identity()
// disco.Identity, AccountFeatures() []string, Targets() Target, and
// Commands() []disco.Item with Command(ctx, c, el) (each node to Command).
func (r *Registry) AddService(s Service) {
	route := Route{Handler: s.Handle}
	if t, ok := s.(interface{ Targets() Target }); ok {
		route.Targets = t.Targets()
	}
	if p, ok := s.(interface{ PushTo() Flag }); ok {
		route.Push = p.PushTo()
	}
	for _, ns := range s.Namespaces() {
		r.Namespace(ns, route)
	}
	r.Feature(s.Features()...)
	if f, ok := s.(interface{ Form() disco.Form }); ok {
		r.Form(f.Form())
	}
	if id, ok := s.(interface{ Identity() disco.Identity }); ok {
		r.Identity(id.Identity())
	}
	if af, ok := s.(interface{ AccountFeatures() []string }); ok {
		r.AccountFeature(af.AccountFeatures()...)
	}
	if cmd, ok := s.(interface {
		Commands() []disco.Item
		Command(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element
	}); ok {
		for _, it := range cmd.Commands() {
			r.Command(Command{Item: it, Handler: cmd.Command})
		}
	}
}

// String lists the registrations, for debugging and tests.
func (r *Registry) String() string {
	var b strings.Builder
	keys := make([]string, 0, len(r.iqs)+len(r.spaces))
	for k := range r.iqs {
		keys = append(keys, "{"+k.space+"}"+k.local)
	}
	for k := range r.spaces {
		keys = append(keys, "{"+k+"}*")
	}
	slices.Sort(keys)
	b.WriteString(strings.Join(keys, " "))
	return b.String()
}

// arrivalKey carries when an undelivered message reached the server, for
// hooks that stamp it (offline storage: XEP-0203).
type arrivalKey struct{}

// WithArrival returns ctx carrying the time el reached the server, for
// RunUndelivered when that was well before now (a session held by stream
// management that ends without its client coming back).
func WithArrival(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, arrivalKey{}, t)
}

// Arrival returns the time WithArrival put into ctx, if any.
func Arrival(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(arrivalKey{}).(time.Time)
	return t, ok
}
