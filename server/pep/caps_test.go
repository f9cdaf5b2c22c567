package pep

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"chatbx/server/wire"
)

// capsAnswer returns a disco#info result whose sha-1 ver is returned too.
func capsAnswer(t testing.TB, name string) (*wire.Element, string) {
	t.Helper()
	q := parse(t, `<iq type='result' xmlns='jabber:client'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc' name='`+name+`'/><feature var='urn:test+notify'/></query></iq>`)
	return q, capsVer("sha-1", q.Child(nsDiscoInf, "query"))
}

// sender records the queries resolve sends; their answers are called by
// the test.
type sender struct {
	mu      sync.Mutex
	answers map[string]func(*wire.Element)
}

func (s *sender) send(id string, answer func(*wire.Element)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.answers == nil {
		s.answers = map[string]func(*wire.Element){}
	}
	s.answers[id] = answer
	return true
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.answers)
}

// resolveNow resolves a hash whose answer the client gives at once; with
// full, the session pins it first (as the presence hook does).
func resolveNow(t testing.TB, c *capsCache, name, user, full string) string {
	t.Helper()
	answer, ver := capsAnswer(t, name)
	if full != "" {
		c.pin(user, full, "sha-1", ver)
	}
	got := false
	ok := c.resolve("sha-1", ver, func(id string, fn func(*wire.Element)) bool {
		fn(answer)
		return true
	}, func(f []string, ok bool) { got = ok && len(f) == 1 })
	if !ok || !got {
		t.Fatalf("resolve %s: taken %v, verified %v", name, ok, got)
	}
	return ver
}

// A flood of distinct valid hashes evicts only unpinned entries: the
// caps of connected sessions stay, and unpinned ones go when released.
func TestCapsCachePinned(t *testing.T) {
	c := newCapsCache(8, 4, time.Minute)
	ver := resolveNow(t, c, "in use", "bob", "bob@x/phone")
	for i := range 100 {
		resolveNow(t, c, fmt.Sprint("flood", i), "mallory", "mallory@x/r") // one pin per session: the last
	}
	if _, ok := c.lookup("sha-1", ver); !ok {
		t.Fatal("a connected session's caps were evicted")
	}
	if n := len(c.known); n > 8 {
		t.Errorf("cache holds %d entries, cap 8", n)
	}
	// Sessions that ended are swept; their caps may then be evicted.
	c.sweep(func(user, full, h, v string) bool { return false })
	if len(c.sessions) != 0 || len(c.refs) != 0 {
		t.Errorf("after sweep: %d sessions, %d refs", len(c.sessions), len(c.refs))
	}
	for i := range 8 {
		resolveNow(t, c, fmt.Sprint("later", i), "", "")
	}
	if _, ok := c.lookup("sha-1", ver); ok {
		t.Error("released caps never evicted")
	}
	if n := len(c.known); n != 8 {
		t.Errorf("cache holds %d entries, want 8", n)
	}
}

// Every pinned entry stays even beyond the cap; unpinning brings the cache
// back under it.
func TestCapsCacheAllPinned(t *testing.T) {
	c := newCapsCache(4, 4, time.Minute)
	for i := range 10 {
		resolveNow(t, c, fmt.Sprint("c", i), "u", fmt.Sprint("u@x/", i))
	}
	if len(c.known) != 10 {
		t.Fatalf("%d entries, want the 10 pinned", len(c.known))
	}
	for i := range 10 {
		c.unpin(fmt.Sprint("u@x/", i))
	}
	if len(c.known) != 4 {
		t.Errorf("%d entries after unpinning, want 4", len(c.known))
	}
}

// At most `queries` disco#info queries are outstanding, one per hash, and
// at most maxWaiters sessions wait for one.
func TestCapsCacheBounds(t *testing.T) {
	c := newCapsCache(100, 3, time.Minute)
	var s sender
	var mu sync.Mutex
	results := map[string]int{}
	done := func(name string) func([]string, bool) {
		return func(f []string, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			if ok {
				results[name]++
			}
		}
	}
	answers := map[string]*wire.Element{}
	vers := make([]string, 4)
	for i := range 4 {
		answers[fmt.Sprint(i)], vers[i] = capsAnswer(t, fmt.Sprint("client", i))
	}
	for i := range 3 {
		if !c.resolve("sha-1", vers[i], s.send, done(fmt.Sprint(i))) {
			t.Fatalf("query %d refused", i)
		}
	}
	if c.resolve("sha-1", vers[3], s.send, done("3")) {
		t.Error("a 4th concurrent query was taken")
	}
	if s.count() != 3 {
		t.Errorf("%d queries sent, want 3", s.count())
	}
	// Same hash: waits for the query under way, no second query.
	taken := 1
	for range maxWaiters + 10 {
		if c.resolve("sha-1", vers[0], s.send, done("0")) {
			taken++
		}
	}
	if taken != maxWaiters || s.count() != 3 {
		t.Errorf("%d waiters taken (cap %d), %d queries sent", taken, maxWaiters, s.count())
	}
	// The answer is given to every waiter; then a new query may start.
	for id, fn := range s.answers {
		_ = id
		fn(answers["0"])
	}
	mu.Lock()
	if results["0"] != maxWaiters {
		t.Errorf("%d waiters got the verified answer, want %d", results["0"], maxWaiters)
	}
	mu.Unlock()
	if !c.resolve("sha-1", vers[3], s.send, done("3")) {
		t.Error("query refused once the others were answered")
	}
}

// A session whose query failed is not asked again until the timeout.
func TestCapsCacheRetry(t *testing.T) {
	c := newCapsCache(10, 10, time.Minute)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.pin("u", "u@x/r", "sha-1", "abc")
	if !c.mayQuery("u@x/r") {
		t.Fatal("first query held back")
	}
	c.failed("u@x/r")
	if c.mayQuery("u@x/r") {
		t.Error("queried again at once after a failure")
	}
	now = now.Add(time.Minute)
	if !c.mayQuery("u@x/r") {
		t.Error("still held back after the timeout")
	}
}
