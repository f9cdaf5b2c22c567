package retention_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/retention"
	"chatbx/retention/logs"
	"chatbx/store"
)

var _ retention.OfflineExpirer = (*store.DB)(nil)
var _ retention.Settings = (*store.DB)(nil)
var _ retention.Scrubber = (*store.DB)(nil)

// TestLogFilesPolicy writes lines through real Sinks with the bucket main
// uses, then runs the policy with the clock just before and just after the
// moment the first line of the first bucket turns period old minus a tick
// (the last run before it turns period old).
func TestLogFilesPolicy(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) // aligned to every bucket
	tests := []struct {
		name     string
		policy   string
		period   time.Duration
		prefixes []string
	}{
		{"connection logs 24h", "connection-logs", 24 * time.Hour, retention.PrefixesConnection},
		{"web errors 30d", "web-errors", 30 * day, retention.PrefixesWebErrors},
		{"connection logs 5s", "connection-logs", 5 * time.Second, retention.PrefixesConnection},
		{"web errors 20s", "web-errors", 20 * time.Second, retention.PrefixesWebErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			bucket := retention.BucketFor(tc.period)
			c := newClock(t0)
			// A line at the first instant of the bucket and at its last second.
			firstEnd := t0.Add(bucket)
			var sinks []*logs.Sink
			for _, prefix := range append(slices.Clone(tc.prefixes), "other") {
				s := logs.NewSink(dir, prefix, bucket, c.Now)
				sinks = append(sinks, s)
				log := zerolog.New(s)
				c.Set(t0)
				log.Info().Str("user", "alice").Msg("login")
				c.Set(firstEnd.Add(-time.Second))
				log.Info().Str("user", "alice").Msg("logout")
				c.Set(firstEnd) // next bucket
				log.Info().Str("user", "bob").Msg("login")
			}
			for _, s := range sinks {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			p := retention.LogFilesPolicy(tc.policy, dir, tc.period, 0, tc.prefixes...)
			if p.Name != tc.policy || p.Period != tc.period {
				t.Errorf("policy = %q, %v; want %q, %v", p.Name, p.Period, tc.policy, tc.period)
			}
			// The first bucket's oldest line is one tick from period old.
			deadline := t0.Add(tc.period - retention.TickFor(tc.period))
			steps := []struct {
				name      string
				now       time.Time
				wantCount int
				wantFiles int // per prefix of the policy
			}{
				{"long before", firstEnd, 0, 2},
				{"just before", deadline.Add(-time.Nanosecond), 0, 2},
				{"just after", deadline, 1, 1},
				{"again", deadline.Add(bucket / 2), 0, 1},
				{"second bucket just before", deadline.Add(bucket - time.Nanosecond), 0, 1},
				{"second bucket just after", deadline.Add(bucket), 1, 0},
			}
			for _, st := range steps {
				n, err := p.Run(t.Context(), st.now)
				if err != nil {
					t.Fatalf("%s: Run(%v): %v", st.name, st.now, err)
				}
				if want := st.wantCount * len(tc.prefixes); n != want {
					t.Errorf("%s: Run(%v) = %d, want %d", st.name, st.now, n, want)
				}
				for _, prefix := range tc.prefixes {
					files, err := logs.Files(dir, prefix)
					if err != nil {
						t.Fatal(err)
					}
					if len(files) != st.wantFiles {
						t.Errorf("%s: %s has %d files, want %d", st.name, prefix, len(files), st.wantFiles)
					}
					// No line older than period survives.
					limit := st.now.Add(-tc.period)
					for _, f := range files {
						if f.Start.Before(limit) {
							t.Errorf("%s: %s outlived its period", st.name, f.Path)
						}
					}
				}
				if others, _ := logs.Files(dir, "other"); len(others) != 2 {
					t.Errorf("%s: policy touched another prefix's files: %d left", st.name, len(others))
				}
			}
		})
	}
}

