package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Buckets under users/<localpart>. Everything stored about an account lives
// in this one subtree, so that deleting the account is one DeleteBucket.
// Later features (archive, pep, uploads, invites) add their own sub-buckets
// here; data they must also index outside the subtree is registered with
// addUserRef so that DeleteUser removes it in the same transaction.
var (
	bucketAccount   = []byte("account")   // keyCredentials
	bucketRoster    = []byte("roster")    // bare JID → item; keyRosterVer
	bucketOffline   = []byte("offline")   // 8-byte id → message; keyOfflineCount
	bucketBlocklist = []byte("blocklist") // JID → flagValue
	bucketVCard     = []byte("vcard")     // keyVCard → XML
	bucketPrivate   = []byte("private")   // caller's key → XML
	bucketRefs      = []byte("refs")      // top bucket NUL key → ref mode

	keyCredentials = []byte("credentials")

	userBuckets = [][]byte{bucketAccount, bucketRoster, bucketOffline, bucketBlocklist, bucketVCard, bucketPrivate}
)

// checkUser rejects user names that cannot be bucket keys.
// Callers pass PRECIS-normalised localparts; the store does not normalise.
func checkUser(user string) error {
	if user == "" || len(user) > bolt.MaxKeySize {
		return fmt.Errorf("%w: user name length %d", ErrInvalid, len(user))
	}
	return nil
}

// userBucket returns users/<user>, or ErrNotFound.
func userBucket(tx *bolt.Tx, user string) (*bolt.Bucket, error) {
	if user == "" {
		return nil, ErrNotFound
	}
	b := tx.Bucket(bucketUsers).Bucket([]byte(user))
	if b == nil {
		return nil, ErrNotFound
	}
	return b, nil
}

// userSub returns users/<user>/<name>. If the user exists but the
// sub-bucket does not, it returns (nil, nil) in a read-only transaction and
// creates the bucket in a writable one.
func userSub(tx *bolt.Tx, user string, name []byte) (*bolt.Bucket, error) {
	u, err := userBucket(tx, user)
	if err != nil {
		return nil, err
	}
	if b := u.Bucket(name); b != nil || !tx.Writable() {
		return b, nil
	}
	return u.CreateBucket(name)
}

// CreateUser creates an account with the given verifiers.
// It fails with ErrExists if the user exists and ErrInvalid if the name is
// empty or the credentials are incomplete or too weak.
func (db *DB) CreateUser(ctx context.Context, user string, c Credentials) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error { return createUserTx(tx, user, c) })
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	return nil
}

// createUserTx creates the account's buckets and stores c, or returns
// ErrExists.
func createUserTx(tx *bolt.Tx, user string, c Credentials) error {
	users := tx.Bucket(bucketUsers)
	if users.Bucket([]byte(user)) != nil {
		return ErrExists
	}
	u, err := users.CreateBucket([]byte(user))
	if err != nil {
		return err
	}
	for _, name := range userBuckets {
		if _, err := u.CreateBucket(name); err != nil {
			return err
		}
	}
	return u.Bucket(bucketAccount).Put(keyCredentials, encodeCredentials(c))
}

// SetCredentials replaces the verifiers of an existing account
// (password change) and revokes the account's FAST tokens. It fails with ErrNotFound for an unknown user.
func (db *DB) SetCredentials(ctx context.Context, user string, c Credentials) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("store: set credentials: %w", err)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketAccount)
		if err != nil {
			return err
		}
		if err := b.Put(keyCredentials, encodeCredentials(c)); err != nil {
			return err
		}
		// A new password revokes every FAST token (XEP-0484), atomically.
		u, _ := userBucket(tx, user)
		return deleteFastTx(u)
	})
	if err != nil {
		return fmt.Errorf("store: set credentials: %w", err)
	}
	return nil
}

// Credentials returns the stored verifiers of user, or ErrNotFound.
// It is on the login path: one read transaction and one allocation.
func (db *DB) Credentials(ctx context.Context, user string) (Credentials, error) {
	var c Credentials
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketAccount)
		if err != nil {
			return err
		}
		var v []byte
		if b != nil {
			v = b.Get(keyCredentials)
		}
		if v == nil {
			return ErrNotFound
		}
		// One copy; the decoded slices alias it.
		c, err = decodeCredentials(bytes.Clone(v))
		return err
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("store: credentials: %w", err)
	}
	return c, nil
}

