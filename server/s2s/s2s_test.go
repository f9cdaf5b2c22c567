package s2s

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/wire"
)

// testCA makes a CA and a function issuing leaves with the given SAN
// extension or DNS names.
func testCA(t testing.TB) (*x509.CertPool, func(dns []string, san []byte) *x509.Certificate) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, func(dns []string, san []byte) *x509.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		l := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: dns}
		if san != nil {
			l.ExtraExtensions = []pkix.Extension{{Id: oidSAN, Value: san}}
		}
		der, err := x509.CreateCertificate(rand.Reader, l, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// otherNameSAN encodes a SAN extension with one otherName.
func otherNameSAN(t testing.TB, oid asn1.ObjectIdentifier, tag int, value string) []byte {
	v, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	explicit, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: v})
	o, _ := asn1.Marshal(oid)
	on, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(o, explicit...)})
	seq, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: on})
	return seq
}

// TestVerifyPeer: RFC 6125 identities: DNS-ID (with a leftmost
// wildcard), SRV-ID, XmppAddr; a chain from an unknown CA and a name for
// another domain are refused.
func TestVerifyPeer(t *testing.T) {
	pool, issue := testCA(t)
	other, issueOther := testCA(t)
	_ = other
	tests := []struct {
		name   string
		cert   *x509.Certificate
		roots  *x509.CertPool
		domain string
		ok     bool
	}{
		{"dns-id", issue([]string{"example.org"}, nil), pool, "example.org", true},
		{"dns-id other domain", issue([]string{"example.org"}, nil), pool, "example.net", false},
		{"wildcard", issue([]string{"*.example.org"}, nil), pool, "chat.example.org", true},
		{"wildcard two labels", issue([]string{"*.example.org"}, nil), pool, "a.b.example.org", false},
		{"wildcard apex", issue([]string{"*.example.org"}, nil), pool, "example.org", false},
		{"srv-id", issue(nil, otherNameSAN(t, oidDNSSRV, asn1.TagIA5String, "_xmpp-server.example.org")), pool, "example.org", true},
		{"srv-id client service", issue(nil, otherNameSAN(t, oidDNSSRV, asn1.TagIA5String, "_xmpp-client.example.org")), pool, "example.org", false},
		{"xmppaddr", issue(nil, otherNameSAN(t, oidXmppAddr, asn1.TagUTF8String, "example.org")), pool, "example.org", true},
		{"xmppaddr wrong type", issue(nil, otherNameSAN(t, oidXmppAddr, asn1.TagIA5String, "example.org")), pool, "example.org", false},
		{"unknown ca", issueOther([]string{"example.org"}, nil), pool, "example.org", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyPeer([]*x509.Certificate{tc.cert}, tc.roots, tc.domain)
			if (err == nil) != tc.ok {
				t.Errorf("verifyPeer(%s) = %v, want ok=%v", tc.domain, err, tc.ok)
			}
		})
	}
	if verifyPeer(nil, pool, "example.org") == nil {
		t.Error("no certificate accepted")
	}
}

