package store

// Group chat rooms (XEP-0045, package server/muc). Rooms are not one
// user's data, so they live in top-level buckets:
//
//	muc-rooms/<room JID>                 the room's state, opaque to the store
//	muc-owners/<owner bare JID>\x00<room> index: the rooms an account owns
//	muc-archive/<room JID>/<8-byte seq>  archived groupchat message (only
//	                                     when the room's owner switched
//	                                     archiving on)
//	muc-archive/<room JID>/"n", "b"      next seq, bytes held
//
// An archived message carries the occupant id (XEP-0421, a keyed hash of
// the sender's bare JID), never the real JID, so that account deletion can
// find the account's messages without the archive naming anyone.
// Account deletion reaches all of it through MUCForget.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMUCRooms   = []byte("muc-rooms")
	bucketMUCOwners  = []byte("muc-owners")
	bucketMUCArchive = []byte("muc-archive")

	keyMUCNext  = []byte("n")
	keyMUCBytes = []byte("b")
)

// MUCRoom is a stored room: its JID, its owners (bare JIDs, for the owner
// index) and the state the muc package encodes.
type MUCRoom struct {
	JID    string
	Owners []string
	Data   []byte
}

// PutMUCRoom stores a persistent room, replacing what was stored under
// its JID, and indexes it under each owner. Data larger than maxBytes
// (when > 0) fails with ErrQuota and changes nothing.
func (db *DB) PutMUCRoom(ctx context.Context, r MUCRoom, maxBytes int) error {
	if r.JID == "" {
		return fmt.Errorf("store: put room: %w", ErrInvalid)
	}
	if maxBytes > 0 && len(r.Data) > maxBytes {
		return fmt.Errorf("store: put room: %w", ErrQuota)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		rooms, err := tx.CreateBucketIfNotExists(bucketMUCRooms)
		if err != nil {
			return err
		}
		owners, err := tx.CreateBucketIfNotExists(bucketMUCOwners)
		if err != nil {
			return err
		}
		if err := unindexOwnersTx(rooms, owners, r.JID); err != nil {
			return err
		}
		v := appendUvarint([]byte{codecV1}, uint64(len(r.Owners)))
		for _, o := range r.Owners {
			v = appendString(v, o)
			if err := owners.Put(ownerKey(o, r.JID), flagValue); err != nil {
				return err
			}
		}
		v = append(v, r.Data...)
		return rooms.Put([]byte(r.JID), v)
	})
	if err != nil {
		return fmt.Errorf("store: put room: %w", err)
	}
	return nil
}

func ownerKey(owner, room string) []byte {
	k := make([]byte, 0, len(owner)+1+len(room))
	k = append(k, owner...)
	k = append(k, 0)
	return append(k, room...)
}

// unindexOwnersTx removes the owner index entries of the stored room.
func unindexOwnersTx(rooms, owners *bolt.Bucket, room string) error {
	old := rooms.Get([]byte(room))
	if old == nil {
		return nil
	}
	r, err := decodeMUCRoom(room, old)
	if err != nil {
		return err
	}
	for _, o := range r.Owners {
		if err := owners.Delete(ownerKey(o, room)); err != nil {
			return err
		}
	}
	return nil
}

func decodeMUCRoom(jid string, v []byte) (MUCRoom, error) {
	d := newDecoder(v)
	n := d.uvarint()
	if n > 1<<16 {
		return MUCRoom{}, fmt.Errorf("%w: room", ErrCorrupt)
	}
	r := MUCRoom{JID: jid}
	for range n {
		r.Owners = append(r.Owners, d.string())
	}
	r.Data = bytes.Clone(d.rest())
	if d.err != nil {
		return MUCRoom{}, fmt.Errorf("%w: room", ErrCorrupt)
	}
	return r, nil
}

// MUCRoomData returns the stored room, or ErrNotFound.
func (db *DB) MUCRoomData(ctx context.Context, room string) (MUCRoom, error) {
	var r MUCRoom
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMUCRooms)
		var v []byte
		if b != nil {
			v = b.Get([]byte(room))
		}
		if v == nil {
			return ErrNotFound
		}
		var err error
		r, err = decodeMUCRoom(room, v)
		return err
	})
	if err != nil {
		return MUCRoom{}, fmt.Errorf("store: room: %w", err)
	}
	return r, nil
}

