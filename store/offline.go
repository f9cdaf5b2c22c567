package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OfflineMessage is a stanza stored for a user who was offline (XEP-0160).
// ID orders the queue; At is when the server received the stanza (for the
// XEP-0203 delay and for expiry). Stanza is nil for a record that does not
// decode (written by a broken older version): the caller drops it.
type OfflineMessage struct {
	ID     uint64
	At     time.Time
	Stanza []byte
}

// Keys of the offline bucket besides the 8-byte message ids (none of them
// is 8 bytes long, so they cannot collide with a message):
//
//	n            number of queued messages (uvarint)
//	b            bytes of the queued stanzas (uvarint)
//	k            16-byte random salt of the sender hashes, per queue
//	s<16 bytes>  per sender: messages and bytes queued (two uvarints)
//
// Privacy: a sender is named only by HMAC-SHA-256(salt, bare JID)
// truncated to 16 bytes, so the counters add no readable contact list
// (the stanzas themselves name their sender until they are delivered).
var (
	keyOfflineCount = []byte{'n'}
	keyOfflineBytes = []byte{'b'}
	keyOfflineSalt  = []byte{'k'}
)

const (
	offlineSenderPrefix = 's'
	offlineHashLen      = 16
	// offlineV2 is the value version that carries the sender hash.
	offlineV2 byte = 2
)

func offlineCount(b *bolt.Bucket) uint64 { return getUvarint(b, keyOfflineCount) }

func setOfflineCount(b *bolt.Bucket, n uint64) error { return putUvarint(b, keyOfflineCount, n) }

// Offline message value, version 1: version, 8-byte UnixNano, stanza.
// Version 2 adds the 16-byte sender hash after the time.
func encodeOffline(at time.Time, hash, stanza []byte) []byte {
	v := make([]byte, 0, 9+len(hash)+len(stanza))
	if hash == nil {
		v = append(v, codecV1)
	} else {
		v = append(v, offlineV2)
	}
	v = binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
	v = append(v, hash...)
	return append(v, stanza...)
}

// splitOffline returns the parts of a stored value (aliasing it), with ok
// false if it is malformed. hash is nil for a version 1 value.
func splitOffline(v []byte) (at int64, hash, stanza []byte, ok bool) {
	if len(v) < 9 {
		return 0, nil, nil, false
	}
	at = int64(binary.BigEndian.Uint64(v[1:9]))
	switch v[0] {
	case codecV1:
		return at, nil, v[9:], true
	case offlineV2:
		if len(v) < 9+offlineHashLen {
			return 0, nil, nil, false
		}
		return at, v[9 : 9+offlineHashLen], v[9+offlineHashLen:], true
	}
	return 0, nil, nil, false
}

// decodeOffline decodes a stored message; Stanza is a copy, or nil if the
// value is malformed.
func decodeOffline(k, v []byte) OfflineMessage {
	m := OfflineMessage{ID: binary.BigEndian.Uint64(k)}
	at, _, stanza, ok := splitOffline(v)
	if !ok {
		return m
	}
	m.At = time.Unix(0, at).UTC()
	m.Stanza = bytes.Clone(stanza)
	if m.Stanza == nil {
		m.Stanza = []byte{}
	}
	return m
}

// senderHash returns the queue's hash of sender, creating the salt if
// create is set; nil if there is no salt and create is false.
func senderHash(b *bolt.Bucket, sender string, create bool) ([]byte, error) {
	salt := b.Get(keyOfflineSalt)
	if salt == nil {
		if !create {
			return nil, nil
		}
		salt = make([]byte, 16)
		rand.Read(salt)
		if err := b.Put(keyOfflineSalt, salt); err != nil {
			return nil, err
		}
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(sender))
	return m.Sum(nil)[:offlineHashLen], nil
}

func senderKey(hash []byte) []byte {
	return append([]byte{offlineSenderPrefix}, hash...)
}

// senderUsage returns the messages and bytes queued from one sender.
func senderUsage(b *bolt.Bucket, hash []byte) (n, size uint64) {
	v := b.Get(senderKey(hash))
	if v == nil {
		return 0, 0
	}
	d := newDecoder(v)
	n, size = d.uvarint(), d.uvarint()
	if d.done() != nil {
		return 0, 0
	}
	return n, size
}

func setSenderUsage(b *bolt.Bucket, hash []byte, n, size uint64) error {
	if n == 0 {
		return b.Delete(senderKey(hash))
	}
	v := appendUvarint(appendUvarint([]byte{codecV1}, n), size)
	return b.Put(senderKey(hash), v)
}

