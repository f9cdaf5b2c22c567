package account

import (
	"context"
	"errors"
	"net/http"
	"time"

	"chatbx/store"
)

// FastTokens is the store's view of a user's FAST login tokens
// (XEP-0484) for the devices page: what is listed is only an opaque id,
// the creation time and the expiry of each device's tokens (never a
// token, its hash, or what the device is: the server keeps no user-agent).
type FastTokens interface {
	FastTokens(ctx context.Context, user string, now time.Time) ([]store.FastToken, error)
	RevokeFastToken(ctx context.Context, user, id string) error
	RevokeFastTokens(ctx context.Context, user string) error
}

var _ FastTokens = (*store.DB)(nil)

const (
	msgDevicesUnavailable = "This server issues no login tokens."
	msgDeviceChoose       = "Please choose the token to revoke from the list (show the list first)."
	msgDeviceUnknown      = "That token no longer exists; the list below is current."
	msgDevicesNone        = "No device holds a login token."
	msgDevicesList        = "%d device(s) hold a login token."
	msgDeviceRevoked      = "The token was revoked; that device has to log in with the password again."
	msgDevicesRevoked     = "All tokens were revoked; every device has to log in with the password again."
)

// deviceRow is one listed token.
type deviceRow struct {
	ID, Created, Expires string
}

// serveDevices serves /account/devices: list the FAST login tokens
// (XEP-0484) that the user's devices hold, revoke one or all.
func (p *Pages) serveDevices(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "devices") {
		return
	}
	fast := p.d.Fast
	if fast == nil {
		d := p.data("devices", pickLang(r))
		d.Error = tr(d.Lang, msgDevicesUnavailable)
		p.render(w, r, http.StatusNotFound, d)
		return
	}
	req := p.checkPost(w, r, "devices", func(f form) string {
		switch f["action"] {
		case "list", "revoke-all":
		case "revoke":
			if id := f["id"]; id == "" || len(id) > 64 {
				return msgDeviceChoose
			}
		default:
			return msgArchiveAction // the same words
		}
		return ""
	})
	if req == nil {
		return
	}
	ctx, user, lang := r.Context(), req.user, req.data.Lang
	var err error
	done := ""
	switch req.form["action"] {
	case "revoke":
		err = fast.RevokeFastToken(ctx, user, req.form["id"])
		done = tr(lang, msgDeviceRevoked) + " "
		if errors.Is(err, store.ErrNotFound) {
			err, done = nil, tr(lang, msgDeviceUnknown)+" "
		}
	case "revoke-all":
		err = fast.RevokeFastTokens(ctx, user)
		done = tr(lang, msgDevicesRevoked) + " "
	}
	var list []store.FastToken
	if err == nil {
		list, err = fast.FastTokens(ctx, user, p.acc.Now())
	}
	if err != nil {
		p.d.Log.Error().Err(err).Msg("devices action failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	if len(list) == 0 {
		done += tr(lang, msgDevicesNone)
	} else {
		done += tr(lang, msgDevicesList, len(list))
	}
	const layout = "2006-01-02 15:04 UTC"
	for _, t := range list {
		req.data.Devices = append(req.data.Devices, deviceRow{ID: t.ID,
			Created: t.Created.UTC().Format(layout), Expires: t.Expiry.UTC().Format(layout)})
	}
	req.data.Done = done
	p.render(w, r, http.StatusOK, req.data)
}
