package retention

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"chatbx/store"
)

// Policy is one retention promise the Runner keeps: Run deletes what the
// promise says must be gone at now. The Runner calls Run once when it
// starts (or when the policy is added to a running Runner) and then on
// every tick, never concurrently with itself.
type Policy struct {
	// Name identifies the policy in log lines, e.g. "uploads".
	Name string
	// Period is the retention period the policy enforces (0 for sweeps
	// without one, such as expired invites).
	Period time.Duration
	// Tick is the interval between runs; 0 means TickFor(Period), or
	// MaxTick when Period is 0 too.
	Tick time.Duration
	// Personal marks policies that delete personal data from the database:
	// when Run deleted anything, the Runner scrubs the database's free
	// pages right after, so the deleted bytes are unreadable in the file.
	Personal bool
	// Run deletes what expired at now and returns how many items (files,
	// messages, ...) it deleted.
	Run func(ctx context.Context, now time.Time) (int, error)
}

// tick returns the interval between runs of p.
func (p Policy) tick() time.Duration {
	switch {
	case p.Tick > 0:
		return max(p.Tick, MinTick)
	case p.Period > 0:
		return TickFor(p.Period)
	default:
		return MaxTick
	}
}

// Sweeper deletes what expired at or before cutoff and returns how many
// items it deleted. The upload, invite and account code implement it.
type Sweeper interface {
	Sweep(ctx context.Context, cutoff time.Time) (int, error)
}

// SweeperFunc adapts a function to Sweeper.
type SweeperFunc func(ctx context.Context, cutoff time.Time) (int, error)

// Sweep calls f.
func (f SweeperFunc) Sweep(ctx context.Context, cutoff time.Time) (int, error) { return f(ctx, cutoff) }

// OfflineExpirer deletes offline messages received before a time, calling
// fn for each inside its transaction (store.DB provides it).
type OfflineExpirer interface {
	ExpireOffline(ctx context.Context, before time.Time, fn func(user string, m store.OfflineMessage)) (int, error)
}

// Scrubber overwrites the database's free pages (store.DB provides it).
type Scrubber interface {
	Scrub(ctx context.Context) error
}

// Deps are the Runner's collaborators. Every field is optional: a policy
// whose dependency is missing is not run.
type Deps struct {
	// Log receives one line per run that deleted something or failed.
	Log zerolog.Logger
	// Now is the clock handed to every policy; nil means time.Now.
	Now func() time.Time
	// LogDir is the log directory (<data_dir>/logs) whose files the
	// connection-log and web-error policies expire.
	LogDir string
	// Offline expires offline messages older than Config.Offline.
	Offline OfflineExpirer
	// OnOfflineExpired is called for each expired offline message, after
	// the store's transaction, so the server can bounce an error to the
	// sender. stanza is the stored stanza; the callee may keep it.
	OnOfflineExpired func(user string, stanza []byte)
	// Maintenance ends maintenance windows when they expire.
	Maintenance *Maintenance
	// Uploads deletes uploads (file and record) made at or before the cutoff
	// (now minus Config.Uploads).
	Uploads Sweeper
	// Invites deletes invites that expired at or before the cutoff (now).
	Invites Sweeper
	// Deletions finishes account deletions a crash interrupted (for example
	// upload files left behind); the cutoff is now.
	Deletions Sweeper
	// Scrub is called every Config.Sweep and right after a Personal policy
	// deleted something (store.DB.Scrub).
	Scrub Scrubber
}

// Runner runs retention policies on their ticks. Create it with New,
// add more policies with Add, start it with Run.
type Runner struct {
	log       zerolog.Logger
	now       func() time.Time
	scrub     Scrubber
	sweep     time.Duration
	scrubNow  chan struct{} // capacity 1: coalesced scrub requests
	newTicker func(d time.Duration) ticker

	mu       sync.Mutex
	policies []Policy
	ctx      context.Context // set while Run runs
	stopped  bool
	wg       sync.WaitGroup

	// stats remembers each policy's runs (status.go).
	stats runStats
}

// ticker is the part of time.Ticker the Runner uses; tests replace it.
type ticker interface {
	C() <-chan time.Time
	Stop()
}

type timeTicker struct{ *time.Ticker }

func (t timeTicker) C() <-chan time.Time { return t.Ticker.C }

