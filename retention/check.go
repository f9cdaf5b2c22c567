package retention

import (
	"fmt"
	"time"

	"chatbx/retention/logs"
)

// CheckInput is what Check needs besides the retention configuration.
type CheckInput struct {
	LogDir string // <data_dir>/logs
	Stderr bool   // log.stderr: log lines also go to standard error
	Dev    bool   // --dev: standard error is expected
	// MaintenanceOn and MaintenanceUntil are the switch's state (Maintenance.Status).
	MaintenanceOn    bool
	MaintenanceUntil time.Time
}

// CheckLine is one line of "chatbx check" output. Warn marks a setting
// that contradicts the privacy policy's text or weakens a promise.
type CheckLine struct {
	Warn bool
	Text string
}

// Check describes every retention period, the log destinations, the
// anonymisation and the maintenance state, and warns where the
// configuration contradicts the privacy policy: a period longer than the
// policy states, log lines on standard error outside --dev, an invalid
// period.
func Check(cfg Config, in CheckInput) []CheckLine {
	var out []CheckLine
	info := func(format string, args ...any) {
		out = append(out, CheckLine{Text: fmt.Sprintf(format, args...)})
	}
	warn := func(format string, args ...any) {
		out = append(out, CheckLine{Warn: true, Text: fmt.Sprintf(format, args...)})
	}
	for _, p := range cfg.Periods() {
		info("%s = %s: %s", p.Key, FormatDuration(p.Value), p.What)
		switch {
		case p.Value < time.Second:
			warn("%s = %v is below one second: not a valid period", p.Key, p.Value)
		case p.Value > p.Promised:
			warn("%s = %s is longer than the privacy policy's %s: change the policy text too",
				p.Key, FormatDuration(p.Value), FormatDuration(p.Promised))
		}
	}
	conn := withDefaults(cfg).ConnectionLogs
	web := withDefaults(cfg).WebErrors
	info("log files in %s: %s and %s per %s (new file every %s), %s per %s (new file every %s)",
		in.LogDir, logs.PrefixConn, logs.PrefixServer, FormatDuration(conn), FormatDuration(BucketFor(conn)),
		logs.PrefixWebErrors, FormatDuration(web), FormatDuration(BucketFor(web)))
	for _, l := range []struct {
		key, what string
		period    time.Duration
	}{
		{"retention.connection_logs", "connection or server log line", conn},
		{"retention.web_errors", "web error log line", web},
	} {
		bucket, tick := BucketFor(l.period), TickFor(l.period)
		shortest, longest := LineAge(l.period, bucket, tick)
		if shortest < 0 {
			warn("%s = %s is shorter than its file length plus sweep interval (%s + %s): files are deleted while still written, and their later lines are lost",
				l.key, FormatDuration(l.period), FormatDuration(bucket), FormatDuration(tick))
			shortest = 0
		}
		info("a %s is deleted at most %s after it was written (worst case; at least %s; files swept every %s)",
			l.what, FormatDuration(longest), FormatDuration(shortest), FormatDuration(tick))
	}
	for _, l := range []struct {
		what   string
		period time.Duration
	}{
		{"an offline message not picked up", withDefaults(cfg).Offline},
		{"an uploaded file", withDefaults(cfg).Uploads},
	} {
		info("%s is deleted at most %s after it arrived (worst case; swept every %s)",
			l.what, FormatDuration(l.period), FormatDuration(TickFor(l.period)))
	}
	switch {
	case in.Stderr && in.Dev:
		info("log lines also go to standard error (--dev)")
	case in.Stderr:
		warn("log.stderr is on: lines on standard error are kept by whoever collects them (journal, container runtime); retention cannot delete them")
	default:
		info("nothing is logged to standard output or standard error")
	}
	info("IP addresses in logs are anonymised: IPv4 to /%d, IPv6 to /%d, except during maintenance windows (at most %s)",
		logs.KeepBitsV4, logs.KeepBitsV6, FormatDuration(withDefaults(cfg).MaintenanceMax))
	if in.MaintenanceOn {
		warn("maintenance is on until %s: connection logs carry full IP addresses", in.MaintenanceUntil.UTC().Format(time.RFC3339))
	} else {
		info("maintenance is off")
	}
	return out
}
