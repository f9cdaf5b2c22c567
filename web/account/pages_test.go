package account_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web/account"
)

func TestFormChecks(t *testing.T) {
	e := newEnv(t, nil)
	user(t, e.db, "alice")
	good := func() url.Values {
		return url.Values{"token": {e.token(t, "export")}, "username": {"alice"}, "password": {"secret-password"}}
	}
	expired := good()
	e.clock.add(2 * time.Hour)
	tests := []struct {
		name   string
		values url.Values
		hdr    []string
		status int
		want   string
	}{
		{"ok", good(), nil, http.StatusOK, ""},
		{"missing token", url.Values{"username": {"alice"}, "password": {"secret-password"}}, nil, http.StatusBadRequest, "token is missing"},
		{"expired token", expired, nil, http.StatusBadRequest, "has expired"},
		{"forged token", func() url.Values {
			v := good()
			tok := []byte(v.Get("token"))
			tok[len(tok)-3] ^= 1
			v.Set("token", string(tok))
			return v
		}(), nil, http.StatusForbidden, "not valid"},
		{"garbage token", func() url.Values { v := good(); v.Set("token", "x!y"); return v }(), nil, http.StatusForbidden, "not valid"},
		{"other form's token", func() url.Values { v := good(); v.Set("token", e.token(t, "delete")); return v }(), nil, http.StatusForbidden, "not valid"},
		{"cross-site", good(), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "another web site"},
		{"same-site", good(), []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden, "another web site"},
		{"foreign origin", good(), []string{"Origin", "https://evil.test"}, http.StatusForbidden, "another web site"},
		{"origin null", good(), []string{"Origin", "null", "Sec-Fetch-Site", "same-origin"}, http.StatusOK, ""},
		{"same origin", good(), []string{"Origin", e.srv.URL}, http.StatusOK, ""},
		{"wrong password", func() url.Values { v := good(); v.Set("password", "wrong-password-x"); return v }(), nil, http.StatusForbidden, "Wrong username or password"},
		{"unknown user", func() url.Values { v := good(); v.Set("username", "nobody"); return v }(), nil, http.StatusForbidden, "Wrong username or password"},
		{"bad username", func() url.Values { v := good(); v.Set("username", "a@other.test"); return v }(), nil, http.StatusForbidden, "Wrong username or password"},
		{"full jid", func() url.Values { v := good(); v.Set("username", "Alice@Example.test"); return v }(), nil, http.StatusOK, ""},
		{"repeated field", func() url.Values { v := good(); v.Add("password", "x"); return v }(), nil, http.StatusBadRequest, "could not be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.post(t, "export", tc.values, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("POST export: status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("POST export: body lacks %q: %s", tc.want, body)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			for _, pw := range tc.values["password"] {
				if len(pw) >= 8 && resp.StatusCode != http.StatusOK && strings.Contains(body, pw) {
					t.Errorf("answer echoes the password %q", pw)
				}
			}
		})
	}
}

// TestSameAnswer checks that an unknown user and a wrong password get
// the same page apart from the token and the username.
func TestSameAnswer(t *testing.T) {
	e := newEnv(t, nil)
	user(t, e.db, "alice")
	get := func(name, pw string) (int, string) {
		resp, body := e.post(t, "delete", url.Values{"token": {e.token(t, "delete")}, "username": {name},
			"password": {pw}, "confirm": {"yes"}})
		body = tokenRE.ReplaceAllString(body, "")
		return resp.StatusCode, strings.ReplaceAll(body, name, "NAME")
	}
	s1, b1 := get("alice", "wrong-password")
	s2, b2 := get("nobody", "wrong-password")
	if s1 != s2 || b1 != b2 {
		t.Errorf("wrong password: %d %s\nunknown user: %d %s", s1, b1, s2, b2)
	}
}