func TestLogFilesPolicyMissingDir(t *testing.T) {
	t.Parallel()
	p := retention.LogFilesPolicy("web-errors", filepath.Join(t.TempDir(), "none"), time.Hour, 0, "web-errors")
	if n, err := p.Run(t.Context(), time.Now()); n != 0 || err != nil {
		t.Errorf("Run on a missing directory = %d, %v; want 0, nil", n, err)
	}
}

func TestLogFilesPolicyError(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root may remove files from a read-only directory")
	}
	dir := t.TempDir()
	h := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	if err := os.WriteFile(filepath.Join(dir, logs.FileName("conn", h, time.Hour)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	p := retention.LogFilesPolicy("connection-logs", dir, time.Hour, 0, "conn")
	if _, err := p.Run(t.Context(), h.Add(3*time.Hour)); err == nil {
		t.Error("Run with an unremovable file = nil error")
	}
}

func TestOfflinePolicy(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	period := 30 * day
	lead := period - retention.TickFor(period) // the last run before period
	tests := []struct {
		name       string
		now        time.Time
		wantN      int
		wantBounce []string
	}{
		{"just before", t0.Add(lead), 0, nil},
		{"just after", t0.Add(lead + time.Nanosecond), 1, []string{"alice:<old/>"}},
		{"both", t0.Add(lead + time.Hour + time.Nanosecond), 2, []string{"alice:<old/>", "bob:<newer/>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := &offline{msgs: map[string][]store.OfflineMessage{
				"alice": {{ID: 1, At: t0, Stanza: []byte("<old/>")}},
				"bob":   {{ID: 2, At: t0.Add(time.Hour), Stanza: []byte("<newer/>")}},
			}}
			var bounced []string
			p := retention.OfflinePolicy(period, db, func(user string, stanza []byte) {
				if db.busy() {
					t.Error("bounce called inside the store's transaction")
				}
				bounced = append(bounced, user+":"+string(stanza))
			})
			if !p.Personal || p.Name != "offline" || p.Period != period {
				t.Errorf("OfflinePolicy = %q, %v, personal %v", p.Name, p.Period, p.Personal)
			}
			n, err := p.Run(t.Context(), tc.now)
			if err != nil || n != tc.wantN {
				t.Errorf("Run(%v) = %d, %v; want %d, nil", tc.now, n, err, tc.wantN)
			}
			if got := db.calls; len(got) != 1 || !got[0].Equal(tc.now.Add(-lead)) {
				t.Errorf("ExpireOffline before = %v, want %v", got, tc.now.Add(-lead))
			}
			slices.Sort(bounced)
			if !slices.Equal(bounced, tc.wantBounce) {
				t.Errorf("bounced %q, want %q", bounced, tc.wantBounce)
			}
		})
	}
	// Without a bounce hook the messages still go.
	db := &offline{msgs: map[string][]store.OfflineMessage{"alice": {{ID: 1, At: t0}}}}
	if n, err := retention.OfflinePolicy(period, db, nil).Run(t.Context(), t0.Add(2*period)); n != 1 || err != nil {
		t.Errorf("Run without bounce = %d, %v; want 1, nil", n, err)
	}
}

func TestSweepPolicy(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		period     time.Duration
		tick       time.Duration
		wantCutoff time.Time
	}{
		{"uploads", 30 * day, 0, now.Add(-30*day + retention.TickFor(30*day))},
		{"uploads, own tick", 30 * day, time.Hour, now.Add(-30*day + time.Hour)},
		{"invites", 0, time.Minute, now},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got time.Time
			s := retention.SweeperFunc(func(_ context.Context, cutoff time.Time) (int, error) {
				got = cutoff
				return 3, nil
			})
			p := retention.SweepPolicy(tc.name, tc.period, tc.tick, s)
			n, err := p.Run(t.Context(), now)
			if n != 3 || err != nil || !got.Equal(tc.wantCutoff) {
				t.Errorf("Run(%v) = %d, %v with cutoff %v; want 3, nil, %v", now, n, err, got, tc.wantCutoff)
			}
			if !p.Personal || p.Tick != tc.tick {
				t.Errorf("SweepPolicy: personal %v tick %v", p.Personal, p.Tick)
			}
		})
	}
}
