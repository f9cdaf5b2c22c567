package store_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

var inviteT0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newInvite(t *testing.T, uses int, valid time.Duration) store.Invite {
	t.Helper()
	tok, err := store.NewInviteToken()
	if err != nil {
		t.Fatal(err)
	}
	return store.Invite{Token: tok, Created: inviteT0, Expires: inviteT0.Add(valid), Uses: uses}
}

func TestNewInviteToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok, err := store.NewInviteToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != store.InviteTokenBytes {
			t.Fatalf("NewInviteToken() = %q: %d bytes, %v; want %d random bytes", tok, len(raw), err, store.InviteTokenBytes)
		}
		if seen[tok] {
			t.Fatalf("NewInviteToken() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestInviteUses(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	inv := newInvite(t, 3, time.Hour)
	if err := db.CreateInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateInvite(ctx, inv); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateInvite(same token) = %v, want ErrExists", err)
	}
	got, err := db.Invite(ctx, inv.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != inv.Token || got.Uses != 3 || !got.Created.Equal(inv.Created) || !got.Expires.Equal(inv.Expires) || len(got.ID) != 16 {
		t.Errorf("Invite() = %+v, want %+v with a 16-digit ID", got, inv)
	}
	now := inviteT0.Add(time.Minute)
	for i, want := range []bool{true, true, true, false} {
		ok, err := db.UseInvite(ctx, inv.Token, now)
		if err != nil || ok != want {
			t.Fatalf("use %d: UseInvite() = %v, %v; want %v", i+1, ok, err, want)
		}
		if i == 0 {
			if got, _ := db.Invite(ctx, inv.Token); got.Uses != 2 {
				t.Errorf("after one use: Uses = %d, want 2", got.Uses)
			}
		}
	}
	if _, err := db.Invite(ctx, inv.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Invite(exhausted) = %v, want ErrNotFound", err)
	}
	if list, err := db.Invites(ctx); err != nil || len(list) != 0 {
		t.Errorf("Invites() after exhaustion = %v, %v; want none", list, err)
	}
	for _, tok := range []string{"", "unknown-token-123456", string(make([]byte, 2000))} {
		if ok, err := db.UseInvite(ctx, tok, now); ok || err != nil {
			t.Errorf("UseInvite(%.20q) = %v, %v; want false, nil", tok, ok, err)
		}
	}
}

func TestInviteUseRace(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	inv := newInvite(t, 1, time.Hour)
	if err := db.CreateInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			ok, err := db.UseInvite(ctx, inv.Token, inviteT0)
			if err != nil {
				t.Error(err)
			}
			results <- ok
		})
	}
	wg.Wait()
	close(results)
	n := 0
	for ok := range results {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of 8 concurrent uses of a one-use invite succeeded, want 1", n)
	}
}

func TestInviteExpiryBoundary(t *testing.T) {
	t.Parallel()
	expires := inviteT0.Add(time.Hour)
	tests := []struct {
		name    string
		now     time.Time
		valid   bool // UseInvite at now
		expired int  // ExpireInvites at now
	}{
		{"well before", inviteT0, true, 0},
		{"just before", expires.Add(-time.Nanosecond), true, 0},
		{"at expiry", expires, false, 1},
		{"just after", expires.Add(time.Nanosecond), false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t)
			ctx := t.Context()
			a, b := newInvite(t, 2, time.Hour), newInvite(t, 2, time.Hour)
			later := newInvite(t, 1, 2*time.Hour)
			for _, inv := range []store.Invite{a, b, later} {
				if err := db.CreateInvite(ctx, inv); err != nil {
					t.Fatal(err)
				}
			}
			if ok, err := db.UseInvite(ctx, a.Token, tc.now); err != nil || ok != tc.valid {
				t.Errorf("UseInvite(now = expiry%+v) = %v, %v; want %v", tc.now.Sub(expires), ok, err, tc.valid)
			}
			n, err := db.ExpireInvites(ctx, tc.now)
			want := tc.expired
			if !tc.valid {
				want = 1 // a was deleted by the failed use already
			}
			if err != nil || n != want {
				t.Errorf("ExpireInvites(expiry%+v) = %d, %v; want %d", tc.now.Sub(expires), n, err, want)
			}
			_, err = db.Invite(ctx, b.Token)
			if gone := errors.Is(err, store.ErrNotFound); gone != (tc.expired > 0) {
				t.Errorf("after ExpireInvites(expiry%+v): Invite(b) = %v, want gone = %v", tc.now.Sub(expires), err, tc.expired > 0)
			}
			if _, err := db.Invite(ctx, later.Token); err != nil {
				t.Errorf("a later invite was expired: %v", err)
			}
			list, err := db.Invites(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if wantLen := 3 - 2*min(tc.expired, 1); len(list) != wantLen {
				t.Errorf("Invites() = %d invites, want %d", len(list), wantLen)
			}
			for _, inv := range list {
				if inv.Token != "" {
					t.Errorf("Invites() returned a token %q; only hashes are stored", inv.Token)
				}
			}
		})
	}
}

