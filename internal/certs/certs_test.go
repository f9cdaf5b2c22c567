package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/rs/zerolog"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// handshake dials addr and completes a TLS handshake with cfg.
func handshake(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

// serveTLS accepts on ln and completes the handshake of every connection,
// so clients see the server's certificate; it stops when ln is closed.
func serveTLS(t *testing.T, ln net.Listener) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				if tc, ok := conn.(*tls.Conn); ok {
					tc.Handshake()
				}
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
}

func TestDevCertificate(t *testing.T) {
	dir := t.TempDir()
	names := []string{"xmpp.test", "accounts.xmpp.test"}
	cert, err := devCertificate(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	for _, n := range []string{"xmpp.test", "accounts.xmpp.test", "localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Errorf("dev certificate does not cover %s: %v", n, err)
		}
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", leaf.PublicKeyAlgorithm)
	}
	info, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
	}

	// Generated once: the next start loads the same certificate.
	again, err := devCertificate(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	if again.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("second call made a new certificate")
	}
	// A new web host needs a new certificate.
	more, err := devCertificate(dir, append(names, "upload.xmpp.test"))
	if err != nil {
		t.Fatal(err)
	}
	if more.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 || more.Leaf.VerifyHostname("upload.xmpp.test") != nil {
		t.Errorf("a new name did not give a new certificate covering it")
	}
	if _, err := devCertificate("", names); err == nil {
		t.Errorf("devCertificate without data dir succeeded")
	}
}

// poolOf returns a pool with certs as roots.
func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestCertSourceDev(t *testing.T) {
	dir := t.TempDir()
	src, err := New(Config{Dev: true, DataDir: dir, Names: []string{"xmpp.test"}}, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	select {
	case <-src.Ready():
	default:
		t.Fatal("dev source not ready")
	}
	leaf := src.current.Load().Leaf
	roots := poolOf(leaf)

	https, err := tls.Listen("tcp", "127.0.0.1:0", src.HTTPSConfig())
	if err != nil {
		t.Fatal(err)
	}
	serveTLS(t, https)
	direct, err := tls.Listen("tcp", "127.0.0.1:0", src.DirectTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	serveTLS(t, direct)

	tests := []struct {
		name     string
		addr     string
		cfg      *tls.Config
		wantALPN string
		wantErr  bool
	}{
		{"https h2", https.Addr().String(), &tls.Config{ServerName: "xmpp.test", RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}}, "h2", false},
		{"https localhost", https.Addr().String(), &tls.Config{ServerName: "localhost", RootCAs: roots}, "", false},
		{"direct xmpp-client", direct.Addr().String(), &tls.Config{ServerName: "xmpp.test", RootCAs: roots, NextProtos: []string{"xmpp-client"}}, "xmpp-client", false},
		{"no acme-tls/1 without acme", https.Addr().String(), &tls.Config{ServerName: "xmpp.test", RootCAs: roots, NextProtos: []string{"acme-tls/1"}}, "", true},
		{"tls 1.1 refused", https.Addr().String(), &tls.Config{ServerName: "xmpp.test", RootCAs: roots, MaxVersion: tls.VersionTLS11}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := handshake(t, tc.addr, tc.cfg)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("handshake succeeded, want failure")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.NegotiatedProtocol != tc.wantALPN {
				t.Errorf("ALPN %q, want %q", st.NegotiatedProtocol, tc.wantALPN)
			}
		})
	}
}

