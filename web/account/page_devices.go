package account

import (
	"context"
	"errors"
	"net/http"
	"time"

	"chatbx/internal/accounts"
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
	msgPushChoose         = "Please choose the push registration to revoke from the list (show the list first)."
	msgPushUnknown        = "That push registration no longer exists; the list below is current."
	msgPushNone           = "No device is registered for push notifications."
	msgPushList           = "%d device(s) are registered for push notifications."
	msgPushRevoked        = "The push registration was revoked; that device gets no more notifications until its app registers again."
	msgPushRevokedAll     = "All push registrations were revoked; no device gets notifications until its app registers again."
)

// pushRow is one listed push registration (XEP-0357): the app server and
// the start of the device's node, an opaque token; ID names it in the
// form without the node.
type pushRow struct {
	ID, Service, Node string
}

// shortNode shortens a device token for display: its first 8 and last 4
// characters.
func shortNode(node string) string {
	r := []rune(node)
	if len(r) <= 16 {
		return node
	}
	return string(r[:8]) + "…" + string(r[len(r)-4:])
}

// deviceRow is one listed token.
type deviceRow struct {
	ID, Created, Expires string
}

// serveDevices serves /account/devices: list the FAST login tokens
// (XEP-0484) that the user's devices hold and their push registrations
// (XEP-0357), revoke one or all of either. Without FAST tokens and push
// registrations in the store the page is 404.
func (p *Pages) serveDevices(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "devices") {
		return
	}
	fast := p.d.Fast
	hasPush := p.acc.PushAvailable()
	if fast == nil && !hasPush {
		d := p.data("devices", pickLang(r))
		d.Error = tr(d.Lang, msgDevicesUnavailable)
		p.render(w, r, http.StatusNotFound, d)
		return
	}
	req := p.checkPost(w, r, "devices", func(f form) string {
		switch f["action"] {
		case "list":
		case "revoke-all":
			if fast == nil {
				return msgDevicesUnavailable
			}
		case "revoke":
			if fast == nil {
				return msgDevicesUnavailable
			}
			if id := f["id"]; id == "" || len(id) > 64 {
				return msgDeviceChoose
			}
		case "push-revoke-all":
			if !hasPush {
				return msgArchiveAction
			}
		case "push-revoke":
			if id := f["push"]; !hasPush || id == "" || len(id) > 64 {
				return msgPushChoose
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
	case "push-revoke":
		err = p.acc.RevokePush(ctx, user, req.form["push"])
		done = tr(lang, msgPushRevoked) + " "
		if errors.Is(err, accounts.ErrNotFound) {
			err, done = nil, tr(lang, msgPushUnknown)+" "
		}
	case "push-revoke-all":
		_, err = p.acc.RevokeAllPush(ctx, user)
		done = tr(lang, msgPushRevokedAll) + " "
	}
	var list []store.FastToken
	if err == nil && fast != nil {
		list, err = fast.FastTokens(ctx, user, p.acc.Now())
	}
	var pushes []accounts.PushDevice
	if err == nil && hasPush {
		pushes, err = p.acc.PushDevices(ctx, user)
	}
	if err != nil {
		p.d.Log.Error().Err(err).Msg("devices action failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	switch {
	case fast == nil:
		done += tr(lang, msgDevicesUnavailable)
	case len(list) == 0:
		done += tr(lang, msgDevicesNone)
	default:
		done += tr(lang, msgDevicesList, len(list))
	}
	if hasPush {
		if len(pushes) == 0 {
			done += " " + tr(lang, msgPushNone)
		} else {
			done += " " + tr(lang, msgPushList, len(pushes))
		}
	}
	const layout = "2006-01-02 15:04 UTC"
	for _, t := range list {
		req.data.Devices = append(req.data.Devices, deviceRow{ID: t.ID,
			Created: t.Created.UTC().Format(layout), Expires: t.Expiry.UTC().Format(layout)})
	}
	for _, d := range pushes {
		req.data.Push = append(req.data.Push, pushRow{ID: d.ID, Service: d.Service, Node: shortNode(d.Node)})
	}
	req.data.Done = done
	p.render(w, r, http.StatusOK, req.data)
}
