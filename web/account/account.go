package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/text/secure/precis"

	"chatbx/store"
)

// Errors returned by Manager. Callers map them to a page message or a
// stanza error; their text never reaches a client.
var (
	// ErrAuth reports an unknown user or a wrong password (the two are
	// deliberately not told apart).
	ErrAuth = errors.New("account: wrong username or password")
	// ErrPassword reports a new password that breaks the length rules.
	ErrPassword = errors.New("account: unacceptable password")
	// ErrIncomplete reports an account deletion that succeeded but
	// whose clean-up after the store transaction partly failed.
	ErrIncomplete = errors.New("account: deleted, clean-up incomplete")
	// ErrUnavailable reports a feature the server runs without (no archive).
	ErrUnavailable = errors.New("account: not available")
)

// Config configures the account pages and operations.
type Config struct {
	// Domain is the XMPP domain; local contacts are JIDs at this domain.
	Domain string
	// ServiceName is shown in page titles; empty means the domain.
	ServiceName string
	// Path is where the pages are mounted (default "/account"); "/"
	// serves them at the root, for a host of their own.
	Path string
	// TokenTTL is how long a loaded form may be submitted (default 1 h).
	TokenTTL time.Duration
	// Iterations is the PBKDF2 count for new SCRAM verifiers
	// (default store.MinIterations).
	Iterations int
	// MinPassword and MaxPassword bound a new password in bytes
	// (defaults 8 and 1024).
	MinPassword, MaxPassword int
	// FailBurst failed password checks per client address and per account
	// are allowed at once; after that one more per FailEvery
	// (defaults 5 and 1 min). The invite page's registrations have the
	// same allowance per client network (IPv4 /24, IPv6 /48).
	FailBurst int
	FailEvery time.Duration
}

// DefaultConfig returns the defaults for domain.
func DefaultConfig(domain string) Config {
	return Config{
		Domain:      domain,
		Path:        "/account",
		TokenTTL:    time.Hour,
		Iterations:  store.MinIterations,
		MinPassword: 8,
		MaxPassword: 1024,
		FailBurst:   5,
		FailEvery:   time.Minute,
	}
}

// fill sets defaults for zero fields.
func (c *Config) fill() {
	d := DefaultConfig(c.Domain)
	if c.ServiceName == "" {
		c.ServiceName = c.Domain
	}
	switch c.Path {
	case "":
		c.Path = d.Path
	case "/":
		// At the root of a host of its own (accounts.<domain>/delete).
		c.Path = ""
	default:
		c.Path = strings.TrimSuffix(c.Path, "/")
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = d.TokenTTL
	}
	if c.Iterations < store.MinIterations {
		c.Iterations = d.Iterations
	}
	if c.MinPassword <= 0 {
		c.MinPassword = d.MinPassword
	}
	if c.MaxPassword <= 0 || c.MaxPassword > maxFieldBytes {
		c.MaxPassword = d.MaxPassword
	}
	if c.FailBurst <= 0 {
		c.FailBurst = d.FailBurst
	}
	if c.FailEvery <= 0 {
		c.FailEvery = d.FailEvery
	}
}

// Store is what the account operations need of *store.DB.
type Store interface {
	CreateUser(ctx context.Context, user string, c store.Credentials) error
	CreateUserInvite(ctx context.Context, user string, c store.Credentials, token string, now time.Time) error
	Credentials(ctx context.Context, user string) (store.Credentials, error)
	SetCredentials(ctx context.Context, user string, c store.Credentials) error
	DeleteUser(ctx context.Context, user string) error
	Users(ctx context.Context) ([]string, error)
	Roster(ctx context.Context, user string) (uint64, []store.RosterItem, error)
	RosterItem(ctx context.Context, user, jid string) (store.RosterItem, error)
	DeleteRosterItem(ctx context.Context, user, jid string) (uint64, error)
	Offline(ctx context.Context, user string) ([]store.OfflineMessage, error)
	OfflinePage(ctx context.Context, user string, after uint64, n, maxBytes int) ([]store.OfflineMessage, error)
	VCard(ctx context.Context, user string) ([]byte, error)
	PrivateKeys(ctx context.Context, user string) ([]string, error)
	Private(ctx context.Context, user, key string) ([]byte, error)
	Blocklist(ctx context.Context, user string) ([]string, error)
	Setting(ctx context.Context, key string) ([]byte, error)
	SetSetting(ctx context.Context, key string, v []byte) error
}

