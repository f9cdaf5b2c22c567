package accounts

import (
	"context"

	"chatbx/store"
)

// completeCredentials stores verifiers for both hashes when user, whose
// password was just verified, has only one: accounts imported from
// Prosody or ejabberd (internal/migrate) carry SCRAM-SHA-1 only, and
// clients that pick SCRAM-SHA-256 can log in once the SHA-256 verifier
// exists. A failure is logged (without the user) and changes nothing.
func (s *Service) completeCredentials(ctx context.Context, user, password string, c store.Credentials) {
	if len(c.SHA1.StoredKey) > 0 && len(c.SHA256.StoredKey) > 0 {
		return
	}
	full, err := store.DeriveCredentials(password, s.cfg.Iterations)
	// The imported verifier stays (unless it is too weak to keep), so
	// that importing the same file again still recognises the account.
	switch {
	case len(c.SHA1.StoredKey) > 0 && c.SHA1.Iterations >= store.MinIterations:
		full.SHA1 = c.SHA1
	case len(c.SHA256.StoredKey) > 0 && c.SHA256.Iterations >= store.MinIterations:
		full.SHA256 = c.SHA256
	}
	if err == nil {
		err = s.d.Store.SetCredentials(ctx, user, full)
	}
	if err != nil {
		s.d.Log.Warn().Err(err).Msg("completing imported credentials failed")
	}
}
