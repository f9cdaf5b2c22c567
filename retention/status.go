package retention

import (
	"slices"
	"sync"
	"time"
)

// PolicyRun is what the runner remembers of a policy's runs since the
// server started, for `chatbx status` and the metrics: in memory only.
type PolicyRun struct {
	// Name is the policy's name ("uploads", "connection-logs", ...).
	Name string
	// Period is the policy's period (0 for sweeps without one).
	Period time.Duration
	// Runs and Deleted count the runs and the items they deleted;
	// Errors the runs that failed.
	Runs, Deleted, Errors uint64
	// Last is when the last run finished (the runner's clock), LastCount what it deleted and
	// LastErr its error ("" for none). Zero Last: not run yet.
	Last      time.Time
	LastCount int
	LastErr   string
}

// runStats holds the PolicyRuns by name.
type runStats struct {
	mu  sync.Mutex
	all map[string]*PolicyRun
}

// record notes one run of p that finished at end.
func (s *runStats) record(p Policy, end time.Time, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.all == nil {
		s.all = map[string]*PolicyRun{}
	}
	r := s.all[p.Name]
	if r == nil {
		r = &PolicyRun{Name: p.Name}
		s.all[p.Name] = r
	}
	r.Period = p.Period
	r.Runs++
	r.Deleted += uint64(max(n, 0))
	r.Last, r.LastCount, r.LastErr = end, n, ""
	if err != nil {
		r.Errors++
		r.LastErr = err.Error()
	}
}

// Status returns every policy with its runs since start, sorted by name;
// a policy that has not run yet has a zero Last. Safe for concurrent use.
func (r *Runner) Status() []PolicyRun {
	r.stats.mu.Lock()
	out := make([]PolicyRun, 0, len(r.stats.all))
	for _, s := range r.stats.all {
		out = append(out, *s)
	}
	r.stats.mu.Unlock()
	for _, p := range r.Policies() {
		if !slices.ContainsFunc(out, func(s PolicyRun) bool { return s.Name == p.Name }) {
			out = append(out, PolicyRun{Name: p.Name, Period: p.Period})
		}
	}
	slices.SortFunc(out, func(a, b PolicyRun) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
