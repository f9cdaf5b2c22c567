package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTest opens a database for the package's internal tests
// (storetest cannot be imported here).
func openTest(t *testing.T, path string, steps []migration) *DB {
	t.Helper()
	db, err := openWith(path, Options{}, steps)
	if err != nil {
		t.Fatalf("openWith(%q) = %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readSchema(t *testing.T, db *DB) uint64 {
	t.Helper()
	var v uint64
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		v, err = schemaVersion(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenFreshSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db := openTest(t, path, migrations)
	if got, want := readSchema(t, db), uint64(SchemaVersion()); got != want {
		t.Errorf("schema version = %d, want %d", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %v, want 0600", mode)
	}
}

// TestMigrateV0ToV1 runs a fake migration over a file written by a
// "version 0" program: it renames a bucket and rewrites a value.
func TestMigrateV0ToV1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")

	// A version-0 file: no meta bucket, values without version byte.
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bolt.Tx) error {
		old, err := tx.CreateBucket([]byte("accounts"))
		if err != nil {
			return err
		}
		return old.Put([]byte("alice"), []byte("legacy"))
	}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	runs := 0
	v1 := []migration{{"accounts to people", func(tx *bolt.Tx) error {
		runs++
		old := tx.Bucket([]byte("accounts"))
		people, err := tx.CreateBucket([]byte("people"))
		if err != nil {
			return err
		}
		if err := old.ForEach(func(k, v []byte) error {
			return people.Put(k, append([]byte{codecV1}, v...))
		}); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("accounts"))
	}}}

	db, err := openWith(path, Options{}, v1)
	if err != nil {
		t.Fatalf("open with v1 migration: %v", err)
	}
	if got := readSchema(t, db); got != 1 {
		t.Errorf("schema after migration = %d, want 1", got)
	}
	db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("accounts")) != nil {
			t.Errorf("old bucket still present")
		}
		if v := tx.Bucket([]byte("people")).Get([]byte("alice")); string(v) != "\x01legacy" {
			t.Errorf("migrated value = %q, want %q", v, "\x01legacy")
		}
		return nil
	})
	db.Close()

	// Reopening does not run the step again.
	db = openTest(t, path, v1)
	if runs != 1 {
		t.Errorf("migration ran %d times, want 1", runs)
	}
	db.Close()

	// A program that knows fewer steps refuses the newer file.
	if _, err := openWith(path, Options{}, nil); err == nil {
		t.Errorf("open of schema 1 by a schema-0 program succeeded, want error")
	}
}

// TestMigrateFailureIsAtomic: a failing step leaves nothing of the earlier steps.
func TestMigrateFailureIsAtomic(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	boom := errors.New("boom")
	steps := append(append([]migration(nil), migrations...), migration{"fails", func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half")); err != nil {
			return err
		}
		return boom
	}})
	if _, err := openWith(path, Options{}, steps); !errors.Is(err, boom) {
		t.Fatalf("open with failing step = %v, want %v", err, boom)
	}
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{[]byte("half"), bucketUsers, bucketMeta} {
			if tx.Bucket(name) != nil {
				t.Errorf("bucket %q exists after failed migration", name)
			}
		}
		return nil
	})
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	openTest(t, path, migrations)
	// flock locks belong to open file descriptions, so a second Open in the
	// same process contends like a second process would.
	start := time.Now()
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestOperationsAfterCancel(t *testing.T) {
	t.Parallel()
	db := openTest(t, filepath.Join(t.TempDir(), "chatbx.db"), migrations)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Users(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Users(cancelled ctx) = %v, want context.Canceled", err)
	}
	if err := db.Scrub(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Scrub(cancelled ctx) = %v, want context.Canceled", err)
	}
}

func TestUserRefs(t *testing.T) {
	t.Parallel()
	db := openTest(t, filepath.Join(t.TempDir(), "chatbx.db"), migrations)
	ctx := context.Background()
	c, err := DeriveCredentials("pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, "alice", c); err != nil {
		t.Fatal(err)
	}
	index := []byte("index")
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(index)
		if err != nil {
			return err
		}
		for _, k := range []string{"gone", "trashed", "kept", "forgotten"} {
			if err := b.Put([]byte(k), []byte("v-"+k)); err != nil {
				return err
			}
		}
		if _, err := b.CreateBucket([]byte("sub")); err != nil {
			return err
		}
		for _, r := range []struct {
			key   string
			trash bool
		}{{"gone", false}, {"trashed", true}, {"sub", false}, {"forgotten", false}} {
			if err := addUserRef(tx, "alice", index, []byte(r.key), r.trash); err != nil {
				return err
			}
		}
		return removeUserRef(tx, "alice", index, []byte("forgotten"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(index)
		for k, want := range map[string]string{"gone": "", "trashed": "", "kept": "v-kept", "forgotten": "v-forgotten"} {
			if got := string(b.Get([]byte(k))); got != want {
				t.Errorf("index[%q] = %q, want %q", k, got, want)
			}
		}
		if b.Bucket([]byte("sub")) != nil {
			t.Errorf("referenced sub-bucket survived")
		}
		if got := string(tx.Bucket(bucketTrash).Get(refKey(index, []byte("trashed")))); got != "v-trashed" {
			t.Errorf("trash entry = %q, want %q", got, "v-trashed")
		}
		return nil
	})
}
