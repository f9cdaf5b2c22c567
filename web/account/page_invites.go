package account

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"chatbx/internal/accounts"
)

// Messages of the user invite page.
const (
	msgInviteQuota   = "You have made as many invitations this week as this server allows (%d). Please try again later."
	msgInviteCreated = "Your invitation is ready. Send the link to one friend: it is good for one account within 7 days and is shown only now."
	msgInviteRevoked = "The invitation was revoked; its link no longer works."
	msgInviteGone    = "That invitation was not found; it may have been used or have expired."
)

// inviteRow is one open invitation on the invites page.
type inviteRow struct {
	ID, Expires string
	Uses        int
}

// serveInvites serves /account/invites (when accounts.user_invites is
// not 0). With the password a user makes an invite for one registration
// (the default action; accounts.Service.CreateUserInvite, quota counted
// in the store transaction) and gets its link to the invite page
// (/invite/{token}, the same page as the operator's invites) and a QR
// code of the link, drawn here; the token is shown only in this answer.
// Action "list" only lists the user's open invitations; a "revoke"
// button deletes one of them.
func (p *Pages) serveInvites(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "invites") {
		return
	}
	req := p.checkPost(w, r, "invites", nil)
	if req == nil {
		return
	}
	ctx := r.Context()
	d := req.data
	switch id := req.form["revoke"]; {
	case id != "":
		err := p.acc.RevokeUserInvite(ctx, req.user, id)
		switch {
		case errors.Is(err, accounts.ErrNotFound):
			d.Error = tr(d.Lang, msgInviteGone)
		case err != nil:
			p.d.Log.Error().Err(err).Msg("user invite revocation failed")
			p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
			return
		default:
			d.Done = tr(d.Lang, msgInviteRevoked)
		}
	case req.form["action"] == "list":
	default:
		if !p.createInvite(w, r, req) {
			return
		}
	}
	invs, err := p.acc.UserInvites(ctx, req.user)
	if err != nil {
		p.d.Log.Error().Err(err).Msg("user invite list failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	d.Listed = true
	for _, inv := range invs {
		d.Invites = append(d.Invites, inviteRow{ID: inv.ID, Expires: inv.Expires.UTC().Format(time.DateTime) + " UTC", Uses: inv.Uses})
	}
	if left, err := p.acc.UserInvitesLeft(ctx, req.user); err == nil {
		d.InvitesLeft = left
	}
	p.render(w, r, http.StatusOK, d)
}

// createInvite makes an invite for req's user and fills the page data
// with its link and QR code. It answers the request itself and returns
// false on failure.
func (p *Pages) createInvite(w http.ResponseWriter, r *http.Request, req *request) bool {
	inv, err := p.acc.CreateUserInvite(r.Context(), req.user)
	switch {
	case errors.Is(err, accounts.ErrQuota):
		p.fail(w, r, req, http.StatusTooManyRequests, msgInviteQuota, p.acc.UserInvitesAllowed())
		return false
	case errors.Is(err, accounts.ErrNotFound):
		p.fail(w, r, req, http.StatusForbidden, msgAuth)
		return false
	case errors.Is(err, accounts.ErrLocked):
		p.fail(w, r, req, http.StatusForbidden, msgLocked)
		return false
	case err != nil:
		p.d.Log.Error().Err(err).Msg("user invite failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return false
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
	d.Done = tr(d.Lang, msgInviteCreated)
	return true
}
