package certs

// Real ACME issuance against Debian's pebble, on loopback only.
//
// Each test starts its own pebble and pebble-challtestsrv (fresh CA, fresh
// storage; pebble forgets everything on restart). challtestsrv is pebble's
// DNS server and answers 127.0.0.1 for every name, so pebble never asks the
// system resolver; its own challenge servers are switched off. The test's
// listeners are bound first and pebble is told their ports, so pebble
// validates against chatbx's own HTTP and HTTPS handlers, exactly as in
// production on ports 80 and 443.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"chatbx/server/xmpptest"
	"chatbx/web"
	"chatbx/web/browsertest"
)

// requireCommand skips the test when name is not installed, except in CI
// (CI=true), where a missing tool is a failure.
func requireCommand(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

// pebbleCA is a running pebble with its mock DNS.
type pebbleCA struct {
	directory    string // ACME directory URL
	listenerCA   string // PEM file of the CA of pebble's own HTTPS listeners
	roots        *x509.CertPool
	rootPEM      []byte // pebble's issuing root, /roots/0
	intermediate *x509.Certificate
	log          *syncBuffer // output of pebble and challtestsrv
}

// listenerPKI writes ca.pem, cert.pem and key.pem into dir: a P-256 CA and
// a leaf for localhost, 127.0.0.1 and ::1, for pebble's own listeners
// (Debian's package ships none).
func listenerPKI(t *testing.T, dir string) {
	t.Helper()
	xmpptest.NewCA(t, "localhost").WriteFiles(t, dir)
}

// freePorts returns n loopback TCP ports that were free a moment ago.
// Only pebble's own ports are probed this way; the ports of chatbx's
// listeners are bound for real before pebble starts.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func portOf(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// startProcess starts cmd with its output in log and kills it on cleanup.
func startProcess(t *testing.T, log *syncBuffer, cmd *exec.Cmd) {
	t.Helper()
	cmd.Stdout, cmd.Stderr = log, log
	// Should the test binary die without running cleanups (a timeout
	// panic), the kernel kills the child too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// poll calls f until it succeeds or 20 s pass.
// It is for waiting on another process's socket, which sends no signal.
func poll(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		<-tick.C
	}
}

// startPebble runs pebble and challtestsrv. httpPort and tlsPort are where
// pebble validates HTTP-01 and TLS-ALPN-01; validity (seconds, 0 for
// pebble's default) is the lifetime of issued certificates.
func startPebble(t *testing.T, httpPort, tlsPort, validity int) *pebbleCA {
	t.Helper()
	pebbleBin := requireCommand(t, "pebble")
	challBin := requireCommand(t, "pebble-challtestsrv")
	dir := t.TempDir()
	listenerPKI(t, dir)
	ports := freePorts(t, 4)
	acmePort, mgmtPort, dnsPort, challMgmtPort := ports[0], ports[1], ports[2], ports[3]
	dnsAddr := "127.0.0.1:" + strconv.Itoa(dnsPort)
	log := &syncBuffer{}

	// Every challenge server of challtestsrv is off; only its DNS runs, on
	// loopback, answering 127.0.0.1 for every name and nothing for AAAA.
	startProcess(t, log, exec.Command(challBin,
		"-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", "127.0.0.1:"+strconv.Itoa(challMgmtPort),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""))
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dnsAddr)
	}}
	poll(t, "challtestsrv dns", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		addrs, err := resolver.LookupHost(ctx, "xmpp.test")
		if err == nil && !slices.Contains(addrs, "127.0.0.1") {
			err = fmt.Errorf("xmpp.test resolves to %v", addrs)
		}
		return err
	})

	conf := map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(acmePort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}
	if validity > 0 {
		conf["certificateValidityPeriod"] = validity
	}
	confJSON, err := json.Marshal(map[string]any{"pebble": conf})
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(confPath, confJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pebbleBin, "-config", confPath, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // no random validation delays
		"PEBBLE_WFE_NONCEREJECT=0", // no deliberate bad nonces
		"PEBBLE_AUTHZREUSE=0",      // every order is validated for real
	)
	startProcess(t, log, cmd)

	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	listenerRoots := x509.NewCertPool()
	listenerRoots.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: listenerRoots}},
	}
	defer client.CloseIdleConnections()
	get := func(url string) ([]byte, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return b, err
	}
	p := &pebbleCA{
		directory:  "https://127.0.0.1:" + strconv.Itoa(acmePort) + "/dir",
		listenerCA: filepath.Join(dir, "ca.pem"),
		roots:      x509.NewCertPool(),
		log:        log,
	}
	poll(t, "pebble directory", func() error { _, err := get(p.directory); return err })
	mgmt := "https://127.0.0.1:" + strconv.Itoa(mgmtPort)
	rootPEM, err := get(mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	p.rootPEM = rootPEM
	if !p.roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble /roots/0: no certificate")
	}
	interPEM, err := get(mgmt + "/intermediates/0")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(interPEM)
	if block == nil {
		t.Fatalf("pebble /intermediates/0: no certificate")
	}
	if p.intermediate, err = x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble and challtestsrv output:\n%s", log.String())
		}
	})
	return p
}

