package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"chatbx/internal/load"
)

const benchUsage = `usage: chatbx bench login|hold|throughput|soak [flags]

Drives real XMPP clients (STARTTLS, SCRAM, bind, presence) against a running
server and prints one RESULT line per run (see docs/PERFORMANCE.md).
Accounts are <users>0, <users>1, ... with one password; they must exist.

  login       full logins (connect to presence, then close): logins/s,
              latency percentiles, server CPU per login
  hold        -n idle authenticated sessions for --for: server RSS per session
  throughput  --pairs client pairs each send -m messages to their partner
              with at most -w in flight: messages/s, lost/dup, latency,
              server CPU per message
  soak        -n accounts (default 5000) churn for --soak-warmup plus --for
              (default 30s + 3m): each logs in, sends messages to random
              accounts' bare JIDs every --msg-every on average, logs out
              after --online and back in after --offline (exponential);
              the offline messages are delivered at the next login. The
              server's RSS and (with --pprof) goroutines are sampled: they
              must end within --margin of their post-warm-up level, and
              every message must arrive exactly once. --short is a
              20-second smoke version with 200 accounts.

Server CPU and memory come from /proc/<--pid>/stat and /proc/<--pid>/status,
goroutines from <--pprof>/debug/pprof/goroutine (loadserver --pprof).

Flags:
`

