// Package xmpptest has test helpers for chatbx's XMPP side: a test CA,
// a small raw client that speaks STARTTLS, SCRAM and bind over loopback,
// and RequireCommand for tests that need Debian packages.
package xmpptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"chatbx/server/wire"
)

// RequireCommand skips the test when name is not installed, except under
// CI=true, where it fails: CI must run every integration test.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (run .ci/run): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// CA is a test certificate authority with one leaf for a domain.
type CA struct {
	Pool *x509.CertPool
	PEM  []byte
	Leaf tls.Certificate

	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

// NewCA makes a P-256 CA and a leaf for the names (plus 127.0.0.1, ::1).
func NewCA(t testing.TB, names ...string) *CA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chatbx test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	var pemBuf bytes.Buffer
	pemBuf.WriteString("-----BEGIN CERTIFICATE-----\n")
	b64 := base64.StdEncoding.EncodeToString(caDER)
	for len(b64) > 64 {
		pemBuf.WriteString(b64[:64] + "\n")
		b64 = b64[64:]
	}
	pemBuf.WriteString(b64 + "\n-----END CERTIFICATE-----\n")
	return &CA{Pool: pool, PEM: pemBuf.Bytes(), Leaf: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		key: caKey, cert: caCert}
}

// Issue returns a further leaf of the CA for the DNS names (plus
// 127.0.0.1, ::1), usable as a server and as a client certificate (a
// server-to-server peer presents it both ways). mod, if not nil, changes
// the template first (e.g. to add SRV-ID or XmppAddr names).
func (ca *CA) Issue(t testing.TB, mod func(*x509.Certificate), names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "chatbx test leaf"},
		DNSNames: names, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// WriteLeaf writes a leaf's certificate and key as PEM files into dir
// under the given base name (name.crt, name.key).
func WriteLeaf(t testing.TB, dir, name string, leaf tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	keyDER, err := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// ServerConfig returns a TLS config serving the leaf.
func (ca *CA) ServerConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.Leaf}, MinVersion: tls.VersionTLS12, NextProtos: nextProtos}
}

// Client is a minimal XMPP client for tests. Not safe for concurrent use
// except Send, which may be called from any goroutine.
type Client struct {
	t      testing.TB
	Conn   net.Conn
	dec    *wire.Decoder
	JID    string
	Domain string
	// Features is the last stream features element seen.
	Features *wire.Element
}

// Wait bounds every step of a test client (dial, handshake, one write, one
// read): generous, so tests pass on a loaded two-core machine, where a
// short deadline fails a test that is merely slow. A test waiting for
// something that does not come still ends, after Wait.
const Wait = 60 * time.Second

// Options configure Dial.
type Options struct {
	Direct    bool           // direct TLS instead of STARTTLS
	Mechanism sasl.Mechanism // default SCRAM-SHA-256
	Resource  string
	Pool      *x509.CertPool
	NoSNI     bool
	// WrongFirst is the number of SASL attempts with a wrong password to
	// make on the same stream before the real one (RFC 6120 §6.4.5).
	WrongFirst int
	// LocalAddr, if set, is the loopback address to connect from (e.g.
	// "127.0.1.1", another /24 than 127.0.0.1, for per-network limits).
	LocalAddr string
}

// Login dials addr and logs in; it fails the test on any error.
func Login(t testing.TB, addr, domain, user, pass string, o Options) *Client {
	t.Helper()
	c, err := Dial(t, addr, domain, user, pass, o)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// Dial connects, negotiates TLS, authenticates and binds.
func Dial(t testing.TB, addr, domain, user, pass string, o Options) (*Client, error) {
	t.Helper()
	c, err := Connect(t, addr, domain, o)
	if err != nil {
		return nil, err
	}
	for i := 0; i < o.WrongFirst; i++ {
		var ae *AuthError
		if err := c.Auth(user, pass+"-wrong", o.Mechanism); !errors.As(err, &ae) {
			return nil, fmt.Errorf("wrong password attempt %d: %v", i+1, err)
		}
	}
	if err := c.Auth(user, pass, o.Mechanism); err != nil {
		return nil, err
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	bind := `<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`
	if o.Resource != "" {
		bind = `<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>` + o.Resource + `</resource></bind></iq>`
	}
	c.SendRaw(bind)
	el, err := c.Next()
	if err != nil {
		return nil, err
	}
	if el.Get("type") != "result" {
		return nil, fmt.Errorf("bind: %s", el)
	}
	c.JID = el.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind").ChildText("urn:ietf:params:xml:ns:xmpp-bind", "jid")
	c.Conn.SetDeadline(time.Time{})
	return c, nil
}

// Connect connects and negotiates TLS, leaving the stream ready for Auth
// (its deadline is Wait from now).
func Connect(t testing.TB, addr, domain string, o Options) (*Client, error) {
	t.Helper()
	d := net.Dialer{Timeout: Wait}
	if o.LocalAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.LocalAddr)}
	}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { raw.Close() })
	c := &Client{t: t, Conn: raw, Domain: domain}
	tcfg := &tls.Config{RootCAs: o.Pool, ServerName: domain, MinVersion: tls.VersionTLS12}
	if o.NoSNI {
		tcfg.ServerName = ""
		tcfg.InsecureSkipVerify = true
	}
	raw.SetDeadline(time.Now().Add(Wait))
	if o.Direct {
		tcfg.NextProtos = []string{"xmpp-client"}
		tc := tls.Client(raw, tcfg)
		if err := tc.Handshake(); err != nil {
			return nil, err
		}
		c.Conn = tc
	} else {
		if err := c.open(); err != nil {
			return nil, err
		}
		if c.Features.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls") == nil {
			return nil, fmt.Errorf("no starttls offered: %s", c.Features)
		}
		c.SendRaw(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		if el, err := c.Next(); err != nil || el.Local != "proceed" {
			return nil, fmt.Errorf("starttls: %v %v", el, err)
		}
		tc := tls.Client(raw, tcfg)
		if err := tc.Handshake(); err != nil {
			return nil, err
		}
		c.Conn = tc
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	return c, nil
}

