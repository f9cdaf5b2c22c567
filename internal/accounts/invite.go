package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"chatbx/store"
)

// Invites made by users (accounts.user_invites): a user invites friends
// from the account pages with the same invite links, pages and QR codes
// as the operator's `chatbx invite create`. Each invite admits one
// account and lasts UserInviteTTL; an account makes at most
// Config.UserInvites of them per UserInviteWindow, counted in the store
// transaction that creates the invite. The invites are the user's data:
// exported, and deleted with the account.

// UserInviteWindow is the period of the per-user invite quota.
const UserInviteWindow = 7 * 24 * time.Hour

// UserInviteTTL is how long an invite made by a user stays valid.
const UserInviteTTL = 7 * 24 * time.Hour

var (
	// ErrInvitesOff reports that users may not make invites
	// (Config.UserInvites is 0).
	ErrInvitesOff = errors.New("accounts: user invites are off")
	// ErrQuota reports that the account's allowance is used up.
	ErrQuota = errors.New("accounts: limit reached")
)

// InviteStore is the store's part of user invites (*store.DB).
type InviteStore interface {
	CreateInviteQuota(ctx context.Context, inv store.Invite, max int, window time.Duration) error
	InvitesMade(ctx context.Context, user string, since time.Time) (int, error)
	UserInvites(ctx context.Context, user string) ([]store.Invite, error)
}

var _ InviteStore = (*store.DB)(nil)

// UserInvitesAllowed is Config.UserInvites: invites per account per
// UserInviteWindow, 0 when users make none.
func (s *Service) UserInvitesAllowed() int { return s.cfg.UserInvites }

// CreateUserInvite makes an invite for one registration on behalf of
// user (a normalised localpart whose password the caller checked). It
// returns the invite with its token, which is stored only as a hash and
// cannot be shown again; ErrInvitesOff, ErrQuota when user has made
// Config.UserInvites invites in the last UserInviteWindow, ErrLocked for a
// locked account, or ErrNotFound for an unknown user.
func (s *Service) CreateUserInvite(ctx context.Context, user string) (store.Invite, error) {
	is, ok := s.d.Store.(InviteStore)
	if s.cfg.UserInvites <= 0 || !ok {
		return store.Invite{}, ErrInvitesOff
	}
	if s.IsLocked(user) {
		return store.Invite{}, ErrLocked
	}
	token, err := store.NewInviteToken()
	if err != nil {
		return store.Invite{}, fmt.Errorf("accounts: invite: %w", err)
	}
	now := s.now().UTC()
	inv := store.Invite{Token: token, Created: now, Expires: now.Add(UserInviteTTL), Uses: 1, Creator: user}
	err = is.CreateInviteQuota(ctx, inv, s.cfg.UserInvites, UserInviteWindow)
	switch {
	case errors.Is(err, store.ErrQuota):
		return store.Invite{}, ErrQuota
	case errors.Is(err, store.ErrNotFound):
		return store.Invite{}, ErrNotFound
	case err != nil:
		return store.Invite{}, fmt.Errorf("accounts: invite: %w", err)
	}
	s.d.Log.Info().Msg("user invite created")
	return inv, nil
}

// UserInvitesLeft returns how many more invites user may make now.
func (s *Service) UserInvitesLeft(ctx context.Context, user string) (int, error) {
	is, ok := s.d.Store.(InviteStore)
	if s.cfg.UserInvites <= 0 || !ok {
		return 0, nil
	}
	n, err := is.InvitesMade(ctx, user, s.now().Add(-UserInviteWindow))
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("accounts: invites made: %w", err)
	}
	return max(s.cfg.UserInvites-n, 0), nil
}

// UserInvites returns the invites user made that are still open, in order
// of expiry, without tokens.
func (s *Service) UserInvites(ctx context.Context, user string) ([]store.Invite, error) {
	is, ok := s.d.Store.(InviteStore)
	if !ok {
		return nil, nil
	}
	invs, err := is.UserInvites(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("accounts: user invites: %w", err)
	}
	return invs, nil
}

// RevokeUserInvite deletes the invite id (store.Invite.ID) that user made.
// It returns ErrNotFound for an unknown id or another user's invite. A
// revoked invite still counts against the week's allowance.
func (s *Service) RevokeUserInvite(ctx context.Context, user, id string) error {
	is, ok := s.d.Store.(interface {
		DeleteUserInvite(ctx context.Context, user, id string) error
	})
	if !ok {
		return ErrInvitesOff
	}
	err := is.DeleteUserInvite(ctx, user, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: revoke invite: %w", err)
	}
	return nil
}
