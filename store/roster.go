package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Subscription is the subscription state of a roster item (RFC 6121 §2.1.2.5).
type Subscription uint8

// Subscription states.
const (
	SubNone Subscription = iota
	SubTo
	SubFrom
	SubBoth
)

// String returns the RFC 6121 attribute value: none, to, from or both.
func (s Subscription) String() string {
	switch s {
	case SubTo:
		return "to"
	case SubFrom:
		return "from"
	case SubBoth:
		return "both"
	}
	return "none"
}

// RosterItem is one contact of a user's roster (RFC 6121 §2.1).
// JID is the contact's bare JID and the item's key.
// AskOut records an outbound subscription request awaiting an answer
// (ask='subscribe'), PendingIn an inbound one awaiting the user's answer,
// and PreApproved a pre-approval (RFC 6121 §3.4).
type RosterItem struct {
	JID         string
	Name        string
	Groups      []string
	Sub         Subscription
	AskOut      bool
	PendingIn   bool
	PreApproved bool
}

// keyRosterVer holds the roster version (XEP-0237) in the roster bucket.
// A NUL byte cannot occur in a JID, so it cannot collide with an item.
var keyRosterVer = []byte{0}

// keyRosterCount holds the number of items (uvarint), for the per-user
// cap (Limits.RosterItems).
var keyRosterCount = []byte{0, 'n'}

// addRosterItem counts a new item, failing with ErrQuota when the roster
// is full.
func (db *DB) addRosterItem(b *bolt.Bucket) error {
	n := getUvarint(b, keyRosterCount)
	if lim := db.limits.RosterItems; lim > 0 && n >= uint64(lim) {
		return ErrQuota
	}
	return putUvarint(b, keyRosterCount, n+1)
}

// removeRosterItem uncounts a deleted item.
func removeRosterItem(b *bolt.Bucket) error {
	n := getUvarint(b, keyRosterCount)
	return putUvarint(b, keyRosterCount, n-min(n, 1))
}

// rosterCountTx counts a roster's items (for the migration).
func rosterCountTx(b *bolt.Bucket) uint64 {
	var n uint64
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) > 0 && k[0] != 0 {
			n++
		}
	}
	return n
}

// Roster item flags byte: bits 0-1 subscription, then the three booleans.
const (
	flagAskOut      = 1 << 2
	flagPendingIn   = 1 << 3
	flagPreApproved = 1 << 4
)

func encodeRosterItem(it *RosterItem) []byte {
	n := 3 + len(it.Name) + 2
	for _, g := range it.Groups {
		n += len(g) + 2
	}
	b := make([]byte, 0, n)
	flags := byte(it.Sub & 3)
	if it.AskOut {
		flags |= flagAskOut
	}
	if it.PendingIn {
		flags |= flagPendingIn
	}
	if it.PreApproved {
		flags |= flagPreApproved
	}
	b = append(b, codecV1, flags)
	b = appendString(b, it.Name)
	b = appendUvarint(b, uint64(len(it.Groups)))
	for _, g := range it.Groups {
		b = appendString(b, g)
	}
	return b
}

func decodeRosterItem(jid, v []byte) (RosterItem, error) {
	d := newDecoder(v)
	flags := d.byte()
	it := RosterItem{
		JID:         string(jid),
		Sub:         Subscription(flags & 3),
		AskOut:      flags&flagAskOut != 0,
		PendingIn:   flags&flagPendingIn != 0,
		PreApproved: flags&flagPreApproved != 0,
	}
	it.Name = d.string()
	if n := d.uvarint(); n > 0 && n <= uint64(len(v)) {
		it.Groups = make([]string, 0, n)
		for range n {
			it.Groups = append(it.Groups, d.string())
		}
	} else if n > uint64(len(v)) {
		d.fail("groups")
	}
	return it, d.done()
}

func rosterVer(b *bolt.Bucket) uint64 {
	if b == nil {
		return 0
	}
	v := b.Get(keyRosterVer)
	if len(v) != 9 || v[0] != codecV1 {
		return 0
	}
	return binary.BigEndian.Uint64(v[1:])
}

// bumpRosterVer increments and stores the roster version and returns it.
func bumpRosterVer(b *bolt.Bucket) (uint64, error) {
	ver := rosterVer(b) + 1
	v := binary.BigEndian.AppendUint64([]byte{codecV1}, ver)
	return ver, b.Put(keyRosterVer, v)
}

func checkJID(jid string) error {
	if jid == "" || len(jid) > bolt.MaxKeySize || jid[0] == 0 {
		return fmt.Errorf("%w: jid", ErrInvalid)
	}
	return nil
}

