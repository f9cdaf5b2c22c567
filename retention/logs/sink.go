package logs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Sink is an io.Writer that appends each Write to the log file of the
// time bucket the write falls in (see FileName). zerolog writes one event
// per Write, so each line lands whole in exactly one file.
// Files are created with mode 0600 in a directory created with mode 0700.
// A Sink is safe for concurrent use.
type Sink struct {
	dir    string
	prefix string
	bucket time.Duration
	now    func() time.Time

	mu     sync.Mutex
	f      *os.File  // file of the current bucket, nil until the first Write
	start  time.Time // bucket start of f
	closed bool
}

// NewSink returns a Sink writing files "<dir>/<prefix>-<start>-<bucket>.log".
// bucket is rounded down to whole seconds, at least MinBucket; use
// BucketFor(period) to pick it from the retention period.
// now is the clock deciding the bucket of each write (nil means time.Now).
// Nothing is opened before the first Write.
func NewSink(dir, prefix string, bucket time.Duration, now func() time.Time) *Sink {
	bucket = bucket.Truncate(time.Second)
	if bucket < MinBucket {
		bucket = MinBucket
	}
	if now == nil {
		now = time.Now
	}
	return &Sink{dir: dir, prefix: prefix, bucket: bucket, now: now}
}

// Dir returns the directory the Sink writes into.
func (s *Sink) Dir() string { return s.dir }

// Prefix returns the file name prefix of the Sink.
func (s *Sink) Prefix() string { return s.prefix }

// Bucket returns the bucket length of the Sink's files.
func (s *Sink) Bucket() time.Duration { return s.bucket }

// Write appends p to the file of the current bucket, switching files when
// the clock has moved into another bucket. It fails after Close.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("logs: write %s: %w", s.prefix, os.ErrClosed)
	}
	start := s.now().UTC().Truncate(s.bucket)
	if s.f == nil || !start.Equal(s.start) {
		if err := s.open(start); err != nil {
			return 0, err
		}
	}
	return s.f.Write(p)
}

// open closes the current file and opens the one of the bucket at start.
// The caller holds s.mu.
func (s *Sink) open(start time.Time) error {
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		if err != nil {
			return fmt.Errorf("logs: close %s: %w", s.prefix, err)
		}
	}
	// Privacy: the logs name users; only the server's user may read them.
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("logs: create log directory: %w", err)
	}
	name := filepath.Join(s.dir, FileName(s.prefix, start, s.bucket))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("logs: open %s: %w", s.prefix, err)
	}
	s.f, s.start = f, start
	return nil
}

// Rewrite is the package function Rewrite for the Sink's files, safe while
// the Sink is in use: it closes the current file first, so later writes go
// to the rewritten file rather than to the replaced one.
func (s *Sink) Rewrite(drop func(line []byte) bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		if err != nil {
			return 0, fmt.Errorf("logs: close %s: %w", s.prefix, err)
		}
	}
	return Rewrite(s.dir, s.prefix, drop)
}

// Sync flushes the current file to stable storage.
func (s *Sink) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	return s.f.Sync()
}

// Close syncs and closes the current file. Later writes fail.
// Close is idempotent.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	serr := f.Sync()
	if err := f.Close(); err != nil {
		return fmt.Errorf("logs: close %s: %w", s.prefix, err)
	}
	if serr != nil {
		return fmt.Errorf("logs: sync %s: %w", s.prefix, serr)
	}
	return nil
}
