package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Invitations (XEP-0401 ibr-token, XEP-0379 preauth URIs).
//
// The token itself is never stored: the key is its SHA-256 hash, so that a
// copy of the database file (a leaked backup) hands out no valid invite.
// The operator sees the token once, when "chatbx invite create" prints it.
//
//	invites/<sha256(token)>            the record: created, expires, uses
//	                                   left, creator (empty for the admin)
//	invite-times/<expires><sha256>     the expiry index (flag values)
//
// An invite made by an account is registered with addUserRef, so that
// DeleteUser deletes it with the account ("invites it created").
// The top-level buckets are created by the first invite, so older files
// need no migration; readers treat a missing bucket as empty.
var (
	bucketInvites     = []byte("invites")      // sha256(token) → record
	bucketInviteTimes = []byte("invite-times") // expires (8 bytes) + sha256(token) → flagValue
)

// InviteTokenBytes is the number of random bytes in a token from
// NewInviteToken: 128 bits.
const InviteTokenBytes = 16

// maxInviteToken bounds a token presented by a client; longer ones
// cannot name an invite and are not hashed.
const maxInviteToken = 1024

// inviteIDBytes is the number of hash bytes in Invite.ID.
const inviteIDBytes = 8

// Invite is one invitation to register an account.
type Invite struct {
	// Token is the secret in the invite link. CreateInvite takes it and
	// Invite returns the token it was given; Invites cannot know it
	// (only its hash is stored) and leaves it empty.
	Token string
	// ID names the invite without revealing its token: the hex encoding
	// of the first 8 bytes of the token's SHA-256 hash. Filled in by
	// Invite and Invites; CreateInvite ignores it.
	ID string
	// Created is when the invite was made.
	Created time.Time
	// Expires is the end of the invite's validity: it can be used before
	// this instant, and retention deletes it at or after it.
	Expires time.Time
	// Uses is the number of registrations the invite still allows (>= 1).
	Uses int
	// Creator is the localpart of the account that made the invite, or
	// empty for invites made by the operator. The invite is deleted with
	// that account.
	Creator string
}

// NewInviteToken returns a new random token: 128 bits, unpadded
// URL-safe base64 (22 characters), fit for a URL path and an xmpp: URI.
// It never starts with '-', so `chatbx invite delete TOKEN` cannot read
// it as a flag (one token in 64 did).
func NewInviteToken() (string, error) {
	b := make([]byte, InviteTokenBytes)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("store: invite token: %w", err)
		}
		if t := base64.RawURLEncoding.EncodeToString(b); t[0] != '-' {
			return t, nil
		}
	}
}

// inviteKey returns the stored key of token: its SHA-256 hash.
func inviteKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func inviteID(key []byte) string { return hex.EncodeToString(key[:inviteIDBytes]) }

// inviteTimeKey is the expiry index key of an invite.
func inviteTimeKey(expires time.Time, key []byte) []byte {
	return append(timeKey(expires), key...)
}

