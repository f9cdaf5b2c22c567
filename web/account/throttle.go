package account

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxThrottleEntries bounds each limiter map; beyond it, limiters that
// have refilled completely are forgotten.
const maxThrottleEntries = 10000

// throttle counts failed password checks per client address and per
// account, in memory only: a restart forgets it, and nothing of it is
// written anywhere. It is safe for concurrent use.
type throttle struct {
	every time.Duration
	burst int

	mu    sync.Mutex
	ips   map[string]*rate.Limiter
	users map[string]*rate.Limiter
}

func newThrottle(every time.Duration, burst int) *throttle {
	return &throttle{
		every: every,
		burst: burst,
		ips:   make(map[string]*rate.Limiter),
		users: make(map[string]*rate.Limiter),
	}
}

// ipKey returns the throttling key of a remote address: the IPv4 address,
// or the /64 of an IPv6 address (one subscriber usually holds a /64).
func ipKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// limiter returns the limiter for key in m, creating it.
func (t *throttle) limiter(m map[string]*rate.Limiter, key string, now time.Time) *rate.Limiter {
	l, ok := m[key]
	if ok {
		return l
	}
	if len(m) >= maxThrottleEntries {
		for k, v := range m {
			if v.TokensAt(now) >= float64(t.burst) {
				delete(m, k)
			}
		}
	}
	l = rate.NewLimiter(rate.Every(t.every), t.burst)
	m[key] = l
	return l
}

// blocked reports whether the client or the account has used up its
// failed attempts, and how long until the next attempt is allowed.
func (t *throttle) blocked(ip, user string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, l := range []*rate.Limiter{t.limiter(t.ips, ip, now), t.limiter(t.users, user, now)} {
		if tok := l.TokensAt(now); tok < 1 {
			if w := time.Duration((1 - tok) * float64(t.every)); w > wait {
				wait = w
			}
		}
	}
	return wait > 0, wait
}

// fail records one failed attempt for the client and the account.
func (t *throttle) fail(ip, user string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limiter(t.ips, ip, now).AllowN(now, 1)
	t.limiter(t.users, user, now).AllowN(now, 1)
}