func TestThrottle(t *testing.T) {
	e := newEnv(t, func(c *account.Config, _ *account.Deps, _ *accounts.Deps) { c.FailBurst = 3; c.FailEvery = time.Minute })
	user(t, e.db, "alice")
	try := func(pw string) (*http.Response, string) {
		return e.post(t, "export", url.Values{"token": {e.token(t, "export")}, "username": {"alice"}, "password": {pw}})
	}
	for i := range 3 {
		if resp, _ := try("wrong-password"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("failure %d: status %d, want 403", i, resp.StatusCode)
		}
	}
	resp, body := try("secret-password")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed attempts") {
		t.Fatalf("after 3 failures, right password: status %d, want 429; %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another account from the same address is throttled too (per IP).
	user(t, e.db, "bob")
	resp, _ = e.post(t, "export", url.Values{"token": {e.token(t, "export")}, "username": {"bob"}, "password": {"secret-password"}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("other account, same address: status %d, want 429", resp.StatusCode)
	}
	e.clock.add(time.Minute)
	if resp, body := try("secret-password"); resp.StatusCode != http.StatusOK {
		t.Errorf("after a minute: status %d, want 200; %s", resp.StatusCode, body)
	}
}

func TestNoStoreEverywhere(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"", "delete", "export", "password", "archive", "nope"} {
		resp, err := http.Get(e.srv.URL + "/account/" + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET /account/%s: Cache-Control %q, want no-store", p, cc)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET /account/%s: CSP %q", p, csp)
		}
		if len(resp.Cookies()) > 0 {
			t.Errorf("GET /account/%s sets cookies", p)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/account/delete", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT delete: status %d, want 405", resp.StatusCode)
	}
}

// fill stores one of each kind of user data for name, with markers.
func fill(t *testing.T, db *store.DB, name string) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := db.PutRosterItem(ctx, name, store.RosterItem{JID: "bob@" + domain, Name: "roster-marker", Groups: []string{"Friends"}, Sub: store.SubBoth})
	must(err)
	_, err = db.PutRosterItem(ctx, name, store.RosterItem{JID: "carol@remote.test", Sub: store.SubTo, AskOut: true})
	must(err)
	_, err = db.PushOffline(ctx, name, time.Now(), []byte(`<message xmlns='jabber:client' from='bob@example.test/x' to='`+name+`@example.test'><body>offline-marker</body></message>`), 100)
	must(err)
	must(db.SetVCard(ctx, name, []byte(`<vCard xmlns='vcard-temp'><FN>vcard-marker</FN></vCard>`)))
	must(db.SetPrivate(ctx, name, "storage storage:bookmarks", []byte(`<storage xmlns='storage:bookmarks'><conference jid='private-marker@conf.test'/></storage>`)))
	must(db.Block(ctx, name, []string{"spam@blocked.test"}))
	must(db.PutUpload(ctx, name, store.Upload{ID: "upload-id-1", Size: 3, Created: time.Now()}, store.UploadLimits{}))
}