// open sends a stream header and reads the server's header and features.
func (c *Client) open() error {
	c.SendRaw(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='` + c.Domain + `' version='1.0'>`)
	c.dec = wire.NewDecoder(c.Conn, 0)
	if _, err := c.dec.Header(); err != nil {
		return fmt.Errorf("stream header: %w", err)
	}
	f, err := c.Next()
	if err != nil {
		return err
	}
	if f.Local != "features" {
		return fmt.Errorf("want features, got %s", f)
	}
	c.Features = f
	return nil
}

// Auth runs one SASL exchange with a mellium client mechanism.
func (c *Client) Auth(user, pass string, m sasl.Mechanism) error {
	if m.Name == "" {
		m = sasl.ScramSha256
	}
	var remote []string
	if ms := c.Features.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms"); ms != nil {
		for _, e := range ms.Elements() {
			remote = append(remote, e.Text())
		}
	}
	opts := []sasl.Option{sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(pass), nil }),
		sasl.RemoteMechanisms(remote...)}
	if tc, ok := c.Conn.(*tls.Conn); ok {
		opts = append(opts, sasl.TLSState(tc.ConnectionState()))
	}
	neg := sasl.NewClient(m, opts...)
	_, resp, err := neg.Step(nil)
	if err != nil {
		return err
	}
	c.SendRaw(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='` + m.Name + `'>` + b64(resp) + `</auth>`)
	for {
		el, err := c.Next()
		if err != nil {
			return err
		}
		switch el.Local {
		case "challenge":
			ch, _ := base64.StdEncoding.DecodeString(el.Text())
			_, resp, err = neg.Step(ch)
			if err != nil {
				return err
			}
			c.SendRaw(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + b64(resp) + `</response>`)
		case "success":
			if t := el.Text(); t != "" {
				add, _ := base64.StdEncoding.DecodeString(t)
				if _, _, err := neg.Step(add); err != nil {
					return fmt.Errorf("server signature: %w", err)
				}
			}
			return nil
		default:
			return &AuthError{Condition: el.FirstChild().Local}
		}
	}
}

// AuthError is a SASL failure.
type AuthError struct{ Condition string }

func (e *AuthError) Error() string { return "sasl failure: " + e.Condition }

func b64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// SendRaw writes s as is.
func (c *Client) SendRaw(s string) {
	c.Conn.SetWriteDeadline(time.Now().Add(Wait))
	if _, err := c.Conn.Write([]byte(s)); err != nil {
		c.t.Logf("send: %v", err)
	}
}

// Send writes an element.
func (c *Client) Send(el *wire.Element) { c.SendRaw(string(el.Bytes(wire.NSClient))) }

// Next reads the next element (deadline: Wait).
func (c *Client) Next() (*wire.Element, error) {
	c.Conn.SetReadDeadline(time.Now().Add(Wait))
	return c.dec.Next()
}

// Expect reads until an element matches pred (skipping others) and fails
// the test after the deadline.
func (c *Client) Expect(what string, pred func(*wire.Element) bool) *wire.Element {
	c.t.Helper()
	for {
		el, err := c.Next()
		if err != nil {
			c.t.Fatalf("%s: waiting for %s: %v", c.JID, what, err)
		}
		if pred(el) {
			return el
		}
	}
}

// IQ sends an IQ and waits for its answer.
func (c *Client) IQ(raw string) *wire.Element {
	c.t.Helper()
	d := wire.NewDecoder(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`+raw), 0)
	d.Header()
	el, err := d.Next()
	if err != nil {
		c.t.Fatalf("bad test IQ %q: %v", raw, err)
	}
	id := el.Get("id")
	c.Send(el)
	return c.Expect("iq "+id, func(e *wire.Element) bool {
		return e.Local == "iq" && e.Get("id") == id &&
			(e.Get("type") == "result" || e.Get("type") == "error")
	})
}

// Close ends the stream.
func (c *Client) Close() {
	c.SendRaw(`</stream:stream>`)
	c.Conn.Close()
}

// Ctx returns a context that ends with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// WriteFiles writes the CA certificate and the leaf's certificate and key
// as PEM files into dir (for servers started in another process).
func (ca *CA) WriteFiles(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caFile = filepath.Join(dir, "ca.pem")
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	keyDER, err := x509.MarshalECPrivateKey(ca.Leaf.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{caFile, ca.PEM},
		{certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Leaf.Certificate[0]})},
		{keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// Parse parses one element (default namespace jabber:client) for a test
// and fails the test when it does not parse.
func Parse(t testing.TB, s string) *wire.Element {
	t.Helper()
	el, err := wire.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return el
}

// String serialises el as a client stream would carry it; "" for nil.
func String(el *wire.Element) string {
	if el == nil {
		return ""
	}
	return string(el.Bytes(wire.NSClient))
}

// Restart opens a new stream on the connection (after SASL) and reads the
// server's features into Features, without binding.
func (c *Client) Restart() error { return c.open() }
