package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HTTP File Upload (XEP-0363) records.
//
// The layout keeps the account name out of everything that outlives the
// account deletion transaction:
//
//	uploads/<id>                  the record: times, size, type, file name,
//	                              hash of the PUT secret; no owner
//	upload-times/<created><id>    the expiry index; the value is the owner
//	users/<user>/uploads/<id>     the account's list (flag values)
//	users/<user>/upload-usage     running totals: bytes held (complete
//	                              uploads and pending slots), records
//	                              created on the current UTC day
//	users/<user>/upload-pending   <putBy><id> → size of each slot that
//	                              still counts but is not complete
//
// Quota checks read the totals, never the records. The totals change in
// the transaction that changes the records; an account whose records
// predate them has them counted once, at its next upload change.
//
// DeleteUser drops users/<user>/uploads with the account, deletes the
// index entries (refDelete) and moves uploads/<id> to trash (refTrash)
// so that the files can be unlinked after the transaction. A trash entry
// holds the record without the owner; the upload code clears it once the
// file is gone (ClearTrashedUploads) and scrubs.
// The top-level buckets are created by the first upload, so older files
// need no migration; readers treat a missing bucket as empty.
var (
	bucketUploads       = []byte("uploads")        // id → record
	bucketUploadTimes   = []byte("upload-times")   // created (8 bytes) + id → owner
	bucketUserUploads   = []byte("uploads")        // under users/<user>: id → flagValue
	bucketUploadUsage   = []byte("upload-usage")   // under users/<user>: keyUploadBytes, keyUploadDay
	bucketUploadPending = []byte("upload-pending") // under users/<user>: putBy (8 bytes) + id → size

	keyUploadBytes = []byte("bytes") // uvarint: bytes counted against the quota
	keyUploadDay   = []byte("day")   // UTC day number (uvarint) + records created that day (uvarint)
)

// ErrUploadsPerDay is returned by PutUpload when the user has created the
// most upload records one UTC day allows (UploadLimits.PerDay).
var ErrUploadsPerDay = errors.New("store: upload records per day reached")

// UploadLimits bounds the uploads of one account.
type UploadLimits struct {
	// Quota bounds the bytes one account holds: complete uploads plus
	// slots that may still be completed. Zero or negative: no quota.
	Quota int64
	// PerDay bounds the upload records (slots, zero-byte ones included)
	// one account may create per UTC day. Zero or negative: no bound.
	PerDay int
}

// maxUploadID bounds an upload id. Ids are chosen by the upload service
// (random, a few dozen characters); the store treats them as opaque.
const maxUploadID = 128

// Upload is one HTTP File Upload slot (XEP-0363) and, once the PUT is
// done, the uploaded file. The file itself lives outside the database
// under the upload directory, named by ID.
type Upload struct {
	// ID is the random identifier in the file's URL and on disk.
	ID string
	// Owner is the account's localpart. Upload, UserUploads and
	// ExpiredUploads fill it in; PutUpload takes it as an argument and
	// ignores this field.
	Owner string
	// Name is the sanitised file name shown in the URL.
	Name string
	// ContentType is the media type announced in the slot request.
	ContentType string
	// Size is the announced size in bytes; the PUT must match it.
	Size int64
	// Created is when the slot was handed out; retention counts from it.
	Created time.Time
	// Expires is when retention will delete the file (for the export).
	Expires time.Time
	// PutBy is the end of the slot's validity: a PUT must start before it.
	PutBy time.Time
	// PutHash is a hash of the secret that authorises the PUT; the secret
	// itself is never stored.
	PutHash []byte
	// Complete reports that the file was uploaded in full.
	Complete bool
}

func checkUploadID(id string) error {
	if id == "" || len(id) > maxUploadID {
		return fmt.Errorf("%w: upload id length %d", ErrInvalid, len(id))
	}
	return nil
}