var _ Store = (*store.DB)(nil)

// Sessions closes a user's XMPP sessions. main satisfies it with
// server.Server.KickUser. KickUser must not block on the sessions.
type Sessions interface {
	// KickUser ends every session of user with the stream error condition
	// ("not-authorized" after deletion, "reset" after a password change).
	KickUser(user, condition string)
}

// SessionWaiter is an optional extension of Sessions. When the Sessions
// value implements it, Delete waits (at most 10 s) for the account's
// sessions to end before it rewrites the connection logs, so that the
// "logout" lines the closing sessions write are removed too.
type SessionWaiter interface {
	// KickUserWait is KickUser that returns once every session of user
	// has ended, or with ctx's error when ctx ends first. The session
	// bound to the full JID self, when not empty, is closed but not waited
	// for: the caller runs on it (XEP-0077 <remove/>).
	KickUserWait(ctx context.Context, user, self, condition string) error
}

// Contacts tells a deleted account's contacts that it is gone.
type Contacts interface {
	// AccountDeleted sends unsubscribe, unsubscribed and unavailable
	// presences from user to the contacts in roster (the roster as it was
	// before deletion). It is called after the account is deleted and
	// must not block for long; errors are the implementation's to log.
	AccountDeleted(ctx context.Context, user string, roster []store.RosterItem)
}

// Archive is the message archive (XEP-0313) as the account pages see it.
type Archive interface {
	// ArchiveOn reports whether the user's archive records messages
	// (the XEP-0313 default preference is not "never").
	ArchiveOn(ctx context.Context, user string) (bool, error)
	// SetArchiveOn sets the default preference to "always" or "never".
	SetArchiveOn(ctx context.Context, user string, on bool) error
	// PurgeArchive deletes every archived message of user and returns
	// how many were deleted.
	PurgeArchive(ctx context.Context, user string) (int, error)
	// ExportArchive writes the user's archive as readable JSON to w.
	ExportArchive(ctx context.Context, user string, w io.Writer) error
}

// Upload describes one uploaded file for the export.
type Upload struct {
	URL      string    `json:"url"`
	Name     string    `json:"name,omitempty"`
	Type     string    `json:"content_type,omitempty"`
	Size     int64     `json:"size"`
	Uploaded time.Time `json:"uploaded"`
	Expires  time.Time `json:"expires"`
}

// Uploads is the upload store as the account operations see it.
type Uploads interface {
	// UserUploads lists the user's uploaded files.
	UserUploads(ctx context.Context, user string) ([]Upload, error)
	// UnlinkDeleted removes the files whose records an account deletion
	// moved to the trash.
	UnlinkDeleted(ctx context.Context) error
}

// Exporter adds a feature's data to the XEP-0227 export (for example PEP
// nodes as <pubsub xmlns='http://jabber.org/protocol/pubsub#owner'/>).
type Exporter interface {
	// ExportXML writes the user's data as XML elements that go inside
	// the XEP-0227 <user/> element. It writes nothing for a user without
	// data.
	ExportXML(ctx context.Context, user string, w io.Writer) error
}

