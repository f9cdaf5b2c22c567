package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// TrashUserUploads deletes the uploads ids of user in one transaction as
// an account deletion does: each record leaves the index and the user's
// list and moves to the trash, whose files the upload code unlinks
// (TrashedUploads, ClearTrashedUploads; the retention sweep finishes it
// after a crash). Ids that name no upload of user are skipped, so a user
// can delete only their own. It returns how many were moved.
func (db *DB) TrashUserUploads(ctx context.Context, user string, ids []string) (int, error) {
	n := 0
	err := db.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		if _, err := userBucket(tx, user); err != nil {
			return err
		}
		all := tx.Bucket(bucketUploads)
		if all == nil {
			return nil
		}
		for _, id := range ids {
			if checkUploadID(id) != nil {
				continue
			}
			u, err := getUpload(tx, id)
			if errors.Is(err, ErrNotFound) || err == nil && u.Owner != user {
				continue
			}
			if err != nil {
				return err
			}
			v := bytes.Clone(all.Get([]byte(id)))
			if err := deleteUploadTx(tx, id); err != nil {
				return err
			}
			// The trash key keeps the origin, as dropRef writes it.
			if err := tx.Bucket(bucketTrash).Put(append(bytes.Clone(trashUploadPrefix), id...), v); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: trash uploads: %w", err)
	}
	return n, nil
}
