package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

func openLimits(t *testing.T, lim store.Limits) *store.DB {
	t.Helper()
	return storetest.OpenLimits(t, filepath.Join(t.TempDir(), "chatbx.db"), lim)
}

// TestOfflineCaps shows the offline queue's caps holding: per recipient in
// messages and bytes, and per sender as a share of both, so that one
// sender cannot fill another user's queue. Fails on main before the caps
// (no byte or sender cap existed).
func TestOfflineCaps(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t0 := time.Unix(1_700_000_000, 0)
	msg := func(n int) []byte { return []byte("<message>" + strings.Repeat("x", n-19) + "</message>") }

	t.Run("sender share of count", func(t *testing.T) {
		db := openLimits(t, store.Limits{OfflineSenderPercent: 20})
		storetest.User(t, db, "alice")
		for i := range 2 {
			if _, err := db.PushOfflineFrom(ctx, "alice", "mallory@example.org", t0, msg(100), 10); err != nil {
				t.Fatalf("push %d = %v", i, err)
			}
		}
		if _, err := db.PushOfflineFrom(ctx, "alice", "mallory@example.org", t0, msg(100), 10); !errors.Is(err, store.ErrQuota) {
			t.Fatalf("third push from one sender at 20%% of 10 = %v, want ErrQuota", err)
		}
		// Others can still reach alice.
		if _, err := db.PushOfflineFrom(ctx, "alice", "bob@example.org", t0, msg(100), 10); err != nil {
			t.Fatalf("push from another sender = %v", err)
		}
		n, _, fromN, _, err := db.OfflineUsage(ctx, "alice", "mallory@example.org")
		if err != nil || n != 3 || fromN != 2 {
			t.Errorf("OfflineUsage = %d, %d, %v; want 3, 2", n, fromN, err)
		}
	})
	t.Run("sender share of bytes", func(t *testing.T) {
		db := openLimits(t, store.Limits{OfflineBytes: 1000, OfflineSenderPercent: 50})
		storetest.User(t, db, "alice")
		for i := range 5 {
			if _, err := db.PushOfflineFrom(ctx, "alice", "mallory@example.org", t0, msg(100), 0); err != nil {
				t.Fatalf("push %d = %v", i, err)
			}
		}
		if _, err := db.PushOfflineFrom(ctx, "alice", "mallory@example.org", t0, msg(100), 0); !errors.Is(err, store.ErrQuota) {
			t.Fatalf("push over the sender's 500 bytes = %v, want ErrQuota", err)
		}
		for i := range 5 {
			if _, err := db.PushOfflineFrom(ctx, "alice", fmt.Sprintf("u%d@example.org", i), t0, msg(100), 0); err != nil {
				t.Fatalf("push from other sender %d = %v", i, err)
			}
		}
		// The queue holds 1000 bytes: the recipient's cap holds for everyone.
		if _, err := db.PushOfflineFrom(ctx, "alice", "carol@example.org", t0, msg(100), 0); !errors.Is(err, store.ErrQuota) {
			t.Fatalf("push over the queue's 1000 bytes = %v, want ErrQuota", err)
		}
		if _, err := db.PushOffline(ctx, "alice", t0, []byte("x"), 0); !errors.Is(err, store.ErrQuota) {
			t.Fatalf("push without sender over the queue's bytes = %v, want ErrQuota", err)
		}
	})
	t.Run("delivery frees the share", func(t *testing.T) {
		db := openLimits(t, store.Limits{OfflineSenderPercent: 10})
		storetest.User(t, db, "alice")
		id, err := db.PushOfflineFrom(ctx, "alice", "mallory@example.org", t0, msg(50), 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PushOfflineFrom(ctx, "alice", "mallory@example.org", t0, msg(50), 10); !errors.Is(err, store.ErrQuota) {
			t.Fatalf("second push at 10%% of 10 = %v, want ErrQuota", err)
		}
		if err := db.DeleteOffline(ctx, "alice", id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PushOfflineFrom(ctx, "alice", "mallory@example.org", t0, msg(50), 10); err != nil {
			t.Fatalf("push after delivery = %v", err)
		}
		// Expiry frees it too.
		if _, err := db.ExpireOffline(ctx, t0.Add(time.Second), nil); err != nil {
			t.Fatal(err)
		}
		n, size, fromN, fromSize, err := db.OfflineUsage(ctx, "alice", "mallory@example.org")
		if err != nil || n != 0 || size != 0 || fromN != 0 || fromSize != 0 {
			t.Errorf("usage after expiry = %d %d %d %d %v, want zeros", n, size, fromN, fromSize, err)
		}
	})
}

// TestOfflineSenderNotStored: the sender's JID is not written to the
// store in clear by the counters (only the stanza, which names it, until
// delivery).
func TestOfflineSenderNotStored(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db := storetest.OpenLimits(t, path, store.Limits{})
	storetest.User(t, db, "alice")
	id, err := db.PushOfflineFrom(t.Context(), "alice", "sender-marker@example.org", time.Now(), []byte("<message/>"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOffline(t.Context(), "alice", id); err != nil {
		t.Fatal(err)
	}
	if err := db.Scrub(t.Context()); err != nil {
		t.Fatal(err)
	}
	if found := storetest.ScanDir(t, filepath.Dir(path), "sender-marker"); len(found) > 0 {
		t.Errorf("sender JID found in the data directory: %v", found)
	}
}

// TestOfflinePage reads a queue in pages by id cursor, bounded by count
// and bytes, and passes over malformed records without stopping.
func TestOfflinePage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openLimits(t, store.Limits{OfflineBytes: -1})
	storetest.User(t, db, "alice")
	for i := range 25 {
		if _, err := db.PushOffline(ctx, "alice", time.Now(), fmt.Appendf(nil, "<message id='%d'/>", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := uint64(0)
	for {
		page, err := db.OfflinePage(ctx, "alice", after, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d, want at most 10", len(page))
		}
		for _, m := range page {
			got = append(got, string(m.Stanza))
		}
		after = page[len(page)-1].ID
	}
	if len(got) != 25 || got[0] != "<message id='0'/>" || got[24] != "<message id='24'/>" {
		t.Errorf("paged read = %d messages %q…, want 25 in order", len(got), got[:min(2, len(got))])
	}
	page, err := db.OfflinePage(ctx, "alice", 0, 100, 40)
	if err != nil || len(page) != 1 {
		t.Errorf("page bounded to 40 bytes = %d messages, %v; want 1", len(page), err)
	}
}

// TestWaitOfflineGone: a waiter wakes when the message is deleted, and
// when its context ends.
func TestWaitOfflineGone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openLimits(t, store.Limits{})
	storetest.User(t, db, "alice")
	id, err := db.PushOffline(ctx, "alice", time.Now(), []byte("<message/>"), 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- db.WaitOfflineGone(ctx, "alice", id) }()
	if err := db.DeleteOffline(ctx, "alice", id); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WaitOfflineGone = %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("WaitOfflineGone did not return after the delete")
	}
	id, _ = db.PushOffline(ctx, "alice", time.Now(), []byte("<message/>"), 0)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.WaitOfflineGone(cctx, "alice", id); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitOfflineGone(cancelled) = %v, want context.Canceled", err)
	}
}

// TestRosterCap: a roster holds at most Limits.RosterItems items, through
// both ways of adding one; changing or deleting items still works. Fails
// on main before the cap.
func TestRosterCap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openLimits(t, store.Limits{RosterItems: 3})
	storetest.User(t, db, "alice")
	for i := range 2 {
		if _, err := db.PutRosterItem(ctx, "alice", store.RosterItem{JID: fmt.Sprintf("c%d@example.org", i)}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(it *store.RosterItem, _ bool) (bool, error) { it.PendingIn = true; return true, nil }
	if _, _, err := db.UpdateRosterItem(ctx, "alice", "c2@example.org", add); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutRosterItem(ctx, "alice", store.RosterItem{JID: "c3@example.org"}); !errors.Is(err, store.ErrQuota) {
		t.Errorf("PutRosterItem beyond the cap = %v, want ErrQuota", err)
	}
	if _, _, err := db.UpdateRosterItem(ctx, "alice", "c4@example.org", add); !errors.Is(err, store.ErrQuota) {
		t.Errorf("UpdateRosterItem beyond the cap = %v, want ErrQuota", err)
	}
	// Existing items change freely.
	if _, err := db.PutRosterItem(ctx, "alice", store.RosterItem{JID: "c0@example.org", Name: "zero"}); err != nil {
		t.Errorf("changing an item of a full roster = %v", err)
	}
	if _, err := db.DeleteRosterItem(ctx, "alice", "c1@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutRosterItem(ctx, "alice", store.RosterItem{JID: "c3@example.org"}); err != nil {
		t.Errorf("PutRosterItem after a delete = %v", err)
	}
	_, items, err := db.Roster(ctx, "alice")
	if err != nil || len(items) != 3 {
		t.Errorf("Roster = %d items, %v; want 3", len(items), err)
	}
}

// TestPrivateCap: the private storage of one user holds at most
// Limits.PrivateBytes over all keys; replacing and deleting keep the total
// right. Fails on main before the cap.
func TestPrivateCap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openLimits(t, store.Limits{PrivateBytes: 100})
	storetest.User(t, db, "alice")
	x := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	for i := range 2 {
		if err := db.SetPrivate(ctx, "alice", fmt.Sprintf("k%d ns", i), x(40)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetPrivate(ctx, "alice", "k2 ns", x(40)); !errors.Is(err, store.ErrQuota) {
		t.Errorf("SetPrivate beyond 100 bytes = %v, want ErrQuota", err)
	}
	if err := db.SetPrivate(ctx, "alice", "k0 ns", x(60)); err != nil {
		t.Errorf("replacing a value within the cap = %v", err)
	}
	if err := db.SetPrivate(ctx, "alice", "k1 ns", nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPrivate(ctx, "alice", "k2 ns", x(40)); err != nil {
		t.Errorf("SetPrivate after a delete = %v", err)
	}
	keys, err := db.PrivateKeys(ctx, "alice")
	if err != nil || len(keys) != 2 {
		t.Errorf("PrivateKeys = %q, %v; want 2 keys", keys, err)
	}
}

// TestArchiveCap: an archive over Limits.ArchiveBytes drops its oldest
// messages to make room for the new one; the counters stay right.
// Fails on main before the cap (the archive grew without bound).
func TestArchiveCap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openLimits(t, store.Limits{ArchiveBytes: 1000})
	storetest.User(t, db, "alice")
	gen, err := db.SetArchivePrefs(ctx, "alice", store.ArchivePrefs{Default: "always"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	stanza := []byte("<message>" + strings.Repeat("x", 70) + "</message>") // ~109 bytes stored
	for i := range 30 {
		if _, err := db.AppendArchive(ctx, "alice", gen, t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("c%d@example.org", i%3), false, stanza); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.ArchiveBytes(ctx, "alice"); n > 1000 {
			t.Fatalf("after %d appends the archive holds %d bytes, over 1000", i+1, n)
		}
	}
	n, _ := db.ArchiveCount(ctx, "alice")
	if n < 8 || n > 9 {
		t.Errorf("ArchiveCount = %d, want the 8 or 9 newest that fit", n)
	}
	first, last, ok, err := db.ArchiveEnds(ctx, "alice")
	if err != nil || !ok || !last.At.Equal(t0.Add(29*time.Second)) || !first.At.Equal(t0.Add(time.Duration(30-n)*time.Second)) {
		t.Errorf("ArchiveEnds = %v..%v, want the newest %d", first.At, last.At, n)
	}
	page, err := db.QueryArchive(ctx, "alice", store.ArchiveQuery{With: "c0@example.org", Max: 100})
	if err != nil || page.Count != len(page.Messages) {
		t.Errorf("with-index count %d for %d messages (%v)", page.Count, len(page.Messages), err)
	}
	if _, err := db.AppendArchive(ctx, "alice", gen, t0, "c0@example.org", false, make([]byte, 2000)); !errors.Is(err, store.ErrQuota) {
		t.Errorf("a message larger than the cap = %v, want ErrQuota", err)
	}
}

// TestUsageCountersConcurrent: the counters match the queue after
// concurrent pushes and deletes (they change in the data's transaction).
func TestUsageCountersConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openLimits(t, store.Limits{OfflineBytes: -1, OfflineSenderPercent: 100})
	storetest.User(t, db, "alice")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				id, err := db.PushOfflineFrom(ctx, "alice", fmt.Sprintf("s%d@example.org", g), time.Now(), []byte("<message/>"), 0)
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					db.DeleteOffline(ctx, "alice", id)
				}
			}
		})
	}
	wg.Wait()
	n, size, _, _, err := db.OfflineUsage(ctx, "alice", "s0@example.org")
	msgs, _ := db.Offline(ctx, "alice")
	if err != nil || n != int64(len(msgs)) || size != int64(len(msgs)*len("<message/>")) {
		t.Errorf("usage = %d messages %d bytes, queue holds %d", n, size, len(msgs))
	}
}
