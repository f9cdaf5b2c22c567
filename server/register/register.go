// Package register implements XEP-0077 In-Band Registration: for a
// logged-in user, the registration query, account removal (<remove/>,
// §3.2) and password change (§3.3); before authentication, registration
// of new accounts as the configuration allows (§3.1).
//
// Registration, removal and password change go through the account
// service (internal/accounts) that the web pages and the CLI use too, so
// an account removed in-band is deleted exactly as one deleted in the
// browser. Its errors become stanza errors here, and only here.
package register

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"chatbx/internal/accounts"
	"chatbx/server/iq"
	"chatbx/server/wire"
)

// NS is the XEP-0077 namespace, the IQ payload namespace and disco
// feature this package serves.
const NS = "jabber:iq:register"

// NSFeature is the stream feature (XEP-0077 §4) advertised when
// registration before authentication is open.
const NSFeature = "http://jabber.org/features/iq-register"

// Registration modes (configuration key accounts.registration).
const (
	// Closed: accounts are made by the admin CLI and invites only.
	Closed = "closed"
	// Invite: in-band registration needs an invite token.
	Invite = "invite"
	// Open: anyone may register in-band, throttled per client address.
	Open = "open"
)

// Config configures in-band registration.
type Config struct {
	// Domain is the server's XMPP domain.
	Domain string
	// Registration is Closed (default), Invite or Open.
	Registration string
	// RegisterEvery and RegisterBurst limit successful and failed
	// registrations per client address (IPv6 per /64), in memory
	// (defaults: 3 at once, then one per 10 minutes).
	RegisterEvery time.Duration
	RegisterBurst int
}

// DefaultConfig returns the defaults for domain: registration closed.
func DefaultConfig(domain string) Config {
	return Config{Domain: domain, Registration: Closed, RegisterEvery: 10 * time.Minute, RegisterBurst: 3}
}

// Accounts are the account operations; *accounts.Service satisfies it.
type Accounts interface {
	DeleteNotify(ctx context.Context, user, self string, deleted func()) (accounts.Deleted, error)
	// ChangePassword sets the password and closes the user's sessions
	// but keep (the service's PasswordChanged hooks).
	ChangePassword(ctx context.Context, user, password, keep string) error
	Create(ctx context.Context, name, password string) (string, error)
	// CreateInvited creates the account and spends one use of the invite
	// token in one transaction (accounts.ErrInvite: no usable invite).
	CreateInvited(ctx context.Context, name, password, token string) (string, error)
}

var _ Accounts = (*accounts.Service)(nil)

// Invites checks invite tokens (XEP-0401) for Invite mode. A use is spent
// with the account it creates (Accounts.CreateInvited).
type Invites interface {
	// InviteValid reports whether token names an unexpired invite with
	// uses left, without using it.
	InviteValid(ctx context.Context, token string) (bool, error)
}

