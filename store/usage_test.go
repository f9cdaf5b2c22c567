package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestUsageMigration: data written by a version without the usage
// counters is counted when the file is opened, so the caps hold for it.
func TestUsageMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	old, err := openWith(path, Options{NoSync: true}, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	// What the previous version wrote: buckets and values, no counters.
	err = old.bolt.Update(func(tx *bolt.Tx) error {
		u, err := tx.Bucket(bucketUsers).CreateBucket([]byte("alice"))
		if err != nil {
			return err
		}
		for _, name := range userBuckets {
			if _, err := u.CreateBucket(name); err != nil {
				return err
			}
		}
		r := u.Bucket(bucketRoster)
		for _, j := range []string{"a@x", "b@x"} {
			if err := r.Put([]byte(j), encodeRosterItem(&RosterItem{JID: j})); err != nil {
				return err
			}
		}
		off := u.Bucket(bucketOffline)
		for i := uint64(1); i <= 3; i++ {
			if err := off.Put(u64key(i), encodeOffline(time.Now(), nil, []byte("0123456789"))); err != nil {
				return err
			}
		}
		return u.Bucket(bucketPrivate).Put([]byte("k ns"), append([]byte{codecV1}, "12345"...))
	})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := Open(path, Options{NoSync: true, Limits: Limits{RosterItems: 2, OfflineBytes: 35, PrivateBytes: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.PutRosterItem(ctx, "alice", RosterItem{JID: "c@x"}); !errors.Is(err, ErrQuota) {
		t.Errorf("PutRosterItem on a migrated full roster = %v, want ErrQuota", err)
	}
	if _, err := db.PushOffline(ctx, "alice", time.Now(), []byte("0123456789"), 0); !errors.Is(err, ErrQuota) {
		t.Errorf("PushOffline on a migrated queue of 30 bytes, cap 35 = %v, want ErrQuota", err)
	}
	if err := db.SetPrivate(ctx, "alice", "j ns", []byte("123456")); !errors.Is(err, ErrQuota) {
		t.Errorf("SetPrivate over the migrated total = %v, want ErrQuota", err)
	}
	if n, _ := db.OfflineCount(ctx, "alice"); n != 3 {
		t.Errorf("OfflineCount = %d, want 3", n)
	}
}
