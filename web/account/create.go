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
	err = m.d.Store.CreateUser(ctx, user, c)
	switch {
	case errors.Is(err, store.ErrExists):
		return "", ErrExists
	case errors.Is(err, store.ErrInvalid):
		return "", ErrUsername
	case err != nil:
		return "", fmt.Errorf("account: create: %w", err)
	}
	m.d.Log.Info().Msg("account created")
	return user, nil
}
