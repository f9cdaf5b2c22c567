package retention

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeTicker is a ticker the test fires by hand.
type fakeTicker struct {
	d       time.Duration
	c       chan time.Time
	stopped chan struct{}
}

func (f *fakeTicker) C() <-chan time.Time { return f.c }
func (f *fakeTicker) Stop()               { close(f.stopped) }

// tickers records the Runner's tickers by interval.
type tickers struct {
	mu  sync.Mutex
	all []*fakeTicker
	new chan *fakeTicker
}

func fakeTickers(r *Runner) *tickers {
	ts := &tickers{new: make(chan *fakeTicker, 64)}
	r.newTicker = func(d time.Duration) ticker {
		f := &fakeTicker{d: d, c: make(chan time.Time), stopped: make(chan struct{})}
		ts.mu.Lock()
		ts.all = append(ts.all, f)
		ts.mu.Unlock()
		ts.new <- f
		return f
	}
	return ts
}

// runs records policy runs on a channel.
type runs chan time.Time

func (rs runs) policy(name string, period time.Duration, n int, err error) Policy {
	return Policy{Name: name, Period: period, Personal: true, Run: func(_ context.Context, now time.Time) (int, error) {
		rs <- now
		return n, err
	}}
}

func waitRun(t *testing.T, rs runs) time.Time {
	t.Helper()
	select {
	case now := <-rs:
		return now
	case <-t.Context().Done():
		t.Fatal("policy did not run")
	}
	return time.Time{}
}

func start(t *testing.T, r *Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-t.Context().Done():
			t.Fatal("Run did not return after cancel")
		}
	}
}

func TestRunnerRunsAtStartAndOnTick(t *testing.T) {
	t.Parallel()
	c := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	r := New(DefaultConfig(), Deps{Now: func() time.Time { return c }, Log: zerolog.Nop()})
	ts := fakeTickers(r)
	rs := make(runs)
	r.Add(rs.policy("test", 24*time.Hour, 0, nil))
	stop := start(t, r)

	if got := waitRun(t, rs); !got.Equal(c) {
		t.Errorf("first run with now %v, want %v", got, c)
	}
	tk := <-ts.new
	if tk.d != 10*time.Minute {
		t.Errorf("tick for 24h = %v, want 10m", tk.d)
	}
	for range 3 {
		tk.c <- time.Now()
		waitRun(t, rs)
	}
	stop()
	select {
	case <-tk.stopped:
	default:
		t.Error("ticker not stopped after Run returned")
	}
}

func TestRunnerAddWhileRunning(t *testing.T) {
	t.Parallel()
	r := New(Config{}, Deps{Log: zerolog.Nop()})
	fakeTickers(r)
	stop := start(t, r)
	rs := make(runs)
	r.Add(rs.policy("late", time.Minute, 0, nil))
	waitRun(t, rs)
	stop()
	// After Run returned, Add never runs the policy.
	r.Add(Policy{Name: "after", Run: func(context.Context, time.Time) (int, error) {
		t.Error("policy added after Run returned has run")
		return 0, nil
	}})
}

func TestRunnerRunTwice(t *testing.T) {
	t.Parallel()
	r := New(Config{}, Deps{Log: zerolog.Nop()})
	fakeTickers(r)
	stop := start(t, r)
	defer stop()
	// A policy runs only once Run has started.
	rs := make(runs)
	r.Add(rs.policy("p", time.Minute, 0, nil))
	waitRun(t, rs)
	if err := r.Run(t.Context()); err == nil {
		t.Error("second Run = nil error")
	}
}

// scrubber counts scrubs.
type scrubber chan struct{}

func (s scrubber) Scrub(context.Context) error {
	s <- struct{}{}
	return nil
}

func TestRunnerScrubsAfterPersonalDeletion(t *testing.T) {
	t.Parallel()
	sc := make(scrubber)
	r := New(Config{Sweep: time.Minute}, Deps{Log: zerolog.Nop(), Scrub: sc})
	ts := fakeTickers(r)
	rs := make(runs)
	r.Add(rs.policy("deletes", time.Hour, 2, nil))
	stop := start(t, r)
	defer stop()

	// One scrub at start, one because the first run deleted something;
	// a policy run that deletes nothing triggers none.
	waitRun(t, rs)
	<-sc
	<-sc
	var policyTicker, scrubTicker *fakeTicker
	for range 2 {
		tk := <-ts.new
		switch tk.d {
		case time.Minute:
			scrubTicker = tk
		case TickFor(time.Hour):
			policyTicker = tk
		}
	}
	if policyTicker == nil || scrubTicker == nil {
		t.Fatal("missing tickers")
	}
	scrubTicker.c <- time.Now()
	<-sc
	policyTicker.c <- time.Now()
	waitRun(t, rs)
	<-sc
}

func TestRunnerSurvivesFailures(t *testing.T) {
	t.Parallel()
	r := New(Config{}, Deps{Log: zerolog.Nop()})
	ts := fakeTickers(r)
	rs := make(runs)
	var calls int
	r.Add(Policy{Name: "panics", Period: time.Hour, Run: func(_ context.Context, now time.Time) (int, error) {
		calls++
		rs <- now
		if calls == 1 {
			panic("boom")
		}
		return 0, errors.New("failed")
	}})
	stop := start(t, r)
	waitRun(t, rs)
	tk := <-ts.new
	tk.c <- time.Now()
	waitRun(t, rs)
	tk.c <- time.Now()
	waitRun(t, rs)
	stop()
}

func TestNewPolicies(t *testing.T) {
	t.Parallel()
	sweep := SweeperFunc(func(context.Context, time.Time) (int, error) { return 0, nil })
	cfg := DefaultConfig()
	cfg.Uploads = 10 * time.Second
	r := New(cfg, Deps{
		LogDir:      t.TempDir(),
		Offline:     offlineNop{},
		Maintenance: NewMaintenance(nil, nil, 0, zerolog.Nop(), nil),
		Uploads:     sweep,
		Invites:     sweep,
		Deletions:   sweep,
	})
	type row struct {
		name     string
		period   time.Duration
		tick     time.Duration
		personal bool
	}
	var got []row
	for _, p := range r.Policies() {
		got = append(got, row{p.Name, p.Period, p.tick(), p.Personal})
	}
	want := []row{
		{"connection-logs", 24 * time.Hour, 10 * time.Minute, false},
		{"web-errors", 30 * day, 10 * time.Minute, false},
		{"offline", 30 * day, 10 * time.Minute, true},
		{"maintenance", 24 * time.Hour, time.Minute, false},
		{"uploads", 10 * time.Second, time.Second, true},
		{"invites", 0, 10 * time.Minute, true},
		{"deletions", 0, 10 * time.Minute, true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("New() policies =\n%v\nwant\n%v", got, want)
	}
	if len(New(Config{}, Deps{}).Policies()) != 0 {
		t.Error("New without deps has policies")
	}
}

type offlineNop struct{ OfflineExpirer }
