// Package certs is the certificate source: one place that answers "which
// certificate?" for every TLS listener of the process (c2s STARTTLS, c2s
// direct TLS, HTTPS, later s2s). It has three modes:
//
//   - operator files (tls.cert_file, tls.key_file), reloaded when they change;
//   - dev: a self-signed certificate generated once into the data directory;
//   - ACME via certmagic, with certificates and account in the injected
//     certmagic.Storage (the bbolt database in production).
//
// With ACME, chatbx's own listeners answer the challenges: HTTP-01 on the
// plain-HTTP listener (web.RedirectHandler wrapped by HTTPChallengeHandler),
// TLS-ALPN-01 on the HTTPS listener (acme-tls/1 stays in its NextProtos).
// certmagic finds those ports busy and leaves the answering to them, so the
// listeners must be bound before Run starts management.
package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"github.com/rs/zerolog"
	"go.uber.org/zap"
)

// Config configures the certificate source. main fills it from the
// tls.* keys, the domain, web.hosts and the web listen addresses.
// The zero Config has no certificate source; start from DefaultConfig.
type Config struct {
	// ACME switches on certificates from an ACME CA.
	ACME bool
	// Directory is the ACME directory URL; empty means Let's Encrypt.
	Directory string
	// Email is the contact address given to the CA; may be empty.
	Email string
	// CARootsFile is a PEM file of roots trusted for the ACME server's own
	// HTTPS (a private CA, or pebble in tests); empty means system roots.
	CARootsFile string
	// Challenges are the ACME challenge types: "http-01", "tls-alpn-01".
	Challenges []string
	// CertFile and KeyFile are the operator's certificate chain and key;
	// setting them wins over ACME and Dev.
	CertFile, KeyFile string
	// Names are the names to hold certificates for: the XMPP domain first
	// (used when a client sends no SNI), then the web host names.
	Names []string
	// Dev selects the self-signed development certificate.
	Dev bool
	// DataDir is where the development certificate is kept.
	DataDir string

	// ListenHost, HTTPPort and TLSPort say where chatbx's own listeners
	// answer ACME challenges (the host and ports of web.listen_http and
	// web.listen_https). Zero ports mean 80 and 443.
	ListenHost        string
	HTTPPort, TLSPort int

	// RenewCheckInterval and RenewalWindowRatio tune renewal; zero means
	// certmagic's defaults (10 minutes; renew in the last third).
	// Tests shorten both for short-lived certificates.
	RenewCheckInterval time.Duration
	RenewalWindowRatio float64
}

// DefaultConfig returns the production defaults: ACME from Let's Encrypt
// with both challenge types. Names, the listener ports and the data
// directory come from the rest of the configuration.
func DefaultConfig() Config {
	return Config{
		ACME:       true,
		Directory:  certmagic.LetsEncryptProductionCA,
		Challenges: []string{challengeHTTP01, challengeTLSALPN01},
	}
}

// Names of the ACME challenge types in tls.acme_challenges.
const (
	challengeHTTP01    = "http-01"
	challengeTLSALPN01 = "tls-alpn-01"
)

// ALPN protocol names.
const (
	alpnACME       = "acme-tls/1"  // RFC 8737; the TLS-ALPN-01 validation
	alpnXMPPClient = "xmpp-client" // XEP-0368 direct TLS
)

// Source hands out certificates for every TLS listener.
// Its methods are safe for concurrent use.
type Source struct {
	mode  string // "file", "dev" or "acme"
	names []string
	log   zerolog.Logger

	// file and dev modes: the one certificate, replaced on reload.
	current           atomic.Pointer[tls.Certificate]
	certFile, keyFile string
	fileMu            sync.Mutex // serialises reloads
	fileStamp         string     // size and mtime of both files at the last load

	// acme mode
	magic     *certmagic.Config
	issuer    *certmagic.ACMEIssuer
	cache     *certmagic.Cache
	closeOnce sync.Once

	mu    sync.Mutex
	have  map[string]bool // names with a certificate in the cache
	ready chan struct{}   // closed once every name has a certificate

	orders atomic.Int64 // certificate orders started (cert_obtaining)
	// observe, when set before Run, sees every certmagic event (tests).
	observe func(event string, data map[string]any)

	startTLSBase *tls.Config

	// errs is the last failed order per name (status.go).
	errs certErrors
}

