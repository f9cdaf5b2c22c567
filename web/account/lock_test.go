package account_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chatbx/internal/accounts"
)

// TestLockPage locks an account on the lock page, shows that every other
// page then refuses it (even with the right password) while nothing is
// deleted, and unlocks it with the password.
func TestLockPage(t *testing.T) {
	e := newEnv(t, nil)
	var locked []string
	e.acc.AddHooks(accounts.Hooks{Locked: func(_ context.Context, user string) { locked = append(locked, user) }})
	user(t, e.db, "alice")
	ctx := t.Context()
	form := func(page string, kv ...string) url.Values {
		v := url.Values{"token": {e.token(t, page)}, "username": {"alice"}, "password": {"secret-password"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	sameOrigin := []string{"Sec-Fetch-Site", "same-origin"}
	cases := []struct {
		name   string
		page   string
		values url.Values
		status int
		want   string
	}{
		{"no action", "lock", form("lock"), http.StatusBadRequest, "choose to lock or to unlock"},
		{"no confirmation", "lock", form("lock", "action", "lock"), http.StatusBadRequest, "tick the box"},
		{"wrong password", "lock", form("lock", "action", "lock", "confirm", "yes", "password", "wrong-password"), http.StatusForbidden, "Wrong username or password"},
		{"unlock when not locked", "lock", form("lock", "action", "unlock"), http.StatusOK, "is not locked"},
		{"lock", "lock", form("lock", "action", "lock", "confirm", "yes"), http.StatusOK, "Your account is locked"},
		{"lock again", "lock", form("lock", "action", "lock", "confirm", "yes"), http.StatusOK, "already locked"},
		{"export refused", "export", form("export"), http.StatusForbidden, "This account is locked"},
		{"password refused", "password", form("password", "new", "another-password", "new2", "another-password"), http.StatusForbidden, "This account is locked"},
		{"delete refused", "delete", form("delete", "confirm", "yes"), http.StatusForbidden, "This account is locked"},
		{"unlock with a wrong password", "lock", form("lock", "action", "unlock", "password", "wrong-password"), http.StatusForbidden, "Wrong username or password"},
	}
	for _, tc := range cases {
		resp, body := e.post(t, tc.page, tc.values, sameOrigin...)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Fatalf("%s: POST /account/%s = %d, want %d with %q in\n%s", tc.name, tc.page, resp.StatusCode, tc.status, tc.want, body)
		}
	}
	if !e.acc.IsLocked("alice") {
		t.Fatal("IsLocked(alice) = false after the lock")
	}
	if len(locked) != 1 || locked[0] != "alice" {
		t.Errorf("Locked hooks ran for %v, want [alice] once", locked)
	}
	if _, err := e.db.Credentials(ctx, "alice"); err != nil {
		t.Errorf("Credentials(alice) after refused delete: %v, want kept", err)
	}
	resp, body := e.post(t, "lock", form("lock", "action", "unlock"), sameOrigin...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your account is unlocked") {
		t.Fatalf("unlock: %d\n%s", resp.StatusCode, body)
	}
	if e.acc.IsLocked("alice") {
		t.Fatal("IsLocked(alice) = true after the unlock")
	}
	resp, body = e.post(t, "password", form("password", "new", "another-password", "new2", "another-password"), sameOrigin...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password change after unlock: %d\n%s", resp.StatusCode, body)
	}
}

// TestLockPageGerman checks that the lock page is translated.
func TestLockPageGerman(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/account/lock?lang=de")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "Konto sperren") || !strings.Contains(string(b), "Art. 18 DSGVO") {
		t.Errorf("GET /account/lock?lang=de: no German text in\n%s", b)
	}
}
