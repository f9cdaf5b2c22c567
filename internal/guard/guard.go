package guard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"
)

// Config holds the guard's limits. Zero values mean DefaultConfig's.
type Config struct {
	// NetworkFree is the number of failures for one account from one
	// network before back-off starts.
	NetworkFree int
	// AccountFree is the number of failures for one account from all
	// networks together before the account-wide back-off starts.
	AccountFree int
	// Decay is how long it takes for one counted failure to be forgotten.
	Decay time.Duration
	// Backoff is the first back-off; each further failure doubles it, up
	// to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Trust is how long a network where the account logged in stays exempt
	// from the account-wide back-off.
	Trust time.Duration
	// MaxEntries caps the entries held (about 150 bytes each).
	MaxEntries int
}

// DefaultConfig returns the defaults documented in docs/configuration.md.
func DefaultConfig() Config {
	return Config{
		NetworkFree: 5,
		AccountFree: 30,
		Decay:       10 * time.Minute,
		Backoff:     2 * time.Second,
		MaxBackoff:  5 * time.Minute,
		Trust:       7 * 24 * time.Hour,
		MaxEntries:  50000,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.NetworkFree <= 0 {
		c.NetworkFree = d.NetworkFree
	}
	if c.AccountFree <= 0 {
		c.AccountFree = d.AccountFree
	}
	if c.Decay <= 0 {
		c.Decay = d.Decay
	}
	if c.Backoff <= 0 {
		c.Backoff = d.Backoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = c.Backoff
	}
	if c.Trust < 0 {
		c.Trust = 0
	} else if c.Trust == 0 {
		c.Trust = d.Trust
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = d.MaxEntries
	}
}

type key [16]byte

// counter is a leaky bucket of failures with a back-off deadline.
type counter struct {
	fails   float64   // failures not yet decayed, as of last
	last    time.Time // when fails was last brought up to date
	until   time.Time // no attempt before this
	trusted time.Time // (pair entries) exempt from the account back-off until then
}

// decay brings c up to now.
func (c *counter) decay(now time.Time, every time.Duration) {
	if el := now.Sub(c.last); el > 0 {
		c.fails -= float64(el) / float64(every)
		if c.fails < 0 {
			c.fails = 0
		}
		c.last = now
	}
}

// reserve counts one failure in advance and sets the back-off the failure
// earns once free failures are used up.
func (c *counter) reserve(now time.Time, free int, cfg *Config) {
	c.fails++
	if over := int(c.fails+0.5) - free; over >= 0 {
		d := cfg.Backoff
		for i := 0; i < over && d < cfg.MaxBackoff; i++ {
			d *= 2
		}
		c.until = now.Add(min(d, cfg.MaxBackoff))
	}
}

// idle reports whether c holds nothing worth keeping.
func (c *counter) idle(now time.Time, every time.Duration) bool {
	c.decay(now, every)
	return c.fails == 0 && !now.Before(c.until) && !now.Before(c.trusted)
}

// Guard is the per-account failure limiter. It is safe for concurrent use.
type Guard struct {
	cfg    Config
	now    func() time.Time
	secret [32]byte

	mu        sync.Mutex
	accounts  map[key]*counter
	pairs     map[key]*counter
	lastSweep time.Time
}

// New returns a Guard; now is the clock (nil means time.Now).
func New(cfg Config, now func() time.Time) *Guard {
	cfg.fill()
	if now == nil {
		now = time.Now
	}
	g := &Guard{cfg: cfg, now: now, accounts: map[key]*counter{}, pairs: map[key]*counter{}}
	rand.Read(g.secret[:])
	return g
}

// Network returns the anonymised network of addr that the guard keys on:
// the IPv4 /24 or the IPv6 /48.
func Network(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

func (g *Guard) hash(user string, network netip.Prefix, pair bool) key {
	m := hmac.New(sha256.New, g.secret[:])
	m.Write([]byte(user))
	if pair {
		m.Write([]byte{0})
		b, _ := network.MarshalBinary()
		m.Write(b)
	}
	var k key
	copy(k[:], m.Sum(nil))
	return k
}

// Begin reserves one password check for user (the normalised localpart,
// or any fixed placeholder for a name that cannot be one) from addr. It
// counts the check as a failure in advance, so parallel attempts cannot
// slip past the limit. When user is backing off it returns ok false and
// the time left: the caller must then answer without evaluating the
// password. Otherwise the caller must call done with the verdict: true
// when the password was right (or the check did not happen for a reason
// that is not the client's), which takes the reservation back and trusts
// the network; false or no call at all keeps the failure counted.
func (g *Guard) Begin(user string, addr netip.Addr) (done func(ok bool), wait time.Duration, ok bool) {
	net := Network(addr)
	ak, pk := g.hash(user, net, false), g.hash(user, net, true)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweepLocked(now)
	a, p := g.get(g.accounts, ak, now), g.get(g.pairs, pk, now)
	a.decay(now, g.cfg.Decay)
	p.decay(now, g.cfg.Decay)
	if now.Before(p.until) {
		wait = p.until.Sub(now)
	}
	if now.Before(a.until) && !now.Before(p.trusted) && a.until.Sub(now) > wait {
		wait = a.until.Sub(now)
	}
	if wait > 0 {
		return func(bool) {}, wait, false
	}
	prevUntil := a.until
	a.reserve(now, g.cfg.AccountFree, &g.cfg)
	p.reserve(now, g.cfg.NetworkFree, &g.cfg)
	setA := a.until
	var once sync.Once
	return func(ok bool) {
		if !ok {
			return
		}
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			now := g.now()
			// The entries may have been swept or evicted meanwhile; the
			// ones in the maps now are the ones to correct.
			if a := g.accounts[ak]; a != nil {
				a.decay(now, g.cfg.Decay)
				a.fails = max(0, a.fails-1)
				if a.until.Equal(setA) {
					a.until = prevUntil
				}
			}
			p := g.get(g.pairs, pk, now)
			*p = counter{last: now, trusted: now.Add(g.cfg.Trust)}
		})
	}, 0, true
}

// get returns m's counter for k, creating it (and evicting an entry when
// the guard is full).
func (g *Guard) get(m map[key]*counter, k key, now time.Time) *counter {
	if c := m[k]; c != nil {
		return c
	}
	if len(g.accounts)+len(g.pairs) >= g.cfg.MaxEntries {
		g.sweepAll(now)
		for len(g.accounts)+len(g.pairs) >= g.cfg.MaxEntries {
			// Still full: forget an arbitrary entry of the bigger map.
			victim := g.pairs
			if len(g.accounts) > len(g.pairs) {
				victim = g.accounts
			}
			for vk := range victim {
				delete(victim, vk)
				break
			}
		}
	}
	c := &counter{last: now}
	m[k] = c
	return c
}

// sweepLocked drops idle entries once a minute.
func (g *Guard) sweepLocked(now time.Time) {
	if now.Sub(g.lastSweep) < time.Minute && !now.Before(g.lastSweep) {
		return
	}
	g.sweepAll(now)
}

func (g *Guard) sweepAll(now time.Time) {
	g.lastSweep = now
	for _, m := range []map[key]*counter{g.accounts, g.pairs} {
		for k, c := range m {
			if c.idle(now, g.cfg.Decay) {
				delete(m, k)
			}
		}
	}
}

// Len returns the number of entries held, for tests and metrics.
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.accounts) + len(g.pairs)
}