// New builds the certificate source for cfg.
// storage holds ACME certificates and the ACME account; it is required
// with cfg.ACME and unused otherwise (main passes db.CertStorage()).
// In file and dev mode the certificate is loaded (or generated) here, so an
// error is returned before any listener starts. In ACME mode nothing is
// requested until Run.
// Close (or the end of Run) releases the certmagic cache.
func New(cfg Config, storage certmagic.Storage, log zerolog.Logger) (*Source, error) {
	names := normaliseNames(cfg.Names)
	if len(names) == 0 {
		return nil, errors.New("tls: no names")
	}
	c := &Source{
		names: names,
		log:   log.With().Str("component", "tls").Logger(),
		have:  make(map[string]bool),
		ready: make(chan struct{}),
	}
	switch {
	case cfg.CertFile != "" || cfg.KeyFile != "":
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("tls: cert_file and key_file must be set together")
		}
		c.mode, c.certFile, c.keyFile = "file", cfg.CertFile, cfg.KeyFile
		if err := c.Reload(); err != nil {
			return nil, err
		}
		close(c.ready)
	case cfg.ACME:
		if err := c.setupACME(cfg, storage); err != nil {
			return nil, err
		}
	case cfg.Dev:
		cert, err := devCertificate(cfg.DataDir, names)
		if err != nil {
			return nil, err
		}
		c.mode = "dev"
		c.current.Store(&cert)
		close(c.ready)
	default:
		return nil, errors.New("tls: no certificate source (set tls.acme or tls.cert_file and tls.key_file)")
	}
	c.startTLSBase = c.config(nil)
	return c, nil
}

// normaliseNames lower-cases names, drops trailing dots, empties and
// duplicates, keeping the order.
func normaliseNames(in []string) []string {
	var out []string
	for _, n := range in {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (c *Source) setupACME(cfg Config, storage certmagic.Storage) error {
	if storage == nil {
		return errors.New("tls: acme needs a certificate storage")
	}
	var useHTTP, useALPN bool
	for _, ch := range cfg.Challenges {
		switch ch {
		case challengeHTTP01:
			useHTTP = true
		case challengeTLSALPN01:
			useALPN = true
		default:
			return fmt.Errorf("tls: unknown acme challenge %q (want %s or %s)", ch, challengeHTTP01, challengeTLSALPN01)
		}
	}
	if !useHTTP && !useALPN {
		return errors.New("tls: acme needs at least one challenge type")
	}
	var roots *x509.CertPool
	if cfg.CARootsFile != "" {
		pemBytes, err := os.ReadFile(cfg.CARootsFile)
		if err != nil {
			return fmt.Errorf("tls: acme ca roots: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return fmt.Errorf("tls: acme ca roots: no certificate in %s", cfg.CARootsFile)
		}
	}
	directory := cfg.Directory
	if directory == "" {
		directory = certmagic.LetsEncryptProductionCA
	}
	httpPort, tlsPort := cfg.HTTPPort, cfg.TLSPort
	if httpPort == 0 {
		httpPort = certmagic.HTTPChallengePort
	}
	if tlsPort == 0 {
		tlsPort = certmagic.TLSALPNChallengePort
	}

	// certmagic logs through zap; chatbx logs its events itself (OnEvent),
	// so zap stays silent and nothing reaches standard error.
	nop := zap.NewNop()
	c.mode = "acme"
	c.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return c.magic, nil },
		RenewCheckInterval: cfg.RenewCheckInterval,
		Logger:             nop,
	})
	c.magic = certmagic.New(c.cache, certmagic.Config{
		Storage:            storage,
		RenewalWindowRatio: cfg.RenewalWindowRatio,
		// A client without SNI (XMPP clients connecting by IP, or
		// STARTTLS without a stream name) gets the domain's certificate.
		DefaultServerName: c.names[0],
		OnEvent:           c.onEvent,
		ShouldEmitFunc:    func(event string) bool { return slices.Contains(watchedEvents, event) },
		Logger:            nop,
	})
	c.issuer = certmagic.NewACMEIssuer(c.magic, certmagic.ACMEIssuer{
		CA:                      directory,
		Email:                   cfg.Email,
		Agreed:                  true, // switching on tls.acme accepts the CA's terms
		DisableHTTPChallenge:    !useHTTP,
		DisableTLSALPNChallenge: !useALPN,
		ListenHost:              cfg.ListenHost,
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          tlsPort,
		TrustedRoots:            roots,
		Logger:                  nop,
	})
	c.magic.Issuers = []certmagic.Issuer{c.issuer}
	return nil
}

