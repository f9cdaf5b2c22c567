package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// OfflineTotal returns the number of messages waiting in all offline
// queues, from each account's counter (one read per account), for the
// metrics; it names nobody.
func (db *DB) OfflineTotal(ctx context.Context) (int64, error) {
	var n int64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketUsers)
		return all.ForEachBucket(func(name []byte) error {
			if b := all.Bucket(name).Bucket(bucketOffline); b != nil {
				n += int64(offlineCount(b))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: offline total: %w", err)
	}
	return n, nil
}
