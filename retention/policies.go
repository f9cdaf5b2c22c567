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
// bucket ended at or before now minus period (see logs.Expire): no line
// stays longer than period plus one bucket plus one tick.
func LogFilesPolicy(name, dir string, period time.Duration, prefixes ...string) Policy {
	return Policy{
		Name:   name,
		Period: period,
		Run: func(ctx context.Context, now time.Time) (int, error) {
			cutoff := now.Add(-period)
			var total int
			var errs []error
			for _, prefix := range prefixes {
				n, err := logs.Expire(dir, prefix, cutoff)
				total += n
				errs = append(errs, err)
			}
			return total, errors.Join(errs...)
		},
	}
}

// OfflinePolicy deletes offline messages received before now minus period.
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
			n, err := db.ExpireOffline(ctx, now.Add(-period), func(user string, m store.OfflineMessage) {
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

// SweepPolicy runs s with the cutoff now minus period (now itself when
// period is 0). tick 0 means TickFor(period). The policy counts as
// Personal: what sweepers delete (uploads, invites, account leftovers)
// lives in the database.
func SweepPolicy(name string, period, tick time.Duration, s Sweeper) Policy {
	return Policy{
		Name:     name,
		Period:   period,
		Tick:     tick,
		Personal: true,
		Run: func(ctx context.Context, now time.Time) (int, error) {
			return s.Sweep(ctx, now.Add(-period))
		},
	}
}
