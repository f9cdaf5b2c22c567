package s2s

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rates are the per-domain limits of inbound traffic, in memory only.
type rates struct {
	perSec float64
	burst  int
	conns  int // per minute

	mu sync.Mutex
	m  map[string]*domainRate
}

type domainRate struct {
	stanzas *rate.Limiter
	conns   *rate.Limiter
	seen    time.Time
}

func (r *rates) init(cfg Config) {
	r.perSec, r.burst, r.conns = cfg.StanzasPerSecond, cfg.StanzaBurst, cfg.ConnPerMinute
	r.m = map[string]*domainRate{}
}

func (r *rates) get(domain string, now time.Time) *domainRate {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.m[domain]
	if d == nil {
		d = &domainRate{stanzas: rate.NewLimiter(rate.Limit(r.perSec), r.burst),
			conns: rate.NewLimiter(rate.Every(time.Minute/time.Duration(r.conns)), r.conns)}
		r.m[domain] = d
	}
	d.seen = now
	return d
}

// connAllowed takes one new stream of domain from its budget.
func (r *rates) connAllowed(domain string, now time.Time) bool {
	return r.get(domain, now).conns.AllowN(now, 1)
}

// wait blocks the reader of a domain's stream until its stanza budget
// allows one more: a flooding peer is slowed down, TCP pushes back.
func (r *rates) wait(ctx context.Context, domain string, now func() time.Time) error {
	return r.get(domain, now()).stanzas.Wait(ctx)
}

// sweep forgets domains idle for ten minutes.
func (r *rates) sweep(ctx context.Context, now func() time.Time) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cut := now().Add(-10 * time.Minute)
		r.mu.Lock()
		for k, d := range r.m {
			if d.seen.Before(cut) {
				delete(r.m, k)
			}
		}
		r.mu.Unlock()
	}
}

// blocklist is the set of blocked domains.
type blocklist struct{ domains map[string]bool }

// Blocked reports whether domain or a parent domain is blocked.
func (s *Server) Blocked(domain string) bool {
	b := s.block.Load()
	if b == nil || len(b.domains) == 0 {
		return false
	}
	d := normalise(domain)
	for d != "" {
		if b.domains[d] {
			return true
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = rest
	}
	return false
}

// ReloadBlocklist reads Config.BlockDomains and Config.BlockDomainsFile
// again (main calls it on SIGHUP). On error the previous list stays.
func (s *Server) ReloadBlocklist() error {
	m := map[string]bool{}
	for _, d := range s.cfg.BlockDomains {
		if d = normalise(strings.TrimSpace(d)); d != "" {
			m[d] = true
		}
	}
	if s.cfg.BlockDomainsFile != "" {
		f, err := os.Open(s.cfg.BlockDomainsFile)
		if err != nil {
			return fmt.Errorf("s2s: block_domains_file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if d := normalise(strings.TrimSpace(line)); d != "" {
				m[d] = true
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("s2s: block_domains_file: %w", err)
		}
	}
	s.block.Store(&blocklist{domains: m})
	return nil
}

// spamCounts counts XEP-0377 spam reports per remote domain, in memory
// only: no JIDs, no content.
type spamCounts struct {
	mu sync.Mutex
	m  map[string]int
}

// maxSpamDomains bounds the counter table.
const maxSpamDomains = 10000

// SpamReported counts one XEP-0377 report against a remote domain.
func (s *Server) SpamReported(domain string) {
	domain = normalise(domain)
	if domain == "" || domain == s.cfg.Domain {
		return
	}
	s.spam.mu.Lock()
	defer s.spam.mu.Unlock()
	if s.spam.m == nil {
		s.spam.m = map[string]int{}
	}
	if _, ok := s.spam.m[domain]; !ok && len(s.spam.m) >= maxSpamDomains {
		return
	}
	s.spam.m[domain]++
}

// SpamReports returns the report counts per remote domain, most first.
func (s *Server) SpamReports() []DomainCount {
	s.spam.mu.Lock()
	out := make([]DomainCount, 0, len(s.spam.m))
	for d, n := range s.spam.m {
		out = append(out, DomainCount{d, n})
	}
	s.spam.mu.Unlock()
	slices.SortFunc(out, func(a, b DomainCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Domain, b.Domain)
	})
	return out
}

// DomainCount is a count for one remote domain.
type DomainCount struct {
	Domain string
	Count  int
}
