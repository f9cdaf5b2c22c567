package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File prefixes used by chatbx. Each prefix has its own retention period
// (see package retention); a prefix must not be a prefix of another one
// followed by a dash and a timestamp, so "web-errors" and "web" would still
// be told apart by ParseName.
const (
	PrefixConn      = "conn"       // connection log: login, logout, auth failure
	PrefixServer    = "server"     // general server log (lifecycle, errors)
	PrefixWebErrors = "web-errors" // web site errors: time, anonymised IP, path
)

// startLayout is the UTC bucket start in ISO 8601 basic format.
// One layout for every bucket length: seconds are always present,
// so buckets of a few seconds (tests) get distinct names too.
const startLayout = "20060102T150405Z"

// MinBucket is the shortest bucket a Sink uses.
// File names have a resolution of one second.
const MinBucket = time.Second

// maxBucketUnits bounds the number in a file name's bucket length,
// so parsing never overflows a time.Duration.
const maxBucketUnits = 1_000_000

// File is one log file found by Files.
// Every line in it was written at or after Start and before End.
type File struct {
	Path  string
	Start time.Time // bucket start, UTC
	End   time.Time // bucket end: Start plus the bucket length
}

// FileName returns the base name of the log file for the bucket that starts
// at start and lasts bucket: "<prefix>-<start>-<bucket>.log", for example
// "conn-20261127T160000Z-1h.log" or "conn-20261127T163005Z-5s.log".
// The name carries the bucket length, so that retention can compute the
// bucket's end from the name alone, even after the configured period (and
// with it the bucket length) has changed.
// bucket is rounded down to whole seconds and is at least MinBucket.
func FileName(prefix string, start time.Time, bucket time.Duration) string {
	return prefix + "-" + start.UTC().Format(startLayout) + "-" + formatBucket(bucket) + ".log"
}

// formatBucket writes d with the largest unit of d, h, m, s that divides it.
func formatBucket(d time.Duration) string {
	d = d.Truncate(time.Second)
	if d < MinBucket {
		d = MinBucket
	}
	units := []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for _, u := range units {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	panic("unreachable: d is a whole number of seconds")
}

// errName reports a file name that is not a log file name.
var errName = errors.New("logs: not a log file name")

// ParseName parses a base name written by FileName.
// It accepts only the exact form FileName writes (FileName of the result
// returns name again), so stray files in the log directory are never
// mistaken for log files.
func ParseName(name string) (prefix string, start time.Time, bucket time.Duration, err error) {
	rest, ok := strings.CutSuffix(name, ".log")
	if !ok {
		return "", time.Time{}, 0, errName
	}
	// <prefix>-<start>-<bucket>: split from the right, the prefix may hold dashes.
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return "", time.Time{}, 0, errName
	}
	rest, bucketText := rest[:i], rest[i+1:]
	i = strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", time.Time{}, 0, errName
	}
	prefix, startText := rest[:i], rest[i+1:]
	start, err = time.Parse(startLayout, startText)
	if err != nil {
		return "", time.Time{}, 0, errName
	}
	bucket, err = parseBucket(bucketText)
	if err != nil {
		return "", time.Time{}, 0, err
	}
	if FileName(prefix, start, bucket) != name {
		return "", time.Time{}, 0, errName
	}
	return prefix, start, bucket, nil
}

// parseBucket parses a length written by formatBucket.
func parseBucket(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, errName
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'd':
		unit = 24 * time.Hour
	case 'h':
		unit = time.Hour
	case 'm':
		unit = time.Minute
	case 's':
		unit = time.Second
	default:
		return 0, errName
	}
	digits := s[:len(s)-1]
	if digits[0] < '1' || digits[0] > '9' {
		return 0, errName // no sign, no leading zero, not zero
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > maxBucketUnits {
		return 0, errName
	}
	return time.Duration(n) * unit, nil
}

// tempName is the name Rewrite gives the new content of the file name
// before renaming it into place. It starts with a dot, so it never parses
// as a log file; expire removes leftovers of an interrupted Rewrite by the
// same rule as the file itself.
func tempName(name string) string { return "." + name + ".tmp" }

// Files lists the log files of prefix in dir, oldest first.
// Names of other prefixes and stray files are skipped.
// A missing dir is not an error: it has no files.
func Files(dir, prefix string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logs: list files: %w", err)
	}
	var files []File
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p, start, bucket, err := ParseName(e.Name())
		if err != nil || p != prefix {
			continue
		}
		files = append(files, File{Path: filepath.Join(dir, e.Name()), Start: start, End: start.Add(bucket)})
	}
	slices.SortFunc(files, func(a, b File) int { return a.Start.Compare(b.Start) })
	return files, nil
}

// Expire removes the log files of prefix in dir whose bucket started at or
// before cutoff, that is every file that may hold a line written at or
// before cutoff (a file's first line may be written at its bucket start).
// The caller picks cutoff so that the file's bucket has ended (see
// retention.LogFilesPolicy); a file still being written would otherwise be
// removed under its Sink, which then writes the rest of its bucket into the
// unlinked file.
// Leftovers of an interrupted Rewrite of such a file are removed too.
// It returns the number of log files removed; on error it still tries the
// remaining files and returns the first error.
func Expire(dir, prefix string, cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("logs: expire: %w", err)
	}
	var n int
	var first error
	for _, e := range entries {
		name := e.Name()
		temp := false
		if inner, ok := strings.CutPrefix(name, "."); ok {
			if inner, ok = strings.CutSuffix(inner, ".tmp"); ok {
				name, temp = inner, true
			}
		}
		p, start, _, err := ParseName(name)
		if err != nil || p != prefix || start.After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			if first == nil {
				first = fmt.Errorf("logs: expire: %w", err)
			}
			continue
		}
		if !temp {
			n++
		}
	}
	return n, first
}

// BucketFor returns the bucket length for log files kept for period:
// a tenth of the period rounded down to a length that divides a day
// (1d, 1h, 30m, 20m, 15m, 10m, 5m, 2m, 1m, 30s, 20s, 15s, 10s, 5s, 2s, 1s),
// so files start at round times. 24 hours give hourly files and 30 days
// daily files. Retention deletes a file by the time its bucket START is
// one period old (retention.LogFilesPolicy), so no line outlives the
// period, and the newest line of a file is kept at least the period minus
// one bucket minus one retention tick, together at most a fifth of the
// period (for periods of at least ten seconds; shorter periods still get
// one-second buckets).
func BucketFor(period time.Duration) time.Duration {
	steps := []time.Duration{
		24 * time.Hour, time.Hour,
		30 * time.Minute, 20 * time.Minute, 15 * time.Minute, 10 * time.Minute,
		5 * time.Minute, 2 * time.Minute, time.Minute,
		30 * time.Second, 20 * time.Second, 15 * time.Second, 10 * time.Second,
		5 * time.Second, 2 * time.Second,
	}
	tenth := period / 10
	for _, s := range steps {
		if s <= tenth {
			return s
		}
	}
	return MinBucket
}
