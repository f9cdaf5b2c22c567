package account

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"chatbx/store"
)

// Registration errors.
var (
	// ErrUsername reports a name that is not allowed for a new account:
	// not valid under PRECIS UsernameCaseMapped, too long, or reserved.
	ErrUsername = errors.New("account: username not allowed")
	// ErrExists reports that the account already exists.
	ErrExists = errors.New("account: username taken")
	// ErrInvite reports an invite token that names no usable invite
	// (unknown, expired or used up).
	ErrInvite = errors.New("account: invite not valid")
)

// MaxUsername is the longest new username in bytes (after normalisation).
const MaxUsername = 64

// reserved are names no one may register: they belong to the operator or
// could be mistaken for the service (RFC 2142 role addresses and the like).
var reserved = []string{
	"abuse", "admin", "administrator", "hostmaster", "info", "mailer-daemon",
	"noc", "no-reply", "noreply", "operator", "postmaster", "root", "security",
	"server", "support", "sysadmin", "system", "webmaster", "xmpp",
}

// CheckNewUsername normalises name (PRECIS UsernameCaseMapped) and
// checks it against the rules for new accounts: at most MaxUsername
// bytes, not a reserved name. It returns the normalised name or
// ErrUsername.
func CheckNewUsername(name, domain string) (string, error) {
	u, err := NormaliseUser(name, domain)
	if err != nil || len(u) > MaxUsername || slices.Contains(reserved, u) {
		return "", ErrUsername
	}
	return u, nil
}

// Create registers a new account (in-band registration, invites). It
// returns ErrUsername for a name the rules refuse, ErrPassword for a
// password outside the length rules, and ErrExists for a taken name.
func (m *Manager) Create(ctx context.Context, name, password string) (string, error) {
	return m.create(ctx, name, password, "")
}

// CreateInvited is Create with an invite (XEP-0401, the invite page): the
// account is created and one use of the invite token spent in one store
// transaction, so a registration that fails (a taken name, a refused
// password) leaves the invite as it was. It returns ErrInvite, creating
// nothing, for a token that names no usable invite, and otherwise the
// errors of Create.
func (m *Manager) CreateInvited(ctx context.Context, name, password, token string) (string, error) {
	if token == "" {
		return "", ErrInvite
	}
	return m.create(ctx, name, password, token)
}

// create is Create, and CreateInvited when token is not empty.
func (m *Manager) create(ctx context.Context, name, password, token string) (string, error) {
	user, err := CheckNewUsername(name, m.cfg.Domain)
	if err != nil {
		return "", err
	}
	if len(password) < m.cfg.MinPassword || len(password) > m.cfg.MaxPassword {
		return "", ErrPassword
	}
	c, err := store.DeriveCredentials(password, m.cfg.Iterations)
	if err != nil {
		return "", ErrPassword
	}
	if token == "" {
		err = m.d.Store.CreateUser(ctx, user, c)
	} else {
		err = m.d.Store.CreateUserInvite(ctx, user, c, token, m.now())
	}
	switch {
	case errors.Is(err, store.ErrExists):
		return "", ErrExists
	case errors.Is(err, store.ErrNotFound):
		return "", ErrInvite
	case errors.Is(err, store.ErrInvalid):
		return "", ErrUsername
	case err != nil:
		return "", fmt.Errorf("account: create: %w", err)
	}
	m.d.Log.Info().Msg("account created")
	return user, nil
}