func TestParseExternal(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"=", "", true},
		{"", "", true},
		{base64.StdEncoding.EncodeToString([]byte("example.org")), "example.org", true},
		{"!!!", "", false},
		{base64.StdEncoding.EncodeToString([]byte("a b")), "", false},
		{base64.StdEncoding.EncodeToString([]byte{0}), "", false},
	} {
		got, ok := parseExternal(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseExternal(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.Domain = "a.test"
	s, err := New(cfg, Deps{Log: zerolog.Nop(), ConnLog: zerolog.Nop(), TLS: &tls.Config{}, Secret: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDialbackKey: keys per XEP-0185 differ per direction and stream, and
// only the key we issued verifies.
func TestDialbackKey(t *testing.T) {
	s := newTestServer(t, DefaultConfig())
	k := s.dialbackKey("b.test", "a.test", "id1")
	if k == s.dialbackKey("a.test", "b.test", "id1") || k == s.dialbackKey("b.test", "a.test", "id2") {
		t.Error("keys do not depend on direction and stream id")
	}
	if !validKey(k, s.dialbackKey("b.test", "a.test", "id1")) || validKey(k[:len(k)-1]+"0", k) && k[len(k)-1] != '0' {
		t.Error("validKey")
	}
	s2 := newTestServer(t, DefaultConfig())
	s2.d.Secret = []byte("other")
	if s2.dialbackKey("b.test", "a.test", "id1") == k {
		t.Error("key does not depend on the secret")
	}
}

// TestBlocklist: configured domains and the file's, with subdomains; a
// reload picks up file changes; a missing file keeps the old list.
func TestBlocklist(t *testing.T) {
	f := filepath.Join(t.TempDir(), "block.txt")
	os.WriteFile(f, []byte("# spam\nspam.example\n\n"), 0o600)
	s := newTestServer(t, Config{BlockDomains: []string{"Bad.Example."}, BlockDomainsFile: f})
	for d, want := range map[string]bool{"bad.example": true, "x.bad.example": true, "spam.example": true,
		"good.example": false, "notbad.example": false, "example": false} {
		if s.Blocked(d) != want {
			t.Errorf("Blocked(%q) = %v", d, !want)
		}
	}
	os.WriteFile(f, []byte("other.example\n"), 0o600)
	if err := s.ReloadBlocklist(); err != nil {
		t.Fatal(err)
	}
	if s.Blocked("spam.example") || !s.Blocked("other.example") {
		t.Error("reload did not apply the file")
	}
	os.Remove(f)
	if s.ReloadBlocklist() == nil || !s.Blocked("other.example") {
		t.Error("a failed reload changed the list")
	}
}

// TestRates: the per-domain connection budget holds and stanzas beyond
// the burst wait.
func TestRates(t *testing.T) {
	var r rates
	r.init(Config{StanzasPerSecond: 1000, StanzaBurst: 2, ConnPerMinute: 3})
	now := time.Now()
	for i := 0; i < 3; i++ {
		if !r.connAllowed("b.test", now) {
			t.Fatalf("connection %d refused", i)
		}
	}
	if r.connAllowed("b.test", now) {
		t.Error("fourth connection within a minute allowed")
	}
	if !r.connAllowed("c.test", now) {
		t.Error("another domain is limited too")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	r2 := rates{}
	r2.init(Config{StanzasPerSecond: 0.001, StanzaBurst: 1, ConnPerMinute: 1})
	if err := r2.wait(ctx, "b.test", time.Now); err != nil {
		t.Fatal(err)
	}
	if err := r2.wait(ctx, "b.test", time.Now); err == nil {
		t.Error("stanza beyond the burst did not wait")
	}
}

// TestSpamReports: counts per domain only, bounded table, sorted.
func TestSpamReports(t *testing.T) {
	s := newTestServer(t, DefaultConfig())
	s.SpamReported("spam.example")
	s.SpamReported("spam.example")
	s.SpamReported("other.example")
	s.SpamReported("a.test") // our own domain is not counted
	got := s.SpamReports()
	if len(got) != 2 || got[0] != (DomainCount{"spam.example", 2}) || got[1] != (DomainCount{"other.example", 1}) {
		t.Errorf("SpamReports() = %v", got)
	}
}

// TestResolve: SRV records of both services merged by priority, direct
// TLS first; no records: the domain on 5269; "." refuses; hosts override.
func TestResolve(t *testing.T) {
	r := fakeResolver{srv: map[string][]*net.SRV{
		"_xmpps-server._tcp.a.example":   {{Target: "tls.a.example.", Port: 5270, Priority: 10}},
		"_xmpp-server._tcp.a.example":    {{Target: "xmpp.a.example.", Port: 5269, Priority: 5}, {Target: "backup.a.example.", Port: 5269, Priority: 20}},
		"_xmpp-server._tcp.none.example": {{Target: ".", Port: 0}},
	}}
	s := newTestServer(t, Config{Hosts: map[string]string{"fixed.example": "127.0.0.1:1234", "direct.example": "tls:127.0.0.1:1235"}})
	s.d.Resolver = r
	ts, err := s.targets(context.Background(), "a.example")
	if err != nil || len(ts) != 3 || ts[0].host != "xmpp.a.example" || !ts[1].direct || ts[1].port != "5270" || ts[2].host != "backup.a.example" {
		t.Errorf("targets(a.example) = %+v, %v", ts, err)
	}
	ts, err = s.targets(context.Background(), "b.example")
	if err != nil || len(ts) != 1 || ts[0].host != "b.example" || ts[0].port != "5269" {
		t.Errorf("targets(b.example) = %+v, %v", ts, err)
	}
	if _, err := s.targets(context.Background(), "none.example"); err != errNotFound {
		t.Errorf("targets(none.example) err = %v, want errNotFound", err)
	}
	ts, _ = s.targets(context.Background(), "fixed.example")
	if len(ts) != 1 || ts[0].port != "1234" || ts[0].direct {
		t.Errorf("hosts override = %+v", ts)
	}
	ts, _ = s.targets(context.Background(), "direct.example")
	if len(ts) != 1 || !ts[0].direct {
		t.Errorf("hosts override tls: = %+v", ts)
	}
}

type fakeResolver struct{ srv map[string][]*net.SRV }

func (f fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	recs := f.srv["_"+service+"._"+proto+"."+name]
	if recs == nil {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return "", recs, nil
}

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	return []string{"127.0.0.1"}, nil
}

// TestConvert: namespaces move between jabber:client and jabber:server
// recursively; the original is not changed.
func TestConvert(t *testing.T) {
	el, err := wire.Parse([]byte(`<message xmlns='jabber:client' to='b@b.test'><body>hi</body><x xmlns='urn:x'><y/></x></message>`))
	if err != nil {
		t.Fatal(err)
	}
	c := convert(el, wire.NSClient, wire.NSServer)
	if c.Space != wire.NSServer || c.Child(wire.NSServer, "body") == nil || c.Child("urn:x", "x") == nil {
		t.Errorf("convert = %s", c.Bytes(wire.NSServer))
	}
	if el.Space != wire.NSClient || el.Child(wire.NSClient, "body") == nil {
		t.Error("original changed")
	}
}