var pebbleNames = []string{"xmpp.test", "accounts.xmpp.test"}

// acmeServer is chatbx's listener layout in front of one certificate
// source: plain HTTP (redirect + HTTP-01), HTTPS (site + TLS-ALPN-01),
// c2s direct TLS, and a STARTTLS-style listener.
type acmeServer struct {
	httpLn, httpsLn   net.Listener
	directLn, plainLn net.Listener
	httpChallenges    atomic.Int64 // HTTP-01 requests seen on port "80"
	alpnChallenges    atomic.Int64 // acme-tls/1 handshakes seen on port "443"
}

// listen binds every listener; pebble is started after this, with the
// ports of httpLn and httpsLn.
func listenACMEServer(t *testing.T) *acmeServer {
	t.Helper()
	s := &acmeServer{}
	for _, ln := range []*net.Listener{&s.httpLn, &s.httpsLn, &s.directLn, &s.plainLn} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		*ln = l
	}
	return s
}

// serve runs the web site and the XMPP-style listeners with src.
func (s *acmeServer) serve(t *testing.T, src *Source) {
	t.Helper()
	wcfg := web.DefaultConfig()
	wcfg.Domain = pebbleNames[0]
	wcfg.Hosts = pebbleNames
	wcfg.HTTPSPort = portOf(s.httpsLn)
	w, err := web.New(wcfg, web.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	countHTTP := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
				s.httpChallenges.Add(1)
			}
			next.ServeHTTP(rw, r)
		})
	}
	httpSrv := web.NewServer(countHTTP(w.RedirectHandler(src.HTTPChallengeHandler)))
	go httpSrv.Serve(s.httpLn)

	httpsCfg := src.HTTPSConfig()
	get := httpsCfg.GetCertificate
	httpsCfg.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if slices.Contains(h.SupportedProtos, alpnACME) {
			s.alpnChallenges.Add(1)
		}
		return get(h)
	}
	httpsSrv := web.NewServer(w.Handler())
	go httpsSrv.Serve(tls.NewListener(s.httpsLn, httpsCfg))
	t.Cleanup(func() {
		httpSrv.Close()
		httpsSrv.Close()
	})

	serveTLS(t, tls.NewListener(s.directLn, src.DirectTLSConfig()))

	// STARTTLS-style: the client first sends the stream's 'to' in plain
	// text on one line, then both sides switch to TLS.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := s.plainLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				to, err := readLine(conn)
				if err != nil {
					return
				}
				tc := tls.Server(conn, src.StartTLSConfig(to))
				if tc.Handshake() == nil {
					io.Copy(io.Discard, tc)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		s.plainLn.Close()
		<-done
	})
}

