package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"chatbx/store"
)

// Deleted reports what an account deletion removed, for the confirmation
// page. It holds counts only.
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
	// ContactsTold reports that the contacts were sent the presences
	// (Contacts is set); LogsRewritten that the connection logs were
	// rewritten without the account's lines.
	ContactsTold, LogsRewritten bool
}

// Delete removes the account user (a normalised localpart) and everything
// stored about it. The web page, XEP-0077 <remove/> and the admin CLI all
// use it. In order:
//
//  1. the account is removed from every local roster that holds it;
//  2. store.DB.DeleteUser drops every bucket of the account in one
//     transaction and scrubs the freed pages, so the bytes are gone from
//     the database file;
//  3. the account's upload files are unlinked (Uploads);
//  4. its sessions are closed with <not-authorized/> (Sessions);
//  5. its contacts are told (Contacts);
//  6. its lines are removed from the connection logs (ConnLogRewriter).
//
// The credentials are gone before the sessions close, so a client cannot
// log in again in between. Delete returns ErrAuth for an unknown user.
// Failures after step 2 wrap ErrIncomplete: the account is deleted by
// then, and the retention sweep finishes what is left.
func (m *Manager) Delete(ctx context.Context, user string) (Deleted, error) {
	return m.DeleteNotify(ctx, user, "", nil)
}

// DeleteNotify is Delete for a request made on one of the account's own
// XMPP sessions (XEP-0077 <remove/>): self is that session's full JID.
// It is closed with the others but not waited for, since the caller runs
// on its reader; the stream ends once the caller returns. deleted, if not
// nil, runs once the account is gone from the store and before its
// sessions are closed: <remove/> queues its result there, so that the
// client gets the answer before the stream error.
func (m *Manager) DeleteNotify(ctx context.Context, user, self string, deleted func()) (Deleted, error) {
	out := Deleted{User: user}
	_, roster, err := m.d.Store.Roster(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return out, ErrAuth
	}
	if err != nil {
		return out, fmt.Errorf("account: delete: %w", err)
	}
	out.RosterItems = len(roster)
	if msgs, err := m.d.Store.Offline(ctx, user); err == nil {
		out.OfflineMessages = len(msgs)
	}
	if keys, err := m.d.Store.PrivateKeys(ctx, user); err == nil {
		out.PrivateItems = len(keys)
	}
	if jids, err := m.d.Store.Blocklist(ctx, user); err == nil {
		out.BlockedJIDs = len(jids)
	}
	if v, err := m.d.Store.VCard(ctx, user); err == nil && len(v) > 0 {
		out.VCard = true
	}
	if m.d.Uploads != nil {
		if ups, err := m.d.Uploads.UserUploads(ctx, user); err == nil {
			out.Uploads = len(ups)
		}
	}

	n, err := m.removeFromRosters(ctx, user)
	out.ContactRosters = n
	if err != nil {
		return out, err
	}
	if err := m.d.Store.DeleteUser(ctx, user); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return out, ErrAuth
		}
		// DeleteUser reports a failed scrub after the deletion; the
		// account is gone either way, so the remaining steps still run.
		if exists, xerr := m.userExists(ctx, user); xerr != nil || exists {
			return out, fmt.Errorf("account: delete: %w", err)
		}
		m.d.Log.Error().Err(err).Msg("scrub after account deletion failed")
	}
	if deleted != nil {
		deleted()
	}
	var errs []error
	if m.d.Uploads != nil {
		if err := m.d.Uploads.UnlinkDeleted(context.WithoutCancel(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("account: unlink uploads: %w", err))
		}
	}
	if w, ok := m.d.Sessions.(SessionWaiter); ok {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := w.KickUserWait(wctx, user, self, "not-authorized"); err != nil {
			errs = append(errs, fmt.Errorf("account: close sessions: %w", err))
		}
		cancel()
	} else {
		m.d.Sessions.KickUser(user, "not-authorized")
	}
	if m.d.Contacts != nil {
		m.d.Contacts.AccountDeleted(context.WithoutCancel(ctx), user, roster)
		out.ContactsTold = true
	}
	if m.d.ConnLogRewriter != nil {
		if err := m.d.ConnLogRewriter(user); err != nil {
			errs = append(errs, fmt.Errorf("account: rewrite connection logs: %w", err))
		} else {
			out.LogsRewritten = true
		}
	}
	m.d.Log.Info().Msg("account deleted")
	if len(errs) > 0 {
		return out, fmt.Errorf("%w: %w", ErrIncomplete, errors.Join(errs...))
	}
	return out, nil
}

// userExists reports whether user still has credentials.
func (m *Manager) userExists(ctx context.Context, user string) (bool, error) {
	_, err := m.d.Store.Credentials(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// removeFromRosters deletes user's bare JID from every other local
// account's roster and returns how many rosters held it. It looks at
// every account, not only the user's own contacts, because a roster can
// hold a JID that never answered (a pending or refused subscription).
func (m *Manager) removeFromRosters(ctx context.Context, user string) (int, error) {
	bare := user + "@" + m.cfg.Domain
	users, err := m.d.Store.Users(ctx)
	if err != nil {
		return 0, fmt.Errorf("account: delete: %w", err)
	}
	n := 0
	for _, u := range users {
		if u == user {
			continue
		}
		if _, err := m.d.Store.RosterItem(ctx, u, bare); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return n, fmt.Errorf("account: delete: %w", err)
		}
		_, err := m.d.Store.DeleteRosterItem(ctx, u, bare)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("account: delete: %w", err)
		}
		n++
	}
	return n, nil
}
