package register_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/server/iq"
	"chatbx/server/register"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var parse = xmpptest.Parse

func str(el *wire.Element) string {
	if el == nil {
		return "<nil>"
	}
	return string(el.Bytes(wire.NSClient))
}

// sessions records kicks from both interfaces.
type sessions struct {
	mu    sync.Mutex
	calls []string
}

func (s *sessions) KickUser(user, condition string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, user+" "+condition)
}

func (s *sessions) KickOthers(user, keep, condition string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, user+" except "+keep+" "+condition)
}

func (s *sessions) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

type env struct {
	db   *store.DB
	dir  string
	m    *accounts.Service
	reg  *register.Register
	kick *sessions
}

func newEnv(t *testing.T, mode string, inv register.Invites) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), kick: &sessions{}}
	e.db = storetest.OpenPath(t, e.dir+"/chatbx.db")
	m, err := accounts.New(accounts.DefaultConfig("example.org"), accounts.Deps{Store: e.db})
	if err != nil {
		t.Fatal(err)
	}
	m.AddHooks(accounts.Hooks{
		AfterDelete: func(_ context.Context, d accounts.Deleted, _ string) error {
			e.kick.KickUser(d.User, "not-authorized")
			return nil
		},
		PasswordChanged: func(user, keep string) { e.kick.KickOthers(user, keep, "reset") },
	})
	e.m = m
	cfg := register.DefaultConfig("example.org")
	cfg.Registration = mode
	cfg.RegisterBurst = 3
	if mode == register.Invite && inv == nil {
		inv = storeInvites{e.db}
	}
	e.reg, err = register.New(cfg, register.Deps{Accounts: m, Invites: inv})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) user(t *testing.T, name string) {
	t.Helper()
	c, err := store.DeriveCredentials("old-password", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateUser(context.Background(), name, c); err != nil {
		t.Fatal(err)
	}
}

var (
	_     iq.Handler = (&register.Register{}).Handle
	alice            = iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}
)

