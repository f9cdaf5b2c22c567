package accounts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/text/secure/precis"

	"chatbx/store"
)

// The error vocabulary of every account operation. Callers map them to a
// stanza error, a page message or a CLI message; their text never reaches
// a client.
var (
	// ErrAuth reports an unknown user or a wrong password (the two are
	// deliberately not told apart).
	ErrAuth = errors.New("accounts: wrong username or password")
	// ErrNotFound reports that the named account does not exist.
	ErrNotFound = errors.New("accounts: no such account")
	// ErrExists reports that the account already exists.
	ErrExists = errors.New("accounts: username taken")
	// ErrUsername reports a name that is not allowed for a new account:
	// not valid under PRECIS UsernameCaseMapped, too long, or reserved.
	ErrUsername = errors.New("accounts: username not allowed")
	// ErrPolicy reports a password the rules refuse (length, or not valid
	// under PRECIS OpaqueString).
	ErrPolicy = errors.New("accounts: password not acceptable")
	// ErrInvite reports an invite token that names no usable invite
	// (unknown, expired or used up).
	ErrInvite = errors.New("accounts: invite not valid")
	// ErrThrottled reports a password check the login guard refused to
	// evaluate; the error is a *ThrottledError.
	ErrThrottled = errors.New("accounts: too many failed attempts")
	// ErrNoDomain reports an operation that needs the domain on a
	// service configured without one.
	ErrNoDomain = errors.New("accounts: the domain is not known")
	// ErrIncomplete reports an account deletion that succeeded but whose
	// clean-up after the store transaction partly failed.
	ErrIncomplete = errors.New("accounts: deleted, clean-up incomplete")
)

// ThrottledError is ErrThrottled with the time until the next check is
// allowed.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string { return ErrThrottled.Error() }

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Config configures the account service. Each field's zero value means
// its default (DefaultConfig).
type Config struct {
	// Domain is the XMPP domain; local contacts are JIDs at this domain.
	// Delete and Export need it.
	Domain string
	// Iterations is the PBKDF2 count for new SCRAM verifiers
	// (default store.MinIterations).
	Iterations int
	// MinPassword and MaxPassword bound a password chosen by a user in
	// bytes (defaults 8 and 1024). The operator's passwords (the CLI) need
	// only be non-empty and at most MaxPassword bytes.
	MinPassword, MaxPassword int
	// UserInvites is how many invites one account may make per
	// UserInviteWindow (the account pages); 0 means users make none.
	UserInvites int
}

// DefaultConfig returns the defaults for domain.
func DefaultConfig(domain string) Config {
	return Config{Domain: domain, Iterations: store.MinIterations, MinPassword: 8, MaxPassword: 1024}
}

// MaxUsername is the longest new username in bytes (after normalisation).
const MaxUsername = 64

// maxNameInput bounds a username as typed, before normalisation.
const maxNameInput = 1024

// Store is what the account service needs of *store.DB.
type Store interface {
	CreateUser(ctx context.Context, user string, c store.Credentials) error
	CreateUserInvite(ctx context.Context, user string, c store.Credentials, token string, now time.Time) error
	Credentials(ctx context.Context, user string) (store.Credentials, error)
	SetCredentials(ctx context.Context, user string, c store.Credentials) error
	DeleteAccount(ctx context.Context, user, jid string) (store.DeletedAccount, error)
	Users(ctx context.Context) ([]string, error)
	Roster(ctx context.Context, user string) (uint64, []store.RosterItem, error)
	OfflinePage(ctx context.Context, user string, after uint64, n, maxBytes int) ([]store.OfflineMessage, error)
	VCard(ctx context.Context, user string) ([]byte, error)
	PrivateKeys(ctx context.Context, user string) ([]string, error)
	Private(ctx context.Context, user, key string) ([]byte, error)
	Blocklist(ctx context.Context, user string) ([]string, error)
}

var _ Store = (*store.DB)(nil)

