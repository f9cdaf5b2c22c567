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
	// nets limits registrations per client network (networkKey).
	nets map[string]*rate.Limiter
}

func newThrottle(every time.Duration, burst int) *throttle {
	return &throttle{
		every: every,
		burst: burst,
		ips:   make(map[string]*rate.Limiter),
		users: make(map[string]*rate.Limiter),
		nets:  make(map[string]*rate.Limiter),
	}
}

// networkKey returns the registration throttling key of a remote address:
// its network, as the log anonymiser shortens it (the /24 of an IPv4
// address, the /48 of an IPv6 address), so that one client cannot sidestep
// the limit by hopping addresses and one network's attempts never block
// another's. Privacy: the key holds no more of the address than a log line.
func networkKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// register takes one registration attempt from the allowance of the
// client network key (see networkKey). Every attempt counts, successful
// or not. When the allowance is used up it returns blocked and how long
// until the next attempt is allowed.
func (t *throttle) register(key string, now time.Time) (wait time.Duration, blocked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.limiter(t.nets, key, now).ReserveN(now, 1)
	if wait = r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return wait, true
	}
	return 0, false
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

// begin takes one attempt from the client's and the account's
// allowance before the password is checked, so that parallel requests
// cannot all slip past the limit. When either allowance is used up it
// returns blocked and how long until the next attempt is allowed.
// Otherwise the caller must call done with the outcome: done(true) (the
// password was right) returns the attempt, done(false) keeps it spent.
func (t *throttle) begin(ip, user string, now time.Time) (done func(ok bool), wait time.Duration, blocked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ri := t.limiter(t.ips, ip, now).ReserveN(now, 1)
	ru := t.limiter(t.users, user, now).ReserveN(now, 1)
	wait = max(ri.DelayFrom(now), ru.DelayFrom(now))
	if wait > 0 {
		ri.CancelAt(now)
		ru.CancelAt(now)
		return nil, wait, true
	}
	return func(ok bool) {
		if ok {
			t.mu.Lock()
			defer t.mu.Unlock()
			ri.CancelAt(now)
			ru.CancelAt(now)
		}
	}, 0, false
}
