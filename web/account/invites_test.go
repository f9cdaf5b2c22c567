package account_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web/account"
)

// dbInvites is the invite page's view of the store, as main's adapter.
type dbInvites struct {
	db  *store.DB
	now func() time.Time
}

func (d dbInvites) InviteValid(ctx context.Context, token string) (bool, error) {
	inv, err := d.db.Invite(ctx, token)
	if err != nil {
		return false, nil
	}
	return d.now().Before(inv.Expires) && inv.Uses > 0, nil
}

var revokeRE = regexp.MustCompile(`name="revoke" value="([0-9a-f]{16})"`)

var inviteLinkRE = regexp.MustCompile(`id="invite-link" href="[^"]*/invite/([A-Za-z0-9_-]+)"`)

// TestUserInvites: with accounts.user_invites = 2 a user makes two
// invites a week, the third is refused (429) until the week has passed;
// each link opens the ordinary invite page and admits one account; the
// invites are in the user's export and go with the account.
func TestUserInvites(t *testing.T) {
	db := storetest.Open(t)
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	cfg := accounts.DefaultConfig(domain)
	cfg.UserInvites = 2
	acc, err := accounts.New(cfg, accounts.Deps{Store: db, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := account.New(account.DefaultConfig(), account.Deps{Accounts: acc, Settings: db, Invites: dbInvites{db, clk.now}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pages.Handler())
	t.Cleanup(srv.Close)
	e := &env{db: db, srv: srv}
	user(t, db, "alice")
	ctx := t.Context()

	invite := func() (int, string) {
		t.Helper()
		resp, body := e.post(t, "invites", url.Values{"token": {e.token(t, "invites")}, "username": {"alice"}, "password": {"secret-password"}},
			"Sec-Fetch-Site", "same-origin")
		return resp.StatusCode, body
	}
	var tokens []string
	for i := range 2 {
		status, body := invite()
		m := inviteLinkRE.FindStringSubmatch(body)
		if status != http.StatusOK || m == nil || !strings.Contains(body, `id="qr" src="data:image/png;base64,`) {
			t.Fatalf("invite %d: status %d, want 200 with a link and a QR code:\n%s", i+1, status, body)
		}
		tokens = append(tokens, m[1])
	}
	if status, body := invite(); status != http.StatusTooManyRequests || !strings.Contains(body, "as many invitations this week") {
		t.Fatalf("third invite in a week: %d, want 429:\n%s", status, body)
	}
	if n, _ := acc.UserInvitesLeft(ctx, "alice"); n != 0 {
		t.Errorf("UserInvitesLeft = %d, want 0", n)
	}

	// The link is the ordinary invite page and admits one account.
	resp, err := http.Get(srv.URL + "/invite/" + tokens[0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /invite/{token} = %d, want 200", resp.StatusCode)
	}
	if _, err := acc.CreateInvited(ctx, "friend", "friend-password", tokens[0]); err != nil {
		t.Fatalf("CreateInvited with the user's invite: %v", err)
	}
	if _, err := acc.CreateInvited(ctx, "friend2", "friend-password", tokens[0]); err == nil {
		t.Error("a user's invite admitted a second account")
	}
	// A used invite still counts this week.
	if status, _ := invite(); status != http.StatusTooManyRequests {
		t.Errorf("invite after one was used: %d, want 429", status)
	}

	// The export lists the invite that is left.
	var buf bytes.Buffer
	if err := acc.Export(ctx, "alice", &buf); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var rights string
	for _, f := range z.File {
		if f.Name == "account.json" {
			r, _ := f.Open()
			b, _ := io.ReadAll(r)
			rights = string(b)
		}
	}
	if strings.Count(rights, `"id"`) != 1 || !strings.Contains(rights, `"invites_made_last_7_days": 2`) || strings.Contains(rights, tokens[1]) {
		t.Errorf("account.json = %s, want one invite, two made, no token", rights)
	}

	// The list shows the open invitation; revoking it kills its link.
	resp2, body := e.post(t, "invites", url.Values{"token": {e.token(t, "invites")}, "username": {"alice"}, "password": {"secret-password"}, "action": {"list"}},
		"Sec-Fetch-Site", "same-origin")
	ids := revokeRE.FindAllStringSubmatch(body, -1)
	if resp2.StatusCode != http.StatusOK || len(ids) != 1 || inviteLinkRE.MatchString(body) {
		t.Fatalf("list: %d, %d revoke buttons (want 1), no new link:\n%s", resp2.StatusCode, len(ids), body)
	}
	user(t, db, "mallory")
	resp2, body = e.post(t, "invites", url.Values{"token": {e.token(t, "invites")}, "username": {"mallory"}, "password": {"secret-password"}, "revoke": {ids[0][1]}},
		"Sec-Fetch-Site", "same-origin")
	if resp2.StatusCode != http.StatusOK || !strings.Contains(body, "was not found") {
		t.Errorf("mallory revokes alice's invite: %d\n%s", resp2.StatusCode, body)
	}
	resp2, body = e.post(t, "invites", url.Values{"token": {e.token(t, "invites")}, "username": {"alice"}, "password": {"secret-password"}, "revoke": {ids[0][1]}},
		"Sec-Fetch-Site", "same-origin")
	if resp2.StatusCode != http.StatusOK || !strings.Contains(body, "was revoked") || !strings.Contains(body, "no open invitations") {
		t.Errorf("revoke: %d\n%s", resp2.StatusCode, body)
	}
	if ok, _ := (dbInvites{db, clk.now}).InviteValid(ctx, tokens[1]); ok {
		t.Error("the revoked invite is still valid")
	}

	// A week later the allowance is back.
	clk.add(accounts.UserInviteWindow + time.Minute)
	if status, _ := invite(); status != http.StatusOK {
		t.Errorf("invite a week later: %d, want 200", status)
	}

	// The invites go with the account.
	if _, err := acc.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if invs, err := db.Invites(ctx); err != nil || len(invs) != 0 {
		t.Errorf("invites after deleting their creator: %v, %v; want none", invs, err)
	}
}

// TestUserInvitesOff: with accounts.user_invites = 0 the page does not exist.
func TestUserInvitesOff(t *testing.T) {
	e := newEnv(t, func(_ *account.Config, d *account.Deps, _ *accounts.Deps) {
		d.Invites = dbInvites{e0db(t), time.Now}
	})
	resp, err := http.Get(e.srv.URL + "/account/invites")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /account/invites with user invites off = %d, want 404", resp.StatusCode)
	}
}

func e0db(t *testing.T) *store.DB { return storetest.Open(t) }
