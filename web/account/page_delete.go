package account

import (
	"errors"
	"net/http"

	"chatbx/internal/accounts"
)

const msgConfirmDelete = "Please tick the box to confirm that the account and all its data are to be deleted."

// serveDelete serves /account/delete: username, password and an explicit
// confirmation delete the account through accounts.Service.Delete.
func (p *Pages) serveDelete(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "delete") {
		return
	}
	req := p.checkPost(w, r, "delete", func(f form) string {
		if f["confirm"] != "yes" {
			return msgConfirmDelete
		}
		return ""
	})
	if req == nil {
		return
	}
	del, err := p.acc.Delete(r.Context(), req.user)
	if errors.Is(err, accounts.ErrNotFound) {
		// Deleted concurrently (a second tab): same answer as unknown.
		p.fail(w, r, req, http.StatusForbidden, msgAuth)
		return
	}
	if errors.Is(err, accounts.ErrIncomplete) {
		// The account is gone; a later step (log rewrite, file unlink)
		// failed and the retention sweep will finish it.
		p.d.Log.Error().Err(err).Msg("account deletion incomplete")
	} else if err != nil {
		p.d.Log.Error().Err(err).Msg("account deletion failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	req.data.Deleted = &del
	req.data.User = ""
	p.render(w, r, http.StatusOK, req.data)
}
