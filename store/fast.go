package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FAST tokens (XEP-0484), one record per device of a user in
// users/<user>/fast, keyed by the hash of the device's SASL2 user-agent id
// (the id itself is never stored). A record holds the token hashes only
// (never a token), each in one of XEP-0484 §6's two slots, so the
// store is in the user's bucket: DeleteUser removes it, and SetCredentials
// (a password change) removes it in the same transaction.
var bucketFast = []byte("fast") // under users/<user>: device hash → record

// FastSlot is one token of a device: its SHA-256, the mechanism it was
// issued for, its expiry and the highest replay counter seen with it.
// A zero Hash means the slot is empty.
type FastSlot struct {
	Hash   [32]byte
	Mech   string
	Expiry time.Time
	Count  uint64
}

// Empty reports whether the slot holds no token.
func (s FastSlot) Empty() bool { return s.Hash == [32]byte{} }

// FastRecord is the FAST state of one device: an opaque random id (shown
// on the account pages, used to revoke), the creation time and the two
// token slots: Current, the token in use, and Next, one issued but not
// used yet (XEP-0484 §6: the server accepts both until Next is used).
type FastRecord struct {
	ID      string
	Created time.Time
	Current FastSlot
	Next    FastSlot
}

// Expiry returns the later expiry of the record's tokens.
func (r FastRecord) Expiry() time.Time {
	e := r.Current.Expiry
	if !r.Next.Empty() && r.Next.Expiry.After(e) {
		e = r.Next.Expiry
	}
	return e
}

// live reports whether a slot can still be used at now.
func (r FastRecord) live(now time.Time) bool {
	return (!r.Current.Empty() && now.Before(r.Current.Expiry)) || (!r.Next.Empty() && now.Before(r.Next.Expiry))
}

// FastToken is what the account pages and the export show of a device's
// tokens: no hash, no mechanism, no counter.
type FastToken struct {
	ID      string
	Created time.Time
	Expiry  time.Time
}

func encodeFast(r FastRecord) []byte {
	b := []byte{codecV1}
	b = appendString(b, r.ID)
	b = append(b, u64key(uint64(r.Created.UnixNano()))...)
	for _, s := range []FastSlot{r.Current, r.Next} {
		b = appendBytes(b, s.Hash[:])
		b = appendString(b, s.Mech)
		b = append(b, u64key(uint64(s.Expiry.UnixNano()))...)
		b = append(b, u64key(s.Count)...)
	}
	return b
}

func decodeFast(v []byte) (FastRecord, error) {
	d := newDecoder(v)
	var r FastRecord
	r.ID = d.string()
	r.Created = time.Unix(0, int64(d.u64())).UTC()
	for _, s := range []*FastSlot{&r.Current, &r.Next} {
		h := d.bytes()
		if d.err == nil && len(h) != len(s.Hash) {
			d.fail("fast token hash")
		}
		copy(s.Hash[:], h)
		s.Mech = d.string()
		s.Expiry = time.Unix(0, int64(d.u64())).UTC()
		s.Count = d.u64()
	}
	return r, d.done()
}

// UpdateFast reads the record of device (a hash of its user-agent id) and
// calls fn with a copy of it (found false: a zero record with a new
// random ID and Created now). If fn returns write true, the record fn
// left is stored in the same transaction, or deleted when both its slots
// are empty. Storing a new device when user already has max live
// devices (max <= 0: no limit) first deletes the devices whose tokens
// have all expired at now and then, if still at the cap, the one created
// longest ago, so a user never has more than max. fn's error rolls back
// and is returned as is. It fails with ErrNotFound for an unknown user.
// fn runs inside a write transaction: it must be quick.
func (db *DB) UpdateFast(ctx context.Context, user string, device []byte, max int, now time.Time,
	fn func(r *FastRecord, found bool) (write bool, err error)) error {
	if len(device) == 0 || len(device) > 64 {
		return fmt.Errorf("store: update fast: %w: device", ErrInvalid)
	}
	return db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketFast)
		if err != nil {
			return err
		}
		var r FastRecord
		v := b.Get(device)
		found := v != nil
		if found {
			if r, err = decodeFast(v); err != nil {
				return err
			}
		} else {
			var id [8]byte
			rand.Read(id[:])
			r = FastRecord{ID: hex.EncodeToString(id[:]), Created: now.UTC()}
		}
		write, err := fn(&r, found)
		if err != nil || !write {
			return err
		}
		if r.Current.Empty() && r.Next.Empty() {
			if !found {
				return nil
			}
			return b.Delete(device)
		}
		if !found && max > 0 {
			if err := fastRoomTx(b, max, now); err != nil {
				return err
			}
		}
		return b.Put(device, encodeFast(r))
	})
}

