package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"chatbx/store"
)

// Push registrations (XEP-0357) as the account pages list and revoke
// them: each device that asked for push notifications registered an app
// server (a JID) and a node there, an opaque device token. Revoking one
// stops notifications to that device; the device may register again
// when it next connects.

// PushStore is what the push methods need of the store; *store.DB has it.
type PushStore interface {
	PushRegistrations(ctx context.Context, user string) ([]store.PushRegistration, error)
	DeletePush(ctx context.Context, user, jid, node string) (int, error)
}

var _ PushStore = (*store.DB)(nil)

// ErrNoPush reports a store without push registrations.
var ErrNoPush = errors.New("accounts: push registrations are not supported")

// PushDevice is one push registration as the pages show it. ID names it
// in a form without carrying the node (a hash of app server and node);
// Node is the device token as stored: show it shortened.
type PushDevice struct {
	ID, Service, Node string
}

func pushID(jid, node string) string {
	h := sha256.Sum256([]byte(jid + "\x00" + node))
	return hex.EncodeToString(h[:8])
}

func (s *Service) pushStore() (PushStore, error) {
	ps, ok := s.d.Store.(PushStore)
	if !ok {
		return nil, ErrNoPush
	}
	return ps, nil
}

// PushAvailable reports whether the store keeps push registrations.
func (s *Service) PushAvailable() bool {
	_, err := s.pushStore()
	return err == nil
}

// PushDevices lists user's push registrations, ordered by app server and
// node. It fails with ErrNoPush when the store has none.
func (s *Service) PushDevices(ctx context.Context, user string) ([]PushDevice, error) {
	ps, err := s.pushStore()
	if err != nil {
		return nil, err
	}
	regs, err := ps.PushRegistrations(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: push registrations: %w", err)
	}
	out := make([]PushDevice, 0, len(regs))
	for _, r := range regs {
		out = append(out, PushDevice{ID: pushID(r.JID, r.Node), Service: r.JID, Node: r.Node})
	}
	return out, nil
}

// RevokePush deletes user's push registration with the id PushDevices
// gave; ErrNotFound when there is none (any more).
func (s *Service) RevokePush(ctx context.Context, user, id string) error {
	ps, err := s.pushStore()
	if err != nil {
		return err
	}
	regs, err := ps.PushRegistrations(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: revoke push: %w", err)
	}
	for _, r := range regs {
		if pushID(r.JID, r.Node) != id {
			continue
		}
		n, err := ps.DeletePush(ctx, user, r.JID, r.Node)
		if err != nil {
			return fmt.Errorf("accounts: revoke push: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	}
	return ErrNotFound
}

// RevokeAllPush deletes every push registration of user and returns how
// many there were.
func (s *Service) RevokeAllPush(ctx context.Context, user string) (int, error) {
	ps, err := s.pushStore()
	if err != nil {
		return 0, err
	}
	regs, err := ps.PushRegistrations(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("accounts: revoke push: %w", err)
	}
	// One deletion per app server removes all its nodes.
	done := map[string]bool{}
	total := 0
	for _, r := range regs {
		if done[r.JID] {
			continue
		}
		done[r.JID] = true
		n, err := ps.DeletePush(ctx, user, r.JID, "")
		if err != nil {
			return total, fmt.Errorf("accounts: revoke push: %w", err)
		}
		total += n
	}
	return total, nil
}