// Deps are the handler's dependencies. Accounts is required; Invites is
// needed for Invite mode only.
type Deps struct {
	Accounts Accounts
	Invites  Invites
	// Log receives operational errors; never names a user.
	Log zerolog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Register answers jabber:iq:register IQs. It is safe for concurrent use.
type Register struct {
	cfg Config
	d   Deps
	now func() time.Time

	mu  sync.Mutex
	ips map[string]*rate.Limiter
}

// New returns the handler. It fails when a required dependency is
// missing or the registration mode is unknown.
func New(cfg Config, d Deps) (*Register, error) {
	def := DefaultConfig(cfg.Domain)
	if cfg.Registration == "" {
		cfg.Registration = Closed
	}
	switch cfg.Registration {
	case Closed, Open, Invite:
	default:
		return nil, errors.New("register: accounts.registration must be closed, invite or open")
	}
	if cfg.RegisterEvery <= 0 {
		cfg.RegisterEvery = def.RegisterEvery
	}
	if cfg.RegisterBurst <= 0 {
		cfg.RegisterBurst = def.RegisterBurst
	}
	if d.Accounts == nil {
		return nil, errors.New("register: Accounts is required")
	}
	if cfg.Registration == Invite && d.Invites == nil {
		return nil, errors.New("register: invite mode needs Invites")
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	d.Log = d.Log.With().Str("component", "register").Logger()
	return &Register{cfg: cfg, d: d, now: now, ips: make(map[string]*rate.Limiter)}, nil
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Register) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds.
func (*Register) Features() []string { return []string{NS} }

// StreamFeature returns the <register/> stream feature to offer before
// authentication, or nil when registration is closed.
func (r *Register) StreamFeature() *wire.Element {
	if r.cfg.Registration == Closed {
		return nil
	}
	return wire.New(NSFeature, "register")
}

// Handle answers a jabber:iq:register IQ of a logged-in user:
// get returns <registered/> and the username (never a password); set
// with <remove/> deletes the account (accounts.Service.DeleteNotify: one
// store transaction, then the hooks close sessions and tell contacts) and answers with a result
// queued before the stream closes; set with <username/> and <password/>
// changes the password and closes the user's other sessions with <reset/>.
// Results and errors are not answered (RFC 6120 §8.2.3).
func (r *Register) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	q := iq.Payload(el)
	if q == nil || q.Space != NS || q.Local != "query" {
		return iq.Error(el, "modify", "bad-request")
	}
	if !toServer(c, el.Get("to")) {
		return iq.Error(el, "cancel", "service-unavailable")
	}
	if typ == "get" {
		return iq.Result(el, wire.New(NS, "query").Add(
			wire.New(NS, "registered"),
			wire.New(NS, "username").AddText(c.User),
		))
	}
	if q.Child(NS, "remove") != nil {
		return r.remove(ctx, c, el, q)
	}
	return r.password(ctx, c, el, q)
}

// remove handles <remove/> (XEP-0077 §3.2).
func (r *Register) remove(ctx context.Context, c iq.Context, el, q *wire.Element) *wire.Element {
	if len(q.Elements()) != 1 {
		return iq.Error(el, "modify", "bad-request")
	}
	// The result is queued once the account is gone from the store and
	// before its sessions are closed, so it precedes the <not-authorized/>
	// stream error that ends this stream and the account's others (§3.2).
	// The deletion waits for the other sessions only: this one ends once
	// Handle returns to its reader.
	sent := false
	_, err := r.d.Accounts.DeleteNotify(ctx, c.User, c.From, func() {
		if c.Send != nil {
			c.Send(iq.Result(el))
			sent = true
		}
	})
	switch {
	case err == nil:
	case errors.Is(err, accounts.ErrIncomplete):
		r.d.Log.Error().Err(err).Msg("account deletion incomplete")
	case errors.Is(err, accounts.ErrNotFound):
		// Deleted concurrently, for example in the browser.
		return iq.Error(el, "auth", "registration-required")
	default:
		r.d.Log.Error().Err(err).Msg("account deletion failed")
		return iq.Error(el, "wait", "internal-server-error")
	}
	if sent {
		return nil
	}
	return iq.Result(el)
}

// password handles a password change (XEP-0077 §3.3).
func (r *Register) password(ctx context.Context, c iq.Context, el, q *wire.Element) *wire.Element {
	un, pw := q.Child(NS, "username"), q.Child(NS, "password")
	if un == nil || pw == nil {
		return iq.Error(el, "modify", "bad-request")
	}
	name, err := accounts.NormaliseUser(un.Text(), r.cfg.Domain)
	if err != nil || name != c.User {
		return iq.Error(el, "auth", "not-authorized")
	}
	// The service's hooks close the user's other sessions with <reset/>.
	err = r.d.Accounts.ChangePassword(ctx, c.User, pw.Text(), c.From)
	switch {
	case err == nil:
	case errors.Is(err, accounts.ErrPolicy):
		return iq.Error(el, "modify", "not-acceptable")
	case errors.Is(err, accounts.ErrNotFound):
		return iq.Error(el, "auth", "registration-required")
	default:
		r.d.Log.Error().Err(err).Msg("password change failed")
		return iq.Error(el, "wait", "internal-server-error")
	}
	return iq.Result(el)
}

// toServer reports whether to addresses the server: empty, the domain,
// or the sender's own bare JID.
func toServer(c iq.Context, to string) bool {
	return to == "" || to == c.Domain || to == c.User+"@"+c.Domain
}

// NSPreauth is XEP-0401's pre-authenticated roster subscription and
// registration namespace.
const NSPreauth = "urn:xmpp:pars:0"

// Preauth checks an XEP-0401 <preauth token=.../> sent before registration:
// it reports whether token names a valid invite without spending it (the
// registration that follows spends it). Outside Invite mode it reports
// false.
func (r *Register) Preauth(ctx context.Context, token string) bool {
	if r.cfg.Registration != Invite || token == "" {
		return false
	}
	valid, err := r.d.Invites.InviteValid(ctx, token)
	return err == nil && valid
}

// HandleUnauthenticated answers a jabber:iq:register IQ on a stream that
// has not authenticated yet (XEP-0077 §3.1), from the client address
// addr. In Closed mode every request gets <not-allowed/>. Otherwise get
// returns the registration form (username, password; in Invite mode also
// an invite token field), and set creates the account. Attempts are
// throttled per client address. On success the client goes on to
// authenticate with the new credentials.
func (r *Register) HandleUnauthenticated(ctx context.Context, domain string, addr netip.Addr, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	q := iq.Payload(el)
	if q == nil || q.Space != NS || q.Local != "query" {
		return iq.Error(el, "modify", "bad-request")
	}
	if to := el.Get("to"); to != "" && to != domain {
		return iq.Error(el, "cancel", "service-unavailable")
	}
	if r.cfg.Registration == Closed {
		return iq.Error(el, "cancel", "not-allowed")
	}
	if typ == "get" {
		form := wire.New(NS, "query").Add(
			wire.New(NS, "instructions").AddText("Choose a username and a password."),
			wire.New(NS, "username"),
			wire.New(NS, "password"),
		)
		if r.cfg.Registration == Invite {
			form.Add(wire.New(NS, "key"))
		}
		return iq.Result(el, form)
	}
	if q.Child(NS, "remove") != nil {
		return iq.Error(el, "auth", "registration-required")
	}
	un, pw := q.Child(NS, "username"), q.Child(NS, "password")
	if un == nil || pw == nil || un.Text() == "" || pw.Text() == "" {
		return iq.Error(el, "modify", "bad-request")
	}
	if !r.allow(addr) {
		return iq.Error(el, "wait", "resource-constraint")
	}
	var err error
	if r.cfg.Registration == Invite {
		// The invite is spent in the transaction that creates the
		// account: a registration that fails leaves it usable.
		_, err = r.d.Accounts.CreateInvited(ctx, un.Text(), pw.Text(), q.ChildText(NS, "key"))
	} else {
		_, err = r.d.Accounts.Create(ctx, un.Text(), pw.Text())
	}
	switch {
	case err == nil:
		return iq.Result(el)
	case errors.Is(err, accounts.ErrInvite):
		return iq.Error(el, "cancel", "not-allowed")
	case errors.Is(err, accounts.ErrExists):
		return iq.Error(el, "cancel", "conflict")
	case errors.Is(err, accounts.ErrUsername), errors.Is(err, accounts.ErrPolicy):
		return iq.Error(el, "modify", "not-acceptable")
	default:
		r.d.Log.Error().Err(err).Msg("registration failed")
		return iq.Error(el, "wait", "internal-server-error")
	}
}

// allow takes one registration attempt for addr's limiter.
// Privacy: the limiters live in memory only and are keyed by address
// (IPv6 by /64); nothing of them is logged or stored.
func (r *Register) allow(addr netip.Addr) bool {
	key := addr.Unmap().String()
	if addr.Is6() && !addr.Is4In6() {
		p, _ := addr.Prefix(64)
		key = p.String()
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.ips[key]
	if !ok {
		if len(r.ips) >= 10000 {
			for k, v := range r.ips {
				if v.TokensAt(now) >= float64(r.cfg.RegisterBurst) {
					delete(r.ips, k)
				}
			}
		}
		l = rate.NewLimiter(rate.Every(r.cfg.RegisterEvery), r.cfg.RegisterBurst)
		r.ips[key] = l
	}
	return l.AllowN(now, 1)
}