// readLine reads up to '\n' byte by byte, so nothing after it is consumed.
func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 256 {
		if _, err := io.ReadFull(r, one); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return "", errors.New("line too long")
}

// startTLS connects to the STARTTLS-style listener, announces streamTo and
// completes a handshake with cfg.
func startTLS(addr, streamTo string, cfg *tls.Config) (tls.ConnectionState, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, streamTo+"\n"); err != nil {
		return tls.ConnectionState{}, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}

// verifyFor returns a client config that sends no SNI and verifies the
// server's chain against roots for name by hand.
func verifyFor(roots *x509.CertPool, name string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
			return err
		},
	}
}

// newPebbleSource returns a certificate source for pebble p, answering
// challenges on s's listeners.
func newPebbleSource(t *testing.T, p *pebbleCA, s *acmeServer, storage certmagic.Storage, challenges []string, log *syncBuffer) *Source {
	t.Helper()
	src, err := New(Config{
		ACME:               true,
		Directory:          p.directory,
		Email:              "admin@xmpp.test",
		CARootsFile:        p.listenerCA,
		Challenges:         challenges,
		Names:              pebbleNames,
		ListenHost:         "127.0.0.1",
		HTTPPort:           portOf(s.httpLn),
		TLSPort:            portOf(s.httpsLn),
		RenewCheckInterval: time.Second,
		RenewalWindowRatio: 0.8,
	}, storage, zerolog.New(log))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// runSource runs src until stop is called or the test ends, and waits for
// its certificates.
func runSource(t *testing.T, src *Source) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	var runErr error
	go func() {
		runErr = src.Run(ctx)
		close(done)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	select {
	case <-src.Ready():
	case <-done:
		t.Fatalf("Run ended early: %v", runErr)
	case <-time.After(90 * time.Second):
		t.Fatalf("no certificates after 90 s")
	}
	return stop
}

// checkListeners asserts that HTTPS, direct TLS and STARTTLS (with and
// without SNI) serve certificates that chain to pebble's root through its
// intermediate, and returns the serial of the direct-TLS leaf for name.
func checkListeners(t *testing.T, p *pebbleCA, s *acmeServer, name string) string {
	t.Helper()
	httpsAddr := s.httpsLn.Addr().String()

	// HTTPS with HTTP/2, as a browser would use it.
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: p.roots},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, httpsAddr)
			},
		},
	}
	defer client.CloseIdleConnections()
	for _, host := range pebbleNames {
		resp, err := client.Get("https://" + host + ":" + strconv.Itoa(portOf(s.httpsLn)) + "/en/privacy")
		if err != nil {
			t.Fatalf("HTTPS %s: %v", host, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "Privacy policy") {
			t.Errorf("HTTPS %s: %s", host, resp.Status)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("HTTPS %s: %s, want HTTP/2", host, resp.Proto)
		}
		chain := resp.TLS.VerifiedChains[0]
		if len(chain) != 3 || !chain[1].Equal(p.intermediate) {
			t.Errorf("HTTPS %s: chain of %d, intermediate %v", host, len(chain), chain[1].Subject)
		}
		if chain[0].VerifyHostname(host) != nil {
			t.Errorf("HTTPS %s: leaf for %v", host, chain[0].DNSNames)
		}
	}

	// Plain HTTP redirects to HTTPS.
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + s.httpLn.Addr().String() + "/en/privacy")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://xmpp.test:" + strconv.Itoa(portOf(s.httpsLn)) + "/en/privacy"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("HTTP redirect: %s to %q, want 301 to %q", resp.Status, resp.Header.Get("Location"), want)
	}

	// c2s direct TLS (XEP-0368) with ALPN xmpp-client.
	st, err := handshake(t, s.directLn.Addr().String(), &tls.Config{ServerName: name, RootCAs: p.roots, NextProtos: []string{alpnXMPPClient}})
	if err != nil {
		t.Fatalf("direct TLS %s: %v", name, err)
	}
	if st.NegotiatedProtocol != alpnXMPPClient || len(st.VerifiedChains) == 0 || !st.VerifiedChains[0][1].Equal(p.intermediate) {
		t.Errorf("direct TLS %s: ALPN %q, chains %d", name, st.NegotiatedProtocol, len(st.VerifiedChains))
	}
	serial := st.PeerCertificates[0].SerialNumber.String()

	// STARTTLS: with SNI, and without SNI (the stream's 'to' chooses).
	plain := s.plainLn.Addr().String()
	for _, host := range pebbleNames {
		if _, err := startTLS(plain, host, &tls.Config{ServerName: host, RootCAs: p.roots}); err != nil {
			t.Errorf("STARTTLS %s with SNI: %v", host, err)
		}
		st, err := startTLS(plain, host, verifyFor(p.roots, host))
		if err != nil {
			t.Errorf("STARTTLS %s without SNI: %v", host, err)
			continue
		}
		if got := st.PeerCertificates[0].DNSNames; !slices.Contains(got, host) {
			t.Errorf("STARTTLS %s without SNI: certificate for %v", host, got)
		}
	}
	// A name without a certificate gets none (no wrong certificate).
	if _, err := handshake(t, s.directLn.Addr().String(), &tls.Config{ServerName: "other.test", InsecureSkipVerify: true}); err == nil {
		t.Errorf("direct TLS other.test: handshake succeeded")
	}
	return serial
}

