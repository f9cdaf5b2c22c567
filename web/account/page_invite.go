package account

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"chatbx/internal/accounts"
)

// Invites are the invitations (XEP-0401) as the invite page sees them.
// Creating invites (chatbx invite create) and expiring them (retention)
// happen elsewhere; a use is spent with the account it creates
// (accounts.Service.CreateInvited, one store transaction).
type Invites interface {
	// InviteValid reports whether token names an unexpired invite with
	// uses left, without using it.
	InviteValid(ctx context.Context, token string) (bool, error)
}

const (
	msgInviteInvalid = "This invitation is not valid: it may have expired or been used up."
	msgUsernameRule  = "This username cannot be registered. Use letters and digits, at most 64 characters; some names are reserved."
	msgUsernameTaken = "This username is taken. Please choose another."
	msgCreated       = "Your account has been created."
	msgRegThrottled  = "Too many registration attempts. Please wait %s and try again."
)

// InviteURI returns the XEP-0401 / XEP-0379 URI that lets a client
// register an account on domain with token.
func InviteURI(domain, token string) string {
	return "xmpp:" + domain + "?register;preauth=" + url.QueryEscape(token)
}

// validInviteToken reports whether s can be an invite token: 16 to 128
// characters of the URL-safe base64 alphabet.
func validInviteToken(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// serveInvite serves /invite/{token}: the invitation's xmpp: URI, a QR
// code of it rendered on the server (a data: image, no script), and a
// registration form for clients without invite support.
func (p *Pages) serveInvite(w http.ResponseWriter, r *http.Request) {
	inv := r.PathValue("token")
	d := p.data("invite", pickLang(r))
	d.Base = p.cfg.Path
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	ok := validInviteToken(inv)
	if ok {
		var err error
		ok, err = p.d.Invites.InviteValid(ctx, inv)
		if err != nil {
			p.d.Log.Error().Err(err).Msg("invite lookup failed")
			d.Error = tr(d.Lang, msgInternal)
			p.render(w, r, http.StatusInternalServerError, d)
			return
		}
	}
	if !ok {
		d.Error = tr(d.Lang, msgInviteInvalid)
		p.render(w, r, http.StatusNotFound, d)
		return
	}
	d.Invite = inv
	d.InviteURI = template.URL(InviteURI(p.domain, inv))
	png, err := qrcode.Encode(string(d.InviteURI), qrcode.Medium, 256)
	if err == nil {
		// Privacy: the code is drawn here, not by a third-party service.
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	if r.Method != http.MethodPost {
		p.render(w, r, http.StatusOK, d)
		return
	}
	p.register(w, r, d)
}

// register handles the invite page's registration form.
func (p *Pages) register(w http.ResponseWriter, r *http.Request, d *pageData) {
	req := &request{data: d}
	if !sameOrigin(r) {
		p.fail(w, r, req, http.StatusForbidden, msgCrossSite)
		return
	}
	f, err := readForm(w, r)
	if err != nil {
		p.fail(w, r, req, http.StatusBadRequest, msgBadForm)
		return
	}
	d.User = f["username"]
	now := p.acc.Now()
	switch err := p.tokens.check("invite", f["token"], now); err {
	case nil:
	case errTokenMissing:
		p.fail(w, r, req, http.StatusBadRequest, msgNoToken)
		return
	case errTokenExpired:
		p.fail(w, r, req, http.StatusBadRequest, msgExpired)
		return
	default:
		p.fail(w, r, req, http.StatusForbidden, msgForged)
		return
	}
	if f["new"] != f["new2"] {
		p.fail(w, r, req, http.StatusBadRequest, msgMismatch)
		return
	}
	if n := len(f["new"]); n < p.minPw || n > p.maxPw {
		p.fail(w, r, req, http.StatusBadRequest, msgPasswordRule, p.minPw, p.maxPw)
		return
	}
	// Every attempt counts against the client's network, so that the
	// form cannot be used to probe for taken names at speed; other
	// networks keep their own allowance.
	if wait, blocked := p.throttle.register(networkKey(r.RemoteAddr), now); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
		p.fail(w, r, req, http.StatusTooManyRequests, msgRegThrottled, waitText(d.Lang, wait))
		return
	}
	// The invite is spent in the transaction that creates the account:
	// a registration that fails leaves it usable.
	user, err := p.acc.CreateInvited(r.Context(), f["username"], f["new"], d.Invite)
	switch {
	case errors.Is(err, accounts.ErrInvite):
		p.fail(w, r, req, http.StatusNotFound, msgInviteInvalid)
		return
	case errors.Is(err, accounts.ErrExists):
		p.fail(w, r, req, http.StatusConflict, msgUsernameTaken)
		return
	case errors.Is(err, accounts.ErrUsername):
		p.fail(w, r, req, http.StatusBadRequest, msgUsernameRule)
		return
	case errors.Is(err, accounts.ErrPolicy):
		p.fail(w, r, req, http.StatusBadRequest, msgPasswordRule, p.minPw, p.maxPw)
		return
	case err != nil:
		p.d.Log.Error().Err(err).Msg("registration failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	d.User = user
	d.Done = tr(d.Lang, msgCreated)
	p.render(w, r, http.StatusOK, d)
}
