package account_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/web/account"
)

// TestDevicesPage lists a user's FAST tokens (id, since, expires; no
// hash), revokes one by its id and then all; another user's id is not
// found; without the store's FAST API the page is 404.
func TestDevicesPage(t *testing.T) {
	// Neither FAST tokens nor push registrations: 404.
	e := newEnv(t, func(_ *account.Config, d *account.Deps, ad *accounts.Deps) { d.Fast = nil; ad.Store = noPush{ad.Store} })
	user(t, e.db, "alice")
	resp, body := e.post(t, "devices", url.Values{"username": {"alice"}, "password": {"secret-password"}, "action": {"list"}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no login tokens") {
		t.Errorf("without Fast: %d %s", resp.StatusCode, body)
	}

	// With the store as main wires it.
	e = newEnv(t, func(_ *account.Config, d *account.Deps, ad *accounts.Deps) { d.Fast = ad.Store.(*store.DB) })
	user(t, e.db, "alice")
	user(t, e.db, "bob")
	now := e.clock.now()
	for i, dev := range []string{"phone", "laptop"} {
		err := e.db.UpdateFast(context.Background(), "alice", []byte(dev), 0, now.Add(time.Duration(i)*time.Hour), func(r *store.FastRecord, _ bool) (bool, error) {
			r.Next = store.FastSlot{Hash: [32]byte{byte(i + 1)}, Mech: "HT-SHA-256-NONE", Expiry: now.Add(14 * 24 * time.Hour)}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	form := func(action, id string) url.Values {
		return url.Values{"token": {e.token(t, "devices")}, "username": {"alice"}, "password": {"secret-password"},
			"action": {action}, "id": {id}}
	}
	resp, body = e.post(t, "devices", form("list", ""))
	ids := regexp.MustCompile(`name="id" type="radio" value="([0-9a-f]+)"`).FindAllStringSubmatch(body, -1)
	if resp.StatusCode != http.StatusOK || len(ids) != 2 || !strings.Contains(body, "2 device(s)") ||
		!strings.Contains(body, "2026-11-27 12:00 UTC") || !strings.Contains(body, "2026-12-11 12:00 UTC") {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.post(t, "devices", form("revoke", "")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "choose the token") {
		t.Errorf("revoke without id: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post(t, "devices", form("revoke", ids[0][1]))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The token was revoked") || strings.Contains(body, ids[0][1]) || !strings.Contains(body, ids[1][1]) {
		t.Errorf("revoke one: %d %s", resp.StatusCode, body)
	}
	// Bob cannot revoke Alice's token by its id.
	v := form("revoke", ids[1][1])
	v.Set("username", "bob")
	if resp, body := e.post(t, "devices", v); resp.StatusCode != http.StatusOK || !strings.Contains(body, "no longer exists") {
		t.Errorf("bob revoking alice's id: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post(t, "devices", form("revoke-all", ""))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "All tokens were revoked") || !strings.Contains(body, "No device holds") {
		t.Errorf("revoke all: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.post(t, "devices", form("explode", "")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad action: %d %s", resp.StatusCode, body)
	}
}

// noPush hides the store's push registrations from the account service.
type noPush struct{ accounts.Store }

// TestDevicesPagePush lists a user's push registrations (XEP-0357: app
// server and shortened node, never the whole node), revokes one by its
// id and then all, with the form token and the password as every other
// action; another user's id is not found; the page sets no cookies.
func TestDevicesPagePush(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(_ *account.Config, d *account.Deps, ad *accounts.Deps) { d.Fast = ad.Store.(*store.DB) })
	user(t, e.db, "alice")
	user(t, e.db, "bob")
	longNode := "fcm-device-token-0123456789abcdefghijklmnopqrstuvwxyz-END1"
	for _, r := range []store.PushRegistration{
		{JID: "push.example.net", Node: longNode, Options: []byte("<x xmlns='jabber:x:data' type='submit'/>")},
		{JID: "push.example.net", Node: "short-node"},
		{JID: "p2.example.com", Node: "another-device-token-abcdefghijklmnopqrstuvwxyz-END2"},
	} {
		if err := e.db.PutPush(ctx, "alice", r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.PutPush(ctx, "bob", store.PushRegistration{JID: "push.example.net", Node: "bobs-node-abcdefghijklmnop"}, 0); err != nil {
		t.Fatal(err)
	}
	noCookies := func(what string, resp *http.Response) {
		t.Helper()
		if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("%s sets cookies: %q", what, c)
		}
	}
	resp, err := http.Get(e.srv.URL + "/account/devices")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	noCookies("GET", resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "XEP-0357") || !strings.Contains(body, `value="push-revoke-all"`) {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	form := func(action, id string) url.Values {
		return url.Values{"token": {e.token(t, "devices")}, "username": {"alice"}, "password": {"secret-password"},
			"action": {action}, "push": {id}}
	}
	resp, body = e.post(t, "devices", form("list", ""))
	noCookies("POST", resp)
	ids := regexp.MustCompile(`name="push" type="radio" value="([0-9a-f]+)"`).FindAllStringSubmatch(body, -1)
	if resp.StatusCode != http.StatusOK || len(ids) != 3 || !strings.Contains(body, "3 device(s) are registered") ||
		!strings.Contains(body, "push.example.net") || !strings.Contains(body, "p2.example.com") ||
		!strings.Contains(body, "fcm-devi…END1") || !strings.Contains(body, "short-node") {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, longNode) || strings.Contains(body, "bobs-node") || strings.Contains(body, "jabber:x:data") {
		t.Errorf("the list shows a whole node, bob's registration or the options: %s", body)
	}
	// The same rules as every action: a token and the password.
	v := form("push-revoke-all", "")
	v.Del("token")
	if resp, body := e.post(t, "devices", v); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "security token is missing") {
		t.Errorf("without a token: %d %s", resp.StatusCode, body)
	}
	v = form("push-revoke-all", "")
	v.Set("token", e.token(t, "export"))
	if resp, body := e.post(t, "devices", v); resp.StatusCode != http.StatusForbidden {
		t.Errorf("with another page's token: %d %s", resp.StatusCode, body)
	}
	v = form("push-revoke-all", "")
	v.Set("password", "wrong-password")
	if resp, body := e.post(t, "devices", v); resp.StatusCode != http.StatusForbidden {
		t.Errorf("with a wrong password: %d %s", resp.StatusCode, body)
	}
	if regs, _ := e.db.PushRegistrations(ctx, "alice"); len(regs) != 3 {
		t.Fatalf("refused actions revoked: %d left", len(regs))
	}
	if resp, body := e.post(t, "devices", form("push-revoke", "")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "choose the push registration") {
		t.Errorf("revoke without id: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post(t, "devices", form("push-revoke", ids[0][1]))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The push registration was revoked") || strings.Contains(body, ids[0][1]) || !strings.Contains(body, "2 device(s) are registered") {
		t.Errorf("revoke one: %d %s", resp.StatusCode, body)
	}
	// Bob cannot revoke Alice's registration by its id.
	v = form("push-revoke", ids[1][1])
	v.Set("username", "bob")
	if resp, body := e.post(t, "devices", v); resp.StatusCode != http.StatusOK || !strings.Contains(body, "no longer exists") {
		t.Errorf("bob revoking alice's id: %d %s", resp.StatusCode, body)
	}
	if regs, _ := e.db.PushRegistrations(ctx, "alice"); len(regs) != 2 {
		t.Errorf("alice has %d registrations after one revoke, want 2", len(regs))
	}
	resp, body = e.post(t, "devices", form("push-revoke-all", ""), "Accept-Language", "de")
	noCookies("POST revoke-all", resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Alle Push-Registrierungen wurden widerrufen") || !strings.Contains(body, "Kein Gerät ist für Push-Benachrichtigungen angemeldet") {
		t.Errorf("revoke all: %d %s", resp.StatusCode, body)
	}
	if regs, _ := e.db.PushRegistrations(ctx, "alice"); len(regs) != 0 {
		t.Errorf("alice has %d registrations after revoke all", len(regs))
	}
	if regs, _ := e.db.PushRegistrations(ctx, "bob"); len(regs) != 1 {
		t.Errorf("bob's registration was touched: %d", len(regs))
	}
}
