package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OfflineMessage is a stanza stored for a user who was offline (XEP-0160).
// ID orders the queue; At is when the server received the stanza (for the
// XEP-0203 delay and for expiry).
type OfflineMessage struct {
	ID     uint64
	At     time.Time
	Stanza []byte
}

// keyOfflineCount holds the number of queued messages in the offline
// bucket. Message keys are 8 bytes long, so a 1-byte key cannot collide.
var keyOfflineCount = []byte{'n'}

func offlineCount(b *bolt.Bucket) uint64 {
	v := b.Get(keyOfflineCount)
	if v == nil {
		return 0
	}
	d := newDecoder(v)
	n := d.uvarint()
	if d.done() != nil {
		return 0
	}
	return n
}

func setOfflineCount(b *bolt.Bucket, n uint64) error {
	if n == 0 {
		return b.Delete(keyOfflineCount)
	}
	return b.Put(keyOfflineCount, appendUvarint([]byte{codecV1}, n))
}

// Offline message value: version, 8-byte UnixNano, stanza.
func encodeOffline(at time.Time, stanza []byte) []byte {
	v := make([]byte, 0, 9+len(stanza))
	v = append(v, codecV1)
	v = binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
	return append(v, stanza...)
}

// decodeOffline decodes a stored message; Stanza is a copy.
func decodeOffline(k, v []byte) (OfflineMessage, error) {
	if len(k) != 8 {
		return OfflineMessage{}, fmt.Errorf("%w: offline key", ErrCorrupt)
	}
	d := newDecoder(v)
	at := int64(d.u64())
	stanza := bytes.Clone(d.rest())
	if d.err != nil {
		return OfflineMessage{}, d.err
	}
	if stanza == nil {
		stanza = []byte{}
	}
	return OfflineMessage{
		ID:     binary.BigEndian.Uint64(k),
		At:     time.Unix(0, at).UTC(),
		Stanza: stanza,
	}, nil
}

// PushOffline appends a stanza to the user's offline queue and returns its
// id; ids grow with every push. If max > 0 and the queue already holds max
// messages it fails with ErrQuota. It fails with ErrNotFound for an
// unknown user. The stanza is stored as given: the caller has serialised it.
func (db *DB) PushOffline(ctx context.Context, user string, at time.Time, stanza []byte, max int) (id uint64, err error) {
	err = db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil {
			return err
		}
		n := offlineCount(b)
		if max > 0 && n >= uint64(max) {
			return ErrQuota
		}
		if id, err = b.NextSequence(); err != nil {
			return err
		}
		if err := b.Put(u64key(id), encodeOffline(at, stanza)); err != nil {
			return err
		}
		return setOfflineCount(b, n+1)
	})
	if err != nil {
		return 0, fmt.Errorf("store: push offline: %w", err)
	}
	return id, nil
}

// Offline returns the user's queued messages in id order, without removing
// them: the caller deletes them with DeleteOffline once delivered.
// It fails with ErrNotFound for an unknown user.
func (db *DB) Offline(ctx context.Context, user string) ([]OfflineMessage, error) {
	var msgs []OfflineMessage
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil || b == nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			m, err := decodeOffline(k, v)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: offline: %w", err)
	}
	return msgs, nil
}

// OfflineCount returns the number of messages in the user's offline queue.
func (db *DB) OfflineCount(ctx context.Context, user string) (int, error) {
	var n uint64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if b != nil {
			n = offlineCount(b)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: offline count: %w", err)
	}
	return int(n), nil
}

// DeleteOffline removes the given messages from the user's queue in one
// transaction; ids that are not queued are ignored. The bytes stay in free
// pages of the file until the next Scrub.
// It fails with ErrNotFound for an unknown user.
func (db *DB) DeleteOffline(ctx context.Context, user string, ids ...uint64) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil {
			return err
		}
		n := offlineCount(b)
		for _, id := range ids {
			k := u64key(id)
			if b.Get(k) == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			if n > 0 {
				n--
			}
		}
		return setOfflineCount(b, n)
	})
	if err != nil {
		return fmt.Errorf("store: delete offline: %w", err)
	}
	return nil
}

// ExpireOffline deletes every queued message, of every user, received
// before the given time, and returns how many it deleted. For each one it
// first calls fn (if not nil) with the user and the message, for example to
// bounce an error to the sender. All of it is one transaction; fn runs
// inside it, must be quick and must not call DB methods (collect and act
// afterwards). m.Stanza is a copy fn may keep.
func (db *DB) ExpireOffline(ctx context.Context, before time.Time, fn func(user string, m OfflineMessage)) (int, error) {
	cut := before.UnixNano()
	total := 0
	err := db.update(ctx, func(tx *bolt.Tx) error {
		total = 0
		return tx.Bucket(bucketUsers).ForEachBucket(func(name []byte) error {
			b := tx.Bucket(bucketUsers).Bucket(name).Bucket(bucketOffline)
			if b == nil {
				return nil
			}
			// Collect first: deleting under a cursor can skip items.
			var expired [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 8 || len(v) < 9 {
					continue
				}
				if int64(binary.BigEndian.Uint64(v[1:9])) >= cut {
					continue
				}
				if fn != nil {
					m, err := decodeOffline(k, v)
					if err != nil {
						return err
					}
					fn(string(name), m)
				}
				expired = append(expired, k)
			}
			if len(expired) == 0 {
				return nil
			}
			n := offlineCount(b)
			for _, k := range expired {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			total += len(expired)
			return setOfflineCount(b, n-min(n, uint64(len(expired))))
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire offline: %w", err)
	}
	return total, nil
}
