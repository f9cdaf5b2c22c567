package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Setting returns the server-wide value stored under key (for example the
// web form HMAC secret or the end of a maintenance window), or ErrNotFound.
func (db *DB) Setting(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSettings).Get([]byte(key))
		if v == nil || key == "" {
			return ErrNotFound
		}
		d := newDecoder(v)
		out = bytes.Clone(d.rest())
		if out == nil {
			out = []byte{}
		}
		return d.err
	})
	if err != nil {
		return nil, fmt.Errorf("store: setting: %w", err)
	}
	return out, nil
}

// SetSetting stores v under key; a nil v deletes the setting.
// It fails with ErrInvalid for an empty key.
func (db *DB) SetSetting(ctx context.Context, key string, v []byte) error {
	if key == "" || len(key) > bolt.MaxKeySize {
		return fmt.Errorf("store: set setting: %w: key", ErrInvalid)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		if v == nil {
			return b.Delete([]byte(key))
		}
		val := make([]byte, 0, 1+len(v))
		val = append(val, codecV1)
		return b.Put([]byte(key), append(val, v...))
	})
	if err != nil {
		return fmt.Errorf("store: set setting: %w", err)
	}
	return nil
}
