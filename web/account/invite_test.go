package account_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"chatbx/web/account"
)

// invites is an in-memory Invites: token → uses left.
type invites struct {
	mu   sync.Mutex
	uses map[string]int
}

func (v *invites) InviteValid(_ context.Context, token string) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.uses[token] > 0, nil
}

func (v *invites) UseInvite(_ context.Context, token string) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.uses[token] <= 0 {
		return false, nil
	}
	v.uses[token]--
	return true, nil
}

func TestInvitePage(t *testing.T) {
	const tok = "AbCdEfGhIjKlMnOpQr_-12"
	inv := &invites{uses: map[string]int{tok: 2}}
	e := newEnv(t, func(c *account.Config, d *account.Deps) { d.Invites = inv; c.FailBurst = 20 })
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
	tests := []struct {
		name   string
		values url.Values
		hdr    []string
		status int
		want   string
	}{
		{"cross-site", form("newbie", "long-password", "long-password"), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "another web site"},
		{"no token", url.Values{"username": {"newbie"}, "new": {"long-password"}, "new2": {"long-password"}}, nil, http.StatusBadRequest, "token is missing"},
		{"mismatch", form("newbie", "long-password", "long-passwordX"), nil, http.StatusBadRequest, "differ"},
		{"reserved", form("postmaster", "long-password", "long-password"), nil, http.StatusBadRequest, "cannot be registered"},
		{"taken", form("Taken", "long-password", "long-password"), nil, http.StatusConflict, "is taken"},
		{"ok", form("Newbie", "long-password", "long-password"), nil, http.StatusOK, "newbie@example.test"},
		{"second use", form("second", "long-password", "long-password"), nil, http.StatusOK, "has been created"},
		{"used up", form("third", "long-password", "long-password"), nil, http.StatusNotFound, "not valid"},
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
		})
	}
	m := e.pages.Manager()
	for _, u := range []string{"newbie", "second"} {
		if err := m.Verify(context.Background(), u, "long-password"); err != nil {
			t.Errorf("Verify(%s): %v", u, err)
		}
	}
}

func TestInviteURI(t *testing.T) {
	if got, want := account.InviteURI("example.test", "a+b"), "xmpp:example.test?register;preauth=a%2Bb"; got != want {
		t.Errorf("InviteURI = %q, want %q", got, want)
	}
}
