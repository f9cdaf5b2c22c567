package logs_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"chatbx/retention/logs"
)

func TestFileName(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		prefix string
		start  time.Time
		bucket time.Duration
		want   string
	}{
		{"hourly", "conn", start, time.Hour, "conn-20261127T160000Z-1h.log"},
		{"daily", "web-errors", start.Truncate(24 * time.Hour), 24 * time.Hour, "web-errors-20261127T000000Z-1d.log"},
		{"seconds", "conn", start.Add(30*time.Minute + 5*time.Second), 5 * time.Second, "conn-20261127T163005Z-5s.log"},
		{"minutes", "server", start.Add(30 * time.Minute), 30 * time.Minute, "server-20261127T163000Z-30m.log"},
		{"odd length", "conn", start, 90 * time.Second, "conn-20261127T160000Z-90s.log"},
		{"below minimum", "conn", start, time.Millisecond, "conn-20261127T160000Z-1s.log"},
		{"local zone", "conn", start.In(time.FixedZone("x", 3600)), time.Hour, "conn-20261127T160000Z-1h.log"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := logs.FileName(tc.prefix, tc.start, tc.bucket)
			if got != tc.want {
				t.Errorf("FileName(%q, %v, %v) = %q, want %q", tc.prefix, tc.start, tc.bucket, got, tc.want)
			}
		})
	}
}

func TestParseName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         string
		wantPrefix string
		wantStart  time.Time
		wantBucket time.Duration
		wantErr    bool
	}{
		{name: "hourly", in: "conn-20261127T160000Z-1h.log", wantPrefix: "conn",
			wantStart: time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC), wantBucket: time.Hour},
		{name: "dashed prefix", in: "web-errors-20261127T000000Z-1d.log", wantPrefix: "web-errors",
			wantStart: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), wantBucket: 24 * time.Hour},
		{name: "seconds", in: "conn-20261127T163005Z-5s.log", wantPrefix: "conn",
			wantStart: time.Date(2026, 11, 27, 16, 30, 5, 0, time.UTC), wantBucket: 5 * time.Second},
		{name: "no suffix", in: "conn-20261127T160000Z-1h", wantErr: true},
		{name: "no bucket", in: "conn-20261127T160000Z.log", wantErr: true},
		{name: "old hourly format", in: "conn-20261127-16.log", wantErr: true},
		{name: "empty prefix", in: "-20261127T160000Z-1h.log", wantErr: true},
		{name: "non-canonical bucket", in: "conn-20261127T160000Z-60m.log", wantErr: true},
		{name: "leading zero", in: "conn-20261127T160000Z-01h.log", wantErr: true},
		{name: "zero bucket", in: "conn-20261127T160000Z-0s.log", wantErr: true},
		{name: "negative bucket", in: "conn-20261127T160000Z--1h.log", wantErr: true},
		{name: "huge bucket", in: "conn-20261127T160000Z-99999999999999999999d.log", wantErr: true},
		{name: "bad unit", in: "conn-20261127T160000Z-1w.log", wantErr: true},
		{name: "bad time", in: "conn-20261327T160000Z-1h.log", wantErr: true},
		{name: "temp file", in: ".conn-20261127T160000Z-1h.log.tmp", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix, start, bucket, err := logs.ParseName(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseName(%q) = %q, %v, %v, nil; want error", tc.in, prefix, start, bucket)
				}
				return
			}
			if err != nil || prefix != tc.wantPrefix || !start.Equal(tc.wantStart) || bucket != tc.wantBucket {
				t.Errorf("ParseName(%q) = %q, %v, %v, %v; want %q, %v, %v, nil",
					tc.in, prefix, start, bucket, err, tc.wantPrefix, tc.wantStart, tc.wantBucket)
			}
		})
	}
}

// FuzzParseName checks that ParseName never panics and accepts only names
// that FileName writes back unchanged.
func FuzzParseName(f *testing.F) {
	f.Add("conn-20261127T160000Z-1h.log")
	f.Add("web-errors-20261127T000000Z-1d.log")
	f.Add("conn-20261127T163005Z-5s.log")
	f.Add("conn-20261127T160000Z-60m.log")
	f.Add("a-b-c-d.log")
	f.Add("-.log")
	f.Fuzz(func(t *testing.T, name string) {
		prefix, start, bucket, err := logs.ParseName(name)
		if err != nil {
			return
		}
		if bucket < logs.MinBucket {
			t.Fatalf("ParseName(%q): bucket %v below minimum", name, bucket)
		}
		if got := logs.FileName(prefix, start, bucket); got != name {
			t.Fatalf("FileName(ParseName(%q)) = %q", name, got)
		}
	})
}

// FuzzFileNameRoundTrip checks that every name FileName writes parses back.
func FuzzFileNameRoundTrip(f *testing.F) {
	f.Add("conn", int64(1795795200), int64(3600))
	f.Add("web-errors", int64(0), int64(86400))
	f.Fuzz(func(t *testing.T, prefix string, unix, seconds int64) {
		if prefix == "" || len(prefix) > 64 || seconds < 1 || seconds > 1_000_000 {
			t.Skip()
		}
		for _, r := range prefix {
			if r == '/' || r == 0 || r == '.' {
				t.Skip()
			}
		}
		start := time.Unix(unix%(1<<36), 0).UTC() // within years 0000..9999 or so
		if start.Year() < 0 || start.Year() > 9999 {
			t.Skip()
		}
		bucket := time.Duration(seconds) * time.Second
		name := logs.FileName(prefix, start, bucket)
		p, s, b, err := logs.ParseName(name)
		if err != nil || p != prefix || !s.Equal(start) || b != bucket {
			t.Fatalf("ParseName(%q) = %q, %v, %v, %v; want %q, %v, %v", name, p, s, b, err, prefix, start, bucket)
		}
	})
}

func TestBucketFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		period time.Duration
		want   time.Duration
	}{
		{30 * 24 * time.Hour, 24 * time.Hour},
		{10 * 24 * time.Hour, 24 * time.Hour},
		{24 * time.Hour, time.Hour},
		{10 * time.Hour, time.Hour},
		{9 * time.Hour, 30 * time.Minute},
		{2 * time.Hour, 10 * time.Minute},
		{time.Hour, 5 * time.Minute},
		{10 * time.Minute, time.Minute},
		{time.Minute, 5 * time.Second},
		{20 * time.Second, 2 * time.Second},
		{10 * time.Second, time.Second},
		{3 * time.Second, time.Second},
		{0, time.Second},
	}
	for _, tc := range tests {
		if got := logs.BucketFor(tc.period); got != tc.want {
			t.Errorf("BucketFor(%v) = %v, want %v", tc.period, got, tc.want)
		}
	}
	// The promise: bucket at most a tenth of the period, for periods of 10s and more.
	for p := 10 * time.Second; p < 40*24*time.Hour; p = p*3/2 + time.Second {
		if b := logs.BucketFor(p); b > p/10 || b < logs.MinBucket || (24*time.Hour)%b != 0 {
			t.Errorf("BucketFor(%v) = %v: above a tenth, below the minimum or not dividing a day", p, b)
		}
	}
}

func touch(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	touch(t, dir, logs.FileName("conn", h, time.Hour))
	touch(t, dir, logs.FileName("conn", h.Add(-time.Hour), time.Hour))
	touch(t, dir, logs.FileName("conn", h.Add(-2*time.Hour), 30*time.Minute))
	touch(t, dir, logs.FileName("web-errors", h, 24*time.Hour))
	touch(t, dir, logs.FileName("conn-x", h, time.Hour))
	touch(t, dir, "conn-notes.txt")
	touch(t, dir, ".conn-20261127T160000Z-1h.log.tmp")
	if err := os.Mkdir(filepath.Join(dir, logs.FileName("conn", h.Add(time.Hour), time.Hour)), 0o700); err != nil {
		t.Fatal(err)
	}

	got, err := logs.Files(dir, "conn")
	if err != nil {
		t.Fatal(err)
	}
	want := []logs.File{
		{filepath.Join(dir, "conn-20261127T140000Z-30m.log"), h.Add(-2 * time.Hour), h.Add(-90 * time.Minute)},
		{filepath.Join(dir, "conn-20261127T150000Z-1h.log"), h.Add(-time.Hour), h},
		{filepath.Join(dir, "conn-20261127T160000Z-1h.log"), h, h.Add(time.Hour)},
	}
	if !slices.EqualFunc(got, want, func(a, b logs.File) bool {
		return a.Path == b.Path && a.Start.Equal(b.Start) && a.End.Equal(b.End)
	}) {
		t.Errorf("Files(dir, conn) = %v, want %v", got, want)
	}

	if got, err := logs.Files(filepath.Join(dir, "missing"), "conn"); err != nil || len(got) != 0 {
		t.Errorf("Files(missing dir) = %v, %v; want none, nil", got, err)
	}
}

// TestExpire checks the deletion boundary: a file goes exactly when its
// bucket start (its oldest possible line) is at or before the cutoff,
// never a nanosecond earlier.
func TestExpire(t *testing.T) {
	t.Parallel()
	h := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	end := h.Add(time.Hour)
	tests := []struct {
		name   string
		cutoff time.Time
		gone   bool
	}{
		{"long before", h.Add(-time.Hour), false},
		{"just before start", h.Add(-time.Nanosecond), false},
		{"at start", h, true},
		{"just after start", h.Add(time.Nanosecond), true},
		{"just before end", end.Add(-time.Nanosecond), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := touch(t, dir, logs.FileName("conn", h, time.Hour))
			tmp := touch(t, dir, "."+logs.FileName("conn", h, time.Hour)+".tmp")
			other := touch(t, dir, logs.FileName("server", h, time.Hour))
			later := touch(t, dir, logs.FileName("conn", end, time.Hour))
			stray := touch(t, dir, "conn-keep.txt")

			n, err := logs.Expire(dir, "conn", tc.cutoff)
			if err != nil {
				t.Fatal(err)
			}
			wantN := 0
			if tc.gone {
				wantN = 1
			}
			if n != wantN {
				t.Errorf("Expire(cutoff %v) = %d, want %d", tc.cutoff, n, wantN)
			}
			for _, f := range []struct {
				path   string
				exists bool
			}{{p, !tc.gone}, {tmp, !tc.gone}, {other, true}, {later, true}, {stray, true}} {
				_, err := os.Stat(f.path)
				if exists := err == nil; exists != f.exists {
					t.Errorf("after Expire(cutoff %v): %s exists = %v, want %v", tc.cutoff, filepath.Base(f.path), exists, f.exists)
				}
			}
		})
	}
}
