// Package push implements Push Notifications (XEP-0357) on the user's
// server side: a device enables push with its app server's JID and a node
// (and optionally a publish-options form, usually a secret for the app
// server); when a message for the user is stored offline (or queued to a
// hibernated stream-management session) the server publishes a summary
// to each registered app server, which wakes the device.
//
// Privacy: the summary carries the message count only. The sender
// (last-message-sender) and the body (last-message-body) are left out
// unless the operator switches them on (Config.IncludeSender,
// Config.IncludeBody), since an app server is usually run by a third
// party (the app's vendor) and relays to Google or Apple. Registrations
// are personal data: stored under the account (store/push.go), capped
// per account, exported and deleted with it.
//
// Robustness: notifications of one registration are at most one per
// Config.MinInterval (later messages in the interval are summed up in one
// notification at its end); an app server that answers with errors or
// not at all Config.MaxErrors times in a row is disabled (the
// registration deleted), as XEP-0357 §9 suggests.
//
// Place in the server: package server registers the Push as an IQ service
// (enable, disable) and gives it the c2s hooks for stored messages
// (Offline) and for answers addressed to accounts (Answer); notifications
// leave through the send function (the domain table: a local session, a
// local service domain or, with federation, a remote server).
package push

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

// Namespaces (XEP-0357, XEP-0060, XEP-0004).
const (
	NS          = "urn:xmpp:push:0"
	NSSummary   = "urn:xmpp:push:summary"
	nsPubsub    = "http://jabber.org/protocol/pubsub"
	nsData      = "jabber:x:data"
	formPublish = "http://jabber.org/protocol/pubsub#publish-options"
)

// Config configures push notifications. Zero fields mean DefaultConfig's.
type Config struct {
	Domain string
	// MaxRegistrations caps one account's registrations (devices × app
	// servers); an enable beyond it gets policy-violation.
	MaxRegistrations int
	// IncludeSender and IncludeBody add last-message-sender (the bare
	// JID) and last-message-body to the summary. Off by default: the
	// app server and the phone vendor's push service would see them.
	IncludeSender bool
	IncludeBody   bool
	// MaxErrors is how many errors or timeouts in a row disable a
	// registration.
	MaxErrors int
	// MinInterval is the least time between two notifications of one
	// registration.
	MinInterval time.Duration
	// Timeout is how long the app server has to answer a notification.
	Timeout time.Duration
	// MaxPending bounds the notifications awaiting an answer, over all
	// users; further ones are dropped.
	MaxPending int
	Log        zerolog.Logger
}

// DefaultConfig returns the documented defaults (docs/configuration.md).
func DefaultConfig() Config {
	return Config{
		MaxRegistrations: 16,
		MaxErrors:        3,
		MinInterval:      2 * time.Second,
		Timeout:          30 * time.Second,
		MaxPending:       4096,
	}
}

// Bounds of an enable request.
const (
	maxFormBytes  = 4096
	maxFormFields = 32
	maxNode       = 512
	maxJID        = 1023
)

// Store is the part of store.DB the package uses.
type Store interface {
	PutPush(ctx context.Context, user string, r store.PushRegistration, max int) error
	DeletePush(ctx context.Context, user, jid, node string) (int, error)
	PushRegistrations(ctx context.Context, user string) ([]store.PushRegistration, error)
	OfflineCount(ctx context.Context, user string) (int, error)
}

var _ Store = (*store.DB)(nil)

// regKey names one registration.
type regKey struct{ user, jid, node string }

// state is what the service remembers in memory about a registration
// with notifications under way: nothing of it is stored.
type state struct {
	last   time.Time   // when the last notification left
	timer  *time.Timer // a notification scheduled at the interval's end
	errors int         // errors and timeouts in a row
	sender string      // newest message's sender and body, only when
	body   string      // the configuration includes them
}

// pending is a notification waiting for the app server's answer.
type pending struct {
	key   regKey
	timer *time.Timer
}

