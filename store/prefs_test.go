package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"chatbx/store"
	"chatbx/store/storetest"
)

// TestUserPrefs: set, read, remove; the caps hold; account deletion
// removes the preferences with the account.
func TestUserPrefs(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	storetest.User(t, db, "alice")
	if v, err := db.UserPref(ctx, "alice", store.PrefStrangers); err != nil || v != "" {
		t.Fatalf("unset pref = %q, %v", v, err)
	}
	if err := db.SetUserPref(ctx, "alice", store.PrefStrangers, "contacts"); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.UserPref(ctx, "alice", store.PrefStrangers); v != "contacts" {
		t.Fatalf("pref = %q", v)
	}
	if err := db.SetUserPref(ctx, "alice", "k", strings.Repeat("x", store.MaxPrefValueBytes+1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("oversized value: %v", err)
	}
	for i := 1; i < store.MaxPrefs; i++ {
		if err := db.SetUserPref(ctx, "alice", fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetUserPref(ctx, "alice", "one-too-many", "v"); !errors.Is(err, store.ErrQuota) {
		t.Errorf("pref beyond MaxPrefs: %v", err)
	}
	if err := db.SetUserPref(ctx, "alice", store.PrefStrangers, "accept"); err != nil {
		t.Errorf("changing an existing pref at the cap: %v", err)
	}
	if err := db.SetUserPref(ctx, "nobody", store.PrefStrangers, "accept"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := db.DeleteAccount(ctx, "alice", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	storetest.User(t, db, "alice")
	if m, err := db.UserPrefs(ctx, "alice"); err != nil || len(m) != 0 {
		t.Errorf("prefs after deletion and re-creation = %v, %v", m, err)
	}
}
