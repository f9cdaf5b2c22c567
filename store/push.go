package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Push registrations (XEP-0357): users/<user>/push/<jid> NUL <node> holds
// one app server registration of one of the user's devices: the app
// server's JID, the node and the publish-options form the device gave
// (serialised XML, often a secret for the app server). Everything is
// under the user's subtree, so deleting the account deletes it in the
// same transaction.
var bucketPush = []byte("push")

// PushRegistration is one device's push registration.
type PushRegistration struct {
	JID  string // the app server
	Node string // the device's node at the app server
	// Options is the publish-options data form (XML) to send with each
	// notification; empty if none.
	Options []byte
}

func pushKey(jid, node string) []byte {
	k := make([]byte, 0, len(jid)+1+len(node))
	k = append(k, jid...)
	k = append(k, 0)
	return append(k, node...)
}

// PutPush stores r for user, replacing a registration with the same JID
// and node. It fails with ErrNotFound for an unknown user, ErrInvalid for
// an empty JID or node or a key too long, and ErrQuota when the user has
// max registrations already (max <= 0: no cap).
func (db *DB) PutPush(ctx context.Context, user string, r PushRegistration, max int) error {
	k := pushKey(r.JID, r.Node)
	if r.JID == "" || r.Node == "" || bytes.IndexByte([]byte(r.JID), 0) >= 0 || len(k) > bolt.MaxKeySize {
		return fmt.Errorf("store: put push: %w", ErrInvalid)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketPush)
		if err != nil {
			return err
		}
		if b.Get(k) == nil && max > 0 && b.Stats().KeyN >= max {
			return ErrQuota
		}
		v := []byte{codecV1}
		v = append(v, r.Options...)
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("store: put push: %w", err)
	}
	return nil
}

// DeletePush deletes user's registrations at the app server jid: the one
// for node, or all of them when node is empty. It returns how many it
// deleted; an unknown user fails with ErrNotFound.
func (db *DB) DeletePush(ctx context.Context, user, jid, node string) (int, error) {
	n := 0
	err := db.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b, err := userSub(tx, user, bucketPush)
		if err != nil {
			return err
		}
		if node != "" {
			k := pushKey(jid, node)
			if b.Get(k) == nil {
				return nil
			}
			n = 1
			return b.Delete(k)
		}
		prefix := pushKey(jid, "")
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete push: %w", err)
	}
	return n, nil
}

// PushRegistrations returns user's registrations ordered by JID and node.
// It fails with ErrNotFound for an unknown user.
func (db *DB) PushRegistrations(ctx context.Context, user string) ([]PushRegistration, error) {
	var out []PushRegistration
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketPush)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			jid, node, ok := bytes.Cut(k, []byte{0})
			if !ok || len(v) == 0 || v[0] != codecV1 {
				return fmt.Errorf("%w: push registration", ErrCorrupt)
			}
			out = append(out, PushRegistration{JID: string(jid), Node: string(node), Options: bytes.Clone(v[1:])})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: push registrations: %w", err)
	}
	return out, nil
}
