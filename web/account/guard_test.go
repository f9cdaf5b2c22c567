package account_test

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/internal/guard"
	"chatbx/web/account"
)

// TestSharedGuard: failures counted elsewhere (XMPP login, through the
// shared guard) make the account pages answer 429 before the password is
// checked, for known and unknown names alike; after the back-off the
// owner's right password works. Fails on main before this change (no
// shared guard: the right password was evaluated and accepted).
func TestSharedGuard(t *testing.T) {
	var e *env
	g := guard.New(guard.Config{NetworkFree: 2, Backoff: time.Minute, MaxBackoff: time.Minute},
		func() time.Time { return e.clock.now() })
	e = newEnv(t, func(_ *account.Config, _ *account.Deps, d *accounts.Deps) { d.Guard = g })
	user(t, e.db, "alice")
	loopback := netip.MustParseAddr("127.0.0.1")
	post := func(name string) (int, string) {
		resp, _ := e.post(t, "delete", url.Values{"token": {e.token(t, "delete")}, "username": {name},
			"password": {"secret-password"}, "confirm": {"yes"}})
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	var answers [2][2]any
	for i, name := range []string{"alice", "nobody"} {
		for range 2 { // wrong passwords over XMPP from the same network
			done, _, ok := g.Begin(name, loopback)
			if !ok {
				t.Fatal("free failure refused")
			}
			done(false)
		}
		status, retry := post(name)
		answers[i] = [2]any{status, retry}
	}
	if answers[0][0] != http.StatusTooManyRequests {
		t.Fatalf("right password during the back-off: status %v, want 429", answers[0][0])
	}
	if answers[0] != answers[1] {
		t.Errorf("known user %v, unknown user %v: must be equal", answers[0], answers[1])
	}
	if ok, _ := e.db.UserExists(context.Background(), "alice"); !ok {
		t.Fatal("account deleted during the back-off")
	}
	e.clock.add(time.Minute)
	if status, _ := post("alice"); status != http.StatusOK {
		t.Fatalf("right password after the back-off: status %d", status)
	}
	if ok, _ := e.db.UserExists(context.Background(), "alice"); ok {
		t.Fatal("account not deleted after the back-off")
	}
}