// Invite record: version, created, expires (8-byte UnixNano each),
// uses (uvarint), creator.
func encodeInvite(inv Invite) []byte {
	v := make([]byte, 0, 20+len(inv.Creator))
	v = append(v, codecV1)
	v = binary.BigEndian.AppendUint64(v, uint64(inv.Created.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(inv.Expires.UnixNano()))
	v = appendUvarint(v, uint64(inv.Uses))
	return appendString(v, inv.Creator)
}

// decodeInvite decodes a record; the result owns its memory.
func decodeInvite(key, v []byte) (Invite, error) {
	d := newDecoder(v)
	inv := Invite{ID: inviteID(key)}
	inv.Created = time.Unix(0, int64(d.u64())).UTC()
	inv.Expires = time.Unix(0, int64(d.u64())).UTC()
	inv.Uses = int(d.uvarint())
	inv.Creator = d.string()
	if err := d.done(); err != nil {
		return Invite{}, err
	}
	return inv, nil
}

// CreateInvite stores inv under the hash of inv.Token in one transaction.
// It fails with ErrInvalid for an empty or overlong token, a zero Created,
// an Expires not after Created or fewer than one use; with ErrNotFound if
// Creator names no account; and with ErrExists if the token is taken.
func (db *DB) CreateInvite(ctx context.Context, inv Invite) error {
	switch {
	case inv.Token == "" || len(inv.Token) > maxInviteToken:
		return fmt.Errorf("store: create invite: %w: token length %d", ErrInvalid, len(inv.Token))
	case inv.Created.IsZero() || !inv.Expires.After(inv.Created):
		return fmt.Errorf("store: create invite: %w: times", ErrInvalid)
	case inv.Uses < 1:
		return fmt.Errorf("store: create invite: %w: uses %d", ErrInvalid, inv.Uses)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error { return createInviteTx(tx, inv) })
	if err != nil {
		return fmt.Errorf("store: create invite: %w", err)
	}
	return nil
}

// createInviteTx is CreateInvite within tx, after the checks.
func createInviteTx(tx *bolt.Tx, inv Invite) error {
	key := inviteKey(inv.Token)
	if inv.Creator != "" {
		if _, err := userBucket(tx, inv.Creator); err != nil {
			return err
		}
	}
	all, err := tx.CreateBucketIfNotExists(bucketInvites)
	if err != nil {
		return err
	}
	idx, err := tx.CreateBucketIfNotExists(bucketInviteTimes)
	if err != nil {
		return err
	}
	if all.Get(key) != nil {
		return ErrExists
	}
	tk := inviteTimeKey(inv.Expires, key)
	if err := all.Put(key, encodeInvite(inv)); err != nil {
		return err
	}
	if err := idx.Put(tk, flagValue); err != nil {
		return err
	}
	if inv.Creator == "" {
		return nil
	}
	// The invite goes with its creator's account.
	if err := addUserRef(tx, inv.Creator, bucketInvites, key, false); err != nil {
		return err
	}
	return addUserRef(tx, inv.Creator, bucketInviteTimes, tk, false)
}

// getInvite reads invites/<key>, or returns ErrNotFound.
func getInvite(tx *bolt.Tx, key []byte) (Invite, error) {
	b := tx.Bucket(bucketInvites)
	if b == nil {
		return Invite{}, ErrNotFound
	}
	v := b.Get(key)
	if v == nil {
		return Invite{}, ErrNotFound
	}
	return decodeInvite(key, v)
}

// deleteInviteTx deletes the record, its index entry and its creator's
// references.
func deleteInviteTx(tx *bolt.Tx, key []byte, inv Invite) error {
	tk := inviteTimeKey(inv.Expires, key)
	if err := tx.Bucket(bucketInvites).Delete(key); err != nil {
		return err
	}
	if idx := tx.Bucket(bucketInviteTimes); idx != nil {
		if err := idx.Delete(tk); err != nil {
			return err
		}
	}
	if inv.Creator == "" {
		return nil
	}
	err := removeUserRef(tx, inv.Creator, bucketInvites, key)
	if err == nil {
		err = removeUserRef(tx, inv.Creator, bucketInviteTimes, tk)
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Invite returns the invite with the given token, Token and ID set,
// whether or not it has expired (see UseInvite), or ErrNotFound.
func (db *DB) Invite(ctx context.Context, token string) (Invite, error) {
	if token == "" || len(token) > maxInviteToken {
		return Invite{}, fmt.Errorf("store: invite: %w", ErrNotFound)
	}
	var inv Invite
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		inv, err = getInvite(tx, inviteKey(token))
		return err
	})
	if err != nil {
		return Invite{}, fmt.Errorf("store: invite: %w", err)
	}
	inv.Token = token
	return inv, nil
}

// UseInvite consumes one use of the invite with the given token in one
// transaction and reports whether the invite was valid at now: it exists
// and now is before its Expires. The last use deletes the invite, and so
// does finding it expired. An unknown token is (false, nil).
// Safe for concurrent use: of two callers racing for the last use, one
// gets true.
func (db *DB) UseInvite(ctx context.Context, token string, now time.Time) (bool, error) {
	if token == "" || len(token) > maxInviteToken {
		return false, nil
	}
	ok := false
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		ok, err = useInviteTx(tx, token, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: use invite: %w", err)
	}
	return ok, nil
}

// useInviteTx is UseInvite within tx.
func useInviteTx(tx *bolt.Tx, token string, now time.Time) (bool, error) {
	key := inviteKey(token)
	inv, err := getInvite(tx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !now.Before(inv.Expires) {
		return false, deleteInviteTx(tx, key, inv)
	}
	inv.Uses--
	if inv.Uses <= 0 {
		return true, deleteInviteTx(tx, key, inv)
	}
	return true, tx.Bucket(bucketInvites).Put(key, encodeInvite(inv))
}

// CreateUserInvite creates the account user with credentials c, as
// CreateUser does, and spends one use of the invite token (as UseInvite
// at now) in the same transaction: the invite is spent exactly when the
// account it admits exists. It fails with ErrNotFound, creating nothing,
// when token names no invite valid at now (unknown, expired or used up),
// and with ErrExists, spending nothing, when user is taken. The invite is
// checked first, so that without one no name can be probed.
func (db *DB) CreateUserInvite(ctx context.Context, user string, c Credentials, token string, now time.Time) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("store: create invited user: %w", err)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("store: create invited user: %w", err)
	}
	if token == "" || len(token) > maxInviteToken {
		return fmt.Errorf("store: create invited user: invite: %w", ErrNotFound)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		ok, err := useInviteTx(tx, token, now)
		if err != nil {
			return err
		}
		if !ok {
			// Rolls back; an expired invite is left to the sweep.
			return fmt.Errorf("invite: %w", ErrNotFound)
		}
		return createUserTx(tx, user, c)
	})
	if err != nil {
		return fmt.Errorf("store: create invited user: %w", err)
	}
	return nil
}

