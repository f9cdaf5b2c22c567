package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/load"
	"chatbx/server"
	"chatbx/server/xmpptest"
	"chatbx/store/storetest"
)

func TestBenchUsage(t *testing.T) {
	t.Setenv("CHATBX_BENCH_PASSWORD", "")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no scenario", nil, exitUsage, "missing scenario"},
		{"flag first", []string{"-n", "3"}, exitUsage, "missing scenario"},
		{"help", []string{"--help"}, exitOK, "login|hold|throughput"},
		{"help after scenario", []string{"login", "-h"}, exitOK, "-pairs"},
		{"unknown scenario", []string{"storm", "--password", "x"}, exitUsage, `unknown scenario "storm"`},
		{"no password", []string{"login"}, exitUsage, "--password"},
		{"bad flag", []string{"login", "--nope"}, exitUsage, "nope"},
		{"extra argument", []string{"login", "--password", "x", "more"}, exitUsage, `unexpected argument "more"`},
		{"zero n", []string{"hold", "--password", "x", "-n", "0"}, exitUsage, "must be positive"},
		{"bad mechanism", []string{"login", "--password", "x", "--mech", "DIGEST-MD5"}, exitUsage, "DIGEST-MD5"},
		{"bad source", []string{"hold", "--password", "x", "--source", "127.0.0.1,nowhere"}, exitUsage, `"nowhere" is not an IP address`},
		{"missing ca", []string{"login", "--password", "x", "--ca", "/nonexistent/ca.pem"}, exitError, "nonexistent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runBench(t.Context(), tc.args, &out, &errOut)
			if code != tc.code {
				t.Errorf("runBench(%q) = %d, want %d; stderr: %s", tc.args, code, tc.code, errOut.String())
			}
			if got := out.String() + errOut.String(); !strings.Contains(got, tc.want) {
				t.Errorf("runBench(%q) output lacks %q:\n%s", tc.args, tc.want, got)
			}
		})
	}
}

type benchAnon struct{}

func (benchAnon) IP(net.Addr) string { return "127.0.0.0" }

// benchServer starts an in-process server with accounts b0 … b<n-1>
// (password "pw") and returns its addresses and the CA file to trust.
func benchServer(tb testing.TB, dom string, n int) (addrs []net.Addr, caFile string) {
	tb.Helper()
	db := storetest.Open(tb)
	ca := xmpptest.NewCA(tb, dom)
	if _, _, err := load.Provision(context.Background(), db, "b", "pw", n); err != nil {
		tb.Fatal(err)
	}
	caFile = filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.Domain = dom
	cfg.C2SListen, cfg.C2SListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ConnPerSecond, cfg.ConnBurst = 1e6, 1e6
	cfg.AuthFailBurst = 1 << 20 // every login comes from one address
	srv, err := server.New(cfg, server.Deps{
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(), Anon: benchAnon{},
		StartTLS:  func(string) *tls.Config { return ca.ServerConfig() },
		DirectTLS: ca.ServerConfig("xmpp-client"),
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	<-srv.Ready()
	return srv.Addrs(), caFile
}

// pprofServer serves this process's net/http/pprof for the soak's
// goroutine counts.
func pprofServer(tb testing.TB) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	hs := httptest.NewServer(mux)
	tb.Cleanup(hs.Close)
	return hs.URL
}

// TestBenchAgainstServer runs every scenario against an in-process server
// and checks the RESULT lines.
func TestBenchAgainstServer(t *testing.T) {
	const dom = "bench.test"
	addrs, caFile := benchServer(t, dom, 6)
	pprofURL := pprofServer(t)
	common := []string{"--addr", addrs[0].String(), "--domain", dom, "--ca", caFile,
		"--users", "b", "--password", "pw", "--pid", strconv.Itoa(os.Getpid()), "-c", "3", "--label", "t"}
	tests := []struct {
		name        string
		args        []string
		want        []string
		flagsBefore bool // common flags before the scenario
	}{
		{"login", []string{"login", "-n", "6", "--warmup", "3", "--repeat", "2"},
			[]string{"scenario=login n=6 c=3 ok=6 errors=0 mech=SCRAM-SHA-256", "run=2 label=t"}, false},
		{"login sha-1 direct", []string{"login", "-n", "3", "--mech", "SCRAM-SHA-1", "--direct", "--addr", addrs[1].String()},
			[]string{"ok=3 errors=0 mech=SCRAM-SHA-1"}, false},
		{"hold", []string{"hold", "-n", "4", "--for", "10ms"}, []string{"scenario=hold n=4 established=4 errors=0"}, true},
		{"throughput", []string{"throughput", "--pairs", "3", "-m", "40", "-w", "4"},
			[]string{"scenario=throughput pairs=3 m=40 w=4 sent=240 delivered=240 lost=0 dup=0 bad=0 errors=0 timed_out=false"}, false},
		// Flatness over three seconds is noise: the margin lets it pass;
		// what must hold is exactly-once delivery through churn.
		{"soak", []string{"soak", "-n", "6", "--soak-warmup", "1s", "--for", "3s", "--online", "400ms", "--offline", "200ms",
			"--msg-every", "50ms", "--margin", "10", "--pprof", pprofURL},
			[]string{"scenario=soak sessions=6 ", " lost=0 dup=0 bad=0 ", "stale=0 ", "errors=0", "flat=true", "sample t_s="}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{tc.args[0]}, common...)
			args = append(args, tc.args[1:]...)
			if tc.flagsBefore {
				args = append(append([]string(nil), common...), tc.args...)
			}
			if code := runBench(t.Context(), args, &out, &errOut); code != exitOK {
				t.Fatalf("runBench(%q) = %d; stdout %s stderr %s", args, code, out.String(), errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("runBench(%q) output lacks %q:\n%s", args, w, out.String())
				}
			}
		})
	}
}

