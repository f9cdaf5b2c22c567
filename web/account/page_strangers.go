package account

import (
	"context"
	"net/http"

	"chatbx/store"
)

// Prefs are the account settings in the store (*store.DB): the strangers
// page reads and writes store.PrefStrangers.
type Prefs interface {
	UserPref(ctx context.Context, user, key string) (string, error)
	SetUserPref(ctx context.Context, user, key, value string) error
}

var _ Prefs = (*store.DB)(nil)

const (
	msgStrangersAction   = "Please choose one of the settings."
	msgStrangersAccept   = "Messages from people on other servers who are not your contacts are accepted, a few per server at a time."
	msgStrangersServers  = "Messages from people on other servers are accepted only from servers where you have contacts."
	msgStrangersContacts = "Messages from people on other servers are accepted only from your contacts."
)

// serveStrangers serves /account/strangers: who may send the account
// messages from other servers (the same setting as the XMPP ad-hoc
// command urn:chatbx:strangers).
func (p *Pages) serveStrangers(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "strangers") {
		return
	}
	req := p.checkPost(w, r, "strangers", func(f form) string {
		switch f["policy"] {
		case "status", "accept", "servers", "contacts":
			return ""
		}
		return msgStrangersAction
	})
	if req == nil {
		return
	}
	ctx, user := r.Context(), req.user
	var err error
	if v := req.form["policy"]; v != "status" {
		err = p.d.Prefs.SetUserPref(ctx, user, store.PrefStrangers, v)
	}
	cur := ""
	if err == nil {
		cur, err = p.d.Prefs.UserPref(ctx, user, store.PrefStrangers)
	}
	if err != nil {
		p.d.Log.Error().Err(err).Msg("strangers setting failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	switch cur {
	case "servers":
		req.data.Done = tr(req.data.Lang, msgStrangersServers)
	case "contacts":
		req.data.Done = tr(req.data.Lang, msgStrangersContacts)
	default:
		req.data.Done = tr(req.data.Lang, msgStrangersAccept)
	}
	p.render(w, r, http.StatusOK, req.data)
}