// MUCRooms calls fn for every stored room, in JID order.
func (db *DB) MUCRooms(ctx context.Context, fn func(MUCRoom) error) error {
	var all []MUCRoom
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMUCRooms)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			r, err := decodeMUCRoom(string(k), v)
			if err != nil {
				return err
			}
			all = append(all, r)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: rooms: %w", err)
	}
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// MUCRoomsOwnedBy returns the stored rooms owner (a bare JID) owns.
func (db *DB) MUCRoomsOwnedBy(ctx context.Context, owner string) ([]string, error) {
	var out []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMUCOwners)
		if b == nil {
			return nil
		}
		prefix := ownerKey(owner, "")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: rooms owned: %w", err)
	}
	return out, nil
}

// DeleteMUCRoom removes a room, its owner index entries and its archive.
// Deleting a room that is not stored is not an error. The caller scrubs
// the freed pages when the room held messages.
func (db *DB) DeleteMUCRoom(ctx context.Context, room string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error { return deleteMUCRoomTx(tx, room) })
	if err != nil {
		return fmt.Errorf("store: delete room: %w", err)
	}
	return nil
}

func deleteMUCRoomTx(tx *bolt.Tx, room string) error {
	if rooms := tx.Bucket(bucketMUCRooms); rooms != nil {
		if owners := tx.Bucket(bucketMUCOwners); owners != nil {
			if err := unindexOwnersTx(rooms, owners, room); err != nil {
				return err
			}
		}
		if err := rooms.Delete([]byte(room)); err != nil {
			return err
		}
	}
	if a := tx.Bucket(bucketMUCArchive); a != nil && a.Bucket([]byte(room)) != nil {
		return a.DeleteBucket([]byte(room))
	}
	return nil
}

// MUCForgetEdit is called by MUCForget for each stored room, inside its
// transaction: it returns the room's new state (nil: unchanged), or
// destroy to delete the room with its archive, and the occupant id the
// forgotten account had in the room, whose archived messages are deleted.
type MUCForgetEdit func(r MUCRoom) (changed *MUCRoom, destroy bool, occupantID string)

