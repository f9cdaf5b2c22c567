package account_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web/account"
)

const domain = "example.test"

// kicks records the sessions closed by the hooks.
type kicks struct {
	mu    sync.Mutex
	calls []string
}

func (k *kicks) KickUser(user, condition string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, user+" "+condition)
}

func (k *kicks) list() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.calls...)
}

// contacts records the contacts told by the hooks.
type contacts struct {
	mu    sync.Mutex
	users []string
	items int
}

func (c *contacts) AccountDeleted(_ context.Context, user string, roster []store.RosterItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users = append(c.users, user)
	c.items += len(roster)
}

// archive is an in-memory Archive.
type archive struct {
	mu  sync.Mutex
	on  map[string]bool
	msg map[string]int
}

func newArchive() *archive { return &archive{on: map[string]bool{}, msg: map[string]int{}} }

func (a *archive) ArchiveOn(_ context.Context, user string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.on[user], nil
}

func (a *archive) SetArchiveOn(_ context.Context, user string, on bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.on[user] = on
	return nil
}

func (a *archive) PurgeArchive(_ context.Context, user string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.msg[user]
	a.msg[user] = 0
	return n, nil
}

func (a *archive) ExportArchive(_ context.Context, user string, w io.Writer) error {
	_, err := io.WriteString(w, `{"messages":[{"body":"archive-marker"}]}`)
	return err
}

// uploads is a fixed Uploads.
type uploads struct{ unlinked int }

func (u *uploads) UserUploads(context.Context, string) ([]accounts.Upload, error) {
	return []accounts.Upload{{URL: "https://upload.example.test/abc/upload-marker.png", Size: 3,
		Uploaded: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Expires: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}, nil
}

func (u *uploads) UnlinkDeleted(context.Context) error { u.unlinked++; return nil }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one test's pages over a real store.
type env struct {
	db       *store.DB
	dir      string
	acc      *accounts.Service
	pages    *account.Pages
	srv      *httptest.Server
	kicks    *kicks
	contacts *contacts
	archive  *archive
	uploads  *uploads
	clock    *clock
	rewrites []string
}

// newEnv builds the account service with hooks that record what they
// are asked to do, and the pages over it. mod may change the pages'
// configuration and both sets of dependencies.
func newEnv(t *testing.T, mod func(*account.Config, *account.Deps, *accounts.Deps)) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), kicks: &kicks{}, contacts: &contacts{}, archive: newArchive(),
		uploads: &uploads{}, clock: &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}}
	e.db = storetest.OpenPath(t, e.dir+"/chatbx.db")
	cfg := account.DefaultConfig()
	ad := accounts.Deps{Store: e.db, Archive: e.archive, Uploads: e.uploads, Now: e.clock.now}
	d := account.Deps{Settings: e.db, Archive: e.archive, Prefs: e.db}
	if mod != nil {
		mod(&cfg, &d, &ad)
	}
	acc, err := accounts.New(accounts.DefaultConfig(domain), ad)
	if err != nil {
		t.Fatalf("accounts.New: %v", err)
	}
	acc.AddHooks(accounts.Hooks{
		AfterDelete: func(ctx context.Context, del accounts.Deleted, _ string) error {
			e.kicks.KickUser(del.User, "not-authorized")
			e.contacts.AccountDeleted(ctx, del.User, del.Roster)
			e.rewrites = append(e.rewrites, del.User)
			return nil
		},
		Effects:         accounts.TellsContacts | accounts.RewritesLogs,
		PasswordChanged: func(user, _ string) { e.kicks.KickUser(user, "reset") },
	})
	e.acc = acc
	d.Accounts = acc
	p, err := account.New(cfg, d)
	if err != nil {
		t.Fatalf("account.New: %v", err)
	}
	e.pages = p
	e.srv = httptest.NewServer(p.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// token loads page and returns its form token.
func (e *env) token(t *testing.T, page string) string {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/account/" + page)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := tokenRE.FindSubmatch(b)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s: status %d, no token in %s", page, resp.StatusCode, b)
	}
	return string(m[1])
}

// post submits values to page with extra headers and returns status and body.
func (e *env) post(t *testing.T, page string, values url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/account/"+page, strings.NewReader(values.Encode()))
	if err != nil {
		t.Fatal(err)
	}
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
	return resp, string(b)
}

// user creates an account with password "secret-password".
func user(t *testing.T, db *store.DB, name string) {
	t.Helper()
	c, err := store.DeriveCredentials("secret-password", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(context.Background(), name, c); err != nil {
		t.Fatal(err)
	}
}