// Roster returns the roster version and all items in JID byte order.
// The version is 0 for a roster that never changed; it grows by one with
// every change (XEP-0237). It fails with ErrNotFound for an unknown user.
func (db *DB) Roster(ctx context.Context, user string) (ver uint64, items []RosterItem, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketRoster)
		if err != nil || b == nil {
			return err
		}
		ver = rosterVer(b)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) == 0 || k[0] == 0 {
				continue // version and counter
			}
			it, err := decodeRosterItem(k, v)
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("store: roster: %w", err)
	}
	return ver, items, nil
}

// RosterVersion returns the current roster version without the items,
// for answering a XEP-0237 request whose version is current.
func (db *DB) RosterVersion(ctx context.Context, user string) (uint64, error) {
	var ver uint64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketRoster)
		ver = rosterVer(b)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: roster version: %w", err)
	}
	return ver, nil
}

// RosterItem returns one item, or ErrNotFound if the user or item is missing.
func (db *DB) RosterItem(ctx context.Context, user, jid string) (RosterItem, error) {
	var it RosterItem
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketRoster)
		if err != nil {
			return err
		}
		var v []byte
		if b != nil && jid != "" {
			v = b.Get([]byte(jid))
		}
		if v == nil || jid[0] == 0 {
			return ErrNotFound
		}
		it, err = decodeRosterItem([]byte(jid), v)
		return err
	})
	if err != nil {
		return RosterItem{}, fmt.Errorf("store: roster item: %w", err)
	}
	return it, nil
}

// PutRosterItem creates or replaces the item it.JID and returns the new
// roster version. It fails with ErrNotFound for an unknown user and with
// ErrQuota when a new item would exceed Limits.RosterItems.
func (db *DB) PutRosterItem(ctx context.Context, user string, it RosterItem) (ver uint64, err error) {
	if err := checkJID(it.JID); err != nil {
		return 0, fmt.Errorf("store: put roster item: %w", err)
	}
	err = db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketRoster)
		if err != nil {
			return err
		}
		if b.Get([]byte(it.JID)) == nil {
			if err := db.addRosterItem(b); err != nil {
				return err
			}
		}
		if err := b.Put([]byte(it.JID), encodeRosterItem(&it)); err != nil {
			return err
		}
		ver, err = bumpRosterVer(b)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: put roster item: %w", err)
	}
	return ver, nil
}

// DeleteRosterItem removes an item and returns the new roster version.
// It fails with ErrNotFound if the user or the item does not exist.
func (db *DB) DeleteRosterItem(ctx context.Context, user, jid string) (ver uint64, err error) {
	err = db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketRoster)
		if err != nil {
			return err
		}
		if checkJID(jid) != nil || b.Get([]byte(jid)) == nil {
			return ErrNotFound
		}
		if err := b.Delete([]byte(jid)); err != nil {
			return err
		}
		if err := removeRosterItem(b); err != nil {
			return err
		}
		ver, err = bumpRosterVer(b)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete roster item: %w", err)
	}
	return ver, nil
}

// UpdateRosterItem reads, changes and writes one item in one transaction,
// for the subscription state machine. fn gets the current item (a zero item
// with JID set if exists is false) and changes it in place; it returns
// keep = false to delete the item (or not create it). An error from fn
// aborts the transaction and is returned unchanged (wrapped).
//
// The roster version is bumped only if the stored item changed.
// UpdateRosterItem returns the item as fn left it and the roster version
// after the update. fn runs inside the transaction: it must be quick and
// must not call other DB methods. fn cannot change the item's JID.
// It fails with ErrNotFound for an unknown user and with ErrQuota when a
// new item would exceed Limits.RosterItems.
func (db *DB) UpdateRosterItem(ctx context.Context, user, jid string, fn func(it *RosterItem, exists bool) (keep bool, err error)) (RosterItem, uint64, error) {
	if err := checkJID(jid); err != nil {
		return RosterItem{}, 0, fmt.Errorf("store: update roster item: %w", err)
	}
	var (
		it  RosterItem
		ver uint64
	)
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketRoster)
		if err != nil {
			return err
		}
		key := []byte(jid)
		old := b.Get(key)
		exists := old != nil
		if exists {
			if it, err = decodeRosterItem(key, old); err != nil {
				return err
			}
		} else {
			it = RosterItem{JID: jid}
		}
		keep, err := fn(&it, exists)
		if err != nil {
			return err
		}
		it.JID = jid
		ver = rosterVer(b)
		switch {
		case keep:
			v := encodeRosterItem(&it)
			if exists && bytes.Equal(v, old) {
				return nil
			}
			if !exists {
				if err := db.addRosterItem(b); err != nil {
					return err
				}
			}
			if err := b.Put(key, v); err != nil {
				return err
			}
		case exists:
			if err := b.Delete(key); err != nil {
				return err
			}
			if err := removeRosterItem(b); err != nil {
				return err
			}
		default:
			return nil
		}
		ver, err = bumpRosterVer(b)
		return err
	})
	if err != nil {
		return RosterItem{}, 0, fmt.Errorf("store: update roster item: %w", err)
	}
	return it, ver, nil
}