// TestPebbleHTTP01 issues certificates through HTTP-01 answered by the web
// redirect handler, checks every listener, and restarts from storage.
func TestPebbleHTTP01(t *testing.T) {
	t.Parallel()
	s := listenACMEServer(t)
	p := startPebble(t, portOf(s.httpLn), portOf(s.httpsLn), 0)
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	log := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chatbx log:\n%s", log.String())
		}
	})
	src := newPebbleSource(t, p, s, storage, []string{challengeHTTP01}, log)
	s.serve(t, src)
	stop := runSource(t, src)

	if n := s.httpChallenges.Load(); n < int64(len(pebbleNames)) {
		t.Errorf("HTTP-01 requests on the redirect listener: %d, want >= %d", n, len(pebbleNames))
	}
	if n := s.alpnChallenges.Load(); n != 0 {
		t.Errorf("acme-tls/1 handshakes: %d, want 0 with HTTP-01 only", n)
	}
	if n := src.orders.Load(); n != int64(len(pebbleNames)) {
		t.Errorf("orders: %d, want %d", n, len(pebbleNames))
	}
	serial := checkListeners(t, p, s, "xmpp.test")
	stop()

	// Restart: the same storage gives the same certificates with no order.
	s2 := listenACMEServer(t)
	log2 := &syncBuffer{}
	src2 := newPebbleSource(t, p, s2, storage, []string{challengeHTTP01}, log2)
	s2.serve(t, src2)
	runSource(t, src2)
	if n := src2.orders.Load(); n != 0 {
		t.Errorf("restart: %d new orders, want 0:\n%s", n, log2.String())
	}
	st, err := handshake(t, s2.directLn.Addr().String(), &tls.Config{ServerName: "xmpp.test", RootCAs: p.roots})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.PeerCertificates[0].SerialNumber.String(); got != serial {
		t.Errorf("restart: serial %s, want the stored %s", got, serial)
	}
}

// TestPebbleTLSALPN01 issues certificates through TLS-ALPN-01 answered by
// the HTTPS listener itself.
func TestPebbleTLSALPN01(t *testing.T) {
	t.Parallel()
	s := listenACMEServer(t)
	p := startPebble(t, portOf(s.httpLn), portOf(s.httpsLn), 0)
	log := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chatbx log:\n%s", log.String())
		}
	})
	src := newPebbleSource(t, p, s, &certmagic.FileStorage{Path: t.TempDir()}, []string{challengeTLSALPN01}, log)
	s.serve(t, src)
	runSource(t, src)

	if n := s.alpnChallenges.Load(); n < int64(len(pebbleNames)) {
		t.Errorf("acme-tls/1 handshakes on the HTTPS listener: %d, want >= %d", n, len(pebbleNames))
	}
	if n := s.httpChallenges.Load(); n != 0 {
		t.Errorf("HTTP-01 requests: %d, want 0 with TLS-ALPN-01 only", n)
	}
	checkListeners(t, p, s, "accounts.xmpp.test")
}

