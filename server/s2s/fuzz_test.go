package s2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/asn1"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/wire"
)

// FuzzOtherNames: the SAN parser of SASL EXTERNAL's certificate check
// (SRV-ID, XmppAddr) never panics on any extension bytes.
func FuzzOtherNames(f *testing.F) {
	f.Add(otherNameSAN(f, oidXmppAddr, asn1.TagUTF8String, "example.org"))
	f.Add(otherNameSAN(f, oidDNSSRV, asn1.TagIA5String, "_xmpp-server.example.org"))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0xa0, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		srv, xmpp := otherNames(b)
		for _, s := range append(srv, xmpp...) {
			if len(s) > 1024 {
				t.Fatalf("oversized name %d", len(s))
			}
		}
	})
}

// FuzzParseExternal: the SASL EXTERNAL initial response.
func FuzzParseExternal(f *testing.F) {
	for _, s := range []string{"=", "", "ZXhhbXBsZS5vcmc=", "!!", "AA=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseExternal(s)
		if !ok && id != "" {
			t.Fatal("identity without ok")
		}
	})
}

// fuzzConn is a net.Conn that reads fixed input and discards writes.
type fuzzConn struct {
	r io.Reader
	w bytes.Buffer
}

func (c *fuzzConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *fuzzConn) Close() error                     { return nil }
func (c *fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzInbound: an inbound stream after TLS (the dialback and SASL
// EXTERNAL paths: db:result, db:verify, auth, stanzas before
// authentication) ends with an error or a stream error, never a panic,
// and delivers nothing unauthenticated.
func FuzzInbound(f *testing.F) {
	head := `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'>`
	for _, s := range []string{
		head + `<db:verify from='b.test' to='a.test' id='x'>abc</db:verify>`,
		head + `<db:result from='b.test' to='a.test'>key</db:result>`,
		head + `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`,
		head + `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>YS50ZXN0</auth>`,
		head + `<message from='x@b.test' to='y@a.test'><body>hi</body></message>`,
		head + `</stream:stream>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		delivered := 0
		s, err := New(Config{Domain: "a.test", SecureAuth: false, ConnectTimeout: time.Millisecond, Hosts: map[string]string{"b.test": "127.0.0.1:1"}},
			Deps{Log: zerolog.Nop(), ConnLog: zerolog.Nop(), TLS: &tls.Config{}, Secret: []byte("k"),
				Deliver: func(*wire.Element) { delivered++ }, Resolver: fakeResolver{},
				Dial: func(ctx context.Context, _, _ string) (net.Conn, error) { return nil, io.EOF }})
		if err != nil {
			t.Fatal(err)
		}
		st := newStream(&fuzzConn{r: bytes.NewReader([]byte(in))}, 64<<10, time.Second)
		st.tls = &tls.ConnectionState{} // as after STARTTLS, without a certificate
		in2 := &inbound{st: st}
		s.negotiateIn(context.Background(), in2)
		if delivered > 0 {
			t.Fatalf("delivered %d stanzas on an unauthenticated stream", delivered)
		}
	})
}