// watchedEvents are the certmagic events onEvent handles.
var watchedEvents = []string{"cert_obtaining", "cert_obtained", "cert_failed", "cached_managed_cert"}

// onEvent logs certmagic's certificate events and tracks readiness.
// certmagic calls it synchronously, so it only logs and records.
func (c *Source) onEvent(_ context.Context, event string, data map[string]any) error {
	if f := c.observe; f != nil {
		// After the event is logged and recorded, so observers see its effects.
		defer f(event, data)
	}
	name, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		c.orders.Add(1)
		c.log.Info().Str("domain", name).Msg("certificate order started")
	case "cert_obtained":
		// Not ready yet: certmagic caches the certificate after this event
		// (cached_managed_cert), and only then can handshakes use it.
		c.log.Info().Str("domain", name).Bool("renewal", renewal).Msg("certificate obtained")
		c.errs.set(name, "", time.Time{})
	case "cert_failed":
		err, _ := data["error"].(error)
		// One clear line per failed attempt, with the CA's own reason when
		// it gave one. certmagic retries with backoff (1, 2, 2, 5, 10 … min)
		// and keeps serving the previous certificate meanwhile.
		c.log.Error().Str("domain", name).Bool("renewal", renewal).
			Str("err", acmeReason(err)).Msg("certificate request failed")
		c.errs.set(name, acmeReason(err), time.Now())
	case "cached_managed_cert":
		sans, _ := data["sans"].([]string)
		c.markReady(sans...)
	}
	return nil
}

// acmeReason returns the ACME problem's type and detail when err carries
// one, else err's text.
func acmeReason(err error) string {
	if err == nil {
		return "unknown error"
	}
	var problem acme.Problem
	if errors.As(err, &problem) {
		var b strings.Builder
		b.WriteString(problem.Type)
		if problem.Detail != "" {
			b.WriteString(": " + problem.Detail)
		}
		for _, sub := range problem.Subproblems {
			b.WriteString("; " + sub.Detail)
		}
		return b.String()
	}
	return err.Error()
}

func (c *Source) markReady(names ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		c.have[strings.ToLower(n)] = true
	}
	for _, n := range c.names {
		if !c.have[n] {
			return
		}
	}
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
}

// Ready returns a channel that is closed once there is a certificate for
// every name (at once in file and dev mode).
func (c *Source) Ready() <-chan struct{} { return c.ready }

// Run manages the certificates until ctx ends: in ACME mode it loads them
// from storage or orders them (in the background, retrying with backoff)
// and renews them; in file mode it reloads the files when they change.
// Bind the HTTP and HTTPS listeners before calling Run, so certmagic leaves
// the challenges to them. Run returns nil after ctx ends.
func (c *Source) Run(ctx context.Context) error {
	defer c.Close()
	switch c.mode {
	case "acme":
		if err := c.magic.ManageAsync(ctx, c.names); err != nil {
			return fmt.Errorf("tls: manage certificates: %w", err)
		}
		<-ctx.Done()
	case "file":
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := c.reloadIfChanged(); err != nil {
					c.log.Error().Err(err).Msg("certificate reload failed")
				}
			}
		}
	default:
		<-ctx.Done()
	}
	return nil
}

// Close stops certmagic's background maintenance. It is idempotent.
func (c *Source) Close() {
	c.closeOnce.Do(func() {
		if c.cache != nil {
			c.cache.Stop()
		}
	})
}

// HTTPChallengeHandler wraps h (the plain-HTTP redirect) so it answers ACME
// HTTP-01 challenges; without ACME it returns h. Pass it to
// web.RedirectHandler.
func (c *Source) HTTPChallengeHandler(h http.Handler) http.Handler {
	if c.issuer == nil {
		return h
	}
	return c.issuer.HTTPChallengeHandler(h)
}

// getCertificate picks the certificate for a handshake. With ACME it also
// answers TLS-ALPN-01 validations (ClientHellos offering acme-tls/1).
func (c *Source) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c.magic != nil {
		return c.magic.GetCertificate(hello)
	}
	if cert := c.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("tls: no certificate")
}

// config returns a new tls.Config with TLS 1.2 as minimum, the source's
// certificates, and protos as ALPN protocols (plus acme-tls/1 in ACME
// mode, so the listener can answer TLS-ALPN-01).
func (c *Source) config(protos []string) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.getCertificate,
	}
	if len(protos) > 0 {
		cfg.NextProtos = slices.Clone(protos)
		if c.mode == "acme" {
			cfg.NextProtos = append(cfg.NextProtos, alpnACME)
		}
	}
	return cfg
}

