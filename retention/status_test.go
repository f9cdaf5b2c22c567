package retention

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestRunnerStatus records each policy's runs, deletions, failures and
// last run.
func TestRunnerStatus(t *testing.T) {
	t.Parallel()
	c := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	r := New(Config{}, Deps{Now: func() time.Time { return c }, Log: zerolog.Nop()})
	ts := fakeTickers(r)
	started := make(chan int, 4)
	release := make(chan struct{})
	results := []struct {
		n   int
		err error
	}{{3, nil}, {1, errors.New("disk on fire")}, {0, nil}}
	i := 0
	r.Add(Policy{Name: "counted", Period: time.Hour, Run: func(ctx context.Context, _ time.Time) (int, error) {
		res := results[i]
		started <- i
		if i == 2 {
			// The third run waits: by now the first two are recorded.
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		i++
		return res.n, res.err
	}})
	stop := start(t, r)
	defer stop()
	defer close(release)
	<-started
	tk := <-ts.new
	tk.c <- time.Now()
	<-started
	tk.c <- time.Now()
	<-started
	var got PolicyRun
	for _, s := range r.Status() {
		if s.Name == "counted" {
			got = s
		}
	}
	if got.Runs != 2 || got.Deleted != 4 || got.Errors != 1 || got.LastCount != 1 || got.LastErr != "disk on fire" || !got.Last.Equal(c) || got.Period != time.Hour {
		t.Errorf("Status(counted) = %+v", got)
	}
}