// fastRoomTx deletes records until fewer than max remain: expired ones
// first, then the oldest.
func fastRoomTx(b *bolt.Bucket, max int, now time.Time) error {
	type dev struct {
		key     []byte
		created time.Time
		live    bool
	}
	var devs []dev
	err := b.ForEach(func(k, v []byte) error {
		r, err := decodeFast(v)
		if err != nil {
			return err
		}
		devs = append(devs, dev{slices.Clone(k), r.Created, r.live(now)})
		return nil
	})
	if err != nil {
		return err
	}
	// Expired first, then by creation time.
	slices.SortFunc(devs, func(a, b dev) int {
		if a.live != b.live {
			if a.live {
				return 1
			}
			return -1
		}
		return a.created.Compare(b.created)
	})
	for i := 0; len(devs)-i >= max; i++ {
		if err := b.Delete(devs[i].key); err != nil {
			return err
		}
	}
	return nil
}

// FastTokens lists user's FAST devices that still have a live token at
// now, oldest first. It fails with ErrNotFound for an unknown user.
func (db *DB) FastTokens(ctx context.Context, user string, now time.Time) ([]FastToken, error) {
	var out []FastToken
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketFast)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(_, v []byte) error {
			r, err := decodeFast(v)
			if err != nil {
				return err
			}
			if r.live(now) {
				out = append(out, FastToken{ID: r.ID, Created: r.Created, Expiry: r.Expiry()})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: fast tokens: %w", err)
	}
	slices.SortFunc(out, func(a, b FastToken) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// RevokeFastToken deletes the device record with the given id (both its
// tokens). It fails with ErrNotFound when user or id is unknown.
func (db *DB) RevokeFastToken(ctx context.Context, user, id string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketFast)
		if err != nil {
			return err
		}
		var key []byte
		err = b.ForEach(func(k, v []byte) error {
			r, err := decodeFast(v)
			if err == nil && r.ID == id {
				key = slices.Clone(k)
			}
			return err
		})
		if err != nil {
			return err
		}
		if key == nil {
			return ErrNotFound
		}
		return b.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("store: revoke fast token: %w", err)
	}
	return nil
}

// RevokeFastTokens deletes all of user's FAST tokens. It fails with
// ErrNotFound for an unknown user.
func (db *DB) RevokeFastTokens(ctx context.Context, user string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		u, err := userBucket(tx, user)
		if err != nil {
			return err
		}
		return deleteFastTx(u)
	})
	if err != nil {
		return fmt.Errorf("store: revoke fast tokens: %w", err)
	}
	return nil
}

// deleteFastTx drops the fast sub-bucket of a user bucket, if any.
func deleteFastTx(u *bolt.Bucket) error {
	if u.Bucket(bucketFast) == nil {
		return nil
	}
	return u.DeleteBucket(bucketFast)
}

// FastRecord returns the record of device, or ErrNotFound when user or
// device is unknown. It only reads: the FAST login path checks a token
// without a write transaction when nothing changes.
func (db *DB) FastRecord(ctx context.Context, user string, device []byte) (FastRecord, error) {
	var r FastRecord
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketFast)
		if err != nil {
			return err
		}
		var v []byte
		if b != nil {
			v = b.Get(device)
		}
		if v == nil {
			return ErrNotFound
		}
		r, err = decodeFast(v)
		return err
	})
	return r, err
}

// ExpireFast deletes, over all users, the FAST tokens that expire at or
// before before: a device record whose tokens all expire by then goes, and
// an expired slot beside a live one is emptied. It returns how many tokens
// it deleted. The retention policy "fast-tokens" runs it with a cutoff one
// tick ahead, so no token record outlives its expiry.
func (db *DB) ExpireFast(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := db.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		users := tx.Bucket(bucketUsers)
		return users.ForEachBucket(func(name []byte) error {
			b := users.Bucket(name).Bucket(bucketFast)
			if b == nil {
				return nil
			}
			type change struct {
				key []byte
				rec *FastRecord // nil: delete
			}
			var changes []change
			err := b.ForEach(func(k, v []byte) error {
				r, err := decodeFast(v)
				if err != nil {
					return err
				}
				dropped := 0
				for _, s := range []*FastSlot{&r.Current, &r.Next} {
					if !s.Empty() && !s.Expiry.After(before) {
						*s = FastSlot{}
						dropped++
					}
				}
				switch {
				case dropped == 0:
					return nil
				case r.Current.Empty() && r.Next.Empty():
					changes = append(changes, change{key: slices.Clone(k)})
				default:
					changes = append(changes, change{key: slices.Clone(k), rec: &r})
				}
				n += dropped
				return nil
			})
			if err != nil {
				return err
			}
			for _, c := range changes {
				if c.rec == nil {
					err = b.Delete(c.key)
				} else {
					err = b.Put(c.key, encodeFast(*c.rec))
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire fast tokens: %w", err)
	}
	return n, nil
}
