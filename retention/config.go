package retention

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"chatbx/retention/logs"
)

const day = 24 * time.Hour

// Tick bounds: a policy runs at least every MaxTick and at most every MinTick.
const (
	MaxTick = 10 * time.Minute
	MinTick = time.Second
)

// Config holds the retention periods. Each period is what the privacy
// policy promises by default; an operator may shorten any of them (down to
// a second, for tests) and may lengthen one only together with the policy
// text (Check warns).
type Config struct {
	Uploads        time.Duration `toml:"uploads"`         // uploaded files, from upload time
	WebErrors      time.Duration `toml:"web_errors"`      // web error log files, from the line
	ConnectionLogs time.Duration `toml:"connection_logs"` // connection and server log files, from the line
	Offline        time.Duration `toml:"offline"`         // offline messages not picked up, from receipt
	MaintenanceMax time.Duration `toml:"maintenance_max"` // longest maintenance window (full IPs logged)
	// Sweep is how often the sweeps without a period of their own run
	// (expired invites, leftovers of interrupted account deletions) and how
	// often the database's free pages are scrubbed. Zero means MaxTick.
	Sweep time.Duration `toml:"sweep"`
}

// DefaultConfig returns the periods of the privacy policy: uploads, web
// errors and offline messages 30 days, connection logs 24 hours,
// maintenance windows at most 24 hours.
func DefaultConfig() Config {
	return Config{
		Uploads:        30 * day,
		WebErrors:      30 * day,
		ConnectionLogs: 24 * time.Hour,
		Offline:        30 * day,
		MaintenanceMax: 24 * time.Hour,
		Sweep:          MaxTick,
	}
}

// ErrConfig reports an invalid retention period.
var ErrConfig = errors.New("retention: invalid configuration")

// Validate reports periods below one second (zero would delete at once or,
// for a ticker, never) by their configuration key.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.Periods() {
		if p.Value < time.Second {
			errs = append(errs, fmt.Errorf("%w: %s = %v, want at least 1s", ErrConfig, p.Key, p.Value))
		}
	}
	if c.Sweep != 0 && c.Sweep < MinTick {
		errs = append(errs, fmt.Errorf("%w: retention.sweep = %v, want at least 1s", ErrConfig, c.Sweep))
	}
	return errors.Join(errs...)
}

// Period is one configurable promise, for "chatbx check", the privacy page
// and the server's data-policy form.
type Period struct {
	Key      string        // configuration key, e.g. "retention.uploads"
	What     string        // what is deleted, in a few words
	Value    time.Duration // configured period
	Promised time.Duration // the privacy policy's period (the default)
}

// Periods lists every period of c with what it covers and the promised
// default, in a stable order.
func (c Config) Periods() []Period {
	d := DefaultConfig()
	return []Period{
		{"retention.uploads", "uploaded files", c.Uploads, d.Uploads},
		{"retention.web_errors", "web error log files", c.WebErrors, d.WebErrors},
		{"retention.connection_logs", "connection and server log files", c.ConnectionLogs, d.ConnectionLogs},
		{"retention.offline", "offline messages not picked up", c.Offline, d.Offline},
		{"retention.maintenance_max", "longest maintenance window (full IP addresses)", c.MaintenanceMax, d.MaintenanceMax},
	}
}

// sweep returns the sweep interval, MaxTick when unset.
func (c Config) sweep() time.Duration {
	if c.Sweep <= 0 {
		return MaxTick
	}
	return c.Sweep
}

// TickFor returns how often a policy with the given period runs: a tenth
// of the period, at most MaxTick and at least MinTick.
func TickFor(period time.Duration) time.Duration {
	return min(max(period/10, MinTick), MaxTick)
}

// Cutoff returns what a run at now of a policy with the given period and
// tick must delete: everything written, received or uploaded at or before
// the cutoff. The cutoff is one tick later than now minus period, because
// the next run comes up to a tick later: an item at w is deleted by the
// first run at or after w + period - tick, which is no later than
// w + period. So nothing outlives its period, as long as each run takes
// less than a tick (runs start on a ticker, so a longer run delays the
// next one). tick is clamped to [0, period].
func Cutoff(now time.Time, period, tick time.Duration) time.Time {
	return now.Add(-(period - min(max(tick, 0), period)))
}

// LineAge returns how long a log line lives under the log-files policy
// with the given period, bucket length and tick: at least shortest (the
// newest line of a file, deleted one period minus a tick after its
// bucket's start) and at most longest (the oldest line: the file goes by
// the time its bucket start is one period old). A shortest below zero means
// the policy removes files while they are still being written: the period
// is shorter than bucket plus tick.
func LineAge(period, bucket, tick time.Duration) (shortest, longest time.Duration) {
	tick = min(max(tick, 0), period)
	return period - tick - bucket, period
}

// BucketFor returns the bucket length of log files kept for period
// (see logs.BucketFor): hourly for 24 hours, daily for 30 days.
func BucketFor(period time.Duration) time.Duration { return logs.BucketFor(period) }

// FormatDuration writes d for people: days from two days on ("30d",
// "31d10m"), below that in Go syntax without zero units ("24h", "1m30s").
func FormatDuration(d time.Duration) string {
	if d >= 2*day {
		s := fmt.Sprintf("%dd", d/day)
		if rest := d % day; rest > 0 {
			s += FormatDuration(rest)
		}
		return s
	}
	s := d.String()
	// Trim zero minor units: "24h0m0s" -> "24h", "5m0s" -> "5m".
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
