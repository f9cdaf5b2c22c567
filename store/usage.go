package store

import bolt "go.etcd.io/bbolt"

// countUsage is the migration that introduced the per-user usage counters
// of Limits: it counts, for every existing account, the offline queue's
// bytes, the roster's items, the private storage's bytes and the
// archive's bytes, so the caps hold for data written before them.
func countUsage(tx *bolt.Tx) error {
	users := tx.Bucket(bucketUsers)
	if users == nil {
		return nil
	}
	return users.ForEachBucket(func(name []byte) error {
		u := users.Bucket(name)
		if b := u.Bucket(bucketOffline); b != nil {
			n, size := offlineUsageTx(b)
			if err := putUvarint(b, keyOfflineCount, n); err != nil {
				return err
			}
			if err := putUvarint(b, keyOfflineBytes, size); err != nil {
				return err
			}
		}
		if b := u.Bucket(bucketRoster); b != nil {
			if err := putUvarint(b, keyRosterCount, rosterCountTx(b)); err != nil {
				return err
			}
		}
		if b := u.Bucket(bucketPrivate); b != nil {
			if err := putUvarint(b, keyPrivateBytes, privateBytesTx(b)); err != nil {
				return err
			}
		}
		if b, meta := u.Bucket(bucketArchive), u.Bucket(bucketArchiveMeta); b != nil && meta != nil {
			if err := putUvarint(meta, keyArchiveBytes, archiveBytesTx(b)); err != nil {
				return err
			}
		}
		return nil
	})
}
