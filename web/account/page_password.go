package account

import (
	"errors"
	"net/http"

	"chatbx/internal/accounts"
)

const (
	msgMismatch     = "The two new passwords differ."
	msgPasswordRule = "The new password must be %d to %d characters long."
	msgPasswordDone = "Your password has been changed. Your connected devices were disconnected; log in again with the new password."
)

// servePassword serves /account/password: the current password and the
// new one twice replace the verifiers; every session of the account is
// then closed with <reset/>, since the browser holds none of them.
func (p *Pages) servePassword(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "password") {
		return
	}
	rule := tr(pickLang(r), msgPasswordRule, p.minPw, p.maxPw)
	req := p.checkPost(w, r, "password", func(f form) string {
		if f["new"] != f["new2"] {
			return msgMismatch
		}
		if n := len(f["new"]); n < p.minPw || n > p.maxPw {
			return rule
		}
		return ""
	})
	if req == nil {
		return
	}
	// The hooks close every session of the account (<reset/>): the
	// browser holds none of them.
	err := p.acc.ChangePassword(r.Context(), req.user, req.form["new"], "")
	switch {
	case errors.Is(err, accounts.ErrPolicy):
		p.fail(w, r, req, http.StatusBadRequest, rule)
		return
	case errors.Is(err, accounts.ErrNotFound):
		p.fail(w, r, req, http.StatusForbidden, msgAuth)
		return
	case err != nil:
		p.d.Log.Error().Err(err).Msg("password change failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	req.data.Done = tr(req.data.Lang, msgPasswordDone)
	p.render(w, r, http.StatusOK, req.data)
}