// Push is the service; safe for concurrent use.
type Push struct {
	db  Store
	cfg Config

	mu      sync.Mutex
	send    func(*wire.Element)
	regs    map[regKey]*state
	pending map[string]pending // by IQ id
	closed  bool
}

// New returns the service over db. Call Attach before it sends anything.
func New(db Store, cfg Config) *Push {
	def := DefaultConfig()
	if cfg.MaxRegistrations == 0 {
		cfg.MaxRegistrations = def.MaxRegistrations
	}
	if cfg.MaxErrors <= 0 {
		cfg.MaxErrors = def.MaxErrors
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = def.MinInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = def.MaxPending
	}
	return &Push{db: db, cfg: cfg, regs: map[regKey]*state{}, pending: map[string]pending{}}
}

// Attach sets the function notifications leave through: it routes a
// stanza from this server to any address (a local session, a local
// service, a remote server) and never blocks.
func (p *Push) Attach(send func(*wire.Element)) {
	p.mu.Lock()
	p.send = send
	p.mu.Unlock()
}

// Namespaces, Features and AccountFeatures make Push a mux.Service: the
// enable and disable IQs go to the server (or the account's own bare
// JID), and the account advertises urn:xmpp:push:0 (XEP-0357 §5).
func (p *Push) Namespaces() []string      { return []string{NS} }
func (p *Push) Features() []string        { return nil }
func (p *Push) AccountFeatures() []string { return []string{NS} }

// Handle serves <enable/> and <disable/> (XEP-0357 §5, §6).
func (p *Push) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	if el.Get("type") != "set" {
		if el.Get("type") == "get" {
			return iq.Error(el, "cancel", "feature-not-implemented")
		}
		return nil
	}
	req, err := parseRequest(iq.Payload(el))
	if err != nil {
		return iq.Error(el, "modify", "bad-request")
	}
	switch req.op {
	case "enable":
		err := p.db.PutPush(ctx, c.User, store.PushRegistration{JID: req.jid, Node: req.node, Options: req.options}, p.cfg.MaxRegistrations)
		switch {
		case err == nil:
			p.forget(regKey{c.User, req.jid, req.node})
			return iq.Result(el)
		case errors.Is(err, store.ErrQuota):
			r := iq.Error(el, "cancel", "policy-violation")
			r.Child(wire.NSClient, "error").Add(wire.New(wire.NSStanzas, "text").AddText("Too many push registrations: disable one first."))
			return r
		case errors.Is(err, store.ErrInvalid):
			return iq.Error(el, "modify", "bad-request")
		}
		p.cfg.Log.Error().Err(err).Msg("push enable")
		return iq.Error(el, "wait", "internal-server-error")
	default: // disable
		if _, err := p.db.DeletePush(ctx, c.User, req.jid, req.node); err != nil {
			p.cfg.Log.Error().Err(err).Msg("push disable")
			return iq.Error(el, "wait", "internal-server-error")
		}
		p.forgetJID(c.User, req.jid, req.node)
		return iq.Result(el)
	}
}

// request is a parsed <enable/> or <disable/>.
type request struct {
	op, jid, node string
	options       []byte
}

var errRequest = errors.New("push: malformed request")

// parseRequest checks an enable or disable payload: a valid app server
// JID, a node (required to enable), and at most one publish-options form
// of bounded size.
func parseRequest(x *wire.Element) (request, error) {
	if x == nil || x.Space != NS || (x.Local != "enable" && x.Local != "disable") {
		return request{}, errRequest
	}
	r := request{op: x.Local, node: x.Get("node")}
	raw := x.Get("jid")
	if raw == "" || len(raw) > maxJID || len(r.node) > maxNode || strings.IndexByte(r.node, 0) >= 0 {
		return request{}, errRequest
	}
	j, err := jid.Parse(raw)
	if err != nil {
		return request{}, errRequest
	}
	r.jid = j.String()
	if r.op == "disable" {
		return r, nil
	}
	if r.node == "" {
		return request{}, errRequest
	}
	var form *wire.Element
	for _, ch := range x.Elements() {
		if ch.Space == nsData && ch.Local == "x" {
			if form != nil {
				return request{}, errRequest
			}
			form = ch
		}
	}
	if form == nil {
		return r, nil
	}
	if form.Get("type") != "submit" || formType(form) != formPublish || len(form.Elements()) > maxFormFields {
		return request{}, errRequest
	}
	b := form.Bytes("")
	if len(b) > maxFormBytes {
		return request{}, errRequest
	}
	r.options = b
	return r, nil
}