func TestDelete(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	user(t, e.db, "zebulon")
	user(t, e.db, "bob")
	user(t, e.db, "dave")
	fill(t, e.db, "zebulon")
	if _, err := e.db.PutRosterItem(ctx, "bob", store.RosterItem{JID: "zebulon@" + domain, Name: "bob-names-him", Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	// dave has a pending request from zebulon only.
	if _, err := e.db.PutRosterItem(ctx, "dave", store.RosterItem{JID: "zebulon@" + domain, PendingIn: true}); err != nil {
		t.Fatal(err)
	}

	t.Run("needs confirmation", func(t *testing.T) {
		resp, body := e.post(t, "delete", url.Values{"token": {e.token(t, "delete")}, "username": {"zebulon"}, "password": {"secret-password"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "tick the box") {
			t.Fatalf("without confirm: status %d; %s", resp.StatusCode, body)
		}
		if ok, _ := e.db.UserExists(ctx, "zebulon"); !ok {
			t.Fatal("deleted without confirmation")
		}
	})

	resp, body := e.post(t, "delete", url.Values{"token": {e.token(t, "delete")}, "username": {"Zebulon"},
		"password": {"secret-password"}, "confirm": {"yes"}}, "Origin", "null", "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: status %d; %s", resp.StatusCode, body)
	}
	for _, want := range []string{`id="result"`, "zebulon@example.test has been deleted", "2 contact(s)", "1 waiting message(s)",
		"the profile (vCard)", "1 private storage item(s)", "1 blocked address(es)", "1 uploaded file(s)", "removed from 2 other local", "its contacts were told", "Its lines were removed from the connection logs."} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q:\n%s", want, body)
		}
	}
	if ok, _ := e.db.UserExists(ctx, "zebulon"); ok {
		t.Error("account still exists")
	}
	for _, u := range []string{"bob", "dave"} {
		if _, err := e.db.RosterItem(ctx, u, "zebulon@"+domain); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s's roster item for the deleted account: err %v, want ErrNotFound", u, err)
		}
	}
	if got := e.kicks.list(); len(got) != 1 || got[0] != "zebulon not-authorized" {
		t.Errorf("kicks = %q, want [zebulon not-authorized]", got)
	}
	if len(e.contacts.users) != 1 || e.contacts.items != 2 {
		t.Errorf("contacts hook: users %q, items %d; want [zebulon], 2", e.contacts.users, e.contacts.items)
	}
	if len(e.rewrites) != 1 || e.rewrites[0] != "zebulon" {
		t.Errorf("log rewrites = %q", e.rewrites)
	}
	if e.uploads.unlinked != 1 {
		t.Errorf("UnlinkDeleted called %d times, want 1", e.uploads.unlinked)
	}
	// The store scrubs after the deletion: no marker is left in the file.
	if hits := storetest.ScanDir(t, e.dir, "zebulon", "roster-marker", "offline-marker", "vcard-marker", "private-marker", "bob-names-him", "blocked.test"); len(hits) > 0 {
		t.Errorf("deleted data readable in the data directory: %q", hits)
	}

	// A second deletion is a wrong-credentials answer.
	resp, body = e.post(t, "delete", url.Values{"token": {e.token(t, "delete")}, "username": {"zebulon"},
		"password": {"secret-password"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Wrong username or password") {
		t.Errorf("second delete: status %d; %s", resp.StatusCode, body)
	}
}

func TestPassword(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	user(t, e.db, "alice")
	form := func(old, n1, n2 string) url.Values {
		return url.Values{"token": {e.token(t, "password")}, "username": {"alice"}, "password": {old}, "new": {n1}, "new2": {n2}}
	}
	tests := []struct {
		name   string
		values url.Values
		status int
		want   string
	}{
		{"mismatch", form("secret-password", "new-password-1", "new-password-2"), http.StatusBadRequest, "differ"},
		{"too short", form("secret-password", "short", "short"), http.StatusBadRequest, "must be 8 to 1024"},
		{"wrong old", form("wrong-password", "new-password-1", "new-password-1"), http.StatusForbidden, "Wrong username or password"},
		{"ok", form("secret-password", "new-password-1", "new-password-1"), http.StatusOK, "has been changed"},
		{"old no longer works", form("secret-password", "new-password-2", "new-password-2"), http.StatusForbidden, "Wrong username or password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.post(t, "password", tc.values)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d (want %d), want %q in %s", resp.StatusCode, tc.status, tc.want, body)
			}
			for _, f := range []string{"password", "new", "new2"} {
				if strings.Contains(body, "value=\""+tc.values.Get(f)+"\"") {
					t.Errorf("answer echoes field %s", f)
				}
			}
		})
	}
	c, err := e.db.Credentials(ctx, "alice")
	if err != nil || !c.VerifyPlain("new-password-1") {
		t.Errorf("new password does not verify (err %v)", err)
	}
	if got := e.kicks.list(); len(got) != 1 || got[0] != "alice reset" {
		t.Errorf("kicks = %q, want [alice reset]", got)
	}
}

func TestArchivePage(t *testing.T) {
	e := newEnv(t, nil)
	user(t, e.db, "alice")
	e.archive.msg["alice"] = 7
	form := func(action, confirm string) url.Values {
		return url.Values{"token": {e.token(t, "archive")}, "username": {"alice"}, "password": {"secret-password"},
			"action": {action}, "confirm": {confirm}}
	}
	tests := []struct {
		name   string
		values url.Values
		status int
		want   string
	}{
		{"status", form("status", ""), http.StatusOK, "archive is off"},
		{"on", form("on", ""), http.StatusOK, "archive is on"},
		{"purge unconfirmed", form("purge", ""), http.StatusBadRequest, "tick the box"},
		{"purge", form("purge", "yes"), http.StatusOK, "Deleted 7 archived message(s). Your message archive is on."},
		{"off", form("off", ""), http.StatusOK, "archive is off"},
		{"bad action", form("explode", ""), http.StatusBadRequest, "choose one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.post(t, "archive", tc.values)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d (want %d), want %q in %s", resp.StatusCode, tc.status, tc.want, body)
			}
		})
	}

	none := newEnv(t, func(_ *account.Config, d *account.Deps, _ *accounts.Deps) { d.Archive = nil })
	user(t, none.db, "alice")
	resp, body := none.post(t, "archive", url.Values{"username": {"alice"}, "password": {"secret-password"}, "action": {"on"}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no message archive") {
		t.Errorf("without archive: status %d; %s", resp.StatusCode, body)
	}
}

