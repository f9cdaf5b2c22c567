package server_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"chatbx/internal/guard"
	"chatbx/server"
	"chatbx/server/xmpptest"
)

// offsetClock is the real time plus an offset that tests move forward
// (never back: negotiation deadlines are taken from it).
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// startGuarded starts a server whose guard allows free failures per
// account and network and then backs off for an hour (so that no wait in
// the test is long enough to end a back-off by itself).
func startGuarded(t *testing.T, free int) (*env, *offsetClock) {
	t.Helper()
	clk := &offsetClock{}
	g := guard.New(guard.Config{NetworkFree: free, Backoff: time.Hour, MaxBackoff: time.Hour}, clk.now)
	e := startWith(t, nil, func(c *server.Config, d *server.Deps) {
		c.AuthFailBurst = 10 // the network allowance the tests count on
		d.Now = clk.now
		d.Guard = g
	})
	return e, clk
}

// authCond dials and tries one password on a fresh connection; it
// returns "" on success or the SASL failure condition.
func authCond(t *testing.T, e *env, user, pass, from string) string {
	t.Helper()
	c, err := xmpptest.Connect(t, e.plain, domain, xmpptest.Options{Pool: e.ca.Pool, LocalAddr: from})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close()
	err = c.Auth(user, pass, xmpptest.Options{}.Mechanism)
	var ae *xmpptest.AuthError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ae):
		return ae.Condition
	}
	t.Fatalf("auth %s: %v", user, err)
	return ""
}

// TestGuessesThrottledBeforeVerdict: after the free failures for an
// account, each new connection is refused with temporary-auth-failure
// before its password is evaluated, even the right one; once the back-off
// is over, the owner's right password succeeds. On main before this
// change every new connection got a real verdict (40 wrong passwords,
// then the right one succeeded): fails there.
func TestGuessesThrottledBeforeVerdict(t *testing.T) {
	e, clk := startGuarded(t, 3)
	e.user(t, "alice")
	var got []string
	for i := 0; i < 6; i++ {
		got = append(got, authCond(t, e, "alice", "guess"+strconv.Itoa(i), ""))
	}
	got = append(got, authCond(t, e, "alice", "secret-alice", ""))
	want := []string{"not-authorized", "not-authorized", "not-authorized",
		"temporary-auth-failure", "temporary-auth-failure", "temporary-auth-failure",
		"temporary-auth-failure"} // the right password, not evaluated
	if !equal(got, want) {
		t.Fatalf("conditions %q, want %q", got, want)
	}
	// The back-off ends (injected clock, no waiting): the owner logs in.
	clk.add(time.Hour)
	if c := authCond(t, e, "alice", "secret-alice", ""); c != "" {
		t.Fatalf("right password after the back-off: %s", c)
	}
}

// TestGuessesPerAccountAcrossNetworks: a stranger guessing from one
// network (127.0.1.0/24) backs off there, while the owner logs in from
// elsewhere (127.0.0.0/24) and other accounts on the stranger's network
// are unaffected. Unknown usernames get exactly the same answers. On main
// before this change the stranger's right password got through: fails
// there.
func TestGuessesPerAccountAcrossNetworks(t *testing.T) {
	e, _ := startGuarded(t, 3)
	e.user(t, "alice")
	e.user(t, "bob")
	const stranger = "127.0.1.1"
	seq := func(user, right string) []string {
		var got []string
		for i := 0; i < 4; i++ {
			got = append(got, authCond(t, e, user, "guess", stranger))
		}
		return append(got, authCond(t, e, user, right, stranger))
	}
	known := seq("alice", "secret-alice")
	unknown := seq("nobody", "secret-nobody")
	want := []string{"not-authorized", "not-authorized", "not-authorized", "temporary-auth-failure", "temporary-auth-failure"}
	if !equal(known, want) {
		t.Errorf("known user from the stranger's network: %q, want %q", known, want)
	}
	if !equal(unknown, known) {
		t.Errorf("unknown user %q, known user %q: must be equal", unknown, known)
	}
	if c := authCond(t, e, "alice", "secret-alice", "127.0.0.1"); c != "" {
		t.Errorf("owner from another network: %s", c)
	}
	if c := authCond(t, e, "bob", "secret-bob", stranger); c != "" {
		t.Errorf("another account from the stranger's network: %s", c)
	}
}

// TestGuessesPerNetworkBeforeVerdict: failures spread over many accounts
// from one network use up that network's allowance (10), after which the
// next attempt, even with a right password for an untouched account, is
// refused before it is evaluated. On main before this change the limiter
// was consulted only after a wrong password had been answered, so the
// right password got through: fails there.
func TestGuessesPerNetworkBeforeVerdict(t *testing.T) {
	e, _ := startGuarded(t, 3)
	e.user(t, "alice")
	for round := 0; ; round++ {
		// One connection, guesses for other names until refused, then
		// at once the right password for alice on the same stream.
		c, err := xmpptest.Connect(t, e.plain, domain, xmpptest.Options{Pool: e.ca.Pool})
		if err != nil {
			t.Fatal(err)
		}
		refused := false
		for i := 0; i < 4 && !refused; i++ {
			err := c.Auth("user"+strconv.Itoa(round*4+i), "guess", xmpptest.Options{}.Mechanism)
			var ae *xmpptest.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("guess: %v", err)
			}
			refused = ae.Condition == "temporary-auth-failure"
		}
		if !refused {
			c.Close()
			if round > 5 {
				t.Fatal("no per-network limit after 24 failures")
			}
			continue
		}
		err = c.Auth("alice", "secret-alice", xmpptest.Options{}.Mechanism)
		var ae *xmpptest.AuthError
		if !errors.As(err, &ae) || ae.Condition != "temporary-auth-failure" {
			t.Fatalf("right password after the network's failures: %v, want temporary-auth-failure", err)
		}
		c.Close()
		return
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
