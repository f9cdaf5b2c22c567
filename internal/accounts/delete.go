package accounts

import (
	"context"
	"errors"
	"fmt"

	"chatbx/store"
)

// Deleted reports what an account deletion removed: counts for the
// confirmation, and the roster as it was, for the hooks that tell the
// contacts.
type Deleted struct {
	User            string
	RosterItems     int
	OfflineMessages int
	PrivateItems    int
	BlockedJIDs     int
	Uploads         int
	VCard           bool
	// ContactRosters is the number of local accounts whose roster held
	// the deleted account.
	ContactRosters int
	// ContactsTold reports that the contacts were sent the presences;
	// LogsRewritten that the connection logs were rewritten without the
	// account's lines (AfterDelete hooks with those Effects succeeded).
	ContactsTold, LogsRewritten bool
	// Roster is the account's roster before deletion.
	Roster []store.RosterItem
}

// Delete removes the account user (a normalised localpart) and everything
// stored about it. The web page, XEP-0077 <remove/> and the admin CLI all
// use it. In order:
//
//  1. store.DB.DeleteAccount, one transaction: every bucket of the
//     account, its upload records moved to the trash, and its item in
//     every other local roster; then the freed pages are scrubbed;
//  2. the account's upload files are unlinked (Deps.Uploads);
//  3. the AfterDelete hooks run: close the account's sessions, tell its
//     contacts, rewrite the connection logs without its lines.
//
// The credentials are gone before the sessions close, so a client cannot
// log in again in between. Delete returns ErrNotFound for an unknown
// user. Failures after step 1 wrap ErrIncomplete: the account is deleted
// by then, and the retention sweep finishes what is left.
func (s *Service) Delete(ctx context.Context, user string) (Deleted, error) {
	return s.DeleteNotify(ctx, user, "", nil)
}

// DeleteNotify is Delete for a request made on one of the account's own
// XMPP sessions (XEP-0077 <remove/>): self is that session's full JID,
// which the hooks close but do not wait for, since the caller runs on its
// reader. deleted, if not nil, runs once the account is gone from the
// store and before the hooks: <remove/> queues its result there, so that
// the client gets the answer before the stream error.
func (s *Service) DeleteNotify(ctx context.Context, user, self string, deleted func()) (Deleted, error) {
	out := Deleted{User: user}
	if s.cfg.Domain == "" {
		// Without it, the account cannot be found in contacts' rosters.
		return out, ErrNoDomain
	}
	d, err := s.d.Store.DeleteAccount(ctx, user, user+"@"+s.cfg.Domain)
	if errors.Is(err, store.ErrNotFound) {
		return out, ErrNotFound
	}
	out.RosterItems = len(d.Roster)
	out.OfflineMessages = d.OfflineMessages
	out.PrivateItems = d.PrivateItems
	out.BlockedJIDs = d.BlockedJIDs
	out.Uploads = d.Uploads
	out.VCard = d.VCard
	out.ContactRosters = d.ContactRosters
	out.Roster = d.Roster
	if err != nil {
		// DeleteAccount reports a failed scrub after the deletion; the
		// account is gone either way, so the remaining steps still run.
		if _, cerr := s.d.Store.Credentials(ctx, user); !errors.Is(cerr, store.ErrNotFound) {
			return out, fmt.Errorf("accounts: delete: %w", err)
		}
		s.d.Log.Error().Err(err).Msg("scrub after account deletion failed")
	}
	if deleted != nil {
		deleted()
	}
	var errs []error
	after := context.WithoutCancel(ctx)
	if s.d.Uploads != nil {
		if err := s.d.Uploads.UnlinkDeleted(after); err != nil {
			errs = append(errs, fmt.Errorf("accounts: unlink uploads: %w", err))
		}
	}
	for _, h := range s.hookList() {
		if h.AfterDelete != nil {
			if err := h.AfterDelete(after, out, self); err != nil {
				errs = append(errs, err)
				continue
			}
			out.ContactsTold = out.ContactsTold || h.Effects&TellsContacts != 0
			out.LogsRewritten = out.LogsRewritten || h.Effects&RewritesLogs != 0
		}
	}
	s.d.Log.Info().Msg("account deleted")
	if len(errs) > 0 {
		return out, fmt.Errorf("%w: %w", ErrIncomplete, errors.Join(errs...))
	}
	return out, nil
}
