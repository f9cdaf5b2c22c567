package logs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/retention/logs"
)

var _ io.Writer = (*logs.Sink)(nil)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSinkRotation writes just before and just after bucket boundaries and
// checks that each line lands in the file of its bucket.
func TestSinkRotation(t *testing.T) {
	t.Parallel()
	h := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		bucket time.Duration
		writes []time.Time
		want   map[string]string // file name -> content
	}{
		{
			name:   "hourly",
			bucket: time.Hour,
			writes: []time.Time{h.Add(-time.Nanosecond), h, h.Add(59*time.Minute + 59*time.Second), h.Add(time.Hour)},
			want: map[string]string{
				"conn-20261127T150000Z-1h.log": "0\n",
				"conn-20261127T160000Z-1h.log": "1\n2\n",
				"conn-20261127T170000Z-1h.log": "3\n",
			},
		},
		{
			name:   "seconds",
			bucket: 2 * time.Second,
			writes: []time.Time{h, h.Add(1999 * time.Millisecond), h.Add(2 * time.Second), h.Add(10 * time.Second)},
			want: map[string]string{
				"conn-20261127T160000Z-2s.log": "0\n1\n",
				"conn-20261127T160002Z-2s.log": "2\n",
				"conn-20261127T160010Z-2s.log": "3\n",
			},
		},
		{
			name:   "daily, clock going back",
			bucket: 24 * time.Hour,
			writes: []time.Time{h, h.Add(8 * time.Hour), h.Add(7 * time.Hour), h.Add(8*time.Hour + time.Second)},
			want: map[string]string{
				"conn-20261127T000000Z-1d.log": "0\n2\n",
				"conn-20261128T000000Z-1d.log": "1\n3\n",
			},
		},
		{
			name:   "local time zone",
			bucket: time.Hour,
			writes: []time.Time{h.In(time.FixedZone("CET", 3600))},
			want:   map[string]string{"conn-20261127T160000Z-1h.log": "0\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "logs")
			c := newClock(tc.writes[0])
			s := logs.NewSink(dir, "conn", tc.bucket, c.Now)
			for i, at := range tc.writes {
				c.Set(at)
				if _, err := fmt.Fprintf(s, "%d\n", i); err != nil {
					t.Fatalf("Write at %v: %v", at, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(tc.want) {
				t.Errorf("got %d files, want %d", len(entries), len(tc.want))
			}
			for _, e := range entries {
				want, ok := tc.want[e.Name()]
				if !ok {
					t.Errorf("unexpected file %s", e.Name())
					continue
				}
				if got := readFile(t, filepath.Join(dir, e.Name())); got != want {
					t.Errorf("%s = %q, want %q", e.Name(), got, want)
				}
			}
		})
	}
}

func TestSinkPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "logs")
	s := logs.NewSink(dir, "conn", time.Hour, nil)
	if _, err := s.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("log directory mode = %v, want 0700", got)
	}
	files, err := logs.Files(dir, "conn")
	if err != nil || len(files) != 1 {
		t.Fatalf("Files = %v, %v; want one file", files, err)
	}
	fi, err = os.Stat(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("log file mode = %v, want 0600", got)
	}
}

func TestSinkClose(t *testing.T) {
	t.Parallel()
	s := logs.NewSink(t.TempDir(), "conn", time.Hour, nil)
	if err := s.Close(); err != nil {
		t.Fatalf("Close before any write: %v", err)
	}
	if _, err := s.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestSinkConcurrent writes zerolog lines from many goroutines across
// bucket switches and checks that every line is whole and present once.
func TestSinkConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	c := newClock(h)
	s := logs.NewSink(dir, "conn", time.Second, c.Now)
	log := zerolog.New(s)
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				if w == 0 && i%50 == 0 {
					c.Set(c.Now().Add(time.Second))
				}
				log.Info().Int("w", w).Int("i", i).Msg("login")
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := logs.Files(dir, "conn")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Errorf("got %d files, want a switch across buckets", len(files))
	}
	seen := map[string]bool{}
	for _, f := range files {
		for line := range strings.Lines(readFile(t, f.Path)) {
			if !strings.HasPrefix(line, `{"level":"info"`) || !strings.HasSuffix(line, "}\n") {
				t.Fatalf("torn line %q", line)
			}
			if seen[line] {
				t.Fatalf("line %q twice", line)
			}
			seen[line] = true
		}
	}
	if len(seen) != writers*lines {
		t.Errorf("got %d lines, want %d", len(seen), writers*lines)
	}
}

// TestSinkRewriteWhileOpen checks that lines written after Sink.Rewrite
// land in the rewritten file, not in the replaced one.
func TestSinkRewriteWhileOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	s := logs.NewSink(dir, "conn", time.Hour, func() time.Time { return h })
	log := zerolog.New(s)
	log.Info().Str("user", "alice").Msg("login")
	log.Info().Str("user", "bob").Msg("login")
	n, err := s.Rewrite(logs.DropUser("alice"))
	if err != nil || n != 1 {
		t.Fatalf("Rewrite = %d, %v; want 1, nil", n, err)
	}
	log.Info().Str("user", "carol").Msg("login")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(dir, "conn-20261127T160000Z-1h.log"))
	want := `{"level":"info","user":"bob","message":"login"}` + "\n" +
		`{"level":"info","user":"carol","message":"login"}` + "\n"
	if got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
}

func BenchmarkSinkWrite(b *testing.B) {
	s := logs.NewSink(b.TempDir(), "conn", time.Hour, nil)
	defer s.Close()
	line := []byte(`{"level":"info","component":"c2s","user":"alice","ip_anon":"192.0.2.0","time":"2026-11-27T16:00:00Z","message":"login"}` + "\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := s.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSinkWriteParallel(b *testing.B) {
	s := logs.NewSink(b.TempDir(), "conn", time.Hour, nil)
	defer s.Close()
	line := bytes.Repeat([]byte("x"), 120)
	line[len(line)-1] = '\n'
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Write(line); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
