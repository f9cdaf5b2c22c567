package store

import (
	"context"
	"fmt"
)

// scrubChunk is the most Scrub reads or writes at once.
const scrubChunk = 256 << 10

// Scrub overwrites the free pages of the database file with zeros, so that
// deleted values (delivered offline messages, deleted accounts, removed
// roster items, …) can no longer be read from the file.
// bbolt is copy-on-write: a changed or deleted value stays in the page it
// lived in until that page is reused. See doc.go for why this is safe.
//
// Scrub holds the store's exclusive lock: it waits for running operations,
// and new ones wait for it. Pages that are already zero are only read, so a
// Scrub with nothing to do costs one pass over the page table and no write.
// DeleteUser calls it; the retention runner calls it on every tick.
func (db *DB) Scrub(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.scrubLocked(ctx)
}

// scrubLocked does the work of Scrub; db.mu must be held exclusively.
func (db *DB) scrubLocked(ctx context.Context) error {
	// A writable transaction is the only way to look at bbolt's in-memory
	// freelist, and beginning one releases every pending page (pages freed
	// by earlier commits and kept for open readers): the exclusive lock
	// guarantees there are none. The transaction is rolled back unchanged.
	tx, err := db.bolt.Begin(true)
	if err != nil {
		return fmt.Errorf("store: scrub: %w", err)
	}
	defer tx.Rollback()

	pageSize := int64(db.bolt.Info().PageSize)
	high := tx.Size() / pageSize // pages in use; the rest of the file is beyond the high-water mark
	s := scrubber{db: db, buf: make([]byte, scrubChunk)}

	// Pages 0 and 1 are the meta pages; the freelist holds single page ids,
	// so free runs are coalesced here for fewer system calls.
	var start, n int64
	flush := func() error {
		if n == 0 {
			return nil
		}
		err := s.zero(start*pageSize, n*pageSize)
		n = 0
		return err
	}
	for id := int64(2); id < high; id++ {
		info, err := tx.Page(int(id))
		if err != nil {
			return fmt.Errorf("store: scrub: %w", err)
		}
		if info == nil || info.Type != "free" {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if n > 0 && start+n == id {
			n++
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		start, n = id, 1
		if id%4096 == 0 && ctx.Err() != nil {
			break // still sync what was written
		}
	}
	if err := flush(); err != nil {
		return err
	}
	// Beyond the high-water mark the file is normally a sparse hole, but a
	// commit that failed or crashed after writing its pages leaves them there.
	fi, err := db.file.Stat()
	if err != nil {
		return fmt.Errorf("store: scrub: %w", err)
	}
	if end := fi.Size(); end > high*pageSize {
		if err := s.zero(high*pageSize, end-high*pageSize); err != nil {
			return err
		}
	}
	if s.wrote && !db.bolt.NoSync {
		if err := db.file.Sync(); err != nil {
			return fmt.Errorf("store: scrub: sync: %w", err)
		}
	}
	return ctx.Err()
}

// scrubber zeroes byte ranges of the database file that are not zero yet.
type scrubber struct {
	db    *DB
	buf   []byte
	wrote bool
}

func (s *scrubber) zero(off, length int64) error {
	for length > 0 {
		n := min(length, int64(len(s.buf)))
		b := s.buf[:n]
		if _, err := s.db.file.ReadAt(b, off); err != nil {
			return fmt.Errorf("store: scrub: read: %w", err)
		}
		if !allZero(b) {
			clear(b)
			if _, err := s.db.file.WriteAt(b, off); err != nil {
				return fmt.Errorf("store: scrub: write: %w", err)
			}
			s.wrote = true
		}
		off += n
		length -= n
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