func TestInviteInvalid(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	ok := newInvite(t, 1, time.Hour)
	tests := []struct {
		name string
		edit func(*store.Invite)
		want error
	}{
		{"no token", func(i *store.Invite) { i.Token = "" }, store.ErrInvalid},
		{"no uses", func(i *store.Invite) { i.Uses = 0 }, store.ErrInvalid},
		{"no created", func(i *store.Invite) { i.Created = time.Time{} }, store.ErrInvalid},
		{"expires at creation", func(i *store.Invite) { i.Expires = i.Created }, store.ErrInvalid},
		{"unknown creator", func(i *store.Invite) { i.Creator = "nobody" }, store.ErrNotFound},
	}
	for _, tc := range tests {
		inv := ok
		tc.edit(&inv)
		if err := db.CreateInvite(ctx, inv); !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateInvite() = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestInviteDelete(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	a, b := newInvite(t, 1, time.Hour), newInvite(t, 1, time.Hour)
	for _, inv := range []store.Invite{a, b} {
		if err := db.CreateInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteInvite(ctx, a.Token); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteInvite(ctx, a.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteInvite(twice) = %v, want ErrNotFound", err)
	}
	got, err := db.Invite(ctx, b.Token)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "zz", "0123456789abcdef", got.ID + "00"} {
		if err := db.DeleteInviteID(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteInviteID(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if err := db.DeleteInviteID(ctx, got.ID); err != nil {
		t.Fatalf("DeleteInviteID(%q) = %v", got.ID, err)
	}
	if ok, err := db.UseInvite(ctx, b.Token, inviteT0); ok || err != nil {
		t.Errorf("UseInvite(deleted) = %v, %v; want false, nil", ok, err)
	}
	if n, err := db.ExpireInvites(ctx, inviteT0.Add(24*time.Hour)); n != 0 || err != nil {
		t.Errorf("ExpireInvites() after deletions = %d, %v; want 0 (no stale index)", n, err)
	}
}

// TestInviteCreatorDeleted: invites an account made go with the account;
// the operator's stay.
func TestInviteCreatorDeleted(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	alice := storetest.User(t, db, "alice")
	storetest.User(t, db, "bob")
	mine, used, admin := newInvite(t, 1, time.Hour), newInvite(t, 1, time.Hour), newInvite(t, 1, time.Hour)
	mine.Creator, used.Creator = alice, "bob"
	for _, inv := range []store.Invite{mine, used, admin} {
		if err := db.CreateInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.Invite(ctx, mine.Token); got.Creator != alice {
		t.Errorf("Invite().Creator = %q, want %q", got.Creator, alice)
	}
	// A used-up invite drops its reference: deleting bob later finds none.
	if ok, err := db.UseInvite(ctx, used.Token, inviteT0); !ok || err != nil {
		t.Fatalf("UseInvite() = %v, %v", ok, err)
	}
	if err := db.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Invite(ctx, mine.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Invite(alice's) after DeleteUser = %v, want ErrNotFound", err)
	}
	if _, err := db.Invite(ctx, admin.Token); err != nil {
		t.Errorf("Invite(operator's) after DeleteUser = %v", err)
	}
	if n, err := db.ExpireInvites(ctx, inviteT0.Add(time.Hour)); n != 1 || err != nil {
		t.Errorf("ExpireInvites() = %d, %v; want 1 (the operator's; alice's index entry went with her)", n, err)
	}
}

// TestInviteHashedKey: neither the token nor its raw bytes are in the
// database file; deleting the account scrubs the creator's name.
func TestInviteHashedKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db := storetest.OpenPath(t, path)
	ctx := t.Context()
	inv := newInvite(t, 5, time.Hour)
	if err := db.CreateInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.UseInvite(ctx, inv.Token, inviteT0); !ok || err != nil {
		t.Fatalf("UseInvite() = %v, %v", ok, err)
	}
	if err := db.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(inv.Token)
	if bytes.Contains(file, []byte(inv.Token)) {
		t.Error("the database file contains the invite token")
	}
	if bytes.Contains(file, raw) {
		t.Error("the database file contains the token's raw bytes")
	}
	// The invite still works: the hash is the key.
	if got, err := db.Invite(ctx, inv.Token); err != nil || got.Uses != 4 {
		t.Errorf("Invite() = %+v, %v; want 4 uses left", got, err)
	}
}

// FuzzUseInvite: a token from outside (the invite page, an in-band
// registration) never panics and never matches an invite it does not name.
func FuzzUseInvite(f *testing.F) {
	db := storetest.Open(f)
	tok, err := store.NewInviteToken()
	if err != nil {
		f.Fatal(err)
	}
	inv := store.Invite{Token: tok, Created: inviteT0, Expires: inviteT0.Add(time.Hour), Uses: 1 << 30}
	if err := db.CreateInvite(f.Context(), inv); err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("")
	f.Add(tok[:len(tok)-1])
	f.Add(tok + "=")
	f.Add("\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		ok, err := db.UseInvite(t.Context(), s, inviteT0)
		if err != nil || ok != (s == tok) {
			t.Errorf("UseInvite(%q) = %v, %v; want %v", s, ok, err, s == tok)
		}
		if _, err := db.Invite(t.Context(), s); (err == nil) != (s == tok) {
			t.Errorf("Invite(%q) = %v", s, err)
		}
	})
}

// TestCreateUserInvite checks that the account and the invite's use go
// together: a failed creation spends nothing, a refused invite creates
// nothing, and the last use deletes the invite.
func TestCreateUserInvite(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	creds, err := store.DeriveCredentials("long-password", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, "taken", creds); err != nil {
		t.Fatal(err)
	}
	inv := newInvite(t, 2, time.Hour)
	if err := db.CreateInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	now := inviteT0.Add(time.Minute)
	tests := []struct {
		name, user, token string
		at                time.Time
		want              error // nil: created
		uses              int   // uses left afterwards (0: gone)
	}{
		{"taken", "taken", inv.Token, now, store.ErrExists, 2},
		{"unknown invite", "newbie", "unknown-token-123456", now, store.ErrNotFound, 2},
		{"empty invite", "newbie", "", now, store.ErrNotFound, 2},
		{"expired", "newbie", inv.Token, inv.Expires, store.ErrNotFound, 2},
		{"bad name", "", inv.Token, now, store.ErrInvalid, 2},
		{"ok", "newbie", inv.Token, now, nil, 1},
		{"taken after use", "newbie", inv.Token, now, store.ErrExists, 1},
		{"last use", "second", inv.Token, now, nil, 0},
		{"used up", "third", inv.Token, now, store.ErrNotFound, 0},
	}
	for _, tc := range tests {
		err := db.CreateUserInvite(ctx, tc.user, creds, tc.token, tc.at)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateUserInvite(%q) = %v, want %v", tc.name, tc.user, err, tc.want)
		}
		uses := 0
		if got, err := db.Invite(ctx, inv.Token); err == nil {
			uses = got.Uses
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if uses != tc.uses {
			t.Errorf("%s: uses left %d, want %d", tc.name, uses, tc.uses)
		}
		exists, err := db.UserExists(ctx, tc.user)
		if tc.user != "" && (err != nil || exists != (tc.want == nil || errors.Is(tc.want, store.ErrExists))) {
			t.Errorf("%s: UserExists(%q) = %v, %v", tc.name, tc.user, exists, err)
		}
	}
}

// TestInviteTokenNoLeadingDash: a token is a command-line argument
// (`chatbx invite delete TOKEN`); one starting with '-' read as a flag.
func TestInviteTokenNoLeadingDash(t *testing.T) {
	for i := 0; i < 2000; i++ {
		tok, err := store.NewInviteToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 22 || tok[0] == '-' {
			t.Fatalf("token %q", tok)
		}
	}
}
