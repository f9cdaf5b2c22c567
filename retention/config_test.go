package retention_test

import (
	"errors"
	"testing"
	"time"

	"chatbx/retention"
)

const day = 24 * time.Hour

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	c := retention.DefaultConfig()
	want := retention.Config{
		Uploads: 30 * day, WebErrors: 30 * day, ConnectionLogs: 24 * time.Hour,
		Offline: 30 * day, MaintenanceMax: 24 * time.Hour, Sweep: 10 * time.Minute,
	}
	if c != want {
		t.Errorf("DefaultConfig() = %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*retention.Config)
		wantErr bool
	}{
		{"default", func(*retention.Config) {}, false},
		{"seconds", func(c *retention.Config) {
			c.ConnectionLogs, c.WebErrors, c.Uploads = 3*time.Second, 4*time.Second, 5*time.Second
		}, false},
		{"zero sweep means default", func(c *retention.Config) { c.Sweep = 0 }, false},
		{"zero period", func(c *retention.Config) { c.Uploads = 0 }, true},
		{"negative period", func(c *retention.Config) { c.Offline = -time.Hour }, true},
		{"sub-second period", func(c *retention.Config) { c.ConnectionLogs = 500 * time.Millisecond }, true},
		{"sub-second sweep", func(c *retention.Config) { c.Sweep = time.Millisecond }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := retention.DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, retention.ErrConfig)) {
				t.Errorf("Validate(%+v) = %v, want error %v", c, err, tc.wantErr)
			}
		})
	}
}

func TestTickFor(t *testing.T) {
	t.Parallel()
	tests := []struct{ period, want time.Duration }{
		{30 * day, 10 * time.Minute},
		{24 * time.Hour, 10 * time.Minute},
		{time.Hour, 6 * time.Minute},
		{time.Minute, 6 * time.Second},
		{10 * time.Second, time.Second},
		{3 * time.Second, time.Second},
		{0, time.Second},
	}
	for _, tc := range tests {
		if got := retention.TickFor(tc.period); got != tc.want {
			t.Errorf("TickFor(%v) = %v, want %v", tc.period, got, tc.want)
		}
	}
}

// TestLineLifetime checks that bucket plus tick stay within a fifth of the
// period, for any period of ten seconds or more: a log line is kept at
// least four fifths of its period (LineAge) and never longer than it.
func TestLineLifetime(t *testing.T) {
	t.Parallel()
	for p := 10 * time.Second; p < 400*day; p = p*5/4 + time.Second {
		if extra := retention.BucketFor(p) + retention.TickFor(p); extra > p/5 {
			t.Errorf("period %v: bucket %v + tick %v = %v, more than a fifth", p, retention.BucketFor(p), retention.TickFor(p), extra)
		}
	}
	if got := retention.BucketFor(24 * time.Hour); got != time.Hour {
		t.Errorf("BucketFor(24h) = %v, want hourly", got)
	}
	if got := retention.BucketFor(30 * day); got != day {
		t.Errorf("BucketFor(30d) = %v, want daily", got)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{30 * day, "30d"},
		{31*day + 10*time.Minute, "31d10m"},
		{2 * day, "2d"},
		{24 * time.Hour, "24h"},
		{36 * time.Hour, "36h"},
		{90 * time.Minute, "1h30m"},
		{10 * time.Minute, "10m"},
		{90 * time.Second, "1m30s"},
		{10 * time.Second, "10s"},
		{time.Second, "1s"},
		{0, "0s"},
	}
	for _, tc := range tests {
		if got := retention.FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
