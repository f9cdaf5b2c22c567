package accounts

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"chatbx/store"
)

// ErrLocked reports an account its user restricted (GDPR Art. 18,
// "Sperrung"): the password was right, but the account takes no logins
// until it is unlocked.
var ErrLocked = errors.New("accounts: account locked")

// Locks is the store's part of restriction (*store.DB).
type Locks interface {
	SetLocked(ctx context.Context, user string, locked bool, at time.Time) error
	Locked(ctx context.Context, user string) (bool, time.Time, error)
	LockedUsers(ctx context.Context) ([]string, error)
}

var _ Locks = (*store.DB)(nil)

// lockedSet is the set of restricted accounts, replaced as a whole on
// every change (copy on write): locks are rare, reads are on the
// message path.
type lockedSet map[string]struct{}

// loadLocked reads the restricted accounts from the store into memory.
func (s *Service) loadLocked(ctx context.Context) error {
	set := lockedSet{}
	if l, ok := s.d.Store.(Locks); ok {
		users, err := l.LockedUsers(ctx)
		if err != nil {
			return fmt.Errorf("accounts: load locked accounts: %w", err)
		}
		for _, u := range users {
			set[u] = struct{}{}
		}
	}
	s.locked.Store(&set)
	return nil
}

// IsLocked reports whether user (a normalised localpart) is restricted. It
// reads the set in memory, loaded by New and kept by Lock and Unlock, and
// does not allocate: the XMPP server asks it for every delivery. Safe for
// concurrent use.
func (s *Service) IsLocked(user string) bool {
	set := s.locked.Load()
	if set == nil || len(*set) == 0 {
		return false
	}
	_, ok := (*set)[user]
	return ok
}

// LockedUsers returns the restricted accounts, sorted.
func (s *Service) LockedUsers() []string {
	set := s.locked.Load()
	if set == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(*set))
}

// setLocked stores the flag and then changes the set in memory, under
// lockMu, so that a lock and an unlock racing each other leave the store
// and the set agreeing.
func (s *Service) setLocked(ctx context.Context, l Locks, user string, locked bool) error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	var at time.Time
	if locked {
		at = s.now()
	}
	if err := l.SetLocked(ctx, user, locked, at); err != nil {
		return err
	}
	next := lockedSet{}
	if cur := s.locked.Load(); cur != nil {
		next = maps.Clone(*cur)
	}
	if locked {
		next[user] = struct{}{}
	} else {
		delete(next, user)
	}
	s.locked.Store(&next)
	return nil
}

// Lock restricts the processing of user's account (GDPR Art. 18): the
// flag is stored, the account takes no logins (XMPP answers
// <account-disabled/>, the account pages refuse every action but
// unlocking), the XMPP server accepts nothing for it (messages bounce,
// no new offline messages, subscription requests are refused), and
// every stored datum is kept. The Locked hooks then close the account's
// sessions. Locking a locked account changes nothing. It returns
// ErrNotFound for an unknown user.
func (s *Service) Lock(ctx context.Context, user string) error {
	l, ok := s.d.Store.(Locks)
	if !ok {
		return errors.New("accounts: the store cannot lock accounts")
	}
	// The set changes before the hooks run: a session closing now cannot
	// be replaced by a new login.
	err := s.setLocked(ctx, l, user, true)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: lock: %w", err)
	}
	for _, h := range s.hookList() {
		if h.Locked != nil {
			h.Locked(ctx, user)
		}
	}
	s.d.Log.Info().Msg("account locked")
	return nil
}

// Unlock lifts the restriction after checking user's password (with the
// guard, as Verify). It returns ErrAuth for a wrong password or unknown
// user, a *ThrottledError while the guard backs off, and nil for an
// account that was not locked.
func (s *Service) Unlock(ctx context.Context, user, password string, addr netip.Addr) error {
	if err := s.Verify(ctx, user, password, addr); err != nil && !errors.Is(err, ErrLocked) {
		return err
	}
	return s.unlock(ctx, user)
}

// UnlockByOperator lifts the restriction without the password (the
// admin CLI, for a user who asked the operator). It returns ErrNotFound
// for an unknown user.
func (s *Service) UnlockByOperator(ctx context.Context, user string) error {
	return s.unlock(ctx, user)
}

func (s *Service) unlock(ctx context.Context, user string) error {
	l, ok := s.d.Store.(Locks)
	if !ok {
		return errors.New("accounts: the store cannot lock accounts")
	}
	err := s.setLocked(ctx, l, user, false)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: unlock: %w", err)
	}
	s.d.Log.Info().Msg("account unlocked")
	return nil
}

// LockedSince reports whether user is restricted and since when, from
// the store (the account pages and the export).
func (s *Service) LockedSince(ctx context.Context, user string) (bool, time.Time, error) {
	l, ok := s.d.Store.(Locks)
	if !ok {
		return false, time.Time{}, nil
	}
	locked, at, err := l.Locked(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, time.Time{}, ErrNotFound
	}
	return locked, at, err
}
