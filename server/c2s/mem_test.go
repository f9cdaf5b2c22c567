package c2s_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
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
	"chatbx/store"
)

// The memory benchmark measures the server out of process: the test binary
// re-executes itself as a server (TestMemServerHelper), so the clients'
// own TLS state does not count as the server's.
const (
	envMemServer = "CHATBX_MEM_SERVER" // directory for the helper's files
	envMemConns  = "CHATBX_MEM_CONNS"  // sessions to hold (default 1000)
	memDomain    = "mem.test"
	memPassword  = "mem-secret"
)

type memAnon struct{}

func (memAnon) IP(net.Addr) string { return "127.0.0.0" }

// TestMemServerHelper is the server process of BenchmarkIdleConnMemory.
// Without CHATBX_MEM_SERVER it skips. It creates accounts m0..m(n-1),
// serves on 127.0.0.1:0, prints "ADDR host:port", and answers each "stats"
// line on stdin with "STATS heap stack rss" (bytes, after a GC). It exits
// when stdin closes.
func TestMemServerHelper(t *testing.T) {
	dir := os.Getenv(envMemServer)
	if dir == "" {
		t.Skip("helper process for BenchmarkIdleConnMemory")
	}
	n, _ := strconv.Atoi(os.Getenv(envMemConns))
	db, err := store.Open(filepath.Join(dir, "chatbx.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One verifier for every account: the benchmark measures sessions,
	// not PBKDF2 at start-up.
	cred, err := store.DeriveCredentials(memPassword, store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := db.CreateUser(context.Background(), "m"+strconv.Itoa(i), cred); err != nil {
			t.Fatal(err)
		}
	}
	ca := xmpptest.NewCA(t, memDomain)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.Domain = memDomain
	cfg.C2SListen, cfg.C2SListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ConnPerSecond, cfg.ConnBurst = 1e9, 1e9
	cfg.AuthFailBurst = 1 << 20 // every login comes from one address
	cfg.MaxConnections, cfg.MaxUnauthenticated = n+100, n+100
	srv, err := server.New(cfg, server.Deps{
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(), Anon: memAnon{},
		StartTLS:  func(string) *tls.Config { return ca.ServerConfig() },
		DirectTLS: ca.ServerConfig("xmpp-client"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	fmt.Printf("ADDR %s\n", srv.Addrs()[0])
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stats" {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			fmt.Printf("STATS %d %d %d\n", m.HeapInuse, m.StackInuse, load.ProcRSS(os.Getpid())<<10)
		}
	}
	cancel()
	<-done
}

// memServer is the helper process seen from the benchmark.
type memServer struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
	pool *x509.CertPool
}

func startMemServer(b *testing.B, n int) *memServer {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemServerHelper$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envMemServer+"="+dir, envMemConns+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	m := &memServer{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("helper: %v", err)
		}
	})
	for m.out.Scan() {
		if a, ok := strings.CutPrefix(m.out.Text(), "ADDR "); ok {
			m.addr = a
			break
		}
	}
	if m.addr == "" {
		b.Fatalf("helper did not start: %v", m.out.Err())
	}
	pemData, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	m.pool = x509.NewCertPool()
	m.pool.AppendCertsFromPEM(pemData)
	return m
}

// stats returns the helper's heap and stack in use and its RSS, in bytes.
func (m *memServer) stats(b *testing.B) (heap, stack, rss int64) {
	b.Helper()
	io.WriteString(m.in, "stats\n")
	for m.out.Scan() {
		if _, err := fmt.Sscanf(m.out.Text(), "STATS %d %d %d", &heap, &stack, &rss); err == nil {
			return heap, stack, rss
		}
	}
	b.Fatalf("helper stats: %v", m.out.Err())
	return
}

// BenchmarkIdleConnMemory reports the server's memory per idle
// authenticated session (TLS, SCRAM-SHA-256, bound, initial presence):
// Go heap and goroutine stacks after a GC, and the process RSS, each as
// the growth from before the first login divided by the sessions. The
// server runs in a child process; CHATBX_MEM_CONNS sets the number of
// sessions (default 1000). Run with -benchtime=1x.
func BenchmarkIdleConnMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv(envMemConns)); err == nil && v > 0 {
		n = v
	}
	m := startMemServer(b, n)
	r := load.New(load.Config{
		Addr: m.addr, Domain: memDomain, TLS: &tls.Config{RootCAs: m.pool},
		User: "m", Password: memPassword, Timeout: 30 * time.Second, PID: m.cmd.Process.Pid,
	})
	for b.Loop() {
		heap0, stack0, rss0 := m.stats(b)
		var h1, s1, r1 int64
		res, err := r.Hold(b.Context(), load.HoldOptions{N: n, Concurrency: 50,
			OnHold: func() { h1, s1, r1 = m.stats(b) }})
		if err != nil || res.Established != n {
			b.Fatalf("Hold: %d of %d sessions, %v\n%s", res.Established, n, err, res.ErrorText)
		}
		per := func(d int64) float64 { return float64(d) / 1024 / float64(n) }
		b.ReportMetric(per(h1-heap0), "heap-KiB/conn")
		b.ReportMetric(per(s1-stack0), "stack-KiB/conn")
		b.ReportMetric(per(r1-rss0), "rss-KiB/conn")
		b.ReportMetric(0, "ns/op")
	}
}