func TestNewNeedsDeps(t *testing.T) {
	if _, err := account.New(account.DefaultConfig(), account.Deps{}); err == nil {
		t.Error("New without Accounts and Settings succeeded")
	}
}

func TestRootPath(t *testing.T) {
	e := newEnv(t, func(c *account.Config, _ *account.Deps, _ *accounts.Deps) { c.Path = "/" })
	resp, err := http.Get(e.srv.URL + "/delete")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `action="/delete?lang=en"`) {
		t.Errorf("GET /delete at root: %d\n%s", resp.StatusCode, b)
	}
}

func TestGerman(t *testing.T) {
	e := newEnv(t, nil)
	user(t, e.db, "alice")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/account/delete", nil)
	req.Header.Set("Accept-Language", "fr, de-CH;q=0.8, en;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Language") != "de" || !strings.Contains(string(b), "Konto löschen") ||
		!strings.Contains(string(b), `action="/account/delete?lang=de"`) {
		t.Fatalf("Accept-Language de: %s\n%s", resp.Header.Get("Content-Language"), b)
	}
	// The form's ?lang keeps the answer German, whatever the header says.
	v := url.Values{"token": {e.token(t, "delete")}, "username": {"alice"}, "password": {"wrong-password"}, "confirm": {"yes"}}
	r2, body := e.post(t, "delete?lang=de", v)
	if r2.StatusCode != http.StatusForbidden || !strings.Contains(body, "Benutzername oder Passwort falsch.") || !strings.Contains(body, `lang="de"`) {
		t.Errorf("German wrong password: %d\n%s", r2.StatusCode, body)
	}
	// Throttle message with a localised wait.
	for range 5 {
		e.post(t, "delete?lang=de", url.Values{"token": {e.token(t, "delete")}, "username": {"alice"}, "password": {"wrong-password"}, "confirm": {"yes"}})
	}
	r3, body := e.post(t, "delete?lang=de", url.Values{"token": {e.token(t, "delete")}, "username": {"alice"}, "password": {"wrong-password"}, "confirm": {"yes"}})
	if r3.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Zu viele Fehlversuche. Bitte wartet") || !strings.Contains(body, "Sekunden") {
		t.Errorf("German throttle: %d\n%s", r3.StatusCode, body)
	}
}

// TestStrangersPage: the stranger policy for messages from other servers
// is shown and set in the store; a bad choice is refused.
func TestStrangersPage(t *testing.T) {
	e := newEnv(t, nil)
	user(t, e.db, "alice")
	form := func(policy string) url.Values {
		return url.Values{"token": {e.token(t, "strangers")}, "username": {"alice"}, "password": {"secret-password"},
			"policy": {policy}}
	}
	for _, tc := range []struct {
		policy string
		status int
		want   string
	}{
		{"status", http.StatusOK, "are accepted, a few per server"},
		{"contacts", http.StatusOK, "only from your contacts"},
		{"status", http.StatusOK, "only from your contacts"},
		{"servers", http.StatusOK, "servers where you have contacts"},
		{"everyone", http.StatusBadRequest, "choose one of the settings"},
	} {
		resp, body := e.post(t, "strangers", form(tc.policy))
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Fatalf("%s: status %d (want %d), want %q in %s", tc.policy, resp.StatusCode, tc.status, tc.want, body)
		}
	}
	if v, _ := e.db.UserPref(context.Background(), "alice", store.PrefStrangers); v != "servers" {
		t.Errorf("stored policy = %q", v)
	}
}
