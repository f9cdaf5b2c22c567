package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyLocked in users/<user>/account marks an account its user restricted
// (GDPR Art. 18, "Sperrung"): the value is the version byte and the time
// of the lock as big-endian UnixNano. Living in the account's subtree, it
// goes with the account when the account is deleted.
var keyLocked = []byte("locked")

// SetLocked sets or clears the restriction flag of user; at is recorded
// with a lock (it appears in the export). Setting a flag that is already
// set keeps its first time. It fails with ErrNotFound for an unknown user.
func (db *DB) SetLocked(ctx context.Context, user string, locked bool, at time.Time) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketAccount)
		if err != nil {
			return err
		}
		if !locked {
			return b.Delete(keyLocked)
		}
		if b.Get(keyLocked) != nil {
			return nil
		}
		v := binary.BigEndian.AppendUint64([]byte{codecV1}, uint64(at.UTC().UnixNano()))
		return b.Put(keyLocked, v)
	})
	if err != nil {
		return fmt.Errorf("store: set locked: %w", err)
	}
	return nil
}

// Locked reports whether user's account is restricted and since when. It
// fails with ErrNotFound for an unknown user.
func (db *DB) Locked(ctx context.Context, user string) (bool, time.Time, error) {
	var (
		locked bool
		at     time.Time
	)
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketAccount)
		if err != nil || b == nil {
			return err
		}
		locked, at, err = decodeLocked(b.Get(keyLocked))
		return err
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("store: locked: %w", err)
	}
	return locked, at, nil
}

// LockedUsers returns the names of the restricted accounts in byte order.
// It reads every account: the server calls it once at start and keeps the
// set in memory.
func (db *DB) LockedUsers(ctx context.Context) ([]string, error) {
	var users []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketUsers)
		return all.ForEachBucket(func(name []byte) error {
			b := all.Bucket(name).Bucket(bucketAccount)
			if b != nil && b.Get(keyLocked) != nil {
				users = append(users, string(name))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: locked users: %w", err)
	}
	return users, nil
}

func decodeLocked(v []byte) (bool, time.Time, error) {
	if v == nil {
		return false, time.Time{}, nil
	}
	if len(v) != 9 || v[0] != codecV1 {
		return false, time.Time{}, fmt.Errorf("%w: lock flag", ErrCorrupt)
	}
	return true, time.Unix(0, int64(binary.BigEndian.Uint64(v[1:]))).UTC(), nil
}
