package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func uploadUsageDB(t *testing.T) (*DB, string) {
	t.Helper()
	db := openTest(t, filepath.Join(t.TempDir(), "chatbx.db"), migrations)
	c, err := DeriveCredentials("secret", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(context.Background(), "alice", c); err != nil {
		t.Fatal(err)
	}
	return db, "alice"
}

func usageSlot(id string, size int64, created time.Time) Upload {
	return Upload{ID: id, Name: id, Size: size, Created: created,
		Expires: created.Add(time.Hour), PutBy: created.Add(5 * time.Minute), PutHash: []byte("h")}
}

// TestUploadQuotaReadsTotals shows that the quota check reads the running
// total rather than every record: with the user's older records made
// unreadable, a new slot is still checked (and counted) correctly.
// Fails on main before the running totals (the check decoded every record).
func TestUploadQuotaReadsTotals(t *testing.T) {
	t.Parallel()
	db, user := uploadUsageDB(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	lim := UploadLimits{Quota: 1000}
	for i := range 20 {
		id := fmt.Sprintf("old%02d", i)
		if err := db.PutUpload(ctx, user, usageSlot(id, 10, t0), lim); err != nil {
			t.Fatal(err)
		}
		if err := db.CompleteUpload(ctx, id, t0, lim.Quota); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUploads)
		for i := range 20 {
			if err := b.Put(fmt.Appendf(nil, "old%02d", i), []byte{0xff}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUpload(ctx, user, usageSlot("new1", 800, t0.Add(time.Minute)), lim); err != nil {
		t.Fatalf("PutUpload with unreadable old records = %v, want nil", err)
	}
	if err := db.PutUpload(ctx, user, usageSlot("new2", 1, t0.Add(time.Minute)), lim); !errors.Is(err, ErrQuota) {
		t.Fatalf("PutUpload over the quota = %v, want ErrQuota", err)
	}
}

// TestUploadUsageRecount: records written before the running totals
// existed are counted once, at the account's next upload change:
// complete uploads count, incomplete ones until their PutBy.
func TestUploadUsageRecount(t *testing.T) {
	t.Parallel()
	db, user := uploadUsageDB(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, u := range []Upload{usageSlot("done", 50, t0), usageSlot("pending", 30, t0.Add(time.Minute)), usageSlot("stale", 40, t0.Add(-time.Hour))} {
		if err := db.PutUpload(ctx, user, u, UploadLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CompleteUpload(ctx, "done", t0, 0); err != nil {
		t.Fatal(err)
	}
	// As an older version left the account: records, no totals.
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		u := tx.Bucket(bucketUsers).Bucket([]byte(user))
		for _, name := range [][]byte{bucketUploadUsage, bucketUploadPending} {
			if err := u.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lim := UploadLimits{Quota: 100}
	now := t0.Add(2 * time.Minute) // pending (until 6 min) still counts: 50+30
	if err := db.PutUpload(ctx, user, usageSlot("x1", 21, now), lim); !errors.Is(err, ErrQuota) {
		t.Fatalf("PutUpload(21) after recount = %v, want ErrQuota", err)
	}
	if err := db.PutUpload(ctx, user, usageSlot("x2", 20, now), lim); err != nil {
		t.Fatalf("PutUpload(20) after recount = %v, want nil", err)
	}
}
