package account

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"

	qrcode "github.com/skip2/go-qrcode"

	"chatbx/internal/accounts"
)

// Messages of the user invite page.
const (
	msgInviteQuota   = "You have made as many invitations this week as this server allows (%d). Please try again later."
	msgInviteCreated = "Your invitation is ready. Send the link to one friend: it is good for one account within 7 days and is shown only now."
)

// serveInvites serves /account/invites (when accounts.user_invites is
// not 0): with the password, a user makes an invite for one registration
// (accounts.Service.CreateUserInvite, quota counted in the store
// transaction) and gets its link to the invite page (/invite/{token},
// the same page as the operator's invites) and a QR code of the link,
// drawn here. The token is shown only in this answer.
func (p *Pages) serveInvites(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "invites") {
		return
	}
	req := p.checkPost(w, r, "invites", nil)
	if req == nil {
		return
	}
	inv, err := p.acc.CreateUserInvite(r.Context(), req.user)
	switch {
	case errors.Is(err, accounts.ErrQuota):
		p.fail(w, r, req, http.StatusTooManyRequests, msgInviteQuota, p.acc.UserInvitesAllowed())
		return
	case errors.Is(err, accounts.ErrNotFound):
		p.fail(w, r, req, http.StatusForbidden, msgAuth)
		return
	case errors.Is(err, accounts.ErrLocked):
		p.fail(w, r, req, http.StatusForbidden, msgLocked)
		return
	case err != nil:
		p.d.Log.Error().Err(err).Msg("user invite failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	d := req.data
	// The invite page is on this host: the link is the one the browser
	// used, which the certificate covers.
	link := "https://" + r.Host + "/invite/" + inv.Token
	d.InviteLink = template.URL(link)
	d.InviteURI = template.URL(InviteURI(p.domain, inv.Token))
	if png, err := qrcode.Encode(link, qrcode.Medium, 256); err == nil {
		// Privacy: the code is drawn here, not by a third-party service.
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	if left, err := p.acc.UserInvitesLeft(r.Context(), req.user); err == nil {
		d.InvitesLeft = left
	}
	d.Done = tr(d.Lang, msgInviteCreated)
	p.render(w, r, http.StatusOK, d)
}