// Upload record: version, created, expires, putBy (8-byte UnixNano each),
// size (uvarint), flags (bit 0: complete), PutHash, ContentType, Name.
func encodeUpload(u Upload) []byte {
	v := make([]byte, 0, 40+len(u.PutHash)+len(u.ContentType)+len(u.Name))
	v = append(v, codecV1)
	v = binary.BigEndian.AppendUint64(v, uint64(u.Created.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(u.Expires.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(u.PutBy.UnixNano()))
	v = appendUvarint(v, uint64(u.Size))
	var flags byte
	if u.Complete {
		flags |= 1
	}
	v = append(v, flags)
	v = appendBytes(v, u.PutHash)
	v = appendString(v, u.ContentType)
	return appendString(v, u.Name)
}

// decodeUpload decodes a record; the result owns its memory.
func decodeUpload(id string, v []byte) (Upload, error) {
	d := newDecoder(v)
	u := Upload{ID: id}
	u.Created = time.Unix(0, int64(d.u64())).UTC()
	u.Expires = time.Unix(0, int64(d.u64())).UTC()
	u.PutBy = time.Unix(0, int64(d.u64())).UTC()
	u.Size = int64(d.uvarint())
	u.Complete = d.byte()&1 != 0
	u.PutHash = bytes.Clone(d.bytes())
	u.ContentType = d.string()
	u.Name = d.string()
	if err := d.done(); err != nil {
		return Upload{}, err
	}
	return u, nil
}

// uploadTimeKey is the expiry index key of an upload.
func uploadTimeKey(created time.Time, id string) []byte {
	return append(timeKey(created), id...)
}

// getUpload reads uploads/<id> and fills in the owner from the index.
func getUpload(tx *bolt.Tx, id string) (Upload, error) {
	b := tx.Bucket(bucketUploads)
	if b == nil {
		return Upload{}, ErrNotFound
	}
	v := b.Get([]byte(id))
	if v == nil {
		return Upload{}, ErrNotFound
	}
	u, err := decodeUpload(id, v)
	if err != nil {
		return Upload{}, err
	}
	if idx := tx.Bucket(bucketUploadTimes); idx != nil {
		if o := idx.Get(uploadTimeKey(u.Created, id)); o != nil {
			d := newDecoder(o)
			owner := d.rest()
			if err := d.done(); err != nil {
				return Upload{}, err
			}
			u.Owner = string(owner)
		}
	}
	return u, nil
}

// PutUpload records a new upload slot u for user in one transaction.
// lim.Quota, if positive, bounds the bytes user may hold: the sizes of the
// user's complete uploads and of slots that may still be completed (their
// PutBy is after u.Created), plus u.Size. lim.PerDay, if positive, bounds
// the records created per UTC day of u.Created, zero-byte slots included.
// The check reads the user's running totals, not the records.
// It fails with ErrNotFound for an unknown user, ErrExists if the id is
// taken, ErrUploadsPerDay or ErrQuota when a limit would be exceeded, and
// ErrInvalid for an empty or overlong id, a negative size or a zero
// Created.
func (db *DB) PutUpload(ctx context.Context, user string, u Upload, lim UploadLimits) error {
	if err := checkUploadID(u.ID); err != nil {
		return fmt.Errorf("store: put upload: %w", err)
	}
	if u.Size < 0 || u.Created.IsZero() {
		return fmt.Errorf("store: put upload: %w: size or time", ErrInvalid)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		list, err := userSub(tx, user, bucketUserUploads)
		if err != nil {
			return err
		}
		all, err := tx.CreateBucketIfNotExists(bucketUploads)
		if err != nil {
			return err
		}
		idx, err := tx.CreateBucketIfNotExists(bucketUploadTimes)
		if err != nil {
			return err
		}
		id := []byte(u.ID)
		if all.Get(id) != nil {
			return ErrExists
		}
		use, err := openUploadUsage(tx, user, list, all)
		if err != nil {
			return err
		}
		day := utcDay(u.Created)
		if use.day != day {
			use.day, use.today = day, 0
		}
		if lim.PerDay > 0 && use.today >= uint64(lim.PerDay) {
			return ErrUploadsPerDay
		}
		if err := use.expire(u.Created); err != nil {
			return err
		}
		if lim.Quota > 0 && (u.Size > lim.Quota || use.bytes+u.Size > lim.Quota) {
			return ErrQuota
		}
		if err := all.Put(id, encodeUpload(u)); err != nil {
			return err
		}
		tk := uploadTimeKey(u.Created, u.ID)
		if err := idx.Put(tk, append([]byte{codecV1}, user...)); err != nil {
			return err
		}
		if err := list.Put(id, flagValue); err != nil {
			return err
		}
		if err := use.addPending(u); err != nil {
			return err
		}
		use.today++
		if err := use.save(); err != nil {
			return err
		}
		// The record goes to trash with the account, so that its file
		// can be unlinked; the index entry (which names the owner) is
		// simply deleted.
		if err := addUserRef(tx, user, bucketUploads, id, true); err != nil {
			return err
		}
		return addUserRef(tx, user, bucketUploadTimes, tk, false)
	})
	if err != nil {
		return fmt.Errorf("store: put upload: %w", err)
	}
	return nil
}

// uploadUsage is one account's running upload totals (users/<user>/
// upload-usage and upload-pending), read and written inside an update
// transaction together with the records they count.
//
// bytes is the sum of the sizes of the account's complete uploads and of
// its pending slots. A slot is pending from PutUpload until it completes,
// is deleted, or its PutBy passes (expire, run lazily before each check):
// a slot nobody completed in time stops counting.
type uploadUsage struct {
	usage, pending *bolt.Bucket
	bytes          int64
	day, today     uint64
}

// openUploadUsage returns user's totals. An account whose uploads predate
// the totals has them counted once from its records; every later change
// goes through the totals, so no check scans the records again.
func openUploadUsage(tx *bolt.Tx, user string, list, all *bolt.Bucket) (*uploadUsage, error) {
	usage, err := userSub(tx, user, bucketUploadUsage)
	if err != nil {
		return nil, err
	}
	pending, err := userSub(tx, user, bucketUploadPending)
	if err != nil {
		return nil, err
	}
	use := &uploadUsage{usage: usage, pending: pending}
	v := usage.Get(keyUploadBytes)
	if v == nil {
		return use, use.recount(list, all)
	}
	d := newDecoder(v)
	use.bytes = int64(d.uvarint())
	if err := d.done(); err != nil {
		return nil, err
	}
	if v := usage.Get(keyUploadDay); v != nil {
		d := newDecoder(v)
		use.day, use.today = d.uvarint(), d.uvarint()
		if err := d.done(); err != nil {
			return nil, err
		}
	}
	return use, nil
}

// recount builds the totals from the records: complete uploads count,
// incomplete ones become pending until their PutBy.
func (use *uploadUsage) recount(list, all *bolt.Bucket) error {
	if list == nil || all == nil {
		return use.save()
	}
	err := list.ForEach(func(k, _ []byte) error {
		v := all.Get(k)
		if v == nil {
			return nil
		}
		u, err := decodeUpload(string(k), v)
		if err != nil {
			return err
		}
		if u.Complete {
			use.bytes += u.Size
			return nil
		}
		return use.addPending(u)
	})
	if err != nil {
		return err
	}
	return use.save()
}

func pendingKey(u Upload) []byte { return append(timeKey(u.PutBy), u.ID...) }

// addPending counts the incomplete upload u until its PutBy.
func (use *uploadUsage) addPending(u Upload) error {
	use.bytes += u.Size
	return use.pending.Put(pendingKey(u), appendUvarint([]byte{codecV1}, uint64(u.Size)))
}

// dropPending stops counting u as pending; it reports whether u was.
func (use *uploadUsage) dropPending(u Upload) (bool, error) {
	k := pendingKey(u)
	if use.pending.Get(k) == nil {
		return false, nil
	}
	use.sub(u.Size)
	return true, use.pending.Delete(k)
}

// expire stops counting the slots whose PutBy is at or before now. It
// reads only those entries.
func (use *uploadUsage) expire(now time.Time) error {
	end := timeKey(now)
	var keys [][]byte
	c := use.pending.Cursor()
	for k, v := c.First(); k != nil && len(k) >= 8 && bytes.Compare(k[:8], end) <= 0; k, v = c.Next() {
		d := newDecoder(v)
		size := d.uvarint()
		if err := d.done(); err != nil {
			return err
		}
		use.sub(int64(size))
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := use.pending.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (use *uploadUsage) sub(n int64) {
	use.bytes = max(use.bytes-n, 0)
}

func (use *uploadUsage) save() error {
	if err := use.usage.Put(keyUploadBytes, appendUvarint([]byte{codecV1}, uint64(use.bytes))); err != nil {
		return err
	}
	return use.usage.Put(keyUploadDay, appendUvarint(appendUvarint([]byte{codecV1}, use.day), use.today))
}

// utcDay numbers the UTC day of t.
func utcDay(t time.Time) uint64 {
	return uint64(t.Unix() / (24 * 60 * 60))
}

// Upload returns the upload with the given id, Owner included, or
// ErrNotFound.
func (db *DB) Upload(ctx context.Context, id string) (Upload, error) {
	var u Upload
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = getUpload(tx, id)
		return err
	})
	if err != nil {
		return Upload{}, fmt.Errorf("store: upload: %w", err)
	}
	return u, nil
}

// CompleteUpload marks the upload id as uploaded in full at now.
// quota, if positive, is checked again: a slot whose PutBy passed while
// its PUT was running no longer counted and is counted again only if it
// fits. It fails with ErrNotFound if the record is gone (expired, or its
// account deleted), with ErrConflict if it was completed before, and with
// ErrQuota if the file does not fit; the upload then stays incomplete and
// no longer counts.
func (db *DB) CompleteUpload(ctx context.Context, id string, now time.Time, quota int64) error {
	var over bool
	err := db.update(ctx, func(tx *bolt.Tx) error {
		u, err := getUpload(tx, id)
		if err != nil {
			return err
		}
		if u.Complete {
			return ErrConflict
		}
		list, err := userSub(tx, u.Owner, bucketUserUploads)
		if err != nil {
			return err
		}
		use, err := openUploadUsage(tx, u.Owner, list, tx.Bucket(bucketUploads))
		if err != nil {
			return err
		}
		if err := use.expire(now); err != nil {
			return err
		}
		// Pending until now (dropPending takes it out) or no longer
		// counted; either way it counts as complete from here on.
		if _, err := use.dropPending(u); err != nil {
			return err
		}
		use.bytes += u.Size
		if quota > 0 && use.bytes > quota {
			// The slot fails: it stays incomplete and stops counting.
			use.sub(u.Size)
			over = true
			return use.save()
		}
		u.Complete = true
		if err := tx.Bucket(bucketUploads).Put([]byte(id), encodeUpload(u)); err != nil {
			return err
		}
		return use.save()
	})
	if err == nil && over {
		err = ErrQuota
	}
	if err != nil {
		return fmt.Errorf("store: complete upload: %w", err)
	}
	return nil
}

// UserUploads returns user's uploads, complete or not, oldest first, with
// Owner set. It fails with ErrNotFound for an unknown user.
func (db *DB) UserUploads(ctx context.Context, user string) ([]Upload, error) {
	var out []Upload
	err := db.view(ctx, func(tx *bolt.Tx) error {
		list, err := userSub(tx, user, bucketUserUploads)
		if err != nil || list == nil {
			return err
		}
		all := tx.Bucket(bucketUploads)
		if all == nil {
			return nil
		}
		return list.ForEach(func(k, _ []byte) error {
			v := all.Get(k)
			if v == nil {
				return nil
			}
			u, err := decodeUpload(string(k), v)
			if err != nil {
				return err
			}
			u.Owner = user
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: user uploads: %w", err)
	}
	slices.SortFunc(out, func(a, b Upload) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.ID), []byte(b.ID))
	})
	return out, nil
}

// DeleteUpload deletes the record of upload id, its index entry and its
// place in the owner's list in one transaction. It does not touch the
// file. It fails with ErrNotFound for an unknown id.
func (db *DB) DeleteUpload(ctx context.Context, id string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		return deleteUploadTx(tx, id)
	})
	if err != nil {
		return fmt.Errorf("store: delete upload: %w", err)
	}
	return nil
}

