package account_test

import (
	"context"
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
	e := newEnv(t, func(_ *account.Config, d *account.Deps, _ *accounts.Deps) { d.Fast = nil })
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
