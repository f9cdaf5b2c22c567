package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

// TestCreateInviteQuota shows the per-user invite quota holding when many
// requests race for it: exactly max succeed, the rest get ErrQuota, and
// the window slides.
func TestCreateInviteQuota(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	storetest.User(t, db, "alice")
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const max, tries = 3, 12
	week := 7 * 24 * time.Hour
	inv := func(at time.Time) store.Invite {
		tok, err := store.NewInviteToken()
		if err != nil {
			t.Fatal(err)
		}
		return store.Invite{Token: tok, Created: at, Expires: at.Add(week), Uses: 1, Creator: "alice"}
	}
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		ok, quota  int
		unexpected []error
	)
	for range tries {
		wg.Go(func() {
			err := db.CreateInviteQuota(ctx, inv(now), max, week)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrQuota):
				quota++
			default:
				unexpected = append(unexpected, err)
			}
		})
	}
	wg.Wait()
	if ok != max || quota != tries-max || len(unexpected) > 0 {
		t.Fatalf("%d racing CreateInviteQuota(max %d): %d ok, %d ErrQuota, errors %v", tries, max, ok, quota, unexpected)
	}
	// Using the invites up does not give the allowance back.
	invs, _ := db.UserInvites(ctx, "alice")
	if len(invs) != max {
		t.Fatalf("UserInvites = %d, want %d", len(invs), max)
	}
	if n, _ := db.ExpireInvites(ctx, now.Add(2*week)); n != max {
		t.Fatalf("ExpireInvites = %d", n)
	}
	if err := db.CreateInviteQuota(ctx, inv(now.Add(time.Hour)), max, week); !errors.Is(err, store.ErrQuota) {
		t.Errorf("after the invites expired, within the week: %v, want ErrQuota", err)
	}
	if err := db.CreateInviteQuota(ctx, inv(now.Add(week+time.Second)), max, week); err != nil {
		t.Errorf("a week later: %v", err)
	}
	if n, err := db.InvitesMade(ctx, "alice", now); err != nil || n != 1 {
		t.Errorf("InvitesMade after the window slid = %d, %v; want 1 (old entries dropped)", n, err)
	}
	if err := db.CreateInviteQuota(ctx, inv(now), max, week); err != nil && !errors.Is(err, store.ErrQuota) {
		t.Errorf("unexpected %v", err)
	}
	if err := db.CreateInviteQuota(ctx, store.Invite{Token: "x", Created: now, Expires: now.Add(week), Uses: 1, Creator: "nobody"}, max, week); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown creator: %v, want ErrNotFound", err)
	}
	// The counter is in the account's subtree: gone with the account.
	if err := db.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InvitesMade(ctx, "alice", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InvitesMade after deletion: %v, want ErrNotFound", err)
	}
	if invs, _ := db.Invites(ctx); len(invs) != 0 {
		t.Errorf("invites after deletion: %d", len(invs))
	}
}