// UserExists reports whether an account named user exists.
func (db *DB) UserExists(ctx context.Context, user string) (bool, error) {
	var ok bool
	err := db.view(ctx, func(tx *bolt.Tx) error {
		_, err := userBucket(tx, user)
		ok = err == nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: user exists: %w", err)
	}
	return ok, nil
}

// Users returns the names of all accounts in byte order.
func (db *DB) Users(ctx context.Context) ([]string, error) {
	var users []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEachBucket(func(k []byte) error {
			users = append(users, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return users, nil
}

// DeleteUser removes the account and everything stored under it
// (credentials, roster, offline queue, blocklist, vCard, private storage,
// and whatever later features keep under users/<user> or registered with
// addUserRef) in one transaction, then runs Scrub so that the deleted
// bytes are gone from the file. It fails with ErrNotFound for an unknown user.
// If Scrub fails the account is still deleted and the error is returned.
// DeleteAccount also removes the account from its contacts' rosters.
func (db *DB) DeleteUser(ctx context.Context, user string) error {
	_, err := db.DeleteAccount(ctx, user, "")
	return err
}

// DeletedAccount is what DeleteAccount removed: the account's roster as
// it was (to tell the contacts) and counts for the confirmation page.
type DeletedAccount struct {
	Roster          []RosterItem
	OfflineMessages int
	PrivateItems    int
	BlockedJIDs     int
	Uploads         int
	VCard           bool
	// ContactRosters is the number of other accounts whose roster held jid.
	ContactRosters int
}

// DeleteAccount deletes the account user and everything it owns in ONE
// transaction: the account's buckets (as DeleteUser), its upload records
// (moved to the trash for the files to be unlinked), its other indexed
// records, and the item jid (the account's bare JID; "" for none) in the
// roster of every other account, with each changed roster's version
// bumped. It looks at every account, not only the contacts the account
// knew, since a roster can hold a JID that never answered. Afterwards it
// scrubs the freed pages, as DeleteUser does; if the scrub fails, the
// account is deleted all the same and the error is returned with the
// result. It fails with ErrNotFound for an unknown user, changing nothing.
func (db *DB) DeleteAccount(ctx context.Context, user, jid string) (DeletedAccount, error) {
	var d DeletedAccount
	err := db.update(ctx, func(tx *bolt.Tx) error {
		d = DeletedAccount{}
		u, err := userBucket(tx, user)
		if err != nil {
			return err
		}
		if err := summariseUserTx(tx, u, &d); err != nil {
			return err
		}
		if jid != "" {
			if d.ContactRosters, err = removeFromRostersTx(tx, user, jid); err != nil {
				return err
			}
		}
		return deleteUserTx(tx, user)
	})
	db.notifyOffline(user) // waiters on the queue learn it is gone
	if err != nil {
		return DeletedAccount{}, fmt.Errorf("store: delete user: %w", err)
	}
	// A cancelled ctx must not leave deleted bytes behind: scrub regardless.
	return d, db.Scrub(context.WithoutCancel(ctx))
}

// summariseUserTx fills d with the roster and counts of the account u.
func summariseUserTx(tx *bolt.Tx, u *bolt.Bucket, d *DeletedAccount) error {
	if b := u.Bucket(bucketRoster); b != nil {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) == 0 || k[0] == 0 {
				continue // version and counter
			}
			it, err := decodeRosterItem(k, v)
			if err != nil {
				return err
			}
			d.Roster = append(d.Roster, it)
		}
	}
	if b := u.Bucket(bucketOffline); b != nil {
		d.OfflineMessages = int(offlineCount(b))
	}
	count := func(name []byte, keep func(k []byte) bool) int {
		b := u.Bucket(name)
		if b == nil {
			return 0
		}
		n := 0
		b.ForEach(func(k, _ []byte) error {
			if keep(k) {
				n++
			}
			return nil
		})
		return n
	}
	d.PrivateItems = count(bucketPrivate, func(k []byte) bool { return len(k) > 0 && k[0] != 0 })
	d.BlockedJIDs = count(bucketBlocklist, func([]byte) bool { return true })
	all := tx.Bucket(bucketUploads)
	d.Uploads = count(bucketUserUploads, func(k []byte) bool { return all != nil && all.Get(k) != nil })
	if b := u.Bucket(bucketVCard); b != nil {
		d.VCard = len(b.Get(keyVCard)) > 1 // version byte, then the XML
	}
	return nil
}

// removeFromRostersTx deletes the item jid from the roster of every
// account but user and returns how many rosters held it.
func removeFromRostersTx(tx *bolt.Tx, user, jid string) (int, error) {
	if checkJID(jid) != nil {
		return 0, nil
	}
	users := tx.Bucket(bucketUsers)
	var names [][]byte // collected first: no writes while iterating users
	err := users.ForEachBucket(func(name []byte) error {
		if string(name) != user {
			names = append(names, bytes.Clone(name))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	key := []byte(jid)
	n := 0
	for _, name := range names {
		b := users.Bucket(name).Bucket(bucketRoster)
		if b == nil || b.Get(key) == nil {
			continue
		}
		if err := b.Delete(key); err != nil {
			return n, err
		}
		if err := removeRosterItem(b); err != nil {
			return n, err
		}
		if _, err := bumpRosterVer(b); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// deleteUserTx removes the user's references outside the subtree,
// then the subtree itself.
func deleteUserTx(tx *bolt.Tx, user string) error {
	u, err := userBucket(tx, user)
	if err != nil {
		return err
	}
	if refs := u.Bucket(bucketRefs); refs != nil {
		err := refs.ForEach(func(k, v []byte) error { return dropRef(tx, k, v) })
		if err != nil {
			return err
		}
	}
	return tx.Bucket(bucketUsers).DeleteBucket([]byte(user))
}

// Ref modes (value of users/<user>/refs entries after the version byte).
const (
	refDelete byte = 0 // delete the referenced key
	refTrash  byte = 1 // move the referenced key and value to the trash bucket
)

// addUserRef records that key in top-level bucket belongs to user, so that
// DeleteUser deletes it (trash == false) or moves it to the trash bucket
// (trash == true, for records whose files must be unlinked after the
// transaction, such as uploads; the trash key is bucket NUL key) in the
// same transaction. A key that names a sub-bucket is deleted with it.
// Features that keep indexes outside users/<user> (for example
// uploads/<id>) call it in the transaction that writes the index entry,
// and removeUserRef when they delete it.
func addUserRef(tx *bolt.Tx, user string, bucket, key []byte, trash bool) error {
	b, err := userSub(tx, user, bucketRefs)
	if err != nil {
		return err
	}
	mode := refDelete
	if trash {
		mode = refTrash
	}
	return b.Put(refKey(bucket, key), []byte{codecV1, mode})
}

// removeUserRef forgets a reference added with addUserRef.
func removeUserRef(tx *bolt.Tx, user string, bucket, key []byte) error {
	b, err := userSub(tx, user, bucketRefs)
	if err != nil || b == nil {
		return err
	}
	return b.Delete(refKey(bucket, key))
}

func refKey(bucket, key []byte) []byte {
	k := make([]byte, 0, len(bucket)+1+len(key))
	k = append(k, bucket...)
	k = append(k, 0)
	return append(k, key...)
}

// dropRef applies one reference during account deletion.
func dropRef(tx *bolt.Tx, ref, mode []byte) error {
	name, key, ok := bytes.Cut(ref, []byte{0})
	if !ok || len(mode) != 2 || mode[0] != codecV1 {
		return fmt.Errorf("%w: user reference", ErrCorrupt)
	}
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	if b.Bucket(key) != nil {
		return b.DeleteBucket(key)
	}
	v := b.Get(key)
	if v == nil {
		return nil
	}
	if mode[1] == refTrash {
		// The trash key keeps the origin: bucket NUL key.
		if err := tx.Bucket(bucketTrash).Put(bytes.Clone(ref), bytes.Clone(v)); err != nil {
			return err
		}
	}
	return b.Delete(key)
}
