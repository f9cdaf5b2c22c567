package account

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"chatbx/internal/accounts"
)

// Messages of the lock page and of every other page for a locked account.
const (
	msgLocked        = "This account is locked. Unlock it on the lock page with your password first."
	msgLockAction    = "Please choose to lock or to unlock the account."
	msgConfirmLock   = "Please tick the box to confirm that the account is to be locked."
	msgLockDone      = "Your account is locked. Nobody can log in to it and nothing is delivered to it; all its data is kept. Unlock it here with your password."
	msgUnlockDone    = "Your account is unlocked. You can log in again and messages are delivered again."
	msgNotLocked     = "Your account is not locked."
	msgLockedAlready = "Your account is already locked."
)

// serveLock serves /account/lock: restriction of processing (GDPR
// Art. 18, "Sperrung"). With the password, action "lock" and a
// confirmation lock the account (accounts.Service.Lock: no logins, no
// deliveries, data kept, sessions closed); action "unlock" with the
// password lifts it. Every other page refuses a locked account
// (checkPost), so that the lock cannot be worked around on the web.
func (p *Pages) serveLock(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "lock") {
		return
	}
	req := p.checkPost(w, r, "lock", func(f form) string {
		switch f["action"] {
		case "lock":
			if f["confirm"] != "yes" {
				return msgConfirmLock
			}
		case "unlock":
		default:
			return msgLockAction
		}
		return ""
	})
	if req == nil {
		return
	}
	ctx := r.Context()
	var err error
	done := msgLockDone
	if req.form["action"] == "lock" {
		if req.locked {
			done = msgLockedAlready
		} else {
			err = p.acc.Lock(ctx, req.user)
		}
	} else {
		done = msgUnlockDone
		if !req.locked {
			done = msgNotLocked
		} else {
			// checkPost verified the password; Unlock checks it again,
			// since the service is where the rule lives.
			addr, _ := netip.ParseAddrPort(r.RemoteAddr)
			err = p.acc.Unlock(ctx, req.user, req.form["password"], addr.Addr())
		}
	}
	switch {
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, accounts.ErrAuth):
		p.fail(w, r, req, http.StatusForbidden, msgAuth)
		return
	case errors.Is(err, accounts.ErrThrottled):
		var te *accounts.ThrottledError
		errors.As(err, &te)
		wait := time.Second
		if te != nil {
			wait = te.Wait
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
		p.fail(w, r, req, http.StatusTooManyRequests, msgThrottled, waitText(req.data.Lang, wait))
		return
	case err != nil:
		p.d.Log.Error().Err(err).Msg("account lock failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	req.data.Done = tr(req.data.Lang, done)
	p.render(w, r, http.StatusOK, req.data)
}
