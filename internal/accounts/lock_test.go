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
	"sync"
	"testing"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/store/storetest"
)

// TestLock covers restriction (GDPR Art. 18): Lock keeps the data, stops
// logins (Verify answers ErrLocked only for the right password), runs the
// hooks, survives a new service over the same store (the set is loaded
// at start), and Unlock needs the password.
func TestLock(t *testing.T) {
	s, db := newService(t, nil)
	ctx := t.Context()
	if _, err := s.CreateByOperator(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateByOperator(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	var hooked []string
	s.AddHooks(accounts.Hooks{Locked: func(_ context.Context, user string) { hooked = append(hooked, user) }})

	if err := s.Lock(ctx, "nobody"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("Lock(nobody) = %v, want ErrNotFound", err)
	}
	if err := s.Lock(ctx, "alice"); err != nil {
		t.Fatalf("Lock(alice) = %v", err)
	}
	if !s.IsLocked("alice") || s.IsLocked("bob") {
		t.Errorf("IsLocked(alice, bob) = %v, %v; want true, false", s.IsLocked("alice"), s.IsLocked("bob"))
	}
	if !slices.Equal(hooked, []string{"alice"}) {
		t.Errorf("Locked hooks ran for %v, want [alice]", hooked)
	}
	var zero netip.Addr
	if err := s.Verify(ctx, "alice", "alice-password", zero); !errors.Is(err, accounts.ErrLocked) {
		t.Errorf("Verify(alice, right password) = %v, want ErrLocked", err)
	}
	if err := s.Verify(ctx, "alice", "wrong-password", zero); !errors.Is(err, accounts.ErrAuth) {
		t.Errorf("Verify(alice, wrong password) = %v, want ErrAuth (the lock is not told)", err)
	}
	if err := s.Verify(ctx, "bob", "bob-password", zero); err != nil {
		t.Errorf("Verify(bob) = %v", err)
	}
	if _, err := db.Credentials(ctx, "alice"); err != nil {
		t.Errorf("Credentials(alice) = %v, want the data kept", err)
	}
	locked, at, err := s.LockedSince(ctx, "alice")
	if err != nil || !locked || at.IsZero() {
		t.Errorf("LockedSince(alice) = %v, %v, %v", locked, at, err)
	}
	// The export says so (and the data is all there to export).
	var buf bytes.Buffer
	if err := s.Export(ctx, "alice", &buf); err != nil {
		t.Fatalf("Export of a locked account: %v", err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range z.File {
		if f.Name == "account.json" {
			r, _ := f.Open()
			b, _ := io.ReadAll(r)
			found = strings.Contains(string(b), `"locked": true`) && strings.Contains(string(b), `"locked_since"`)
		}
	}
	if !found {
		t.Error(`export of a locked account: no account.json with "locked": true`)
	}

	// A new service over the same store (a restart) knows the lock.
	s2, err := accounts.New(accounts.DefaultConfig(domain), accounts.Deps{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	if !s2.IsLocked("alice") || !slices.Equal(s2.LockedUsers(), []string{"alice"}) {
		t.Errorf("after restart: IsLocked(alice) = %v, LockedUsers = %v", s2.IsLocked("alice"), s2.LockedUsers())
	}

	if err := s2.Unlock(ctx, "alice", "wrong-password", zero); !errors.Is(err, accounts.ErrAuth) {
		t.Errorf("Unlock(wrong password) = %v, want ErrAuth", err)
	}
	if !s2.IsLocked("alice") {
		t.Fatal("a wrong password unlocked the account")
	}
	if err := s2.Unlock(ctx, "alice", "alice-password", zero); err != nil {
		t.Fatalf("Unlock = %v", err)
	}
	if s2.IsLocked("alice") {
		t.Error("IsLocked(alice) after Unlock = true")
	}
	if err := s2.Verify(ctx, "alice", "alice-password", zero); err != nil {
		t.Errorf("Verify after Unlock = %v", err)
	}
	if err := s2.Lock(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s2.UnlockByOperator(ctx, "bob"); err != nil || s2.IsLocked("bob") {
		t.Errorf("UnlockByOperator(bob) = %v, locked %v", err, s2.IsLocked("bob"))
	}
	if users, err := db.LockedUsers(ctx); err != nil || len(users) != 0 {
		t.Errorf("store LockedUsers = %v, %v; want none", users, err)
	}
}

// TestLockGoesWithAccount shows the flag lives in the account's subtree:
// deleting the account removes it.
func TestLockGoesWithAccount(t *testing.T) {
	s, db := newService(t, nil)
	ctx := t.Context()
	if _, err := s.CreateByOperator(ctx, "carol", "carol-password"); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if users, _ := db.LockedUsers(ctx); len(users) != 0 {
		t.Errorf("LockedUsers after deletion = %v", users)
	}
	if _, _, err := db.Locked(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Locked(deleted) = %v, want ErrNotFound", err)
	}
}

// BenchmarkIsLocked is the cost on the message path, with some accounts
// locked.
func BenchmarkIsLocked(b *testing.B) {
	s, err := accounts.New(accounts.DefaultConfig(domain), accounts.Deps{Store: storetest.Open(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{"a", "b", "c"} {
		if _, err := s.CreateByOperator(ctx, u, "password"); err != nil {
			b.Fatal(err)
		}
		if err := s.Lock(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s.IsLocked("someone")
	}
}

// TestLockRace: locks and unlocks racing each other leave the set in
// memory agreeing with the store.
func TestLockRace(t *testing.T) {
	s, db := newService(t, nil)
	ctx := t.Context()
	if _, err := s.CreateByOperator(ctx, "dora", "dora-password"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if i%2 == 0 {
				s.Lock(ctx, "dora")
			} else {
				s.UnlockByOperator(ctx, "dora")
			}
		})
	}
	wg.Wait()
	stored, _, err := db.Locked(ctx, "dora")
	if err != nil {
		t.Fatal(err)
	}
	if stored != s.IsLocked("dora") {
		t.Errorf("store says locked %v, memory %v", stored, s.IsLocked("dora"))
	}
}
