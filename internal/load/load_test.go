package load_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/load"
	"chatbx/server"
	"chatbx/server/xmpptest"
	"chatbx/store/storetest"
)

const domain = "load.test"

type anon struct{}

func (anon) IP(net.Addr) string { return "127.0.0.0" }

// start runs an in-process server with n provisioned accounts u0..u(n-1)
// (password "pw") and returns a Runner for it.
func start(t *testing.T, n int, mech string) *load.Runner {
	t.Helper()
	return load.New(startConfig(t, n, mech))
}

// startConfig is start returning the Runner's configuration.
func startConfig(t *testing.T, n int, mech string) load.Config {
	t.Helper()
	db := storetest.Open(t)
	ca := xmpptest.NewCA(t, domain)
	if created, _, err := load.Provision(t.Context(), db, "u", "pw", n); err != nil || created != n {
		t.Fatalf("Provision = %d, %v; want %d", created, err, n)
	}
	cfg := server.DefaultConfig()
	cfg.Domain = domain
	cfg.C2SListen, cfg.C2SListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ConnPerSecond, cfg.ConnBurst = 1e6, 1e6
	cfg.AuthFailBurst = 1 << 20 // every login comes from one address
	srv, err := server.New(cfg, server.Deps{
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(), Anon: anon{},
		StartTLS:  func(string) *tls.Config { return ca.ServerConfig() },
		DirectTLS: ca.ServerConfig("xmpp-client"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return load.Config{
		Addr: srv.Addrs()[0].String(), Domain: domain, TLS: &tls.Config{RootCAs: ca.Pool},
		Mechanism: mech, User: "u", Password: "pw", Timeout: 10 * time.Second, PID: os.Getpid(),
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			r := start(t, 6, mech)
			res, err := r.Login(t.Context(), load.LoginOptions{N: 12, Concurrency: 3, Warmup: 6, Accounts: 6})
			if err != nil || res.OK != 12 || res.Errors != 0 {
				t.Fatalf("Login = %+v, %v; want 12 ok", res, err)
			}
			if res.Ready[0] <= 0 || res.Cycle[2] < res.Ready[0] || res.Rate() <= 0 {
				t.Errorf("Login latencies = %v / %v, rate %v", res.Ready, res.Cycle, res.Rate())
			}
		})
	}
}

func TestLoginWrongPassword(t *testing.T) {
	t.Parallel()
	r := start(t, 1, "SCRAM-SHA-256")
	bad := load.New(load.Config{Addr: addrOf(t, r), Domain: domain, TLS: &tls.Config{InsecureSkipVerify: true},
		User: "u", Password: "wrong", Timeout: 10 * time.Second})
	res, err := bad.Login(t.Context(), load.LoginOptions{N: 1, Concurrency: 1})
	if err != nil || res.OK != 0 || res.Errors != 1 {
		t.Errorf("Login with a wrong password = %+v, %v; want one error", res, err)
	}
}

func TestHold(t *testing.T) {
	t.Parallel()
	cfg := startConfig(t, 5, "SCRAM-SHA-256")
	// Two loopback source addresses in turn, as for more than 28,000 sessions.
	cfg.Sources = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)}
	r := load.New(cfg)
	held := false
	res, err := r.Hold(t.Context(), load.HoldOptions{N: 10, Concurrency: 5, Accounts: 5, For: 50 * time.Millisecond,
		OnHold: func() { held = true }})
	if err != nil || res.Established != 10 || res.Errors != 0 || !held {
		t.Fatalf("Hold = %+v, %v (OnHold called: %v); want 10 established", res, err, held)
	}
	if res.RSSBefore <= 0 || res.RSSAfter <= 0 {
		t.Errorf("Hold RSS = %d → %d KiB, want both positive", res.RSSBefore, res.RSSAfter)
	}
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	r := start(t, 6, "SCRAM-SHA-256")
	res, err := r.Throughput(t.Context(), load.ThroughputOptions{Pairs: 3, Messages: 100, Window: 8, Concurrency: 6})
	if err != nil {
		t.Fatalf("Throughput: %v\n%s", err, res.ErrorText)
	}
	if res.Sent != 600 || res.Delivered != 600 || res.Lost != 0 || res.Dup != 0 || res.Bad != 0 || res.Errors != 0 {
		t.Errorf("Throughput = %s, want 600 sent and delivered, nothing lost", res.Line())
	}
	if res.Latency[0] <= 0 || res.Latency[2] < res.Latency[0] {
		t.Errorf("Throughput latency = %v", res.Latency)
	}
}

// addrOf recovers the server address from a Runner's first account login.
func addrOf(t *testing.T, r *load.Runner) string {
	t.Helper()
	return r.Addr()
}