func deleteUploadTx(tx *bolt.Tx, id string) error {
	u, err := getUpload(tx, id)
	if err != nil {
		return err
	}
	if u.Owner != "" {
		list, err := userSub(tx, u.Owner, bucketUserUploads)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		default:
			// The totals are read (or first counted) while the record
			// is still there.
			use, err := openUploadUsage(tx, u.Owner, list, tx.Bucket(bucketUploads))
			if err != nil {
				return err
			}
			if u.Complete {
				use.sub(u.Size)
			} else if _, err := use.dropPending(u); err != nil {
				return err
			}
			if err := use.save(); err != nil {
				return err
			}
			if err := list.Delete([]byte(id)); err != nil {
				return err
			}
		}
	}
	tk := uploadTimeKey(u.Created, id)
	if err := tx.Bucket(bucketUploads).Delete([]byte(id)); err != nil {
		return err
	}
	if idx := tx.Bucket(bucketUploadTimes); idx != nil {
		if err := idx.Delete(tk); err != nil {
			return err
		}
	}
	if u.Owner == "" {
		return nil
	}
	if err := removeUserRef(tx, u.Owner, bucketUploads, []byte(id)); err != nil {
		return err
	}
	return removeUserRef(tx, u.Owner, bucketUploadTimes, tk)
}

