package main

// End-to-end test of restriction of processing (GDPR Art. 18, issue 14):
// the operator locks an account through the admin socket, its session
// is closed, it cannot log in over XMPP or use the account pages,
// messages and subscription requests to it bounce and nothing is stored
// for it; its user unlocks it on the web page with the password and
// everything works again.

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

var e2eTokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// postAccount submits an account page form with a fresh token and returns
// the status and body.
func (e *e2eApp) postAccount(page string, values url.Values) (int, string) {
	e.t.Helper()
	status, body := e.get(e.site("/account/" + page))
	m := e2eTokenRE.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		e.t.Fatalf("GET /account/%s: %d, no token", page, status)
	}
	values.Set("token", m[1])
	req, err := http.NewRequest(http.MethodPost, e.site("/account/"+page), strings.NewReader(values.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := e.web.Do(req)
	if err != nil {
		e.t.Fatalf("POST /account/%s: %v", page, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestE2ELock(t *testing.T) {
	const (
		user   = "lockuser7a"
		userPW = "lockuser-pw-3c1f"
		peer   = "lockpeer9b"
		peerPW = "lockpeer-pw-0d2e"
	)
	e := newE2E(t, nil)
	e.addUser(user, userPW)
	e.addUser(peer, peerPW)
	userJID := user + "@" + e2eDomain

	u := e.login(user, userPW)
	p := e.login(peer, peerPW)
	p.SendRaw(`<presence/>`)
	u.SendRaw(`<presence/>`)
	ping(u)
	ping(p)

	out := e.cli("", "user", "lock", user)
	if !strings.Contains(out, "locked") {
		t.Errorf("user lock printed %q", out)
	}
	// The session is closed with a stream error.
	u.Expect("stream error after the lock", func(el *wire.Element) bool {
		return el.Space == nsStream && el.Local == "error"
	})

	// XMPP: the right password gets <account-disabled/>, a wrong one the
	// usual not-authorized (the lock is told only to who knows the password).
	var ae *xmpptest.AuthError
	if err := e.dial(user, userPW); !errors.As(err, &ae) || ae.Condition != "account-disabled" {
		t.Errorf("login of the locked account: %v, want account-disabled", err)
	}
	if err := e.dial(user, userPW+"x"); !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Errorf("wrong password for the locked account: %v, want not-authorized", err)
	}

	// Messages bounce and nothing is stored offline.
	p.SendRaw(`<message type='chat' id='m1' to='` + userJID + `'><body>to a locked account</body></message>`)
	p.Expect("bounce of the message", func(el *wire.Element) bool {
		return el.Local == "message" && el.Get("type") == "error" && el.Get("id") == "m1" &&
			el.Child(wire.NSClient, "error") != nil &&
			el.Child(wire.NSClient, "error").Child(wire.NSStanzas, "service-unavailable") != nil
	})
	if n, err := e.a.db.OfflineCount(t.Context(), user); err != nil || n != 0 {
		t.Errorf("offline messages for the locked account = %d, %v; want 0", n, err)
	}
	// A subscription request is refused.
	p.SendRaw(`<presence type='subscribe' to='` + userJID + `'/>`)
	p.Expect("refusal of the subscription request", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("type") == "unsubscribed" && el.Get("from") == userJID
	})

	// Nothing is served on its behalf (its vCard, say).
	res := p.IQ(`<iq type='get' id='vc1' to='` + userJID + `'><vCard xmlns='vcard-temp'/></iq>`)
	if res.Get("type") != "error" || res.Child(wire.NSClient, "error") == nil ||
		res.Child(wire.NSClient, "error").Child(wire.NSStanzas, "service-unavailable") == nil {
		t.Errorf("vCard of the locked account: %s, want service-unavailable", xmpptest.String(res))
	}

	// Web: every page but the lock page refuses the account.
	status, body := e.postAccount("export", url.Values{"username": {user}, "password": {userPW}})
	if status != http.StatusForbidden || !strings.Contains(body, "This account is locked") {
		t.Errorf("export of the locked account: %d, want 403 with the lock message", status)
	}
	status, body = e.postAccount("lock", url.Values{"username": {user}, "password": {userPW}, "action": {"unlock"}})
	if status != http.StatusOK || !strings.Contains(body, "Your account is unlocked") {
		t.Fatalf("unlock on the web page: %d\n%s", status, body)
	}

	// Everything works again.
	u = e.login(user, userPW)
	u.SendRaw(`<presence/>`)
	ping(u)
	p.SendRaw(`<message type='chat' id='m2' to='` + userJID + `'><body>after the unlock</body></message>`)
	u.Expect("message after the unlock", func(el *wire.Element) bool {
		return el.Local == "message" && el.Get("id") == "m2" && el.Get("type") == "chat"
	})

	// The web page locks it again and closes the session.
	status, body = e.postAccount("lock", url.Values{"username": {user}, "password": {userPW}, "action": {"lock"}, "confirm": {"yes"}})
	if status != http.StatusOK || !strings.Contains(body, "Your account is locked") {
		t.Fatalf("lock on the web page: %d\n%s", status, body)
	}
	u.Expect("stream error after the web lock", func(el *wire.Element) bool {
		return el.Space == nsStream && el.Local == "error"
	})
	// The lock survives a restart; the operator lifts it.
	e.restart()
	if err := e.dial(user, userPW); !errors.As(err, &ae) || ae.Condition != "account-disabled" {
		t.Errorf("login after restart: %v, want account-disabled", err)
	}
	e.cli("", "user", "unlock", user)
	if err := e.dial(user, userPW); err != nil {
		t.Errorf("login after user unlock: %v", err)
	}
}