// formType returns the value of a form's FORM_TYPE field.
func formType(x *wire.Element) string {
	for _, f := range x.Elements() {
		if f.Space == nsData && f.Local == "field" && f.Get("var") == "FORM_TYPE" {
			return strings.TrimSpace(f.ChildText(nsData, "value"))
		}
	}
	return ""
}

// Offline tells the service that a message for user waits for a device
// (stored offline, or queued to a hibernated session): each registration
// gets a notification now or at the end of its interval. It never blocks
// on the network; it reads the registrations from the store.
func (p *Push) Offline(user string, el *wire.Element) {
	regs, err := p.db.PushRegistrations(context.Background(), user)
	if err != nil || len(regs) == 0 {
		return
	}
	var sender, body string
	if p.cfg.IncludeSender {
		sender, _, _ = strings.Cut(el.Get("from"), "/")
	}
	if p.cfg.IncludeBody {
		body = el.ChildText(wire.NSClient, "body")
	}
	now := time.Now()
	for _, r := range regs {
		k := regKey{user, r.JID, r.Node}
		p.mu.Lock()
		st := p.regs[k]
		if st == nil {
			st = &state{}
			p.regs[k] = st
		}
		st.sender, st.body = sender, body
		switch {
		case st.timer != nil:
			// Already scheduled: that notification will count this message.
		case now.Sub(st.last) >= p.cfg.MinInterval:
			st.last = now
			p.mu.Unlock()
			p.notify(k, r.Options)
			continue
		default:
			st.timer = time.AfterFunc(st.last.Add(p.cfg.MinInterval).Sub(now), func() { p.fire(k) })
		}
		p.mu.Unlock()
	}
}

// fire sends the notification scheduled at the end of an interval, if
// the registration still exists.
func (p *Push) fire(k regKey) {
	p.mu.Lock()
	st := p.regs[k]
	if st == nil || p.closed {
		p.mu.Unlock()
		return
	}
	st.timer = nil
	st.last = time.Now()
	p.mu.Unlock()
	regs, err := p.db.PushRegistrations(context.Background(), k.user)
	if err != nil {
		p.forget(k)
		return
	}
	for _, r := range regs {
		if r.JID == k.jid && r.Node == k.node {
			p.notify(k, r.Options)
			return
		}
	}
	p.forget(k)
}

// notify publishes the summary to the app server (XEP-0357 §7).
func (p *Push) notify(k regKey, options []byte) {
	count, err := p.db.OfflineCount(context.Background(), k.user)
	if err != nil {
		return
	}
	count = max(count, 1) // a message queued to a hibernated session
	form := wire.New(nsData, "x", "type", "submit").Add(
		field("FORM_TYPE", NSSummary),
		field("message-count", strconv.Itoa(count)))
	p.mu.Lock()
	st := p.regs[k]
	if st != nil {
		if st.sender != "" {
			form.Add(field("last-message-sender", st.sender))
		}
		if st.body != "" {
			form.Add(field("last-message-body", st.body))
		}
		// Privacy: the text is not kept once it left.
		st.sender, st.body = "", ""
	}
	send := p.send
	if send == nil || len(p.pending) >= p.cfg.MaxPending || p.closed {
		p.mu.Unlock()
		return
	}
	id := "push-" + randomID()
	p.pending[id] = pending{key: k, timer: time.AfterFunc(p.cfg.Timeout, func() { p.answered(id, "", false) })}
	p.mu.Unlock()

	ps := wire.New(nsPubsub, "pubsub").Add(
		wire.New(nsPubsub, "publish", "node", k.node).Add(
			wire.New(nsPubsub, "item").Add(
				wire.New(NS, "notification").Add(form))))
	if len(options) > 0 {
		if x, err := wire.Parse(options); err == nil {
			ps.Add(wire.New(nsPubsub, "publish-options").Add(x))
		}
	}
	send(wire.New(wire.NSClient, "iq", "type", "set", "id", id,
		"from", k.user+"@"+p.cfg.Domain, "to", k.jid).Add(ps))
}

