package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Invites made by users (accounts.user_invites): each one is an ordinary
// invite with Creator set (deleted with the account, see CreateInvite),
// and its creation time is also kept in the account's own sub-bucket, so
// that the weekly quota holds even after invites were used up or expired:
//
//	users/<localpart>/invites-made/<created><sha256(token)[:8]>  flagValue
//
// Entries older than the quota's window are dropped in the transaction
// that checks the quota.
var bucketInvitesMade = []byte("invites-made")

// CreateInviteQuota is CreateInvite for an invite made by the account
// inv.Creator, which may have made at most max invites in the window
// before inv.Created: the count and the new invite are one transaction,
// so two requests racing for the last one cannot both succeed. It fails
// with ErrQuota when the account's allowance is used up, ErrNotFound for
// an unknown creator, ErrInvalid for an empty Creator, max < 1 or the
// reasons of CreateInvite.
func (db *DB) CreateInviteQuota(ctx context.Context, inv Invite, max int, window time.Duration) error {
	switch {
	case inv.Creator == "" || max < 1 || window <= 0:
		return fmt.Errorf("store: create invite: %w: creator or quota", ErrInvalid)
	case inv.Token == "" || len(inv.Token) > maxInviteToken:
		return fmt.Errorf("store: create invite: %w: token length %d", ErrInvalid, len(inv.Token))
	case inv.Created.IsZero() || !inv.Expires.After(inv.Created):
		return fmt.Errorf("store: create invite: %w: times", ErrInvalid)
	case inv.Uses < 1:
		return fmt.Errorf("store: create invite: %w: uses %d", ErrInvalid, inv.Uses)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		made, err := userSub(tx, inv.Creator, bucketInvitesMade)
		if err != nil {
			return err
		}
		// Forget what is older than the window; count the rest.
		cut := timeKey(inv.Created.Add(-window))
		var old [][]byte
		n := 0
		c := made.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if bytes.Compare(k, cut) <= 0 {
				old = append(old, bytes.Clone(k))
			} else {
				n++
			}
		}
		for _, k := range old {
			if err := made.Delete(k); err != nil {
				return err
			}
		}
		if n >= max {
			return ErrQuota
		}
		k := append(timeKey(inv.Created), inviteKey(inv.Token)[:inviteIDBytes]...)
		if err := made.Put(k, flagValue); err != nil {
			return err
		}
		return createInviteTx(tx, inv)
	})
	if err != nil {
		return fmt.Errorf("store: create invite: %w", err)
	}
	return nil
}

// InvitesMade returns how many invites user made after since (the quota's
// count), or ErrNotFound for an unknown user.
func (db *DB) InvitesMade(ctx context.Context, user string, since time.Time) (int, error) {
	n := 0
	err := db.view(ctx, func(tx *bolt.Tx) error {
		made, err := userSub(tx, user, bucketInvitesMade)
		if err != nil || made == nil {
			return err
		}
		cut := timeKey(since)
		return made.ForEach(func(k, _ []byte) error {
			if bytes.Compare(k, cut) > 0 {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: invites made: %w", err)
	}
	return n, nil
}

// UserInvites returns the invites user made that still exist (unused or
// with uses left, expired ones until the sweep), in order of expiry, with
// ID set and Token empty: the account's export lists them.
func (db *DB) UserInvites(ctx context.Context, user string) ([]Invite, error) {
	all, err := db.Invites(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(inv Invite) bool { return inv.Creator != user }), nil
}

// DeleteUserInvite deletes the invite whose ID (Invite.ID) is id if user
// made it. It fails with ErrNotFound for an unknown id, a malformed one,
// or an invite of someone else. The count of invites made (the quota)
// does not change.
func (db *DB) DeleteUserInvite(ctx context.Context, user, id string) error {
	prefix, err := hex.DecodeString(id)
	if err != nil || len(prefix) != inviteIDBytes {
		return fmt.Errorf("store: delete user invite: %w", ErrNotFound)
	}
	err = db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInvites)
		if b == nil {
			return ErrNotFound
		}
		k, v := b.Cursor().Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return ErrNotFound
		}
		key := bytes.Clone(k)
		inv, err := decodeInvite(key, v)
		if err != nil {
			return err
		}
		if inv.Creator != user {
			return ErrNotFound
		}
		return deleteInviteTx(tx, key, inv)
	})
	if err != nil {
		return fmt.Errorf("store: delete user invite: %w", err)
	}
	return nil
}
