package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// exportRights is the file of the export that holds what the account's
// user decided about it: the restriction (Lock) and the invites the user
// made (CreateUserInvite).
const exportRights = "account.json"

// rightsExport is account.json.
type rightsExport struct {
	Locked      bool              `json:"locked"`
	LockedSince *time.Time        `json:"locked_since,omitempty"`
	Invites     []invitationEntry `json:"invites"`
	InvitesMade int               `json:"invites_made_last_7_days"`
}

// invitationEntry is one invite the user made; the token is not stored
// (only its hash), so it cannot be exported.
type invitationEntry struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Uses    int       `json:"uses_left"`
}

// rightsJSON returns account.json for user.
func (s *Service) rightsJSON(ctx context.Context, user string) ([]byte, error) {
	out := rightsExport{Invites: []invitationEntry{}}
	locked, since, err := s.LockedSince(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("accounts: export lock: %w", err)
	}
	if out.Locked = locked; locked {
		out.LockedSince = &since
	}
	if is, ok := s.d.Store.(InviteStore); ok {
		invs, err := is.UserInvites(ctx, user)
		if err != nil {
			return nil, fmt.Errorf("accounts: export invites: %w", err)
		}
		for _, inv := range invs {
			out.Invites = append(out.Invites, invitationEntry{ID: inv.ID, Created: inv.Created, Expires: inv.Expires, Uses: inv.Uses})
		}
		if out.InvitesMade, err = is.InvitesMade(ctx, user, s.now().Add(-UserInviteWindow)); err != nil {
			return nil, fmt.Errorf("accounts: export invites: %w", err)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