// PushOffline appends a stanza to the user's offline queue and returns its
// id, without a sender (see PushOfflineFrom).
func (db *DB) PushOffline(ctx context.Context, user string, at time.Time, stanza []byte, max int) (id uint64, err error) {
	return db.PushOfflineFrom(ctx, user, "", at, stanza, max)
}

// PushOfflineFrom appends a stanza to the user's offline queue and returns
// its id; ids grow with every push. sender is the bare JID of the sender
// ("" for none); the store keeps only a salted hash of it, to count what
// each sender queued. It fails with ErrQuota if the queue already holds
// max messages (max > 0), if the stanza does not fit into
// Limits.OfflineBytes, or if the sender already holds
// Limits.OfflineSenderPercent of either cap; and with ErrNotFound for an
// unknown user. The stanza is stored as given: the caller has serialised
// it (and must re-validate it when reading it back).
func (db *DB) PushOfflineFrom(ctx context.Context, user, sender string, at time.Time, stanza []byte, max int) (id uint64, err error) {
	lim := db.limits
	size := uint64(len(stanza))
	err = db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil {
			return err
		}
		n, total := offlineCount(b), getUvarint(b, keyOfflineBytes)
		if max > 0 && n >= uint64(max) || over(total, size, lim.OfflineBytes) {
			return ErrQuota
		}
		var hash []byte
		if sender != "" {
			if hash, err = senderHash(b, sender, true); err != nil {
				return err
			}
			sn, ssize := senderUsage(b, hash)
			if max > 0 && over(sn, 1, share(int64(max), lim.OfflineSenderPercent)) ||
				over(ssize, size, share(lim.OfflineBytes, lim.OfflineSenderPercent)) {
				return ErrQuota
			}
			if err := setSenderUsage(b, hash, sn+1, ssize+size); err != nil {
				return err
			}
		}
		if id, err = b.NextSequence(); err != nil {
			return err
		}
		if err := b.Put(u64key(id), encodeOffline(at, hash, stanza)); err != nil {
			return err
		}
		if err := putUvarint(b, keyOfflineBytes, total+size); err != nil {
			return err
		}
		return setOfflineCount(b, n+1)
	})
	if err != nil {
		return 0, fmt.Errorf("store: push offline: %w", err)
	}
	return id, nil
}

// Offline returns all of the user's queued messages in id order, without
// removing them. It is for small queues and tests: delivery and export
// read the queue in pages (OfflinePage).
// It fails with ErrNotFound for an unknown user.
func (db *DB) Offline(ctx context.Context, user string) ([]OfflineMessage, error) {
	var all []OfflineMessage
	after := uint64(0)
	for {
		page, err := db.OfflinePage(ctx, user, after, 1000, 0)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		after = page[len(page)-1].ID
	}
}

