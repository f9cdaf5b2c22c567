package retention

import (
	"context"
	"errors"
	"time"

	"chatbx/retention/logs"
	"chatbx/store"
)

// Log file prefixes per policy.
var (
	// PrefixesConnection are kept for Config.ConnectionLogs: the connection
	// log and the general server log (which may name users too).
	PrefixesConnection = []string{logs.PrefixConn, logs.PrefixServer}
	// PrefixesWebErrors are kept for Config.WebErrors.
	PrefixesWebErrors = []string{logs.PrefixWebErrors}
)

// LogFilesPolicy deletes the log files of the given prefixes in dir whose
// bucket started at or before Cutoff(now, period, tick) (see logs.Expire):
// a file goes by the time its oldest possible line is one period old, so
// no line outlives period (LineAge). tick 0 means TickFor(period). The
// bucket length of each file comes from its name, so files written under
// an older configuration are covered too.
func LogFilesPolicy(name, dir string, period, tick time.Duration, prefixes ...string) Policy {
	p := Policy{Name: name, Period: period, Tick: tick}
	tick = p.tick()
	p.Run = func(ctx context.Context, now time.Time) (int, error) {
		cutoff := Cutoff(now, period, tick)
		var total int
		var errs []error
		for _, prefix := range prefixes {
			n, err := logs.Expire(dir, prefix, cutoff)
			total += n
			errs = append(errs, err)
		}
		return total, errors.Join(errs...)
	}
	return p
}

// OfflinePolicy deletes offline messages received before Cutoff(now,
// period, TickFor(period)), so none is kept longer than period.
// For each one it calls bounce (if not nil) with the recipient and the
// stanza, after the store's transaction, so the server can return an
// error to the sender.
func OfflinePolicy(period time.Duration, db OfflineExpirer, bounce func(user string, stanza []byte)) Policy {
	return Policy{
		Name:     "offline",
		Period:   period,
		Personal: true,
		Run: func(ctx context.Context, now time.Time) (int, error) {
			type expired struct {
				user   string
				stanza []byte
			}
			var bounces []expired
			// The store calls fn inside its transaction, where bounce must not
			// run (it may store the error in the sender's offline queue).
			n, err := db.ExpireOffline(ctx, Cutoff(now, period, TickFor(period)), func(user string, m store.OfflineMessage) {
				if bounce != nil {
					bounces = append(bounces, expired{user, m.Stanza})
				}
			})
			if err != nil {
				return 0, err
			}
			for _, b := range bounces {
				bounce(b.user, b.stanza)
			}
			return n, nil
		},
	}
}

// SweepPolicy runs s with Cutoff(now, period, tick) (now itself when
// period is 0), so nothing is kept longer than period. tick 0 means
// TickFor(period). The policy counts as
// Personal: what sweepers delete (uploads, invites, account leftovers)
// lives in the database.
func SweepPolicy(name string, period, tick time.Duration, s Sweeper) Policy {
	p := Policy{
		Name:     name,
		Period:   period,
		Tick:     tick,
		Personal: true,
	}
	tick = p.tick()
	p.Run = func(ctx context.Context, now time.Time) (int, error) {
		return s.Sweep(ctx, Cutoff(now, period, tick))
	}
	return p
}
