package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"chatbx/internal/admin"
	"chatbx/internal/certs"
	"chatbx/internal/config"
	"chatbx/retention"
	"chatbx/server/s2s"
)

// `chatbx status` asks the running server, through the admin socket, what
// an operator checks first: certificates with their expiry and last
// error, sessions by transport, server-to-server links, the maintenance
// window and the last run of each retention policy. It names no user.

// statusSources are what the status command reads; any may be nil.
type statusSources struct {
	domain    string
	started   time.Time
	now       func() time.Time
	certs     func() []certs.Status
	sessions  func() map[string]int64
	s2s       func() int64
	maint     maintenanceSwitch
	retention func() []retention.PolicyRun
	locked    func() []string
}

// statusHandler answers "status" with a text report.
func statusHandler(src statusSources) admin.Handler {
	return func(ctx context.Context, req admin.Request) (admin.Response, error) {
		return admin.Response{Output: statusReport(ctx, src)}, nil
	}
}

// statusReport renders the report.
func statusReport(ctx context.Context, src statusSources) string {
	now := time.Now
	if src.now != nil {
		now = src.now
	}
	t := now().UTC()
	var b strings.Builder
	fmt.Fprintf(&b, "chatbx %s serving %s since %s (up %s)\n", moduleVersion(), src.domain,
		src.started.UTC().Format(time.RFC3339), config.FormatDuration(t.Sub(src.started).Truncate(time.Second)))
	if src.certs != nil {
		b.WriteString("\ncertificates:\n")
		for _, c := range src.certs() {
			exp := "none yet"
			if !c.NotAfter.IsZero() {
				left := c.NotAfter.Sub(t)
				exp = fmt.Sprintf("expires %s (in %s)", c.NotAfter.Format(time.RFC3339), days(left))
				if left < 0 {
					exp = fmt.Sprintf("EXPIRED %s", c.NotAfter.Format(time.RFC3339))
				}
			}
			fmt.Fprintf(&b, "  %-30s %-4s %s", c.Name, c.Mode, exp)
			if c.Issuer != "" {
				fmt.Fprintf(&b, ", issuer %s", c.Issuer)
			}
			b.WriteByte('\n')
			if c.LastError != "" {
				fmt.Fprintf(&b, "  %-30s      last error %s: %s\n", "", c.LastErrorAt.UTC().Format(time.RFC3339), c.LastError)
			}
		}
	}
	if src.sessions != nil {
		s := src.sessions()
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, s[k]))
		}
		fmt.Fprintf(&b, "\nsessions: %s\n", strings.Join(parts, ", "))
	}
	if src.s2s != nil {
		fmt.Fprintf(&b, "s2s links: %d\n", src.s2s())
	}
	if src.locked != nil {
		fmt.Fprintf(&b, "locked accounts: %d\n", len(src.locked()))
	}
	if src.maint != nil {
		on, until, err := src.maint.Status(ctx)
		switch {
		case err != nil:
			fmt.Fprintf(&b, "maintenance: unknown (%v)\n", err)
		case on:
			fmt.Fprintf(&b, "maintenance: ON until %s: connection logs carry full IP addresses\n", until.UTC().Format(time.RFC3339))
		default:
			b.WriteString("maintenance: off (IP addresses anonymised)\n")
		}
	}
	if src.retention != nil {
		b.WriteString("\nretention:\n")
		for _, p := range src.retention() {
			period := "sweep"
			if p.Period > 0 {
				period = "period " + config.FormatDuration(p.Period)
			}
			last := "not run yet"
			if !p.Last.IsZero() {
				last = fmt.Sprintf("last run %s, deleted %d (runs %d, deleted %d since start)",
					p.Last.UTC().Format(time.RFC3339), p.LastCount, p.Runs, p.Deleted)
			}
			fmt.Fprintf(&b, "  %-16s %-12s %s\n", p.Name, period, last)
			if p.LastErr != "" {
				fmt.Fprintf(&b, "  %-16s %-12s LAST RUN FAILED: %s\n", "", "", p.LastErr)
			}
		}
	}
	return b.String()
}

// days formats a duration as days, or hours under two days.
func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// reloaders are what SIGHUP re-reads: the certificate files, the site's
// content directory, and whatever other parts add (federation adds its
// block lists). Each runs even when an earlier one failed.
type reloaders struct {
	mu   sync.Mutex
	list []reloader
}

type reloader struct {
	name string
	fn   func() error
}

// Add registers fn under name; it runs on every SIGHUP, after those
// added before. Safe for concurrent use.
func (r *reloaders) Add(name string, fn func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, reloader{name, fn})
}

// Reload runs every reloader and returns their errors, each named.
func (r *reloaders) Reload() error {
	r.mu.Lock()
	list := slices.Clone(r.list)
	r.mu.Unlock()
	var errs []error
	for _, x := range list {
		if err := x.fn(); err != nil {
			errs = append(errs, fmt.Errorf("reload %s: %w", x.name, err))
		}
	}
	return errors.Join(errs...)
}

// spamReportsHandler answers "spam-reports": the XEP-0377 reports users
// sent with a block since the server started, counted per remote domain
// (the only thing kept; memory only). `chatbx check` shows them.
func spamReportsHandler(reports func() []s2s.DomainCount) admin.Handler {
	return func(context.Context, admin.Request) (admin.Response, error) {
		return admin.Response{Output: spamReportText(reports())}, nil
	}
}

// spamReportText renders the counts, most reported first.
func spamReportText(counts []s2s.DomainCount) string {
	var b strings.Builder
	b.WriteString("\nspam reports (XEP-0377, per remote domain, since the server started; kept in memory only)\n")
	if len(counts) == 0 {
		b.WriteString("  none\n")
	}
	for _, c := range counts {
		fmt.Fprintf(&b, "  %-40s %d\n", c.Domain, c.Count)
	}
	return b.String()
}
