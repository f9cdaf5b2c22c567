package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"chatbx/store"
)

// exportFast is the export file of FAST login tokens (XEP-0484).
const exportFast = "login-tokens.json"

// fastLister is the store's list of a user's FAST tokens (*store.DB).
type fastLister interface {
	FastTokens(ctx context.Context, user string, now time.Time) ([]store.FastToken, error)
}

// writeFast writes the devices that hold FAST login tokens: each
// device's opaque id, since when it holds one and when its token
// expires. The token hashes are left out on purpose: a hash logs in as
// the token does (see server/auth.TokenLen), and an export is a file
// that travels; what the server keeps about the device is all here.
func (s *Service) writeFast(ctx context.Context, fl fastLister, user string, now time.Time, w io.Writer) error {
	list, err := fl.FastTokens(ctx, user, now)
	if err != nil {
		return fmt.Errorf("accounts: export login tokens: %w", err)
	}
	type token struct {
		ID      string    `json:"id"`
		Created time.Time `json:"created"`
		Expires time.Time `json:"expires"`
	}
	out := struct {
		Tokens []token `json:"login_tokens"`
	}{Tokens: []token{}}
	for _, t := range list {
		out.Tokens = append(out.Tokens, token{t.ID, t.Created.UTC(), t.Expiry.UTC()})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
