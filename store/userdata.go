package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// keyVCard is the one key of the vcard bucket.
var keyVCard = []byte("vcard")

// keyPrivateBytes holds, in the private bucket, the total bytes of the
// stored fragments (uvarint) for Limits.PrivateBytes. Callers' keys never
// start with a NUL byte, so it cannot collide.
var keyPrivateBytes = []byte{0, 'b'}

// privateBytesTx sums a private bucket's values (for the migration).
func privateBytesTx(b *bolt.Bucket) uint64 {
	var n uint64
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) > 0 && k[0] != 0 && len(v) > 0 {
			n += uint64(len(v) - 1)
		}
	}
	return n
}

// Blocklist returns the JIDs the user blocks (XEP-0191) in byte order.
// It fails with ErrNotFound for an unknown user.
func (db *DB) Blocklist(ctx context.Context, user string) ([]string, error) {
	var jids []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketBlocklist)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(k, _ []byte) error {
			jids = append(jids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: blocklist: %w", err)
	}
	return jids, nil
}

// Block adds JIDs to the user's blocklist; JIDs already blocked are kept.
// It fails with ErrNotFound for an unknown user and ErrInvalid for an empty JID.
func (db *DB) Block(ctx context.Context, user string, jids []string) error {
	for _, j := range jids {
		if err := checkJID(j); err != nil {
			return fmt.Errorf("store: block: %w", err)
		}
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketBlocklist)
		if err != nil {
			return err
		}
		for _, j := range jids {
			if err := b.Put([]byte(j), flagValue); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: block: %w", err)
	}
	return nil
}

// Unblock removes JIDs from the user's blocklist; with no JIDs it empties
// the list (XEP-0191 §3.4). JIDs not on the list are ignored.
// It fails with ErrNotFound for an unknown user.
func (db *DB) Unblock(ctx context.Context, user string, jids []string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		u, err := userBucket(tx, user)
		if err != nil {
			return err
		}
		if len(jids) == 0 {
			if u.Bucket(bucketBlocklist) == nil {
				return nil
			}
			if err := u.DeleteBucket(bucketBlocklist); err != nil {
				return err
			}
			_, err := u.CreateBucket(bucketBlocklist)
			return err
		}
		b, err := userSub(tx, user, bucketBlocklist)
		if err != nil {
			return err
		}
		for _, j := range jids {
			if j == "" {
				continue
			}
			if err := b.Delete([]byte(j)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: unblock: %w", err)
	}
	return nil
}

// VCard returns the user's vCard (XEP-0054) as stored XML, or ErrNotFound
// if the user or the vCard does not exist.
func (db *DB) VCard(ctx context.Context, user string) ([]byte, error) {
	v, err := db.getUserValue(ctx, user, bucketVCard, keyVCard)
	if err != nil {
		return nil, fmt.Errorf("store: vcard: %w", err)
	}
	return v, nil
}

// SetVCard stores the user's vCard XML; an empty xml deletes it.
// It fails with ErrNotFound for an unknown user.
func (db *DB) SetVCard(ctx context.Context, user string, xml []byte) error {
	if err := db.putUserValue(ctx, user, bucketVCard, keyVCard, xml); err != nil {
		return fmt.Errorf("store: set vcard: %w", err)
	}
	return nil
}

// Private returns the private XML (XEP-0049) stored under key, or
// ErrNotFound. The caller chooses the key (for example "name namespace").
func (db *DB) Private(ctx context.Context, user, key string) ([]byte, error) {
	if key == "" || key[0] == 0 {
		return nil, fmt.Errorf("store: private: %w", ErrNotFound)
	}
	v, err := db.getUserValue(ctx, user, bucketPrivate, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("store: private: %w", err)
	}
	return v, nil
}

// SetPrivate stores private XML under key; an empty xml deletes it.
// It fails with ErrNotFound for an unknown user, ErrInvalid for an empty
// key or one starting with a NUL byte, and ErrQuota when the user's
// fragments would exceed Limits.PrivateBytes in total.
func (db *DB) SetPrivate(ctx context.Context, user, key string, xml []byte) error {
	if key == "" || key[0] == 0 || len(key) > bolt.MaxKeySize {
		return fmt.Errorf("store: set private: %w: key", ErrInvalid)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketPrivate)
		if err != nil {
			return err
		}
		total := getUvarint(b, keyPrivateBytes)
		if old := b.Get([]byte(key)); len(old) > 0 {
			total -= min(total, uint64(len(old)-1))
		}
		if len(xml) == 0 {
			if err := b.Delete([]byte(key)); err != nil {
				return err
			}
			return putUvarint(b, keyPrivateBytes, total)
		}
		if over(total, uint64(len(xml)), db.limits.PrivateBytes) {
			return ErrQuota
		}
		v := make([]byte, 0, 1+len(xml))
		v = append(v, codecV1)
		if err := b.Put([]byte(key), append(v, xml...)); err != nil {
			return err
		}
		return putUvarint(b, keyPrivateBytes, total+uint64(len(xml)))
	})
	if err != nil {
		return fmt.Errorf("store: set private: %w", err)
	}
	return nil
}

// PrivateKeys returns the keys of the user's private XML storage in byte
// order (for the account export).
func (db *DB) PrivateKeys(ctx context.Context, user string) ([]string, error) {
	var keys []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketPrivate)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) > 0 && k[0] != 0 {
				keys = append(keys, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: private keys: %w", err)
	}
	return keys, nil
}

// getUserValue reads users/<user>/<bucket>/<key>: version byte, then data.
func (db *DB) getUserValue(ctx context.Context, user string, bucket, key []byte) ([]byte, error) {
	var out []byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucket)
		if err != nil {
			return err
		}
		var v []byte
		if b != nil {
			v = b.Get(key)
		}
		if v == nil {
			return ErrNotFound
		}
		d := newDecoder(v)
		out = bytes.Clone(d.rest())
		if out == nil {
			out = []byte{}
		}
		return d.err
	})
	return out, err
}

// putUserValue writes users/<user>/<bucket>/<key>, deleting it if data is empty.
func (db *DB) putUserValue(ctx context.Context, user string, bucket, key, data []byte) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucket)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return b.Delete(key)
		}
		v := make([]byte, 0, 1+len(data))
		v = append(v, codecV1)
		return b.Put(key, append(v, data...))
	})
}
