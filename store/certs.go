package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	bolt "go.etcd.io/bbolt"
)

// CertStorage returns the certmagic.Storage (with Locker and TryLocker)
// that keeps certificates, keys and the ACME account in the certs bucket,
// so that the data directory holds one database and nothing else of TLS.
// Keys are certmagic's slash-separated paths; "directories" exist only as
// prefixes of keys. Locks are in-process: bbolt's file lock already makes
// this process the only user of the file.
func (db *DB) CertStorage() certmagic.Storage {
	return certStorage{db}
}

type certStorage struct{ db *DB }

var (
	_ certmagic.Storage   = certStorage{}
	_ certmagic.TryLocker = certStorage{}
)

// notExist wraps fs.ErrNotExist, as certmagic requires, with the operation.
func notExist(op string) error {
	return fmt.Errorf("store: certs %s: %w", op, fs.ErrNotExist)
}

// Store writes value at key and records the modification time.
func (s certStorage) Store(ctx context.Context, key string, value []byte) error {
	if key == "" || len(key) > bolt.MaxKeySize {
		return fmt.Errorf("store: certs store: %w: key", ErrInvalid)
	}
	now := time.Now().UnixNano()
	err := s.db.update(ctx, func(tx *bolt.Tx) error {
		v := make([]byte, 0, 1+len(value))
		v = append(v, codecV1)
		if err := tx.Bucket(bucketCerts).Put([]byte(key), append(v, value...)); err != nil {
			return err
		}
		mtime := binary.BigEndian.AppendUint64([]byte{codecV1}, uint64(now))
		return tx.Bucket(bucketCertMeta).Put([]byte(key), mtime)
	})
	if err != nil {
		return fmt.Errorf("store: certs store: %w", err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s certStorage) Load(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.db.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCerts).Get([]byte(key))
		if v == nil || key == "" {
			return notExist("load")
		}
		d := newDecoder(v)
		out = bytes.Clone(d.rest())
		if out == nil {
			out = []byte{}
		}
		return d.err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes key and every key under key + "/". Missing keys are no error.
func (s certStorage) Delete(ctx context.Context, key string) error {
	err := s.db.update(ctx, func(tx *bolt.Tx) error {
		certs, meta := tx.Bucket(bucketCerts), tx.Bucket(bucketCertMeta)
		var keys [][]byte
		if key != "" && certs.Get([]byte(key)) != nil {
			keys = append(keys, []byte(key))
		}
		prefix := dirPrefix(key)
		c := certs.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, k)
		}
		for _, k := range keys {
			if err := certs.Delete(k); err != nil {
				return err
			}
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: certs delete: %w", err)
	}
	return nil
}

// Exists reports whether key is a stored value or a prefix of one.
func (s certStorage) Exists(ctx context.Context, key string) bool {
	found := false
	s.db.view(ctx, func(tx *bolt.Tx) error {
		certs := tx.Bucket(bucketCerts)
		if key != "" && certs.Get([]byte(key)) != nil {
			found = true
			return nil
		}
		prefix := dirPrefix(key)
		k, _ := certs.Cursor().Seek(prefix)
		found = k != nil && bytes.HasPrefix(k, prefix)
		return nil
	})
	return found
}

// List returns the keys under dir, like certmagic.FileStorage: with
// recursive, every key and every intermediate directory below dir;
// without, only the direct children (values and directories). Returned
// keys include dir. An empty result is an error wrapping fs.ErrNotExist.
func (s certStorage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	var out []string
	err := s.db.view(ctx, func(tx *bolt.Tx) error {
		prefix := dirPrefix(dir)
		seen := make(map[string]bool)
		add := func(k string) {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
		c := tx.Bucket(bucketCerts).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			rest := string(k[len(prefix):])
			if !recursive {
				first, _, _ := strings.Cut(rest, "/")
				add(string(prefix) + first)
				continue
			}
			// Every intermediate directory, then the key itself.
			for i := range len(rest) {
				if rest[i] == '/' {
					add(string(prefix) + rest[:i])
				}
			}
			add(string(k))
		}
		if len(out) == 0 {
			return notExist("list")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Stat describes key: a stored value (IsTerminal, Size, Modified) or a
// directory (a prefix of stored keys), or fails wrapping fs.ErrNotExist.
func (s certStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	var info certmagic.KeyInfo
	err := s.db.view(ctx, func(tx *bolt.Tx) error {
		certs := tx.Bucket(bucketCerts)
		if v := certs.Get([]byte(key)); v != nil && key != "" {
			info = certmagic.KeyInfo{Key: key, Size: int64(len(v) - 1), IsTerminal: true}
			if m := tx.Bucket(bucketCertMeta).Get([]byte(key)); len(m) == 9 && m[0] == codecV1 {
				info.Modified = time.Unix(0, int64(binary.BigEndian.Uint64(m[1:])))
			}
			return nil
		}
		prefix := dirPrefix(key)
		if k, _ := certs.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			info = certmagic.KeyInfo{Key: key, IsTerminal: false}
			return nil
		}
		return notExist("stat")
	})
	return info, err
}

// dirPrefix returns the key prefix of the directory dir: "dir/", or ""
// for the root.
func dirPrefix(dir string) []byte {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return nil
	}
	return []byte(dir + "/")
}

// Lock acquires the named lock, waiting until it is free or ctx ends.
func (s certStorage) Lock(ctx context.Context, name string) error {
	return s.db.certLocks.lock(ctx, name)
}

// TryLock acquires the named lock if it is free and reports whether it did.
func (s certStorage) TryLock(ctx context.Context, name string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return s.db.certLocks.tryLock(name), nil
}

// Unlock releases a lock taken with Lock or TryLock.
func (s certStorage) Unlock(_ context.Context, name string) error {
	return s.db.certLocks.unlock(name)
}

// lockTable is a set of named in-process locks whose waits honour a
// context. The zero value is ready to use.
type lockTable struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when the lock is released
}

func (t *lockTable) tryLock(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.held[name]; ok {
		return false
	}
	if t.held == nil {
		t.held = make(map[string]chan struct{})
	}
	t.held[name] = make(chan struct{})
	return true
}

func (t *lockTable) lock(ctx context.Context, name string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		t.mu.Lock()
		ch, ok := t.held[name]
		if !ok {
			if t.held == nil {
				t.held = make(map[string]chan struct{})
			}
			t.held[name] = make(chan struct{})
			t.mu.Unlock()
			return nil
		}
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var errNotLocked = errors.New("store: certs unlock: lock not held")

func (t *lockTable) unlock(name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch, ok := t.held[name]
	if !ok {
		return errNotLocked
	}
	delete(t.held, name)
	close(ch)
	return nil
}
