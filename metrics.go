package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"chatbx/internal/metrics"
	"chatbx/retention"
)

// metricsPart binds the metrics listener (metrics.listen) and returns the
// part that serves /metrics on it (Prometheus text format) until ctx ends.
// Nothing else is served there.
func metricsPart(addr string, m *metrics.Metrics) (part, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return part{}, nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	return part{name: "metrics", run: func(ctx context.Context) error {
		return serveHTTP(ctx, []*http.Server{srv}, []net.Listener{ln})
	}}, ln.Addr(), nil
}

// retentionRuns adapts the retention runner's status to the metrics.
func retentionRuns(r *retention.Runner) []metrics.PolicyRun {
	if r == nil {
		return nil
	}
	var out []metrics.PolicyRun
	for _, p := range r.Status() {
		out = append(out, metrics.PolicyRun{Name: p.Name, Runs: p.Runs, Deleted: p.Deleted, Errors: p.Errors, Last: p.Last})
	}
	return out
}