// HTTPSConfig returns the tls.Config for the HTTPS listener (ALPN h2,
// http/1.1, and acme-tls/1 with ACME). Serve with
// web.NewServer(h).Serve(tls.NewListener(ln, HTTPSConfig())).
func (c *Source) HTTPSConfig() *tls.Config {
	return c.config([]string{"h2", "http/1.1"})
}

// DirectTLSConfig returns the tls.Config for c2s direct TLS (XEP-0368,
// ALPN xmpp-client, and acme-tls/1 with ACME).
func (c *Source) DirectTLSConfig() *tls.Config {
	return c.config([]string{alpnXMPPClient})
}

// StartTLSConfig returns the tls.Config for a STARTTLS upgrade on a stream
// whose header named streamTo (RFC 6120 §4.7.2 'to'). A client that sends
// no SNI gets the certificate for streamTo. The configs share session
// ticket keys, so calling this per connection keeps resumption working.
func (c *Source) StartTLSConfig(streamTo string) *tls.Config {
	cfg := c.startTLSBase.Clone()
	get := cfg.GetCertificate
	streamTo = strings.ToLower(strings.TrimSuffix(streamTo, "."))
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" && streamTo != "" {
			// A copy: the caller's ClientHelloInfo stays as the client sent it.
			h := *hello
			h.ServerName = streamTo
			return get(&h)
		}
		return get(hello)
	}
	return cfg
}

// Reload reads the operator's certificate files again (file mode; main may
// call it on SIGHUP). On failure the previous certificate stays in use.
func (c *Source) Reload() error {
	if c.mode != "file" {
		return nil
	}
	c.fileMu.Lock()
	defer c.fileMu.Unlock()
	return c.reloadLocked()
}

func (c *Source) reloadLocked() error {
	stamp, err := fileStamp(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load certificate: %w", err)
	}
	if cert.Leaf != nil {
		for _, n := range c.names {
			if cert.Leaf.VerifyHostname(n) != nil {
				c.log.Warn().Str("domain", n).Msg("certificate does not cover name")
			}
		}
		if time.Until(cert.Leaf.NotAfter) < 0 {
			c.log.Warn().Msg("certificate expired")
		}
	}
	c.current.Store(&cert)
	c.fileStamp = stamp
	return nil
}

func (c *Source) reloadIfChanged() error {
	c.fileMu.Lock()
	defer c.fileMu.Unlock()
	stamp, err := fileStamp(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if stamp == c.fileStamp {
		return nil
	}
	if err := c.reloadLocked(); err != nil {
		return err
	}
	c.log.Info().Msg("certificate reloaded")
	return nil
}

// fileStamp identifies the current version of the files.
func fileStamp(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", info.Size(), info.ModTime().UnixNano())
	}
	return b.String(), nil
}

// Names of the development certificate files in the data directory
// (Config.DataDir with Config.Dev).
const (
	DevCertFile = "dev-cert.pem"
	DevKeyFile  = "dev-key.pem"
)

// devCertificate returns the self-signed development certificate kept in
// dataDir, generating it (ECDSA P-256, one year) when it is missing, does
// not cover every name plus localhost, 127.0.0.1 and ::1, or expires within
// 30 days. The key file is written with mode 0600.
func devCertificate(dataDir string, names []string) (tls.Certificate, error) {
	if dataDir == "" {
		return tls.Certificate{}, errors.New("tls: dev certificate needs a data directory")
	}
	certPath := filepath.Join(dataDir, DevCertFile)
	keyPath := filepath.Join(dataDir, DevKeyFile)
	dnsNames, ips := devNames(names)

	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && cert.Leaf != nil &&
		time.Until(cert.Leaf.NotAfter) > 30*24*time.Hour && coversAll(cert.Leaf, dnsNames, ips) {
		return cert, nil
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: dev key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: dev serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: dnsNames[0], Organization: []string{"chatbx development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: dev certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: dev key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// devNames splits names plus the loopback names into DNS names and IPs.
func devNames(names []string) ([]string, []net.IP) {
	var dnsNames []string
	var ips []net.IP
	for _, n := range append(normaliseNames(names), "localhost", "127.0.0.1", "::1") {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		} else if !slices.Contains(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	return dnsNames, ips
}

func coversAll(leaf *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	for _, n := range dnsNames {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place, so a crash never leaves half a key.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("tls: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tls: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tls: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}
