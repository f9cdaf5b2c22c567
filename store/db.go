package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Top-level bucket names.
var (
	bucketUsers     = []byte("users")    // users/<localpart>/...: everything of one account
	bucketMeta      = []byte("meta")     // schema version
	bucketSettings  = []byte("settings") // server-wide small values
	bucketCerts     = []byte("certs")    // certmagic keys → values
	bucketCertMeta  = []byte("certmeta") // certmagic keys → modification times
	bucketTrash     = []byte("trash")    // records of deleted accounts awaiting cleanup (upload files)
	keySchema       = []byte("schema")   // in meta: uvarint schema version
	topLevelBuckets = [][]byte{bucketUsers, bucketMeta, bucketSettings, bucketCerts, bucketCertMeta, bucketTrash}
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock that bbolt takes.
	// Zero means one second. Open returns ErrLocked when it expires.
	Timeout time.Duration

	// NoSync skips fsync after commits (and in Scrub). Only for tests and
	// throw-away files: a crash can then lose or corrupt the database.
	NoSync bool

	// Limits are the per-user storage caps (see Limits); the zero value
	// means DefaultLimits.
	Limits Limits
}

// DB is the chatbx database: one bbolt file.
// All methods are safe for concurrent use.
// Byte slices returned by methods are copies that the caller owns.
type DB struct {
	bolt *bolt.DB
	path string

	// mu orders the store's transactions against Scrub and Backup:
	// every operation holds it shared for the duration of its transaction,
	// and Scrub holds it exclusively, so that no reader can observe a free
	// page while it is overwritten. Methods never nest it.
	mu sync.RWMutex

	// file is a second descriptor of the database file, opened for writing,
	// used only by Scrub to overwrite free pages.
	file *os.File

	certLocks lockTable

	limits Limits

	// watchMu guards watch: per user, a channel closed at the next change
	// that removes offline messages (see WaitOfflineGone).
	watchMu sync.Mutex
	watch   map[string]chan struct{}
}

// Open opens the database at path, creating it with mode 0600 if it does
// not exist, and applies pending schema migrations in one transaction.
// It returns ErrLocked if another process holds the file for longer than
// opts.Timeout.
func Open(path string, opts Options) (*DB, error) {
	return openWith(path, opts, migrations)
}

func openWith(path string, opts Options, steps []migration) (*DB, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	// Never set Options.Logger: bbolt logs keys, which are user names.
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db := &DB{bolt: b, path: path, file: f, limits: opts.Limits.withDefaults(), watch: map[string]chan struct{}{}}
	if err := b.Update(func(tx *bolt.Tx) error { return migrate(tx, steps) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	return db, nil
}

// Close closes the database. It waits for running operations to finish.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	err := db.bolt.Close()
	if ferr := db.file.Close(); err == nil && !errors.Is(ferr, os.ErrClosed) {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the path of the database file.
func (db *DB) Path() string { return db.path }

// view runs fn in a read-only transaction under the shared lock.
func (db *DB) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.bolt.View(fn)
}

// update runs fn in a read-write transaction under the shared lock;
// fn's error rolls the transaction back.
func (db *DB) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.bolt.Update(fn)
}

// Check runs bbolt's consistency check over the whole file and returns
// the first problem found, or nil.
func (db *DB) Check(ctx context.Context) error {
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the database file to w and returns
// the number of bytes written.
// It first overwrites free pages (see Scrub) and holds the exclusive lock
// while copying, so the copy contains no deleted data; other operations
// wait until the copy is done.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.scrubLocked(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// A migration moves the schema from version i to i+1, where i is its index
// in the list. Migrations run in order, all in the one transaction Open
// starts, so a failing step leaves the file as it was.
type migration struct {
	name string
	up   func(tx *bolt.Tx) error
}

// migrations is the schema history; append, never edit or reorder.
// The schema version stored in meta is the number of steps applied.
var migrations = []migration{
	{"initial layout", func(tx *bolt.Tx) error {
		for _, name := range topLevelBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}},
	{"per-user usage counters", countUsage},
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int { return len(migrations) }

// schemaVersion reads the stored schema version; 0 for a file without one.
func schemaVersion(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	v := meta.Get(keySchema)
	if v == nil {
		return 0, nil
	}
	d := newDecoder(v)
	n := d.uvarint()
	return n, d.done()
}

// migrate applies the steps not yet recorded in meta and records the new version.
func migrate(tx *bolt.Tx, steps []migration) error {
	have, err := schemaVersion(tx)
	if err != nil {
		return err
	}
	if have > uint64(len(steps)) {
		return fmt.Errorf("schema version %d is newer than this program's %d", have, len(steps))
	}
	if have == uint64(len(steps)) {
		return nil
	}
	for i := have; i < uint64(len(steps)); i++ {
		if err := steps[i].up(tx); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, steps[i].name, err)
		}
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	v := binaryUvarintValue(uint64(len(steps)))
	return meta.Put(keySchema, v)
}

func binaryUvarintValue(n uint64) []byte {
	return appendUvarint([]byte{codecV1}, n)
}