// New returns a Runner with one policy per promise of the privacy policy
// for which deps has what it needs:
//
//	connection-logs  files "conn" and "server" in LogDir, cfg.ConnectionLogs
//	web-errors       files "web-errors" in LogDir, cfg.WebErrors
//	offline          offline messages, cfg.Offline
//	maintenance      maintenance windows past their end
//	uploads          uploads, cfg.Uploads
//	invites          expired invites
//	deletions        leftovers of interrupted account deletions
//
// cfg must be valid (Config.Validate); zero periods get their default.
func New(cfg Config, deps Deps) *Runner {
	cfg = withDefaults(cfg)
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	r := &Runner{
		log:       deps.Log.With().Str("component", "retention").Logger(),
		now:       now,
		scrub:     deps.Scrub,
		sweep:     cfg.sweep(),
		scrubNow:  make(chan struct{}, 1),
		newTicker: func(d time.Duration) ticker { return timeTicker{time.NewTicker(d)} },
	}
	if deps.LogDir != "" {
		r.policies = append(r.policies,
			LogFilesPolicy("connection-logs", deps.LogDir, cfg.ConnectionLogs, 0, PrefixesConnection...),
			LogFilesPolicy("web-errors", deps.LogDir, cfg.WebErrors, 0, PrefixesWebErrors...))
	}
	if deps.Offline != nil {
		r.policies = append(r.policies, OfflinePolicy(cfg.Offline, deps.Offline, deps.OnOfflineExpired))
	}
	if deps.Maintenance != nil {
		r.policies = append(r.policies, deps.Maintenance.Policy())
	}
	if deps.Uploads != nil {
		r.policies = append(r.policies, SweepPolicy("uploads", cfg.Uploads, 0, deps.Uploads))
	}
	if deps.Invites != nil {
		r.policies = append(r.policies, SweepPolicy("invites", 0, cfg.sweep(), deps.Invites))
	}
	if deps.Deletions != nil {
		r.policies = append(r.policies, SweepPolicy("deletions", 0, cfg.sweep(), deps.Deletions))
	}
	return r
}

// withDefaults fills zero periods with the defaults.
func withDefaults(c Config) Config {
	d := DefaultConfig()
	for _, f := range []struct{ got, def *time.Duration }{
		{&c.Uploads, &d.Uploads}, {&c.WebErrors, &d.WebErrors}, {&c.ConnectionLogs, &d.ConnectionLogs},
		{&c.Offline, &d.Offline}, {&c.MaintenanceMax, &d.MaintenanceMax},
	} {
		if *f.got <= 0 {
			*f.got = *f.def
		}
	}
	return c
}

// Add adds a policy. On a running Runner the policy starts at once (it
// runs immediately, then on its tick); after Run returned it never runs.
// Add is safe for concurrent use.
func (r *Runner) Add(p Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.policies = append(r.policies, p)
	if r.ctx != nil && !r.stopped {
		r.wg.Go(func() { r.loop(r.ctx, p) })
	}
}

// Policies returns the names and periods of the policies, for "chatbx
// check" and tests.
func (r *Runner) Policies() []Policy {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Policy, len(r.policies))
	copy(out, r.policies)
	return out
}

// Run runs every policy once and then on its tick until ctx is done.
// It returns nil after ctx is done and every policy run has returned.
// A failing policy is logged and retried on its next tick; it does not
// stop the others. Run must be called once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.ctx != nil {
		r.mu.Unlock()
		return fmt.Errorf("retention: Run called twice")
	}
	r.ctx = ctx
	for _, p := range r.policies {
		r.wg.Go(func() { r.loop(ctx, p) })
	}
	if r.scrub != nil {
		r.wg.Go(func() { r.scrubLoop(ctx) })
	}
	r.mu.Unlock()

	<-ctx.Done()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// loop runs p at once and then on its tick until ctx is done.
func (r *Runner) loop(ctx context.Context, p Policy) {
	t := r.newTicker(p.tick())
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		r.runOnce(ctx, p)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// runOnce runs p once, logs the outcome and requests a scrub when p
// deleted personal data. A panic in p is logged and ends only this run.
func (r *Runner) runOnce(ctx context.Context, p Policy) {
	start := time.Now()
	n, err := func() (n int, err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("retention: policy %s panicked: %v", p.Name, v)
			}
		}()
		return p.Run(ctx, r.now())
	}()
	took := time.Since(start)
	if ctx.Err() == nil {
		r.stats.record(p, r.now(), n, err)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the run was cut short, the next start repeats it.
	case err != nil:
		r.log.Error().Str("policy", p.Name).Int("count", n).Err(err).Dur("took", took).Msg("retention failed")
	case n > 0:
		r.log.Info().Str("policy", p.Name).Int("count", n).Dur("took", took).Msg("retention expired")
	default:
		r.log.Debug().Str("policy", p.Name).Dur("took", took).Msg("retention run")
	}
	if n > 0 && p.Personal && r.scrub != nil {
		select {
		case r.scrubNow <- struct{}{}:
		default: // a scrub is already pending
		}
	}
}

// scrubLoop scrubs the database's free pages at once, on every sweep tick
// and whenever a Personal policy deleted something.
func (r *Runner) scrubLoop(ctx context.Context) {
	t := r.newTicker(r.sweep)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		start := time.Now()
		if err := r.scrub.Scrub(ctx); err != nil && ctx.Err() == nil {
			r.log.Error().Err(err).Msg("scrub failed")
		} else {
			r.log.Debug().Dur("took", time.Since(start)).Msg("scrub done")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-r.scrubNow:
		}
	}
}