func field(name, value string) *wire.Element {
	return wire.New(nsData, "field", "var", name).Add(wire.New(nsData, "value").AddText(value))
}

// Answer takes an IQ result or error addressed to an account's bare JID
// and reports whether it answered one of the service's notifications
// (then it is consumed). c2s calls it for such answers from local
// sessions and from the domain table.
func (p *Push) Answer(el *wire.Element) bool {
	id := el.Get("id")
	if !strings.HasPrefix(id, "push-") {
		return false
	}
	p.mu.Lock()
	pe, ok := p.pending[id]
	p.mu.Unlock()
	if !ok || el.Get("to") != pe.key.user+"@"+p.cfg.Domain || !fromApp(el.Get("from"), pe.key.jid) {
		return false
	}
	p.answered(id, el.Get("type"), true)
	return true
}

// fromApp reports whether from is the app server jid: the same JID, or a
// resource of it when it is bare.
func fromApp(from, app string) bool {
	if from == app {
		return true
	}
	if strings.ContainsRune(app, '/') {
		return false
	}
	bare, _, _ := strings.Cut(from, "/")
	return bare == app
}

// answered records an answer (typ "result" or "error") or, when !got, a
// timeout of the notification id.
func (p *Push) answered(id, typ string, got bool) {
	p.mu.Lock()
	pe, ok := p.pending[id]
	if !ok {
		p.mu.Unlock()
		return
	}
	delete(p.pending, id)
	pe.timer.Stop()
	st := p.regs[pe.key]
	if st == nil {
		p.mu.Unlock()
		return
	}
	if got && typ == "result" {
		st.errors = 0
		p.mu.Unlock()
		return
	}
	st.errors++
	failed := st.errors >= p.cfg.MaxErrors
	p.mu.Unlock()
	if !failed {
		return
	}
	// XEP-0357 §9: an app server that keeps failing is disabled.
	if _, err := p.db.DeletePush(context.Background(), pe.key.user, pe.key.jid, pe.key.node); err != nil && !errors.Is(err, store.ErrNotFound) {
		p.cfg.Log.Warn().Err(err).Msg("push disable failing app server")
		return
	}
	p.cfg.Log.Info().Msg("push app server disabled after errors")
	p.forget(pe.key)
}

// forget drops the in-memory state of one registration.
func (p *Push) forget(k regKey) {
	p.mu.Lock()
	if st := p.regs[k]; st != nil && st.timer != nil {
		st.timer.Stop()
	}
	delete(p.regs, k)
	p.mu.Unlock()
}

// forgetJID drops the state of user's registrations at jid (node empty:
// all of them).
func (p *Push) forgetJID(user, jid, node string) {
	p.mu.Lock()
	for k, st := range p.regs {
		if k.user == user && k.jid == jid && (node == "" || k.node == node) {
			if st.timer != nil {
				st.timer.Stop()
			}
			delete(p.regs, k)
		}
	}
	p.mu.Unlock()
}

// Forget drops everything remembered about user (after account deletion).
func (p *Push) Forget(user string) {
	p.mu.Lock()
	for k, st := range p.regs {
		if k.user == user {
			if st.timer != nil {
				st.timer.Stop()
			}
			delete(p.regs, k)
		}
	}
	p.mu.Unlock()
}

// Close stops scheduled notifications; later events are ignored.
func (p *Push) Close() {
	p.mu.Lock()
	p.closed = true
	for _, st := range p.regs {
		if st.timer != nil {
			st.timer.Stop()
		}
	}
	for _, pe := range p.pending {
		pe.timer.Stop()
	}
	p.mu.Unlock()
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