// DeleteInvite deletes the invite with the given token, or returns
// ErrNotFound.
func (db *DB) DeleteInvite(ctx context.Context, token string) error {
	if token == "" || len(token) > maxInviteToken {
		return fmt.Errorf("store: delete invite: %w", ErrNotFound)
	}
	key := inviteKey(token)
	err := db.update(ctx, func(tx *bolt.Tx) error {
		inv, err := getInvite(tx, key)
		if err != nil {
			return err
		}
		return deleteInviteTx(tx, key, inv)
	})
	if err != nil {
		return fmt.Errorf("store: delete invite: %w", err)
	}
	return nil
}

// DeleteInviteID deletes the invite whose ID (see Invite.ID) is id, for
// operators who no longer have the token. It fails with ErrNotFound for
// an unknown or malformed id.
func (db *DB) DeleteInviteID(ctx context.Context, id string) error {
	prefix, err := hex.DecodeString(id)
	if err != nil || len(prefix) != inviteIDBytes {
		return fmt.Errorf("store: delete invite: %w", ErrNotFound)
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
		return deleteInviteTx(tx, key, inv)
	})
	if err != nil {
		return fmt.Errorf("store: delete invite: %w", err)
	}
	return nil
}

// Invites returns every stored invite, expired ones included, in order
// of expiry, with ID set and Token empty.
func (db *DB) Invites(ctx context.Context) ([]Invite, error) {
	var out []Invite
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInvites)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			inv, err := decodeInvite(k, v)
			if err != nil {
				return err
			}
			out = append(out, inv)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: invites: %w", err)
	}
	slices.SortFunc(out, func(a, b Invite) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.ID), []byte(b.ID))
	})
	return out, nil
}

// ExpireInvites deletes the invites whose Expires is at or before now, in
// one transaction, and returns how many it deleted. The deleted records
// stay readable in the file's free pages until the next Scrub (the
// retention runner scrubs after a sweep that deleted something).
func (db *DB) ExpireInvites(ctx context.Context, now time.Time) (int, error) {
	n := 0
	end := timeKey(now)
	err := db.update(ctx, func(tx *bolt.Tx) error {
		idx, all := tx.Bucket(bucketInviteTimes), tx.Bucket(bucketInvites)
		if idx == nil || all == nil {
			return nil
		}
		// Collect first: deleting while iterating skips keys in bbolt.
		var keys [][]byte
		c := idx.Cursor()
		for k, _ := c.First(); k != nil && len(k) >= 8 && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, tk := range keys {
			key := tk[8:]
			inv, err := getInvite(tx, key)
			if errors.Is(err, ErrNotFound) {
				// A stale index entry: drop it alone.
				if err := idx.Delete(tk); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if err := deleteInviteTx(tx, key, inv); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire invites: %w", err)
	}
	return n, nil
}
