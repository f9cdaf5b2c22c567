package account_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/web/account"
)

// invites reads the store's invites at the test clock, as main's
// adapter does; db and now are set once the environment exists.
type invites struct {
	db  *store.DB
	now func() time.Time
}

func (v *invites) InviteValid(ctx context.Context, token string) (bool, error) {
	inv, err := v.db.Invite(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && v.now().Before(inv.Expires) && inv.Uses > 0, err
}

// usesLeft returns the uses left of the invite token (0: gone).
func usesLeft(t *testing.T, db *store.DB, token string) int {
	t.Helper()
	inv, err := db.Invite(context.Background(), token)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return inv.Uses
}

func TestInvitePage(t *testing.T) {
	const tok = "AbCdEfGhIjKlMnOpQr_-12"
	inv := &invites{}
	e := newEnv(t, func(c *account.Config, d *account.Deps, _ *accounts.Deps) { d.Invites = inv; c.FailBurst = 20 })
	inv.db, inv.now = e.db, e.clock.now
	now := e.clock.now()
	if err := e.db.CreateInvite(context.Background(), store.Invite{Token: tok, Created: now, Expires: now.Add(time.Hour), Uses: 2}); err != nil {
		t.Fatal(err)
	}
	user(t, e.db, "taken")

	get := func(path string) (int, string) {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("/invite/" + tok)
	if status != http.StatusOK || !strings.Contains(body, `href="xmpp:example.test?register;preauth=`+tok+`"`) ||
		!strings.Contains(body, `src="data:image/png;base64,`) {
		t.Fatalf("GET invite: %d\n%s", status, body)
	}
	for _, bad := range []string{"short", "NoSuchInviteToken1234", strings.Repeat("x", 200), "bad%21chars%21in%21token%21"} {
		if status, body := get("/invite/" + bad); status != http.StatusNotFound || !strings.Contains(body, "not valid") {
			t.Errorf("GET /invite/%s: %d", bad, status)
		}
	}

	token := func() string {
		_, body := get("/invite/" + tok)
		m := tokenRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no form token in %s", body)
		}
		return m[1]
	}
	post := func(values url.Values, hdr ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/invite/"+tok, strings.NewReader(values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	form := func(name, p1, p2 string) url.Values {
		return url.Values{"token": {token()}, "username": {name}, "new": {p1}, "new2": {p2}}
	}
	// An invite is spent only by a registration that creates the
	// account: failed ones leave its uses as they were.
	tests := []struct {
		name   string
		values url.Values
		hdr    []string
		status int
		want   string
		uses   int // uses left afterwards
	}{
		{"cross-site", form("newbie", "long-password", "long-password"), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "another web site", 2},
		{"no token", url.Values{"username": {"newbie"}, "new": {"long-password"}, "new2": {"long-password"}}, nil, http.StatusBadRequest, "token is missing", 2},
		{"mismatch", form("newbie", "long-password", "long-passwordX"), nil, http.StatusBadRequest, "differ", 2},
		{"reserved", form("postmaster", "long-password", "long-password"), nil, http.StatusBadRequest, "cannot be registered", 2},
		{"taken", form("Taken", "long-password", "long-password"), nil, http.StatusConflict, "is taken", 2},
		// Passes the length check, refused by PRECIS OpaqueString.
		{"password refused", form("newbie", "long-password\x01", "long-password\x01"), nil, http.StatusBadRequest, "characters long", 2},
		{"ok", form("Newbie", "long-password", "long-password"), nil, http.StatusOK, "newbie@example.test", 1},
		{"taken after use", form("newbie", "long-password", "long-password"), nil, http.StatusConflict, "is taken", 1},
		{"second use", form("second", "long-password", "long-password"), nil, http.StatusOK, "has been created", 0},
		{"used up", form("third", "long-password", "long-password"), nil, http.StatusNotFound, "not valid", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.values, tc.hdr...)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d (want %d), want %q in\n%s", status, tc.status, tc.want, body)
			}
			if strings.Contains(body, "long-password") {
				t.Error("answer echoes the password")
			}
			if got := usesLeft(t, e.db, tok); got != tc.uses {
				t.Errorf("invite uses left = %d, want %d", got, tc.uses)
			}
		})
	}
	for _, u := range []string{"newbie", "second"} {
		if err := e.acc.Verify(context.Background(), u, "long-password", netip.Addr{}); err != nil {
			t.Errorf("Verify(%s): %v", u, err)
		}
	}
}

func TestInviteURI(t *testing.T) {
	if got, want := account.InviteURI("example.test", "a+b"), "xmpp:example.test?register;preauth=a%2Bb"; got != want {
		t.Errorf("InviteURI = %q, want %q", got, want)
	}
}

// TestRegisterThrottlePerNetwork checks that the invite page's
// registration limit holds per client network (/24, /48): failed attempts
// from one network block that network, not everyone else.
func TestRegisterThrottlePerNetwork(t *testing.T) {
	const tok = "AbCdEfGhIjKlMnOpQr_-34"
	inv := &invites{}
	e := newEnv(t, func(c *account.Config, d *account.Deps, _ *accounts.Deps) { d.Invites = inv; c.FailBurst = 3 })
	inv.db, inv.now = e.db, e.clock.now
	now := e.clock.now()
	if err := e.db.CreateInvite(context.Background(), store.Invite{Token: tok, Created: now, Expires: now.Add(time.Hour), Uses: 10}); err != nil {
		t.Fatal(err)
	}
	user(t, e.db, "taken")
	h := e.pages.Handler()
	formToken := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/invite/"+tok, nil))
		m := tokenRE.FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("no form token in %s", rec.Body)
		}
		return m[1]
	}
	// register posts the form from remote and returns the status.
	register := func(remote, name string) int {
		v := url.Values{"token": {formToken()}, "username": {name}, "new": {"long-password"}, "new2": {"long-password"}}
		req := httptest.NewRequest(http.MethodPost, "/invite/"+tok, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	tests := []struct {
		name, remote, user string
		want               int
	}{
		// Three failures use up the allowance of 192.0.2.0/24.
		{"fail 1", "192.0.2.10:4000", "taken", http.StatusConflict},
		{"fail 2", "192.0.2.10:4001", "taken", http.StatusConflict},
		{"fail 3", "192.0.2.10:4002", "taken", http.StatusConflict},
		{"same address", "192.0.2.10:4003", "newbie", http.StatusTooManyRequests},
		{"same /24", "192.0.2.77:4000", "newbie", http.StatusTooManyRequests},
		{"other network fails", "198.51.100.5:4000", "taken", http.StatusConflict},
		{"other network", "198.51.100.5:4001", "newbie", http.StatusOK},
		{"v6 fail 1", "[2001:db8:1::1]:4000", "taken", http.StatusConflict},
		{"v6 fail 2", "[2001:db8:1::1]:4001", "taken", http.StatusConflict},
		{"v6 fail 3", "[2001:db8:1:ffff::2]:4000", "taken", http.StatusConflict},
		{"same /48", "[2001:db8:1:abcd::3]:4000", "second", http.StatusTooManyRequests},
		{"other /48", "[2001:db8:2::1]:4000", "second", http.StatusOK},
	}
	for _, tc := range tests {
		if got := register(tc.remote, tc.user); got != tc.want {
			t.Errorf("%s: register(%s, %s) = %d, want %d", tc.name, tc.remote, tc.user, got, tc.want)
		}
	}
}