// TestPebbleRenewal issues 60-second certificates and watches one being
// renewed and served by the running listeners.
func TestPebbleRenewal(t *testing.T) {
	t.Parallel()
	s := listenACMEServer(t)
	p := startPebble(t, portOf(s.httpLn), portOf(s.httpsLn), 60)
	log := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chatbx log:\n%s", log.String())
		}
	})
	src := newPebbleSource(t, p, s, &certmagic.FileStorage{Path: t.TempDir()}, []string{challengeHTTP01, challengeTLSALPN01}, log)
	renewed := make(chan string, 16)
	src.observe = func(event string, data map[string]any) {
		if r, _ := data["renewal"].(bool); event == "cert_obtained" && r {
			name, _ := data["identifier"].(string)
			renewed <- name
		}
	}
	s.serve(t, src)
	runSource(t, src)
	first := checkListeners(t, p, s, "xmpp.test")

	// 60 s certificates with ratio 0.8 are renewed about 12 s after issue.
	deadline := time.After(90 * time.Second)
	for name := ""; name != "xmpp.test"; {
		select {
		case name = <-renewed:
		case <-deadline:
			t.Fatal("no renewal within 90 s")
		}
	}
	// certmagic swaps the cache entry right after the event, with no
	// event of its own; the running listener must serve the new serial.
	poll(t, "new certificate served", func() error {
		st, err := handshake(t, s.directLn.Addr().String(), &tls.Config{ServerName: "xmpp.test", RootCAs: p.roots})
		if err != nil {
			return err
		}
		if got := st.PeerCertificates[0].SerialNumber.String(); got == first {
			return fmt.Errorf("still serial %s", got)
		}
		return nil
	})
	if !strings.Contains(log.String(), `"renewal":true`) {
		t.Errorf("renewal not logged:\n%s", log.String())
	}
}

// TestPebbleBrowser loads the site in headless Chromium over the
// certificate pebble issued, with pebble's root trusted in the browser's
// NSS database: the chain a visitor's browser sees in production.
func TestPebbleBrowser(t *testing.T) {
	t.Parallel()
	browsertest.RequireCommand(t, "chromium")
	s := listenACMEServer(t)
	p := startPebble(t, portOf(s.httpLn), portOf(s.httpsLn), 0)
	log := &syncBuffer{}
	src := newPebbleSource(t, p, s, &certmagic.FileStorage{Path: t.TempDir()}, []string{challengeHTTP01, challengeTLSALPN01}, log)
	s.serve(t, src)
	runSource(t, src)

	ctx := browsertest.Start(t, p.rootPEM, "xmpp.test", "accounts.xmpp.test")

	for _, host := range pebbleNames {
		url := "https://" + host + ":" + strconv.Itoa(portOf(s.httpsLn)) + "/de/privacy"
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
		if err != nil {
			t.Fatalf("load %s: %v", url, err)
		}
		if resp.Status != 200 || resp.SecurityState != "secure" {
			t.Errorf("load %s: status %d, security %q", url, resp.Status, resp.SecurityState)
		}
		if sd := resp.SecurityDetails; sd == nil || !strings.HasPrefix(sd.Issuer, "Pebble Intermediate CA") || sd.SubjectName != host {
			t.Errorf("load %s: certificate %+v, want %s from pebble", url, sd, host)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
		if err != nil || text != "Datenschutzerklärung" {
			t.Errorf("load %s: heading %q (%v)", url, text, err)
		}
	}
	cookies, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) != 0 {
		t.Errorf("browser holds %d cookies, want none", len(cookies.Cookies))
	}
}