func TestHandle(t *testing.T) {
	e := newEnv(t, register.Closed, nil)
	e.user(t, "alice")
	ctx := context.Background()
	tests := []struct {
		name, in, want string
	}{
		{"get", `<iq type='get' id='1'><query xmlns='jabber:iq:register'/></iq>`,
			`<iq type="result" id="1"><query xmlns="jabber:iq:register"><registered/><username>alice</username></query></iq>`},
		{"other host", `<iq type='get' id='2' to='other.org'><query xmlns='jabber:iq:register'/></iq>`,
			`<iq type="error" id="2"><error type="cancel" code="503"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"bad payload", `<iq type='set' id='3'><foo xmlns='jabber:iq:register'/></iq>`,
			`<iq type="error" id="3"><error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"password without username", `<iq type='set' id='4'><query xmlns='jabber:iq:register'><password>new-password</password></query></iq>`,
			`<iq type="error" id="4"><error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"someone else's password", `<iq type='set' id='5'><query xmlns='jabber:iq:register'><username>bob</username><password>new-password</password></query></iq>`,
			`<iq type="error" id="5"><error type="auth" code="401"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"short password", `<iq type='set' id='6'><query xmlns='jabber:iq:register'><username>alice</username><password>short</password></query></iq>`,
			`<iq type="error" id="6"><error type="modify" code="406"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"remove with extras", `<iq type='set' id='7'><query xmlns='jabber:iq:register'><remove/><username>alice</username></query></iq>`,
			`<iq type="error" id="7"><error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"result ignored", `<iq type='result' id='8'/>`, `<nil>`},
		{"password change", `<iq type='set' id='9' to='example.org'><query xmlns='jabber:iq:register'><username>Alice</username><password>new-password</password></query></iq>`,
			`<iq type="result" id="9"/>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := str(e.reg.Handle(ctx, alice, parse(t, tc.in))); got != tc.want {
				t.Errorf("Handle(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
	if err := e.m.Verify(ctx, "alice", "new-password", netip.Addr{}); err != nil {
		t.Errorf("new password: %v", err)
	}
	if got := e.kick.list(); len(got) != 1 || got[0] != "alice except alice@example.org/phone reset" {
		t.Errorf("kicks = %q", got)
	}
}

func TestRemove(t *testing.T) {
	e := newEnv(t, register.Closed, nil)
	ctx := context.Background()
	e.user(t, "alice")
	e.user(t, "bob")
	if _, err := e.db.PutRosterItem(ctx, "bob", store.RosterItem{JID: "alice@example.org", Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetVCard(ctx, "alice", []byte(`<vCard xmlns='vcard-temp'><FN>vcard-marker</FN></vCard>`)); err != nil {
		t.Fatal(err)
	}
	in := `<iq type='set' id='r1'><query xmlns='jabber:iq:register'><remove/></query></iq>`
	if got, want := str(e.reg.Handle(ctx, alice, parse(t, in))), `<iq type="result" id="r1"/>`; got != want {
		t.Fatalf("remove: got %s, want %s", got, want)
	}
	if ok, _ := e.db.UserExists(ctx, "alice"); ok {
		t.Error("account still exists")
	}
	if _, err := e.db.RosterItem(ctx, "bob", "alice@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob's roster still holds alice: %v", err)
	}
	if got := e.kick.list(); len(got) != 1 || got[0] != "alice not-authorized" {
		t.Errorf("kicks = %q", got)
	}
	if hits := storetest.ScanDir(t, e.dir, "vcard-marker"); len(hits) > 0 {
		t.Errorf("deleted data readable: %q", hits)
	}
	want := `<iq type="error" id="r1"><error type="auth" code="407"><registration-required xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`
	if got := str(e.reg.Handle(ctx, alice, parse(t, in))); got != want {
		t.Errorf("second remove: got %s, want %s", got, want)
	}
}

// storeInvites reads the store's invites, as main's adapter does.
type storeInvites struct{ db *store.DB }

func (v storeInvites) InviteValid(ctx context.Context, token string) (bool, error) {
	inv, err := v.db.Invite(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && time.Now().Before(inv.Expires) && inv.Uses > 0, err
}

// invite stores an invite with token and uses.
func (e *env) invite(t *testing.T, token string, uses int) {
	t.Helper()
	now := time.Now()
	if err := e.db.CreateInvite(context.Background(), store.Invite{Token: token, Created: now, Expires: now.Add(time.Hour), Uses: uses}); err != nil {
		t.Fatal(err)
	}
}

func TestRegistration(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8::1")
	ctx := context.Background()
	const (
		getForm = `<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>`
	)
	set := func(id, user, pw, key string) string {
		s := `<iq type='set' id='` + id + `'><query xmlns='jabber:iq:register'><username>` + user + `</username><password>` + pw + `</password>`
		if key != "" {
			s += `<key>` + key + `</key>`
		}
		return s + `</query></iq>`
	}
	errOf := func(id, typ, cond string) string {
		return `<iq type="error" id="` + id + `"><error type="` + typ + `" code="` + iq.LegacyCode(cond) + `"><` + cond + ` xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`
	}
	ok := func(id string) string { return `<iq type="result" id="` + id + `"/>` }

	t.Run("closed", func(t *testing.T) {
		e := newEnv(t, register.Closed, nil)
		if e.reg.StreamFeature() != nil {
			t.Error("closed registration advertises the stream feature")
		}
		for _, in := range []string{getForm, set("s", "newbie", "long-password", "")} {
			got := str(e.reg.HandleUnauthenticated(ctx, "example.org", addr, parse(t, in)))
			if !strings.Contains(got, "<not-allowed") {
				t.Errorf("closed: %s -> %s, want not-allowed", in, got)
			}
		}
		if ok, _ := e.db.UserExists(ctx, "newbie"); ok {
			t.Error("closed registration created an account")
		}
	})

	t.Run("open", func(t *testing.T) {
		e := newEnv(t, register.Open, nil)
		if f := e.reg.StreamFeature(); f == nil || f.Space != register.NSFeature {
			t.Errorf("stream feature = %v", str(f))
		}
		got := str(e.reg.HandleUnauthenticated(ctx, "example.org", addr, parse(t, getForm)))
		if !strings.Contains(got, "<username/><password/>") {
			t.Errorf("form = %s", got)
		}
		tests := []struct{ name, in, want string }{
			{"ok", set("a", "Newbie", "long-password", ""), ok("a")},
			{"taken", set("b", "newbie", "long-password", ""), errOf("b", "cancel", "conflict")},
			{"reserved", set("c", "admin", "long-password", ""), errOf("c", "modify", "not-acceptable")},
			{"throttled", set("d", "other", "long-password", ""), errOf("d", "wait", "resource-constraint")},
		}
		for _, tc := range tests {
			if got := str(e.reg.HandleUnauthenticated(ctx, "example.org", addr, parse(t, tc.in))); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			}
		}
		// Another /64 is not throttled.
		other := netip.MustParseAddr("2001:db8:0:1::1")
		if got := str(e.reg.HandleUnauthenticated(ctx, "example.org", other, parse(t, set("e", "other", "long-password", "")))); got != ok("e") {
			t.Errorf("other address: %s", got)
		}
		if err := e.m.Verify(ctx, "newbie", "long-password", netip.Addr{}); err != nil {
			t.Errorf("registered account does not log in: %v", err)
		}
	})

	t.Run("invite", func(t *testing.T) {
		e := newEnv(t, register.Invite, nil)
		e.user(t, "taken")
		const tok = "invite-token-0123456789"
		e.invite(t, tok, 1)
		// A failed registration leaves the invite usable (it is spent in
		// the transaction that creates the account); a successful one
		// spends it.
		tests := []struct {
			name, in, want string
			valid          bool // the invite afterwards
		}{
			{"no key", set("a", "newbie", "long-password", ""), errOf("a", "cancel", "not-allowed"), true},
			{"wrong key", set("b", "newbie", "long-password", "no-such-invite-token"), errOf("b", "cancel", "not-allowed"), true},
			{"taken", set("c", "Taken", "long-password", tok), errOf("c", "cancel", "conflict"), true},
			{"short password", set("d", "newbie", "short", tok), errOf("d", "modify", "not-acceptable"), true},
			{"reserved", set("e", "admin", "long-password", tok), errOf("e", "modify", "not-acceptable"), true},
			{"ok", set("f", "newbie", "long-password", tok), ok("f"), false},
			{"used up", set("g", "other", "long-password", tok), errOf("g", "cancel", "not-allowed"), false},
		}
		for i, tc := range tests {
			// One address per case: the throttle is not under test here.
			from := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
			if got := str(e.reg.HandleUnauthenticated(ctx, "example.org", from, parse(t, tc.in))); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			}
			if valid := e.reg.Preauth(ctx, tok); valid != tc.valid {
				t.Errorf("%s: invite valid afterwards = %v, want %v", tc.name, valid, tc.valid)
			}
		}
		if ok, _ := e.db.UserExists(ctx, "other"); ok {
			t.Error("a used-up invite created an account")
		}
		if err := e.m.Verify(ctx, "newbie", "long-password", netip.Addr{}); err != nil {
			t.Errorf("invited account does not log in: %v", err)
		}
	})
}

func TestNewErrors(t *testing.T) {
	m := fakeAccounts{}
	tests := []struct {
		name string
		cfg  register.Config
		d    register.Deps
	}{
		{"no deps", register.DefaultConfig("example.org"), register.Deps{}},
		{"bad mode", register.Config{Domain: "example.org", Registration: "sometimes"}, register.Deps{Accounts: m}},
		{"invite without invites", register.Config{Domain: "example.org", Registration: register.Invite}, register.Deps{Accounts: m}},
	}
	for _, tc := range tests {
		if _, err := register.New(tc.cfg, tc.d); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

// fakeAccounts accepts everything without a store, for the fuzz test.
type fakeAccounts struct{}

func (fakeAccounts) DeleteNotify(_ context.Context, _, _ string, deleted func()) (accounts.Deleted, error) {
	if deleted != nil {
		deleted()
	}
	return accounts.Deleted{}, nil
}
func (fakeAccounts) ChangePassword(context.Context, string, string, string) error { return nil }
func (fakeAccounts) Create(_ context.Context, name, _ string) (string, error)     { return name, nil }
func (fakeAccounts) CreateInvited(_ context.Context, name, _, _ string) (string, error) {
	return name, nil
}

func FuzzHandle(f *testing.F) {
	f.Add(`<iq type='set' id='1'><query xmlns='jabber:iq:register'><username>alice</username><password>x</password></query></iq>`)
	f.Add(`<iq type='get' id='1'><query xmlns='jabber:iq:register'/></iq>`)
	f.Add(`<iq type='set' id='1'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	f.Add(`<iq type='set' id='1' to='example.org'><query xmlns='jabber:iq:register'><username></username><password/><key>k</key></query></iq>`)
	cfg := register.DefaultConfig("example.org")
	cfg.Registration = register.Open
	reg, err := register.New(cfg, register.Deps{Accounts: fakeAccounts{}})
	if err != nil {
		f.Fatal(err)
	}
	addr := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, s string) {
		d := wire.NewDecoder(strings.NewReader(header+s), 1<<16)
		if _, err := d.Header(); err != nil {
			return
		}
		el, err := d.Next()
		if err != nil {
			return
		}
		for _, out := range []*wire.Element{
			reg.Handle(context.Background(), alice, el),
			reg.HandleUnauthenticated(context.Background(), "example.org", addr, el),
		} {
			if out == nil {
				continue
			}
			if out.Local != "iq" || out.Get("id") != el.Get("id") {
				t.Fatalf("reply %s to %s", str(out), s)
			}
			if typ := out.Get("type"); typ != "result" && typ != "error" {
				t.Fatalf("reply type %q", typ)
			}
			if strings.Contains(str(out), "<password>") {
				t.Fatalf("reply echoes a password: %s", str(out))
			}
		}
	})
}
