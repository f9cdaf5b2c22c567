package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketPrefs is users/<localpart>/prefs: the account's small settings
// (key → value), such as who may send it messages from other servers.
// It lives in the account's subtree, so account deletion removes it.
var bucketPrefs = []byte("prefs")

// Caps of the preferences: they are few named settings, never data.
const (
	MaxPrefs          = 16
	MaxPrefKeyBytes   = 64
	MaxPrefValueBytes = 256
)

// Preference keys.
const (
	// PrefStrangers is who may send the account messages from other
	// servers: "accept" (default), "servers" (contacts' servers only) or
	// "contacts" (contacts only).
	PrefStrangers = "strangers"
)

// UserPref returns one preference of the account, "" when unset. It
// fails with ErrNotFound for an unknown user.
func (db *DB) UserPref(ctx context.Context, user, key string) (string, error) {
	var v string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketPrefs)
		if err != nil || b == nil {
			return err
		}
		v = string(b.Get([]byte(key)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: user pref: %w", err)
	}
	return v, nil
}

// UserPrefs returns every preference of the account (for the export).
func (db *DB) UserPrefs(ctx context.Context, user string) (map[string]string, error) {
	m := map[string]string{}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketPrefs)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			m[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: user prefs: %w", err)
	}
	return m, nil
}

// SetUserPref sets (or, with an empty value, removes) one preference. Keys
// and values are capped (MaxPrefKeyBytes, MaxPrefValueBytes: ErrInvalid)
// and so is their number (MaxPrefs: ErrQuota).
func (db *DB) SetUserPref(ctx context.Context, user, key, value string) error {
	if key == "" || len(key) > MaxPrefKeyBytes || len(value) > MaxPrefValueBytes {
		return fmt.Errorf("store: set user pref: %w", ErrInvalid)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketPrefs)
		if err != nil {
			return err
		}
		if value == "" {
			return b.Delete([]byte(key))
		}
		if b.Get([]byte(key)) == nil && b.Stats().KeyN >= MaxPrefs {
			return ErrQuota
		}
		return b.Put([]byte(key), []byte(value))
	})
	if err != nil {
		return fmt.Errorf("store: set user pref: %w", err)
	}
	return nil
}