// BenchmarkSoak is the soak's smoke version for CI's benchmark run: 50
// accounts churning for five seconds against an in-process server. It
// reports delivery and the growth of RSS and goroutines (this process:
// server and clients together) from the post-warm-up level to the end.
func BenchmarkSoak(b *testing.B) {
	const dom = "bench.test"
	addrs, caFile := benchServer(b, dom, 50)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	// c2s lets each /24 have ten SASL exchanges under way at once
	// (AuthFailBurst); churn on a loaded machine may have more, so the
	// clients come from ten networks.
	var sources []net.IP
	for i := range 10 {
		sources = append(sources, net.IPv4(127, 0, byte(i), 1))
	}
	r := load.New(load.Config{Addr: addrs[0].String(), Domain: dom, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		User: "b", Password: "pw", PID: os.Getpid(), Sources: sources})
	gor := func() (int, error) { return runtime.NumGoroutine(), nil }
	for b.Loop() {
		res, err := r.Soak(b.Context(), load.SoakOptions{Sessions: 50, Concurrency: 10, Warmup: time.Second, For: 5 * time.Second,
			OnlineMean: time.Second, OfflineMean: 300 * time.Millisecond, MessageEvery: 200 * time.Millisecond, Goroutines: gor})
		if err != nil {
			b.Fatal(err)
		}
		// Lost messages fail the smoke; duplicates and stranded offline
		// messages are races in the server's offline delivery that a short
		// run may or may not hit (docs/PERFORMANCE.md, soak): reported.
		if res.Lost > 0 || res.Bad > 0 || res.Errors > 0 {
			b.Fatalf("%s\n%s", res.Line(), res.ErrorText)
		}
		b.Logf("%s", res.Line())
		b.ReportMetric(float64(res.Delivered), "msgs")
		b.ReportMetric(float64(res.Logins), "logins")
		b.ReportMetric(float64(res.Dup), "dups")
		b.ReportMetric(float64(res.Stranded), "stranded")
		b.ReportMetric(float64(res.RSS.End-res.RSS.Warm), "rss-growth-KiB")
		b.ReportMetric(float64(res.Goroutines.End-res.Goroutines.Warm), "goroutine-growth")
	}
}