// runBench runs `chatbx bench SCENARIO [flags]` and returns the exit
// status: 0 ok, 1 error (including lost or duplicated messages), 2 usage.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chatbx bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:5222", "server `host:port`")
	domain := fs.String("domain", "localhost", "XMPP `domain` (also the TLS server name)")
	caFile := fs.String("ca", "", "PEM `file` of the CA to trust (default: system roots)")
	insecure := fs.Bool("insecure", false, "accept any server certificate")
	direct := fs.Bool("direct", false, "direct TLS (XEP-0368) instead of STARTTLS")
	mech := fs.String("mech", "SCRAM-SHA-256", "SASL `mechanism`: SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN")
	users := fs.String("users", "user", "account name `prefix`")
	password := fs.String("password", "", "the accounts' `password` (default: $CHATBX_BENCH_PASSWORD)")
	pid := fs.Int("pid", 0, "server process `id` for CPU and RSS (0: not measured)")
	n := fs.Int("n", 1000, "login: measured logins; hold: sessions; soak: accounts, 5000 unless given")
	conc := fs.Int("c", 50, "concurrent clients (login, and setting up hold/throughput)")
	accounts := fs.Int("accounts", 0, "accounts to cycle through (default -n)")
	offset := fs.Int("offset", 0, "first account index")
	warmup := fs.Int("warmup", 0, "login: untimed logins first (warms the server and the client's SCRAM cache)")
	repeat := fs.Int("repeat", 1, "login, throughput: measured runs, one RESULT line each")
	holdFor := fs.Duration("for", 20*time.Second, "hold: how long to keep the sessions; soak: measured phase, 3m unless given")
	pairs := fs.Int("pairs", 100, "throughput: client pairs (accounts 2i and 2i+1)")
	msgs := fs.Int("m", 200, "throughput: messages each client sends")
	window := fs.Int("w", 10, "throughput: messages in flight per sender")
	maxTime := fs.Duration("max-time", 2*time.Minute, "upper bound of each run")
	timeout := fs.Duration("timeout", 30*time.Second, "per-connection negotiation timeout")
	sources := fs.String("source", "", "comma-separated local `addresses` to dial from in turn (e.g. 127.0.0.1,127.0.0.2 for more than ~28,000 connections)")
	pq := fs.Bool("pq", false, "offer the X25519MLKEM768 hybrid TLS key exchange (default: X25519 and P-256 only)")
	noCache := fs.Bool("no-scram-cache", false, "derive the SCRAM salted password on every login")
	label := fs.String("label", "", "free text appended to RESULT lines as label=")
	soakWarmup := fs.Duration("soak-warmup", 30*time.Second, "soak: churn before the measurement")
	online := fs.Duration("online", 60*time.Second, "soak: mean time a session stays logged in")
	offline := fs.Duration("offline", 5*time.Second, "soak: mean time an account stays logged out")
	msgEvery := fs.Duration("msg-every", 20*time.Second, "soak: mean interval between messages of one session")
	margin := fs.Float64("margin", 0.10, "soak: allowed growth of RSS and goroutines from the post-warm-up level")
	pprofURL := fs.String("pprof", "", "soak: server's net/http/pprof `URL` for goroutine counts (e.g. http://127.0.0.1:6060)")
	short := fs.Bool("short", false, "soak: smoke version (-n 200, --for 20s, --soak-warmup 5s, --online 5s, --offline 1s, --msg-every 2s) unless set")

	// Flags may come before and after the scenario.
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "chatbx bench: missing scenario")
		fs.Usage()
		return exitUsage
	}
	scenario := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chatbx bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	switch scenario {
	case "login", "hold", "throughput", "soak":
	default:
		fmt.Fprintf(stderr, "chatbx bench: unknown scenario %q\n", scenario)
		fs.Usage()
		return exitUsage
	}
	if scenario == "soak" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		defaults := map[string]string{"n": "5000", "for": "3m"}
		if *short {
			defaults = map[string]string{"n": "200", "for": "20s", "soak-warmup": "5s", "online": "5s", "offline": "1s", "msg-every": "2s"}
		}
		for k, v := range defaults {
			if !set[k] {
				fs.Set(k, v)
			}
		}
	}
	if *password == "" {
		*password = os.Getenv("CHATBX_BENCH_PASSWORD")
	}
	if *password == "" {
		fmt.Fprintln(stderr, "chatbx bench: --password or CHATBX_BENCH_PASSWORD is required")
		return exitUsage
	}
	if *n <= 0 || *conc <= 0 || *pairs <= 0 || *msgs <= 0 || *window <= 0 || *repeat <= 0 {
		fmt.Fprintln(stderr, "chatbx bench: -n, -c, --pairs, -m, -w and --repeat must be positive")
		return exitUsage
	}
	switch *mech {
	case "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN":
	default:
		fmt.Fprintf(stderr, "chatbx bench: unsupported mechanism %q\n", *mech)
		return exitUsage
	}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: *insecure}
	if *caFile != "" {
		pemData, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "chatbx bench: %v\n", err)
			return exitError
		}
		tcfg.RootCAs = x509.NewCertPool()
		if !tcfg.RootCAs.AppendCertsFromPEM(pemData) {
			fmt.Fprintf(stderr, "chatbx bench: no certificate in %s\n", *caFile)
			return exitError
		}
	}
	var srcIPs []net.IP
	for _, a := range strings.Split(*sources, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		ip := net.ParseIP(a)
		if ip == nil {
			fmt.Fprintf(stderr, "chatbx bench: --source: %q is not an IP address\n", a)
			return exitUsage
		}
		srcIPs = append(srcIPs, ip)
	}
	r := load.New(load.Config{
		Addr: *addr, Domain: *domain, TLS: tcfg, Direct: *direct, Mechanism: *mech,
		User: *users, Password: *password, Timeout: *timeout, PID: *pid, NoSCRAMCache: *noCache, PostQuantum: *pq, Sources: srcIPs,
	})
	suffix := ""
	if *label != "" {
		suffix = " label=" + *label
	}
	report := func(line, errText string) {
		if errText != "" {
			fmt.Fprint(stderr, errText)
		}
		fmt.Fprintln(stdout, line+suffix)
	}
	runCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, *maxTime) }
	status := exitOK
	switch scenario {
	case "login":
		opt := load.LoginOptions{N: *n, Concurrency: *conc, Accounts: *accounts, Offset: *offset, Warmup: *warmup}
		for i := range *repeat {
			c, cancel := runCtx()
			res, err := r.Login(c, opt)
			cancel()
			opt.Warmup = 0
			if err != nil && res.N == 0 {
				fmt.Fprintf(stderr, "chatbx bench: %v\n", err)
				return exitError
			}
			report(fmt.Sprintf("%s run=%d", res.Line(), i+1), res.ErrorText)
			if err != nil || res.Errors > 0 {
				status = exitError
			}
		}
	case "hold":
		c, cancel := context.WithTimeout(ctx, *maxTime+*holdFor)
		defer cancel()
		res, err := r.Hold(c, load.HoldOptions{N: *n, Concurrency: *conc, Accounts: *accounts, Offset: *offset, For: *holdFor})
		if err != nil && res.N == 0 {
			fmt.Fprintf(stderr, "chatbx bench: %v\n", err)
			return exitError
		}
		report(res.Line(), res.ErrorText)
		if err != nil || res.Errors > 0 {
			status = exitError
		}
	case "soak":
		if lim := load.FileLimit(); lim < uint64(*n)+100 {
			fmt.Fprintf(stderr, "chatbx bench: the open-file limit %d is below the %d sessions; raise ulimit -n\n", lim, *n)
			return exitError
		}
		opt := load.SoakOptions{Sessions: *n, Concurrency: *conc, Offset: *offset, Warmup: *soakWarmup, For: *holdFor,
			OnlineMean: *online, OfflineMean: *offline, MessageEvery: *msgEvery, Margin: *margin}
		if *pprofURL != "" {
			opt.Goroutines = load.CountGoroutines(*pprofURL)
		}
		c, cancel := context.WithTimeout(ctx, *maxTime+*soakWarmup+*holdFor)
		defer cancel()
		res, err := r.Soak(c, opt)
		if err != nil && res.Logins == 0 {
			fmt.Fprintf(stderr, "chatbx bench: %v\n", err)
			return exitError
		}
		for _, smp := range res.Samples {
			fmt.Fprintf(stdout, "sample t_s=%.0f rss_kib=%d goroutines=%d online=%d\n", smp.At.Seconds(), smp.RSS, smp.Goroutines, smp.Online)
		}
		report(res.Line(), res.ErrorText)
		if err != nil || res.Errors > 0 || res.Lost > 0 || res.Dup > 0 || res.Bad > 0 || !res.Flat() {
			status = exitError
		}
	case "throughput":
		opt := load.ThroughputOptions{Pairs: *pairs, Messages: *msgs, Window: *window, Concurrency: *conc, Offset: *offset}
		for i := range *repeat {
			c, cancel := runCtx()
			res, err := r.Throughput(c, opt)
			cancel()
			if err != nil && res.Sent == 0 {
				fmt.Fprintf(stderr, "chatbx bench: %v\n", err)
				return exitError
			}
			report(fmt.Sprintf("%s run=%d", res.Line(), i+1), res.ErrorText)
			if err != nil || res.Errors > 0 || res.Lost > 0 || res.Dup > 0 || res.Bad > 0 {
				status = exitError
			}
		}
	}
	return status
}
