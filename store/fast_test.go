package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

// issue stores a token for device in the Next slot.
func issue(t *testing.T, db *store.DB, user, device string, max int, now time.Time, h byte) {
	t.Helper()
	err := db.UpdateFast(context.Background(), user, []byte(device), max, now, func(r *store.FastRecord, _ bool) (bool, error) {
		r.Next = store.FastSlot{Hash: [32]byte{h}, Mech: "HT-SHA-256-NONE", Expiry: now.Add(time.Hour)}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFastRecordRoundTrip stores a record and reads it back, and lists it
// without hashes.
func TestFastRecordRoundTrip(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	now := time.Unix(1_700_000_000, 0).UTC()
	issue(t, db, "alice", "dev1", 0, now, 7)
	err := db.UpdateFast(t.Context(), "alice", []byte("dev1"), 0, now, func(r *store.FastRecord, found bool) (bool, error) {
		if !found || r.Next.Hash != [32]byte{7} || r.Next.Mech != "HT-SHA-256-NONE" || !r.Next.Expiry.Equal(now.Add(time.Hour)) || !r.Current.Empty() {
			t.Errorf("record read back: found %v, %+v", found, r)
		}
		r.Current, r.Next = r.Next, store.FastSlot{}
		r.Current.Count = 42
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.FastTokens(t.Context(), "alice", now)
	if err != nil || len(list) != 1 || !list[0].Expiry.Equal(now.Add(time.Hour)) || !list[0].Created.Equal(now) || list[0].ID == "" {
		t.Fatalf("FastTokens = %+v, %v", list, err)
	}
	if list, _ := db.FastTokens(t.Context(), "alice", now.Add(2*time.Hour)); len(list) != 0 {
		t.Errorf("expired token listed: %+v", list)
	}
}

// TestFastCap: a user never has more than max devices; the oldest goes.
func TestFastCap(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	now := time.Unix(1_700_000_000, 0).UTC()
	for i := range 5 {
		issue(t, db, "alice", string(rune('a'+i)), 3, now.Add(time.Duration(i)*time.Minute), byte(i+1))
	}
	list, err := db.FastTokens(t.Context(), "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || !list[0].Created.Equal(now.Add(2*time.Minute)) {
		t.Errorf("after 5 devices with a cap of 3: %+v, want the newest 3", list)
	}
}

// TestFastRevoke: by id, all at once, by a password change and with the
// account.
func TestFastRevoke(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	now := time.Now()
	issue(t, db, "alice", "d1", 0, now, 1)
	issue(t, db, "alice", "d2", 0, now, 2)
	list, _ := db.FastTokens(t.Context(), "alice", now)
	if len(list) != 2 {
		t.Fatalf("%d devices", len(list))
	}
	if err := db.RevokeFastToken(t.Context(), "alice", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeFastToken(t.Context(), "alice", list[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking twice: %v, want ErrNotFound", err)
	}
	if l, _ := db.FastTokens(t.Context(), "alice", now); len(l) != 1 || l[0].ID != list[1].ID {
		t.Errorf("after revoking one: %+v", l)
	}
	c, err := store.DeriveCredentials("new password", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetCredentials(t.Context(), "alice", c); err != nil {
		t.Fatal(err)
	}
	if l, _ := db.FastTokens(t.Context(), "alice", now); len(l) != 0 {
		t.Errorf("after a password change: %+v, want none", l)
	}
	issue(t, db, "alice", "d3", 0, now, 3)
	if err := db.RevokeFastTokens(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if l, _ := db.FastTokens(t.Context(), "alice", now); len(l) != 0 {
		t.Errorf("after RevokeFastTokens: %+v", l)
	}
	// The sub-bucket goes with the account.
	issue(t, db, "alice", "d4", 0, now, 4)
	if err := db.DeleteUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	storetest.User(t, db, "alice")
	if l, _ := db.FastTokens(t.Context(), "alice", now); len(l) != 0 {
		t.Errorf("after deleting and recreating the account: %+v", l)
	}
}

// TestExpireFast deletes expired tokens over all users: whole records,
// and an expired slot beside a live one.
func TestExpireFast(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	storetest.User(t, db, "bob")
	now := time.Unix(1_700_000_000, 0).UTC()
	put := func(user, dev string, cur, next time.Duration) {
		t.Helper()
		err := db.UpdateFast(t.Context(), user, []byte(dev), 0, now, func(r *store.FastRecord, _ bool) (bool, error) {
			r.Current = store.FastSlot{Hash: [32]byte{1}, Expiry: now.Add(cur)}
			if next != 0 {
				r.Next = store.FastSlot{Hash: [32]byte{2}, Expiry: now.Add(next)}
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("alice", "old", time.Hour, 0)
	put("alice", "mixed", time.Hour, 3*time.Hour)
	put("bob", "live", 3*time.Hour, 0)
	n, err := db.ExpireFast(t.Context(), now.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("ExpireFast = %d, %v; want 2 tokens", n, err)
	}
	if r, err := db.FastRecord(t.Context(), "alice", []byte("old")); err == nil {
		t.Errorf("expired record kept: %+v", r)
	}
	if r, err := db.FastRecord(t.Context(), "alice", []byte("mixed")); err != nil || !r.Current.Empty() || r.Next.Empty() {
		t.Errorf("mixed record: %+v %v, want only the live slot", r, err)
	}
	if _, err := db.FastRecord(t.Context(), "bob", []byte("live")); err != nil {
		t.Errorf("live record: %v", err)
	}
}