// MUCForget applies edit to every stored room in ONE transaction: account
// deletion removes the account's affiliations, its archived messages and
// the rooms it alone owned. It returns the JIDs of the destroyed rooms
// and the number of archived messages deleted, then scrubs the freed
// pages.
func (db *DB) MUCForget(ctx context.Context, edit MUCForgetEdit) (destroyed []string, messages int, err error) {
	err = db.update(ctx, func(tx *bolt.Tx) error {
		destroyed, messages = nil, 0
		rooms := tx.Bucket(bucketMUCRooms)
		var all []MUCRoom
		if rooms != nil {
			err := rooms.ForEach(func(k, v []byte) error {
				r, err := decodeMUCRoom(string(k), v)
				if err != nil {
					return err
				}
				all = append(all, r)
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, r := range all {
			changed, destroy, occ := edit(r)
			if destroy {
				if err := deleteMUCRoomTx(tx, r.JID); err != nil {
					return err
				}
				destroyed = append(destroyed, r.JID)
				continue
			}
			if occ != "" {
				n, err := deleteMUCArchiveByTx(tx, r.JID, occ)
				if err != nil {
					return err
				}
				messages += n
			}
			if changed != nil {
				owners, err := tx.CreateBucketIfNotExists(bucketMUCOwners)
				if err != nil {
					return err
				}
				if err := unindexOwnersTx(rooms, owners, r.JID); err != nil {
					return err
				}
				v := appendUvarint([]byte{codecV1}, uint64(len(changed.Owners)))
				for _, o := range changed.Owners {
					v = appendString(v, o)
					if err := owners.Put(ownerKey(o, r.JID), flagValue); err != nil {
						return err
					}
				}
				if err := rooms.Put([]byte(r.JID), append(v, changed.Data...)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: forget in rooms: %w", err)
	}
	return destroyed, messages, db.Scrub(context.WithoutCancel(ctx))
}

// deleteMUCArchiveByTx deletes the room's archived messages of one
// occupant id.
func deleteMUCArchiveByTx(tx *bolt.Tx, room, occ string) (int, error) {
	a := tx.Bucket(bucketMUCArchive)
	if a == nil {
		return 0, nil
	}
	b := a.Bucket([]byte(room))
	if b == nil {
		return 0, nil
	}
	var keys [][]byte
	var freed uint64
	err := b.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return nil
		}
		m, err := decodeMUCMessage(k, v)
		if err != nil {
			return err
		}
		if m.OccupantID == occ {
			keys = append(keys, bytes.Clone(k))
			freed += uint64(len(v))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	if len(keys) > 0 {
		if err := putU64(b, keyMUCBytes, getU64(b, keyMUCBytes)-min(freed, getU64(b, keyMUCBytes))); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// MUCMessage is one archived groupchat message.
type MUCMessage struct {
	ID         string
	At         time.Time
	OccupantID string
	Stanza     []byte
}

func decodeMUCMessage(k, v []byte) (MUCMessage, error) {
	d := newDecoder(v)
	at := d.u64()
	occ := d.string()
	st := d.rest()
	if d.err != nil {
		return MUCMessage{}, fmt.Errorf("%w: room message", ErrCorrupt)
	}
	return MUCMessage{ID: mucID(binary.BigEndian.Uint64(k)), At: time.Unix(0, int64(at)).UTC(), OccupantID: occ, Stanza: bytes.Clone(st)}, nil
}

func mucID(seq uint64) string { return strconv.FormatUint(seq, 36) }

func mucSeq(id string) (uint64, bool) {
	v, err := strconv.ParseUint(id, 36, 64)
	return v, err == nil && v > 0
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putU64(b *bolt.Bucket, k []byte, v uint64) error { return b.Put(k, u64key(v)) }

// AppendMUCArchive keeps one groupchat message in the room's archive and
// returns its id (the XEP-0359 stanza-id). When the room's archive would
// exceed maxBytes (when > 0), its oldest messages are deleted to make
// room; a single message larger than maxBytes fails with ErrQuota.
func (db *DB) AppendMUCArchive(ctx context.Context, room string, at time.Time, occupantID string, stanza []byte, maxBytes int64) (string, error) {
	v := []byte{codecV1}
	v = binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
	v = appendString(v, occupantID)
	v = append(v, stanza...)
	if maxBytes > 0 && int64(len(v)) > maxBytes {
		return "", fmt.Errorf("store: room archive: %w", ErrQuota)
	}
	var id string
	err := db.update(ctx, func(tx *bolt.Tx) error {
		a, err := tx.CreateBucketIfNotExists(bucketMUCArchive)
		if err != nil {
			return err
		}
		b, err := a.CreateBucketIfNotExists([]byte(room))
		if err != nil {
			return err
		}
		total := getU64(b, keyMUCBytes) + uint64(len(v))
		if maxBytes > 0 {
			c := b.Cursor()
			for k, old := c.First(); k != nil && total > uint64(maxBytes); k, old = c.First() {
				if len(k) != 8 {
					break // only counters are left
				}
				total -= min(uint64(len(old)), total)
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		seq := getU64(b, keyMUCNext) + 1
		if err := putU64(b, keyMUCNext, seq); err != nil {
			return err
		}
		if err := putU64(b, keyMUCBytes, total); err != nil {
			return err
		}
		id = mucID(seq)
		return b.Put(u64key(seq), v)
	})
	if err != nil {
		return "", fmt.Errorf("store: room archive: %w", err)
	}
	return id, nil
}

// MUCArchiveBytes returns the bytes the room's archive holds.
func (db *DB) MUCArchiveBytes(ctx context.Context, room string) (int64, error) {
	var n uint64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if a := tx.Bucket(bucketMUCArchive); a != nil {
			if b := a.Bucket([]byte(room)); b != nil {
				n = getU64(b, keyMUCBytes)
			}
		}
		return nil
	})
	return int64(n), err
}

// MUCArchiveQuery selects archived room messages: Start/End bound the
// time (zero: open), After/Before are ids (RSM), Last asks for the last
// page, Max is the page size.
type MUCArchiveQuery struct {
	Start, End    time.Time
	After, Before string
	Last          bool
	Max           int
}

// MUCArchivePage is a page of a room's archive in chronological order.
type MUCArchivePage struct {
	Messages []MUCMessage
	Complete bool
	Count    int
	Index    int
}

// QueryMUCArchive returns a page of the room's archive. An unknown After
// or Before id fails with ErrArchiveID.
func (db *DB) QueryMUCArchive(ctx context.Context, room string, q MUCArchiveQuery) (MUCArchivePage, error) {
	var p MUCArchivePage
	err := db.view(ctx, func(tx *bolt.Tx) error {
		p = MUCArchivePage{}
		var b *bolt.Bucket
		if a := tx.Bucket(bucketMUCArchive); a != nil {
			b = a.Bucket([]byte(room))
		}
		if b == nil {
			if q.After != "" || q.Before != "" {
				return ErrArchiveID
			}
			p.Complete = true
			return nil
		}
		// All selected seqs in order; a room's archive is capped in
		// bytes, so this list stays small.
		var seqs []uint64
		var vals [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return nil
			}
			if len(v) < 9 {
				return nil
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9])))
			if (!q.Start.IsZero() && at.Before(q.Start)) || (!q.End.IsZero() && at.After(q.End)) {
				return nil
			}
			seqs = append(seqs, binary.BigEndian.Uint64(k))
			vals = append(vals, v)
			return nil
		})
		if err != nil {
			return err
		}
		lo, hi := 0, len(seqs) // window [lo, hi)
		find := func(id string) (int, error) {
			s, ok := mucSeq(id)
			if !ok || b.Get(u64key(s)) == nil {
				return 0, ErrArchiveID
			}
			for i, v := range seqs {
				if v >= s {
					return i, nil
				}
			}
			return len(seqs), nil
		}
		if q.After != "" {
			i, err := find(q.After)
			if err != nil {
				return err
			}
			if i < len(seqs) && mucID(seqs[i]) == q.After {
				i++
			}
			lo = i
		}
		if q.Before != "" {
			i, err := find(q.Before)
			if err != nil {
				return err
			}
			hi = i
		}
		p.Count = len(seqs)
		n := hi - lo
		if q.Max < n {
			n = max(q.Max, 0)
		}
		if q.Before != "" || q.Last {
			lo = hi - n
			p.Complete = lo == 0
		} else {
			hi = lo + n
			p.Complete = hi == len(seqs)
		}
		p.Index = lo
		for i := lo; i < hi; i++ {
			m, err := decodeMUCMessage(u64key(seqs[i]), vals[i])
			if err != nil {
				return err
			}
			p.Messages = append(p.Messages, m)
		}
		return nil
	})
	if err != nil {
		return MUCArchivePage{}, fmt.Errorf("store: query room archive: %w", err)
	}
	return p, nil
}

// ExpireMUCArchive deletes archived room messages older than before, in
// every room, and returns how many it deleted.
func (db *DB) ExpireMUCArchive(ctx context.Context, before time.Time) (int, error) {
	total := 0
	err := db.update(ctx, func(tx *bolt.Tx) error {
		total = 0
		a := tx.Bucket(bucketMUCArchive)
		if a == nil {
			return nil
		}
		var rooms [][]byte
		if err := a.ForEachBucket(func(k []byte) error { rooms = append(rooms, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		cut := before.UnixNano()
		for _, r := range rooms {
			b := a.Bucket(r)
			var keys [][]byte
			var freed uint64
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 8 || len(v) < 9 {
					continue
				}
				if int64(binary.BigEndian.Uint64(v[1:9])) >= cut {
					break // seqs grow with time
				}
				keys = append(keys, bytes.Clone(k))
				freed += uint64(len(v))
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			if len(keys) > 0 {
				held := getU64(b, keyMUCBytes)
				if err := putU64(b, keyMUCBytes, held-min(held, freed)); err != nil {
					return err
				}
			}
			total += len(keys)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire room archive: %w", err)
	}
	return total, nil
}
