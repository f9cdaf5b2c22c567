package accounts

import (
	"context"
	"errors"
	"fmt"

	"chatbx/store"
)

// Create registers a new account under the rules for users (in-band
// registration): the name is normalised and must not be reserved or
// longer than MaxUsername, the password must meet the length rules. It
// returns the normalised name, or ErrUsername, ErrPolicy or ErrExists.
func (s *Service) Create(ctx context.Context, name, password string) (string, error) {
	return s.create(ctx, name, password, "", false)
}

// CreateInvited is Create with an invite (XEP-0401, the invite page): the
// account is created and one use of the invite token spent in one store
// transaction (store.DB.CreateUserInvite), so a registration that fails (a
// taken name, a refused password) leaves the invite as it was. It returns
// ErrInvite, creating nothing, for a token that names no usable invite,
// and otherwise the errors of Create.
func (s *Service) CreateInvited(ctx context.Context, name, password, token string) (string, error) {
	if token == "" {
		return "", ErrInvite
	}
	return s.create(ctx, name, password, token, false)
}

// CreateByOperator creates an account for the operator (the CLI): the
// name is normalised and at most MaxUsername bytes, but may be reserved
// (the CLI asks for --allow-reserved itself), and the password needs only
// be non-empty and at most MaxPassword bytes.
func (s *Service) CreateByOperator(ctx context.Context, name, password string) (string, error) {
	return s.create(ctx, name, password, "", true)
}

func (s *Service) create(ctx context.Context, name, password, token string, operator bool) (string, error) {
	user, err := NormaliseUser(name, s.cfg.Domain)
	if err != nil || len(user) > MaxUsername || (!operator && Reserved(user)) {
		return "", ErrUsername
	}
	c, err := s.credentials(password, operator)
	if err != nil {
		return "", err
	}
	if token == "" {
		err = s.d.Store.CreateUser(ctx, user, c)
	} else {
		err = s.d.Store.CreateUserInvite(ctx, user, c, token, s.now())
	}
	switch {
	case errors.Is(err, store.ErrExists):
		return "", ErrExists
	case errors.Is(err, store.ErrNotFound):
		return "", ErrInvite
	case errors.Is(err, store.ErrInvalid):
		return "", ErrUsername
	case err != nil:
		return "", fmt.Errorf("accounts: create: %w", err)
	}
	s.d.Log.Info().Msg("account created")
	return user, nil
}