// ExpiredUploads returns the uploads created at or before cutoff, oldest
// first, at most max of them (max <= 0 means all), with Owner set. It
// deletes nothing: the caller unlinks each file and then calls
// DeleteUpload, so that a crash in between leaves a record that the next
// sweep finds again rather than a file nobody knows about.
func (db *DB) ExpiredUploads(ctx context.Context, cutoff time.Time, max int) ([]Upload, error) {
	var out []Upload
	end := timeKey(cutoff)
	err := db.view(ctx, func(tx *bolt.Tx) error {
		idx, all := tx.Bucket(bucketUploadTimes), tx.Bucket(bucketUploads)
		if idx == nil || all == nil {
			return nil
		}
		c := idx.Cursor()
		for k, o := c.First(); k != nil; k, o = c.Next() {
			if len(k) < 8 || bytes.Compare(k[:8], end) > 0 || max > 0 && len(out) >= max {
				break
			}
			id := string(k[8:])
			v := all.Get(k[8:])
			if v == nil {
				continue
			}
			u, err := decodeUpload(id, v)
			if err != nil {
				return err
			}
			d := newDecoder(o)
			u.Owner = string(d.rest())
			if err := d.done(); err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: expired uploads: %w", err)
	}
	return out, nil
}

// trashUploadPrefix starts the trash keys of upload records moved there by
// DeleteUser (see addUserRef).
var trashUploadPrefix = append(bytes.Clone(bucketUploads), 0)

// TrashedUploads returns the ids of uploads whose account was deleted and
// whose files may still exist. The upload code unlinks the files and then
// calls ClearTrashedUploads.
func (db *DB) TrashedUploads(ctx context.Context) ([]string, error) {
	var ids []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTrash).Cursor()
		for k, _ := c.Seek(trashUploadPrefix); k != nil && bytes.HasPrefix(k, trashUploadPrefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(trashUploadPrefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: trashed uploads: %w", err)
	}
	return ids, nil
}

// ClearTrashedUploads removes the trash entries of the given upload ids;
// unknown ids are ignored. The removed records stay readable in the
// file's free pages until the next Scrub.
func (db *DB) ClearTrashedUploads(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrash)
		for _, id := range ids {
			if err := b.Delete(append(bytes.Clone(trashUploadPrefix), id...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: clear trashed uploads: %w", err)
	}
	return nil
}