// Deps are the account operations' dependencies. Store and Sessions are
// required; the others may be nil.
type Deps struct {
	Store    Store
	Sessions Sessions
	Contacts Contacts
	Archive  Archive
	Uploads  Uploads
	// Exporters add the data of features the store does not hold
	// itself (PEP) to the export.
	Exporters []Exporter
	// Invites enables the invitation pages /invite/{token}.
	Invites Invites
	// ConnLogRewriter removes the user's lines from the connection log
	// files (retention/logs: Sink.Rewrite with logs.DropUser(user)).
	ConnLogRewriter func(user string) error
	// Log receives operational errors; never names a user.
	Log zerolog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Guard, if not nil, limits password guesses per account; main shares
	// one (internal/guard) with XMPP login.
	Guard Guard
}

// Guard is the per-account password guessing limit shared with XMPP
// login: Begin reserves one check before the password is evaluated (ok
// false: answer without evaluating it, wait is the time left) and done
// reports the verdict (true: right password).
type Guard interface {
	Begin(user string, addr netip.Addr) (done func(ok bool), wait time.Duration, ok bool)
}

// NormaliseUser applies PRECIS UsernameCaseMapped (RFC 8265 §3.3) to a
// username as typed. "name@domain" is accepted when domain is the
// server's. It returns ErrAuth for anything that cannot be a local
// account name, so that a bad name answers like a wrong password.
func NormaliseUser(s, domain string) (string, error) {
	s = strings.TrimSpace(s)
	if l, d, ok := strings.Cut(s, "@"); ok {
		if !strings.EqualFold(d, domain) {
			return "", ErrAuth
		}
		s = l
	}
	if s == "" || len(s) > maxFieldBytes || strings.ContainsAny(s, "@/\"&'<>:") {
		return "", ErrAuth
	}
	u, err := precis.UsernameCaseMapped.String(s)
	if err != nil || u == "" {
		return "", ErrAuth
	}
	return u, nil
}

// Manager carries out the account operations shared by the web pages,
// in-band registration (XEP-0077) and the admin CLI. It is safe for
// concurrent use.
type Manager struct {
	cfg   Config
	d     Deps
	now   func() time.Time
	dummy store.Credentials // for equal-time checks of unknown users
}

// NewManager returns a Manager. It fails when a required dependency is
// missing.
func NewManager(cfg Config, d Deps) (*Manager, error) {
	cfg.fill()
	if d.Store == nil || d.Sessions == nil {
		return nil, errors.New("account: Store and Sessions are required")
	}
	if cfg.Domain == "" {
		return nil, errors.New("account: no domain")
	}
	dummy, err := store.DeriveCredentials("not a password of anyone", cfg.Iterations)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	d.Log = d.Log.With().Str("component", "account").Logger()
	return &Manager{cfg: cfg, d: d, now: now, dummy: dummy}, nil
}

// Verify checks user's password. It returns ErrAuth for an unknown user
// and a wrong password alike, taking about the same time for both, and a
// wrapped store error for anything else.
func (m *Manager) Verify(ctx context.Context, user, password string) error {
	c, err := m.d.Store.Credentials(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		m.dummy.VerifyPlain(password)
		return ErrAuth
	}
	if err != nil {
		return fmt.Errorf("account: verify: %w", err)
	}
	if !c.VerifyPlain(password) {
		return ErrAuth
	}
	return nil
}

// SetPassword replaces user's verifiers with ones for password. It does
// not close sessions: callers decide which. It returns ErrPassword for a
// password outside the length rules or not valid under PRECIS
// OpaqueString, and ErrAuth for an unknown user.
func (m *Manager) SetPassword(ctx context.Context, user, password string) error {
	if len(password) < m.cfg.MinPassword || len(password) > m.cfg.MaxPassword {
		return ErrPassword
	}
	c, err := store.DeriveCredentials(password, m.cfg.Iterations)
	if err != nil {
		return ErrPassword
	}
	err = m.d.Store.SetCredentials(ctx, user, c)
	if errors.Is(err, store.ErrNotFound) {
		return ErrAuth
	}
	if err != nil {
		return fmt.Errorf("account: set password: %w", err)
	}
	return nil
}