func TestStartTLSConfigNoSNI(t *testing.T) {
	cert, err := devCertificate(t.TempDir(), []string{"xmpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	src := &Source{mode: "dev"}
	src.current.Store(&cert)
	src.startTLSBase = src.config(nil)
	// Record the name the certificate lookup is asked for.
	asked := make(chan string, 1)
	src.startTLSBase.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		asked <- h.ServerName
		return &cert, nil
	}
	tests := []struct{ sni, streamTo, want string }{
		{"", "XMPP.test.", "xmpp.test"},
		{"other.test", "xmpp.test", "other.test"},
		{"", "", ""},
	}
	for _, tc := range tests {
		cfg := src.StartTLSConfig(tc.streamTo)
		if cfg.NextProtos != nil || cfg.MinVersion != tls.VersionTLS12 {
			t.Errorf("StartTLSConfig: NextProtos %q MinVersion %x", cfg.NextProtos, cfg.MinVersion)
		}
		client, server := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			errc <- tls.Server(server, cfg).Handshake()
			server.Close()
		}()
		c := tls.Client(client, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
		if err := c.Handshake(); err != nil {
			t.Fatalf("SNI %q: %v", tc.sni, err)
		}
		c.Close()
		if err := <-errc; err != nil {
			t.Fatalf("SNI %q: server: %v", tc.sni, err)
		}
		if got := <-asked; got != tc.want {
			t.Errorf("SNI %q, stream to %q: certificate asked for %q, want %q", tc.sni, tc.streamTo, got, tc.want)
		}
	}
}

// writeKeyPair writes cert's chain and key as PEM files into dir.
func writeKeyPair(t *testing.T, dir string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	var certPEM bytes.Buffer
	for _, der := range cert.Certificate {
		pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestCertSourceFile(t *testing.T) {
	first, err := devCertificate(t.TempDir(), []string{"xmpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := devCertificate(t.TempDir(), []string{"xmpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := writeKeyPair(t, dir, first)

	var logbuf syncBuffer
	src, err := New(Config{CertFile: certFile, KeyFile: keyFile, ACME: true, Names: []string{"xmpp.test", "other.test"}}, nil, zerolog.New(&logbuf))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.mode != "file" {
		t.Fatalf("mode %q, want file (cert files win over acme)", src.mode)
	}
	if !strings.Contains(logbuf.String(), `"domain":"other.test"`) {
		t.Errorf("no warning for a name the certificate does not cover: %s", logbuf.String())
	}
	serial := func() string {
		c, err := src.getCertificate(&tls.ClientHelloInfo{ServerName: "xmpp.test"})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.String()
	}
	if serial() != first.Leaf.SerialNumber.String() {
		t.Fatalf("not serving the operator's certificate")
	}
	if err := src.reloadIfChanged(); err != nil || serial() != first.Leaf.SerialNumber.String() {
		t.Fatalf("unchanged files: reload %v", err)
	}

	// New files are picked up.
	writeKeyPair(t, dir, second)
	future := time.Now().Add(time.Hour)
	os.Chtimes(certFile, future, future)
	if err := src.reloadIfChanged(); err != nil {
		t.Fatal(err)
	}
	if serial() != second.Leaf.SerialNumber.String() {
		t.Errorf("changed files not reloaded")
	}

	// Broken files leave the last good certificate in place.
	os.WriteFile(keyFile, []byte("garbage"), 0o600)
	if err := src.Reload(); err == nil {
		t.Errorf("Reload of a broken key succeeded")
	}
	if serial() != second.Leaf.SerialNumber.String() {
		t.Errorf("broken files replaced the certificate")
	}

	if _, err := New(Config{CertFile: certFile, Names: []string{"x.test"}}, nil, zerolog.Nop()); err == nil {
		t.Errorf("cert_file without key_file accepted")
	}
	if _, err := New(Config{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: keyFile, Names: []string{"x.test"}}, nil, zerolog.Nop()); err == nil {
		t.Errorf("missing cert file accepted")
	}
}

func TestCertSourceConfigErrors(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	tests := []struct {
		name    string
		cfg     Config
		storage certmagic.Storage
	}{
		{"no names", Config{Dev: true, DataDir: t.TempDir()}, nil},
		{"no source", Config{Names: []string{"x.test"}}, nil},
		{"acme without storage", Config{ACME: true, Challenges: []string{"http-01"}, Names: []string{"x.test"}}, nil},
		{"acme without challenges", Config{ACME: true, Names: []string{"x.test"}}, storage},
		{"acme unknown challenge", Config{ACME: true, Challenges: []string{"dns-01"}, Names: []string{"x.test"}}, storage},
		{"acme missing roots", Config{ACME: true, Challenges: []string{"http-01"}, CARootsFile: "/nonexistent/roots.pem", Names: []string{"x.test"}}, storage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := New(tc.cfg, tc.storage, zerolog.Nop())
			if err == nil {
				src.Close()
				t.Fatalf("New accepted %s", tc.name)
			}
		})
	}
}

// TestACMEFailure runs the ACME mode against a CA that refuses every
// request: one clear error line with the CA's reason per attempt, no
// certificate served (handshakes fail cleanly), and Run ends with ctx.
func TestACMEFailure(t *testing.T) {
	ca := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"type":"urn:ietf:params:acme:error:unauthorized","detail":"test CA refuses everyone","status":403}`)
	}))
	ca.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ca.Listener = ln
	ca.StartTLS()
	defer ca.Close()
	rootsFile := filepath.Join(t.TempDir(), "roots.pem")
	os.WriteFile(rootsFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}), 0o644)

	var logbuf syncBuffer
	src, err := New(Config{
		ACME:        true,
		Directory:   ca.URL + "/dir",
		CARootsFile: rootsFile,
		Challenges:  []string{"http-01", "tls-alpn-01"},
		Names:       []string{"xmpp.test"},
		ListenHost:  "127.0.0.1",
		// Ports nobody listens on; the CA refuses before any challenge.
		HTTPPort: 1, TLSPort: 1,
	}, &certmagic.FileStorage{Path: t.TempDir()}, zerolog.New(&logbuf))
	if err != nil {
		t.Fatal(err)
	}
	failed := make(chan struct{}, 10)
	src.observe = func(event string, _ map[string]any) {
		if event == "cert_failed" {
			failed <- struct{}{}
		}
	}
	https, err := tls.Listen("tcp", "127.0.0.1:0", src.HTTPSConfig())
	if err != nil {
		t.Fatal(err)
	}
	serveTLS(t, https)

	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- src.Run(ctx) }()
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("no cert_failed event")
	}
	var errorLines []string
	for line := range strings.Lines(logbuf.String()) {
		if strings.Contains(line, `"level":"error"`) {
			errorLines = append(errorLines, line)
		}
	}
	if len(errorLines) != 1 {
		t.Fatalf("%d error lines for one failed attempt, want 1:\n%s", len(errorLines), logbuf.String())
	}
	for _, want := range []string{"urn:ietf:params:acme:error:unauthorized", "test CA refuses everyone", `"domain":"xmpp.test"`, "certificate request failed"} {
		if !strings.Contains(errorLines[0], want) {
			t.Errorf("error line lacks %q: %s", want, errorLines[0])
		}
	}
	// No certificate yet: the handshake fails, the process goes on.
	if _, err := handshake(t, https.Addr().String(), &tls.Config{ServerName: "xmpp.test", InsecureSkipVerify: true}); err == nil {
		t.Errorf("handshake succeeded without a certificate")
	}
	select {
	case <-src.Ready():
		t.Errorf("ready without a certificate")
	default:
	}
	cancel()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
}