// OfflinePage returns up to n of the user's queued messages with an id
// greater than after, in id order, without removing them: the caller
// deletes them with DeleteOffline once delivered. If maxBytes > 0 the page
// stops before the stanza that would take it over maxBytes (it always
// holds at least one message when any is left). An empty page means the
// end of the queue. Malformed records come back with a nil Stanza.
// It fails with ErrNotFound for an unknown user.
func (db *DB) OfflinePage(ctx context.Context, user string, after uint64, n, maxBytes int) ([]OfflineMessage, error) {
	var msgs []OfflineMessage
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil || b == nil {
			return err
		}
		size := 0
		c := b.Cursor()
		for k, v := c.Seek(u64key(after + 1)); k != nil && len(msgs) < n; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			if maxBytes > 0 && len(msgs) > 0 && size+len(v) > maxBytes {
				break
			}
			size += len(v)
			msgs = append(msgs, decodeOffline(k, v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: offline page: %w", err)
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

// OfflineUsage returns the number of messages and stanza bytes in the
// user's offline queue, and those queued from sender (a bare JID).
func (db *DB) OfflineUsage(ctx context.Context, user, sender string) (n, size, fromN, fromSize int64, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil || b == nil {
			return err
		}
		n, size = int64(offlineCount(b)), int64(getUvarint(b, keyOfflineBytes))
		if hash, _ := senderHash(b, sender, false); hash != nil {
			sn, ss := senderUsage(b, hash)
			fromN, fromSize = int64(sn), int64(ss)
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("store: offline usage: %w", err)
	}
	return n, size, fromN, fromSize, nil
}

// deleteOfflineTx deletes one stored message with its key k and value v
// and updates the counters. It does not delete under a cursor.
func deleteOfflineTx(b *bolt.Bucket, k, v []byte) error {
	_, hash, stanza, ok := splitOffline(v)
	size := uint64(len(stanza))
	if hash != nil {
		hash = bytes.Clone(hash)
		sn, ss := senderUsage(b, hash)
		if sn > 0 {
			if err := setSenderUsage(b, hash, sn-1, ss-min(ss, size)); err != nil {
				return err
			}
		}
	}
	if err := b.Delete(k); err != nil {
		return err
	}
	n := offlineCount(b)
	if err := setOfflineCount(b, n-min(n, 1)); err != nil {
		return err
	}
	if !ok {
		size = 0
	}
	total := getUvarint(b, keyOfflineBytes)
	if err := putUvarint(b, keyOfflineBytes, total-min(total, size)); err != nil {
		return err
	}
	if n <= 1 {
		// The queue is empty: forget the salt too.
		return b.Delete(keyOfflineSalt)
	}
	return nil
}

// DeleteOffline removes the given messages from the user's queue in one
// transaction; ids that are not queued are ignored. The bytes stay in free
// pages of the file until the next Scrub.
// It fails with ErrNotFound for an unknown user.
func (db *DB) DeleteOffline(ctx context.Context, user string, ids ...uint64) error {
	defer db.notifyOffline(user)
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil {
			return err
		}
		for _, id := range ids {
			k := u64key(id)
			v := b.Get(k)
			if v == nil {
				continue
			}
			if err := deleteOfflineTx(b, k, bytes.Clone(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete offline: %w", err)
	}
	return nil
}

// WaitOfflineGone blocks until the message id is no longer in the user's
// offline queue (delivered and deleted, or expired) and returns nil; or
// until ctx ends, returning its error. It fails with ErrNotFound if the
// user does not exist (any more). Safe for concurrent use; the wait costs
// no polling: DeleteOffline, ExpireOffline and DeleteUser wake waiters.
func (db *DB) WaitOfflineGone(ctx context.Context, user string, id uint64) error {
	for {
		ch := db.offlineWatch(user)
		var have bool
		err := db.view(ctx, func(tx *bolt.Tx) error {
			b, err := userSub(tx, user, bucketOffline)
			have = b != nil && b.Get(u64key(id)) != nil
			return err
		})
		if err != nil {
			return fmt.Errorf("store: wait offline: %w", err)
		}
		if !have {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// offlineWatch returns the channel closed at the next notifyOffline(user).
func (db *DB) offlineWatch(user string) <-chan struct{} {
	db.watchMu.Lock()
	defer db.watchMu.Unlock()
	ch := db.watch[user]
	if ch == nil {
		ch = make(chan struct{})
		db.watch[user] = ch
	}
	return ch
}

// notifyOffline wakes the waiters on user's offline queue.
func (db *DB) notifyOffline(user string) {
	db.watchMu.Lock()
	defer db.watchMu.Unlock()
	if ch := db.watch[user]; ch != nil {
		close(ch)
		delete(db.watch, user)
	}
}

// ExpireOffline deletes every queued message, of every user, received
// before the given time, and returns how many it deleted. For each one it
// first calls fn (if not nil) with the user and the message, for example to
// bounce an error to the sender. All of it is one transaction; fn runs
// inside it, must be quick and must not call DB methods (collect and act
// afterwards). m.Stanza is a copy fn may keep. A record that does not
// decode (its time unknown) expires at once, with a nil m.Stanza.
func (db *DB) ExpireOffline(ctx context.Context, before time.Time, fn func(user string, m OfflineMessage)) (int, error) {
	cut := before.UnixNano()
	total := 0
	var users []string
	err := db.update(ctx, func(tx *bolt.Tx) error {
		total, users = 0, nil
		return tx.Bucket(bucketUsers).ForEachBucket(func(name []byte) error {
			b := tx.Bucket(bucketUsers).Bucket(name).Bucket(bucketOffline)
			if b == nil {
				return nil
			}
			// Collect first: deleting under a cursor can skip items.
			type entry struct{ k, v []byte }
			var expired []entry
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 8 {
					continue
				}
				if at, _, _, ok := splitOffline(v); ok && at >= cut {
					continue
				}
				if fn != nil {
					fn(string(name), decodeOffline(k, v))
				}
				expired = append(expired, entry{bytes.Clone(k), bytes.Clone(v)})
			}
			for _, e := range expired {
				if err := deleteOfflineTx(b, e.k, e.v); err != nil {
					return err
				}
			}
			if len(expired) > 0 {
				total += len(expired)
				users = append(users, string(name))
			}
			return nil
		})
	})
	for _, u := range users {
		db.notifyOffline(u)
	}
	if err != nil {
		return 0, fmt.Errorf("store: expire offline: %w", err)
	}
	return total, nil
}

// offlineUsageTx recounts a queue's messages and bytes (for the migration).
func offlineUsageTx(b *bolt.Bucket) (n, size uint64) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			continue
		}
		n++
		if _, _, stanza, ok := splitOffline(v); ok {
			size += uint64(len(stanza))
		}
	}
	return n, size
}
