package guard

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newGuard(cfg Config) (*Guard, *clock) {
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(cfg, c.now), c
}

var (
	attacker = netip.MustParseAddr("192.0.2.10")
	sameNet  = netip.MustParseAddr("192.0.2.99") // same /24 as attacker
	owner    = netip.MustParseAddr("198.51.100.7")
)

// fail makes one failed attempt and reports whether it was allowed.
func fail(g *Guard, user string, addr netip.Addr) bool {
	done, _, ok := g.Begin(user, addr)
	if ok {
		done(false)
	}
	return ok
}

func TestBackoffGrowsAndExpires(t *testing.T) {
	g, c := newGuard(Config{NetworkFree: 3, Backoff: time.Second, MaxBackoff: 8 * time.Second})
	for i := 0; i < 3; i++ {
		if !fail(g, "alice", attacker) {
			t.Fatalf("free attempt %d refused", i+1)
		}
	}
	// Every further attempt waits, doubling up to the cap.
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		_, wait, ok := g.Begin("alice", attacker)
		if ok || wait != want {
			t.Fatalf("during back-off: ok %v, wait %v; want refused, wait %v", ok, wait, want)
		}
		if _, _, ok := g.Begin("alice", sameNet); ok {
			t.Fatal("another address of the same /24 was not backing off")
		}
		c.add(wait - time.Millisecond)
		if _, _, ok := g.Begin("alice", attacker); ok {
			t.Fatal("allowed before the back-off ended")
		}
		c.add(time.Millisecond)
		if !fail(g, "alice", attacker) {
			t.Fatal("refused after the back-off ended")
		}
	}
	// The owner's right password after the back-off: allowed, and it
	// clears the network's count.
	_, wait, _ := g.Begin("alice", attacker)
	c.add(wait)
	done, _, ok := g.Begin("alice", attacker)
	if !ok {
		t.Fatal("right password refused after the back-off")
	}
	done(true)
	for i := 0; i < 3; i++ {
		if !fail(g, "alice", attacker) {
			t.Fatalf("after a success, free attempt %d refused", i+1)
		}
	}
}

func TestOtherNetworksAndAccounts(t *testing.T) {
	g, _ := newGuard(Config{NetworkFree: 3, AccountFree: 10})
	for i := 0; i < 3; i++ {
		fail(g, "alice", attacker)
	}
	if _, _, ok := g.Begin("alice", attacker); ok {
		t.Fatal("attacker not backing off")
	}
	// A stranger's guesses do not keep the owner out elsewhere, nor
	// other accounts from the same network.
	done, _, ok := g.Begin("alice", owner)
	if !ok {
		t.Fatal("owner on another network refused")
	}
	done(true)
	done, _, ok = g.Begin("bob", attacker)
	if !ok {
		t.Fatal("another account refused")
	}
	done(true)
}

func TestAccountWideBackoff(t *testing.T) {
	g, c := newGuard(Config{NetworkFree: 3, AccountFree: 6, Backoff: time.Second})
	// The owner logged in from her network before: it is trusted.
	done, _, _ := g.Begin("alice", owner)
	done(true)
	// Guesses spread over many networks, two from each.
	for i := 0; i < 3; i++ {
		a := netip.AddrFrom4([4]byte{203, 0, byte(i), 1})
		fail(g, "alice", a)
		fail(g, "alice", a)
	}
	fresh := netip.MustParseAddr("203.0.200.1")
	if _, wait, ok := g.Begin("alice", fresh); ok || wait <= 0 {
		t.Fatalf("account-wide back-off missing: ok %v wait %v", ok, wait)
	}
	if done, _, ok := g.Begin("alice", owner); !ok {
		t.Fatal("trusted network held by the account-wide back-off")
	} else {
		done(true)
	}
	c.add(time.Second)
	if _, _, ok := g.Begin("alice", fresh); !ok {
		t.Fatal("fresh network refused after the account-wide back-off")
	}
}

func TestUnknownUsersAlike(t *testing.T) {
	// The guard never asks the store: any name gets the same answers.
	g, _ := newGuard(Config{NetworkFree: 2})
	var waits [2][]time.Duration
	for i, u := range []string{"alice", "no-such-user"} {
		for j := 0; j < 4; j++ {
			done, wait, ok := g.Begin(u, attacker)
			if ok {
				done(false)
			}
			waits[i] = append(waits[i], wait)
		}
	}
	for j := range waits[0] {
		if waits[0][j] != waits[1][j] {
			t.Fatalf("known %v, unknown %v", waits[0], waits[1])
		}
	}
}

func TestParallelAttemptsReserve(t *testing.T) {
	g, _ := newGuard(Config{NetworkFree: 3})
	allowed := 0
	for i := 0; i < 10; i++ {
		// No verdict yet for any of them.
		if _, _, ok := g.Begin("alice", attacker); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("%d parallel attempts allowed, want 3", allowed)
	}
}

func TestDecay(t *testing.T) {
	g, c := newGuard(Config{NetworkFree: 2, Decay: time.Minute, Backoff: time.Second})
	fail(g, "alice", attacker)
	fail(g, "alice", attacker)
	c.add(2 * time.Minute)
	for i := 0; i < 2; i++ {
		if !fail(g, "alice", attacker) {
			t.Fatalf("attempt %d refused after the failures decayed", i+1)
		}
	}
}

func TestBoundedMemory(t *testing.T) {
	g, c := newGuard(Config{MaxEntries: 100, Decay: time.Minute})
	for i := 0; i < 1000; i++ {
		fail(g, "user"+string(rune('a'+i%26))+string(rune('a'+i/26)), attacker)
		if n := g.Len(); n > 100 {
			t.Fatalf("%d entries, cap 100", n)
		}
	}
	// Idle entries are swept once their failures have decayed.
	c.add(time.Hour)
	fail(g, "x", attacker)
	if n := g.Len(); n != 2 {
		t.Fatalf("%d entries after the sweep, want 2", n)
	}
}

func TestBucket(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBucket(3, time.Second)
	for i := 0; i < 3; i++ {
		done, _, ok := b.Begin(now)
		if !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
		if i == 0 {
			done(true) // a success hands its reservation back
		}
	}
	if done, _, ok := b.Begin(now); !ok {
		t.Fatal("handed-back attempt refused")
	} else {
		done(false)
	}
	_, wait, ok := b.Begin(now)
	if ok || wait != time.Second {
		t.Fatalf("full bucket: ok %v wait %v", ok, wait)
	}
	if _, _, ok := b.Begin(now.Add(wait)); !ok {
		t.Fatal("refused after one failure decayed")
	}
}
