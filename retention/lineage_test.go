package retention_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"chatbx/retention"
	"chatbx/retention/logs"
)

// TestLogLineWorstCase simulates the log-files policy with the injectable
// clock: lines are written through a Sink at the first and last instants
// of several buckets, the policy runs every tick (on grids with different
// phases), and each line's age when its file disappears must be at most
// the period (the privacy policy's promise) and at least LineAge's
// shortest. It covers the defaults (24 h in hourly files, 30 days in daily
// files, ten-minute sweeps) and other bucket/tick/period combinations.
// On main before the change to deletion by bucket start, the oldest line
// of a file lived period plus bucket plus up to a tick (25 h 10 min for
// the 24-hour promise) and this test failed.
func TestLogLineWorstCase(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) // aligned to every bucket
	tests := []struct {
		name                 string
		period, bucket, tick time.Duration
	}{
		{"default connection logs", 24 * time.Hour, retention.BucketFor(24 * time.Hour), retention.TickFor(24 * time.Hour)},
		{"default web errors", 30 * day, retention.BucketFor(30 * day), retention.TickFor(30 * day)},
		{"24h, 1h files, 1m tick", 24 * time.Hour, time.Hour, time.Minute},
		{"24h, 2h files, 10m tick", 24 * time.Hour, 2 * time.Hour, 10 * time.Minute},
		{"1h, 5m files, 6m tick", time.Hour, 5 * time.Minute, 6 * time.Minute},
		{"1m, 10s files, 7s tick", time.Minute, 10 * time.Second, 7 * time.Second},
		{"7s, 2s files, 1s tick", 7 * time.Second, 2 * time.Second, time.Second},
		{"5s test config", 5 * time.Second, retention.BucketFor(5 * time.Second), retention.TickFor(5 * time.Second)},
		{"2s, 1s files, 1s tick", 2 * time.Second, time.Second, time.Second},
	}
	for _, tc := range tests {
		shortest, longest := retention.LineAge(tc.period, tc.bucket, tc.tick)
		if longest > tc.period {
			t.Errorf("%s: LineAge longest = %v, more than the period %v", tc.name, longest, tc.period)
		}
		for _, phase := range []time.Duration{0, time.Nanosecond, tc.tick / 3, tc.tick - time.Nanosecond} {
			t.Run(fmt.Sprintf("%s/phase %v", tc.name, phase), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				c := newClock(t0)
				s := logs.NewSink(dir, logs.PrefixConn, tc.bucket, c.Now)
				type line struct {
					at   time.Time
					file string
				}
				var lines []line
				for b := range 3 {
					start := t0.Add(time.Duration(b) * tc.bucket)
					for _, at := range []time.Time{start, start.Add(time.Nanosecond), start.Add(tc.bucket / 2), start.Add(tc.bucket - time.Nanosecond)} {
						c.Set(at)
						if _, err := fmt.Fprintf(s, "line at %v\n", at); err != nil {
							t.Fatal(err)
						}
						lines = append(lines, line{at, filepath.Join(dir, logs.FileName(logs.PrefixConn, start, tc.bucket))})
					}
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				p := retention.LogFilesPolicy("connection-logs", dir, tc.period, tc.tick, retention.PrefixesConnection...)
				if p.Tick != tc.tick {
					t.Fatalf("policy tick = %v, want %v", p.Tick, tc.tick)
				}
				last := lines[len(lines)-1].at
				gone := make([]bool, len(lines))
				left := len(lines)
				// Runs every tick, from before the first line until well after
				// the last line's promise.
				for now := t0.Add(phase - tc.tick); left > 0 && !now.After(last.Add(2*tc.period+2*tc.tick)); now = now.Add(tc.tick) {
					if _, err := p.Run(t.Context(), now); err != nil {
						t.Fatal(err)
					}
					for i, l := range lines {
						if gone[i] {
							continue
						}
						if _, err := os.Stat(l.file); err == nil {
							if age := now.Sub(l.at); age > tc.period {
								t.Fatalf("line written at %v still there at %v: age %v, promise %v", l.at, now, age, tc.period)
							}
							continue
						}
						gone[i] = true
						left--
						age := now.Sub(l.at)
						if age > tc.period {
							t.Errorf("line written at %v deleted at %v: age %v, promise %v", l.at, now, age, tc.period)
						}
						if age < shortest {
							t.Errorf("line written at %v deleted at %v: age %v, below LineAge's shortest %v", l.at, now, age, shortest)
						}
						if end := l.at.Truncate(tc.bucket).Add(tc.bucket); now.Before(end) && shortest >= 0 {
							t.Errorf("file of the line at %v deleted at %v, before its bucket ended at %v", l.at, now, end)
						}
					}
				}
				if left > 0 {
					t.Errorf("%d lines never deleted", left)
				}
			})
		}
	}
}