// Archive is the message archive (XEP-0313) as the export sees it.
type Archive interface {
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

// Uploads is the upload store as the account service sees it.
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

// Guard is the per-account password guessing limit (internal/guard) that
// Verify consults: Begin reserves one check before the password is
// evaluated (ok false: answer without evaluating it, wait is the time
// left) and done reports the verdict (true: right password).
type Guard interface {
	Begin(user string, addr netip.Addr) (done func(ok bool), wait time.Duration, ok bool)
}

// Deps are the service's dependencies. Store is required; the others may
// be nil.
type Deps struct {
	Store   Store
	Archive Archive
	Uploads Uploads
	// Exporters add the data of features the store does not hold
	// itself (PEP) to the export.
	Exporters []Exporter
	// Guard, if not nil, limits password guesses per account; main shares
	// one with XMPP login.
	Guard Guard
	// Log receives operational errors; never names a user.
	Log zerolog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Hooks are what other parts do after an account operation. main
// registers them (AddHooks): the XMPP server's session control and the
// connection log rewrite.
type Hooks struct {
	// AfterDelete runs after the account is gone from the store and its
	// upload files are unlinked, in the order registered. self is the
	// full JID of the session that asked (XEP-0077 <remove/>), "" for
	// none: it is closed but must not be waited for. An error makes
	// Delete return ErrIncomplete; the later hooks still run.
	AfterDelete func(ctx context.Context, d Deleted, self string) error
	// Effects names what AfterDelete does, for the confirmation page
	// (Deleted.ContactsTold, Deleted.LogsRewritten): set when it returns
	// no error.
	Effects Effect
	// PasswordChanged runs after user's password changed: keep is the
	// full JID of the session to keep open ("" for none).
	PasswordChanged func(user, keep string)
	// Locked runs after user's account was restricted (Lock): close its
	// sessions.
	Locked func(ctx context.Context, user string)
}

// Effect is something an AfterDelete hook does that the confirmation
// page tells the user.
type Effect uint8

// Effects of AfterDelete hooks.
const (
	// TellsContacts: the hook tells the account's contacts it is gone.
	TellsContacts Effect = 1 << iota
	// RewritesLogs: the hook removes the account's lines from the
	// connection logs.
	RewritesLogs
)

// Service carries out the account operations. It is safe for concurrent
// use.
type Service struct {
	cfg   Config
	d     Deps
	now   func() time.Time
	dummy store.Credentials // for equal-time checks of unknown users

	mu    sync.RWMutex
	hooks []Hooks

	// locked is the set of restricted accounts (lock.go); lockMu orders
	// its writers.
	locked atomic.Pointer[lockedSet]
	lockMu sync.Mutex
}

// New returns the service. It fails when Store is missing. Without a
// domain (the CLI on a database the server never ran on), Delete and
// Export return ErrNoDomain.
func New(cfg Config, d Deps) (*Service, error) {
	def := DefaultConfig(cfg.Domain)
	if cfg.Iterations < store.MinIterations {
		cfg.Iterations = def.Iterations
	}
	if cfg.MinPassword <= 0 {
		cfg.MinPassword = def.MinPassword
	}
	if cfg.MaxPassword <= 0 {
		cfg.MaxPassword = def.MaxPassword
	}
	if d.Store == nil {
		return nil, errors.New("accounts: Store is required")
	}
	dummy, err := store.DeriveCredentials("not a password of anyone", cfg.Iterations)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Log = d.Log.With().Str("component", "accounts").Logger()
	s := &Service{cfg: cfg, d: d, now: d.Now, dummy: dummy}
	if err := s.loadLocked(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// AddHooks registers hooks; they run after those registered before. Call
// it while wiring, before the operations they watch can happen.
func (s *Service) AddHooks(h Hooks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, h)
}

func (s *Service) hookList() []Hooks {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.hooks)
}

// Config returns the configuration with the defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Domain returns the XMPP domain.
func (s *Service) Domain() string { return s.cfg.Domain }

// Now returns the service's current time.
func (s *Service) Now() time.Time { return s.now() }

// HasArchive reports whether the export includes the message archive.
func (s *Service) HasArchive() bool { return s.d.Archive != nil }

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
	if s == "" || len(s) > maxNameInput || strings.ContainsAny(s, "@/\"&'<>:") {
		return "", ErrAuth
	}
	u, err := precis.UsernameCaseMapped.String(s)
	if err != nil || u == "" {
		return "", ErrAuth
	}
	return u, nil
}

// reserved are names no one may register: they belong to the operator or
// could be mistaken for the service (RFC 2142 role addresses and the like).
var reserved = []string{
	"abuse", "admin", "administrator", "hostmaster", "info", "mailer-daemon",
	"noc", "no-reply", "noreply", "operator", "postmaster", "root", "security",
	"server", "support", "sysadmin", "system", "webmaster", "xmpp",
}

// Reserved reports whether the normalised name user is reserved for the
// operator.
func Reserved(user string) bool { return slices.Contains(reserved, user) }

// CheckNewUsername normalises name (PRECIS UsernameCaseMapped) and
// checks it against the rules for new accounts: at most MaxUsername
// bytes, not a reserved name. It returns the normalised name or
// ErrUsername.
func CheckNewUsername(name, domain string) (string, error) {
	u, err := NormaliseUser(name, domain)
	if err != nil || len(u) > MaxUsername || Reserved(u) {
		return "", ErrUsername
	}
	return u, nil
}

// Verify checks user's password for a client at addr (the zero Addr when
// unknown). With a Guard it first asks the guard, and returns a
// *ThrottledError (ErrThrottled) without evaluating the password while
// the account or the client's network backs off. It returns ErrAuth for
// an unknown user and a wrong password alike, taking about the same time
// for both, ErrLocked for the right password of a restricted account
// (Lock), and a wrapped store error for anything else. user is a
// normalised localpart.
func (s *Service) Verify(ctx context.Context, user, password string, addr netip.Addr) error {
	done := func(bool) {}
	if s.d.Guard != nil {
		var wait time.Duration
		var ok bool
		if done, wait, ok = s.d.Guard.Begin(user, addr); !ok {
			return &ThrottledError{Wait: wait}
		}
	}
	err := s.verify(ctx, user, password)
	// A store fault is not the client's failure.
	done(!errors.Is(err, ErrAuth))
	if err == nil && s.IsLocked(user) {
		// Told only to who knows the password.
		return ErrLocked
	}
	return err
}

func (s *Service) verify(ctx context.Context, user, password string) error {
	c, err := s.d.Store.Credentials(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		s.dummy.VerifyPlain(password)
		return ErrAuth
	}
	if err != nil {
		return fmt.Errorf("accounts: verify: %w", err)
	}
	if !c.VerifyPlain(password) {
		return ErrAuth
	}
	s.completeCredentials(ctx, user, password, c)
	return nil
}

// Users returns the names of all accounts in byte order.
func (s *Service) Users(ctx context.Context) ([]string, error) {
	users, err := s.d.Store.Users(ctx)
	if err != nil {
		return nil, fmt.Errorf("accounts: users: %w", err)
	}
	return users, nil
}

// credentials derives verifiers for password under the rules of a user
// (operator false: the length rules) or of the operator (non-empty, at
// most MaxPassword bytes). It returns ErrPolicy for a password the rules
// refuse.
func (s *Service) credentials(password string, operator bool) (store.Credentials, error) {
	min := s.cfg.MinPassword
	if operator {
		min = 1
	}
	if len(password) < min || len(password) > s.cfg.MaxPassword {
		return store.Credentials{}, ErrPolicy
	}
	c, err := store.DeriveCredentials(password, s.cfg.Iterations)
	if err != nil {
		return store.Credentials{}, ErrPolicy
	}
	return c, nil
}

// ChangePassword replaces user's verifiers with ones for password, under
// the length rules, and runs the PasswordChanged hooks, which close every
// session of the user but keep (a full JID; "" closes all). It returns
// ErrPolicy for a password the rules refuse and ErrNotFound for an
// unknown user.
func (s *Service) ChangePassword(ctx context.Context, user, password, keep string) error {
	return s.setPassword(ctx, user, password, keep, false)
}

// ResetPassword is ChangePassword for the operator (the CLI): the password
// needs only be non-empty, valid and at most MaxPassword bytes, and every
// session of the user is closed.
func (s *Service) ResetPassword(ctx context.Context, user, password string) error {
	return s.setPassword(ctx, user, password, "", true)
}

func (s *Service) setPassword(ctx context.Context, user, password, keep string, operator bool) error {
	c, err := s.credentials(password, operator)
	if err != nil {
		return err
	}
	err = s.d.Store.SetCredentials(ctx, user, c)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: set password: %w", err)
	}
	for _, h := range s.hookList() {
		if h.PasswordChanged != nil {
			h.PasswordChanged(user, keep)
		}
	}
	return nil
}
