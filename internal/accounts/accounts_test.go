package accounts_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/internal/guard"
	"chatbx/store"
	"chatbx/store/storetest"
)

const domain = "example.test"

func newService(t *testing.T, mod func(*accounts.Deps)) (*accounts.Service, *store.DB) {
	t.Helper()
	db := storetest.Open(t)
	d := accounts.Deps{Store: db}
	if mod != nil {
		mod(&d)
	}
	s, err := accounts.New(accounts.DefaultConfig(domain), d)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func TestNormaliseUser(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"alice", "alice", true},
		{" Alice ", "alice", true},
		{"ALICE@EXAMPLE.TEST", "alice", true},
		{"alice@other.test", "", false},
		{"", "", false},
		{"a b", "", false},
		{"a/b", "", false},
		{"ΣΑΣ", "σασ", true},
	}
	for _, tc := range tests {
		got, err := accounts.NormaliseUser(tc.in, domain)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormaliseUser(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCreate(t *testing.T) {
	s, _ := newService(t, nil)
	ctx := context.Background()
	tests := []struct {
		name, user, pw, want string
		operator             bool
		err                  error
	}{
		{"ok", "Newbie", "long-enough", "newbie", false, nil},
		{"taken", "newbie", "long-enough", "", false, accounts.ErrExists},
		{"reserved", "Admin", "long-enough", "", false, accounts.ErrUsername},
		{"too long", strings.Repeat("a", accounts.MaxUsername+1), "long-enough", "", false, accounts.ErrUsername},
		{"invalid", "a b", "long-enough", "", false, accounts.ErrUsername},
		{"short password", "other", "short", "", false, accounts.ErrPolicy},
		{"operator: reserved, short password", "Admin", "short", "admin", true, nil},
		{"operator: empty password", "op2", "", "", true, accounts.ErrPolicy},
		{"operator: too long", strings.Repeat("a", accounts.MaxUsername+1), "x", "", true, accounts.ErrUsername},
		{"operator: taken", "newbie", "x", "", true, accounts.ErrExists},
	}
	for _, tc := range tests {
		create := s.Create
		if tc.operator {
			create = s.CreateByOperator
		}
		got, err := create(ctx, tc.user, tc.pw)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: Create(%q) = %q, %v; want %q, %v", tc.name, tc.user, got, err, tc.want, tc.err)
		}
	}
	if err := s.Verify(ctx, "newbie", "long-enough", netip.Addr{}); err != nil {
		t.Errorf("Verify after Create: %v", err)
	}
	for _, pw := range []string{"wrong-password", ""} {
		if err := s.Verify(ctx, "newbie", pw, netip.Addr{}); !errors.Is(err, accounts.ErrAuth) {
			t.Errorf("Verify(wrong) = %v, want ErrAuth", err)
		}
	}
	if err := s.Verify(ctx, "nobody", "long-enough", netip.Addr{}); !errors.Is(err, accounts.ErrAuth) {
		t.Errorf("Verify(unknown) = %v, want ErrAuth", err)
	}
	if _, err := s.CreateInvited(ctx, "invited", "long-enough", "no-such-token-0123456789"); !errors.Is(err, accounts.ErrInvite) {
		t.Errorf("CreateInvited(unknown token) = %v, want ErrInvite", err)
	}
	if _, err := s.CreateInvited(ctx, "invited", "long-enough", ""); !errors.Is(err, accounts.ErrInvite) {
		t.Errorf("CreateInvited(no token) = %v, want ErrInvite", err)
	}
}

// TestPassword: ChangePassword applies the user's rules, ResetPassword
// the operator's; both run the PasswordChanged hooks with the session to
// keep; an unknown user is ErrNotFound and runs no hook.
func TestPassword(t *testing.T) {
	s, db := newService(t, nil)
	ctx := context.Background()
	storetest.User(t, db, "alice")
	var calls []string
	s.AddHooks(accounts.Hooks{PasswordChanged: func(user, keep string) { calls = append(calls, user+" "+keep) }})
	tests := []struct {
		name     string
		user, pw string
		operator bool
		err      error
		calls    int
	}{
		{"too short", "alice", "short", false, accounts.ErrPolicy, 0},
		{"ok", "alice", "long-enough-1", false, nil, 1},
		{"unknown", "nobody", "long-enough-1", false, accounts.ErrNotFound, 1},
		{"operator short", "alice", "x", true, nil, 2},
		{"operator empty", "alice", "", true, accounts.ErrPolicy, 2},
	}
	for _, tc := range tests {
		var err error
		if tc.operator {
			err = s.ResetPassword(ctx, tc.user, tc.pw)
		} else {
			err = s.ChangePassword(ctx, tc.user, tc.pw, "alice@example.test/phone")
		}
		if !errors.Is(err, tc.err) || len(calls) != tc.calls {
			t.Errorf("%s: err %v (want %v), hook calls %q (want %d)", tc.name, err, tc.err, calls, tc.calls)
		}
	}
	if want := []string{"alice alice@example.test/phone", "alice "}; !slices.Equal(calls, want) {
		t.Errorf("hook calls %q, want %q", calls, want)
	}
	if err := s.Verify(ctx, "alice", "x", netip.Addr{}); err != nil {
		t.Errorf("Verify after reset: %v", err)
	}
}

type unlinker struct{ n int }

func (u *unlinker) UserUploads(context.Context, string) ([]accounts.Upload, error) { return nil, nil }
func (u *unlinker) UnlinkDeleted(context.Context) error                            { u.n++; return nil }

// TestDeleteHooks: the store deletion comes first, then the upload files,
// the notify callback and the hooks in their order; a failing hook makes
// the result ErrIncomplete and the later hooks still run; the Effects of
// the hooks that succeeded are reported.
func TestDeleteHooks(t *testing.T) {
	up := &unlinker{}
	s, db := newService(t, func(d *accounts.Deps) { d.Uploads = up })
	ctx := context.Background()
	storetest.User(t, db, "alice")
	storetest.User(t, db, "bob")
	if _, err := db.PutRosterItem(ctx, "alice", store.RosterItem{JID: "bob@" + domain, Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutRosterItem(ctx, "bob", store.RosterItem{JID: "alice@" + domain, Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	var order []string
	s.AddHooks(accounts.Hooks{
		AfterDelete: func(ctx context.Context, d accounts.Deleted, self string) error {
			if ok, _ := db.UserExists(ctx, d.User); ok {
				t.Error("hook runs before the account is gone")
			}
			order = append(order, "sessions "+self)
			return errors.New("sessions would not close")
		},
		Effects: accounts.RewritesLogs, // not reported: the hook failed
	})
	s.AddHooks(accounts.Hooks{
		AfterDelete: func(_ context.Context, d accounts.Deleted, _ string) error {
			order = append(order, "contacts "+d.Roster[0].JID)
			return nil
		},
		Effects: accounts.TellsContacts,
	})
	d, err := s.DeleteNotify(ctx, "alice", "alice@example.test/phone", func() { order = append(order, "deleted") })
	if !errors.Is(err, accounts.ErrIncomplete) || !strings.Contains(err.Error(), "would not close") {
		t.Errorf("DeleteNotify = %v, want ErrIncomplete with the hook's error", err)
	}
	if want := []string{"deleted", "sessions alice@example.test/phone", "contacts bob@example.test"}; !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
	if up.n != 1 {
		t.Errorf("UnlinkDeleted called %d times, want 1", up.n)
	}
	if d.RosterItems != 1 || d.ContactRosters != 1 || !d.ContactsTold || d.LogsRewritten {
		t.Errorf("Deleted = %+v", d)
	}
	if _, err := db.RosterItem(ctx, "bob", "alice@"+domain); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob's roster still holds alice: %v", err)
	}
	order = nil
	if _, err := s.Delete(ctx, "alice"); !errors.Is(err, accounts.ErrNotFound) || len(order) != 0 {
		t.Errorf("second Delete = %v, hooks %q; want ErrNotFound and no hooks", err, order)
	}
	var buf strings.Builder
	if err := s.Export(ctx, "alice", &buf); !errors.Is(err, accounts.ErrNotFound) || buf.Len() != 0 {
		t.Errorf("Export(deleted) = %v, %d bytes; want ErrNotFound, nothing", err, buf.Len())
	}
}

// TestVerifyGuard: while the guard backs off, Verify answers
// ErrThrottled with the wait for the right password too, without
// evaluating it; a failed check counts, and after the back-off the right
// password works.
func TestVerifyGuard(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	g := guard.New(guard.Config{NetworkFree: 2, Backoff: time.Minute, MaxBackoff: time.Minute}, func() time.Time { return now })
	s, db := newService(t, func(d *accounts.Deps) { d.Guard = g })
	storetest.User(t, db, "alice")
	ctx := context.Background()
	addr := netip.MustParseAddr("192.0.2.1")
	for range 2 {
		if err := s.Verify(ctx, "alice", "wrong", addr); !errors.Is(err, accounts.ErrAuth) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	err := s.Verify(ctx, "alice", "secret", addr)
	var te *accounts.ThrottledError
	if !errors.Is(err, accounts.ErrThrottled) || !errors.As(err, &te) || te.Wait <= 0 {
		t.Fatalf("right password during the back-off: %v, want ErrThrottled with a wait", err)
	}
	now = now.Add(time.Minute)
	if err := s.Verify(ctx, "alice", "secret", addr); err != nil {
		t.Errorf("right password after the back-off: %v", err)
	}
}

// TestExportPush: the export's account.xml names the push registrations
// with their publish-options (XEP-0357).
func TestExportPush(t *testing.T) {
	s, db := newService(t, nil)
	storetest.User(t, db, "alice")
	ctx := context.Background()
	opts := []byte("<x xmlns='jabber:x:data' type='submit'><field var='secret'><value>push-export-marker</value></field></x>")
	if err := db.PutPush(ctx, "alice", store.PushRegistration{JID: "push.example.org", Node: "dev1", Options: opts}, 0); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, "alice", &buf); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := z.Open("account.xml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	for _, want := range []string{"<chatbx:push jid='push.example.org' node='dev1'>", "push-export-marker"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("account.xml lacks %q:\n%s", want, b)
		}
	}
}

// TestExportPrefs: the account's settings (the stranger policy for
// messages from other servers) are in account.xml.
func TestExportPrefs(t *testing.T) {
	s, db := newService(t, nil)
	storetest.User(t, db, "alice")
	ctx := context.Background()
	if err := db.SetUserPref(ctx, "alice", store.PrefStrangers, "contacts"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, "alice", &buf); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := z.Open("account.xml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	if !strings.Contains(string(b), "<chatbx:setting name='strangers'>contacts</chatbx:setting>") {
		t.Errorf("account.xml lacks the stranger setting:\n%s", b)
	}
}
