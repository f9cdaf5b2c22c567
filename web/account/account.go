package account

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/accounts"
	"chatbx/store"
)

// Config configures the account pages.
type Config struct {
	// ServiceName is shown in page titles; empty means the domain.
	ServiceName string
	// Path is where the pages are mounted (default "/account"); "/"
	// serves them at the root, for a host of their own.
	Path string
	// TokenTTL is how long a loaded form may be submitted (default 1 h).
	TokenTTL time.Duration
	// FailBurst failed password checks per client address and per account
	// are allowed at once; after that one more per FailEvery
	// (defaults 5 and 1 min). The invite page's registrations have the
	// same allowance per client network (IPv4 /24, IPv6 /48).
	FailBurst int
	FailEvery time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Path:      "/account",
		TokenTTL:  time.Hour,
		FailBurst: 5,
		FailEvery: time.Minute,
	}
}

// fill sets defaults for zero fields.
func (c *Config) fill(domain string) {
	d := DefaultConfig()
	if c.ServiceName == "" {
		c.ServiceName = domain
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
	if c.FailBurst <= 0 {
		c.FailBurst = d.FailBurst
	}
	if c.FailEvery <= 0 {
		c.FailEvery = d.FailEvery
	}
}

// Settings keeps the form token key (*store.DB).
type Settings interface {
	Setting(ctx context.Context, key string) ([]byte, error)
	SetSetting(ctx context.Context, key string, v []byte) error
}

var _ Settings = (*store.DB)(nil)

// Archive is the message archive (XEP-0313) as the archive page sees it.
type Archive interface {
	// ArchiveOn reports whether the user's archive records messages
	// (the XEP-0313 default preference is not "never").
	ArchiveOn(ctx context.Context, user string) (bool, error)
	// SetArchiveOn sets the default preference to "always" or "never".
	SetArchiveOn(ctx context.Context, user string, on bool) error
	// PurgeArchive deletes every archived message of user and returns
	// how many were deleted.
	PurgeArchive(ctx context.Context, user string) (int, error)
}

// Deps are the pages' dependencies. Accounts and Settings are required;
// the others may be nil.
type Deps struct {
	// Accounts carries out every account operation (internal/accounts).
	Accounts *accounts.Service
	// Settings keeps the form token key.
	Settings Settings
	// Archive enables the archive page.
	Archive Archive
	// Invites enables the invitation pages /invite/{token}.
	Invites Invites
	// Uploads enables the page listing the user's uploads.
	Uploads Uploads
	// Fast enables the login tokens page (FAST, XEP-0484).
	Fast FastTokens
	// Prefs enables the strangers page (messages from other servers).
	Prefs Prefs
	// Log receives operational errors; never names a user.
	Log zerolog.Logger
}

// errMissing reports a missing dependency.
var errMissing = errors.New("account: Accounts and Settings are required")
