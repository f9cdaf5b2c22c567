package c2s

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/wire"
	"chatbx/store/storetest"
)

// fuzzTransport feeds a session the elements of one fuzz input and
// swallows what the server writes.
type fuzzTransport struct {
	els []*wire.Element
}

func (t *fuzzTransport) ReadOpen() (*wire.Element, error)      { return nil, io.EOF }
func (t *fuzzTransport) WriteOpen(string, *wire.Element) error { return nil }
func (t *fuzzTransport) SetLimit(int)                          {}
func (t *fuzzTransport) Write([]*wire.Element) error           { return nil }
func (t *fuzzTransport) WriteRaw([]byte) error                 { return nil }
func (t *fuzzTransport) Close(string, []*wire.Element) error   { return nil }
func (t *fuzzTransport) Abort()                                {}
func (t *fuzzTransport) Hurry(time.Duration)                   {}
func (t *fuzzTransport) Interrupt()                            {}
func (t *fuzzTransport) TLS() *tls.ConnectionState {
	return &tls.ConnectionState{Version: tls.VersionTLS12}
}
func (t *fuzzTransport) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (t *fuzzTransport) Kind() string         { return "fuzz" }
func (t *fuzzTransport) Next() (*wire.Element, error) {
	if len(t.els) == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	el := t.els[0]
	t.els = t.els[1:]
	return el, nil
}

// FuzzSASL2 runs SASL2 negotiation (SCRAM, FAST, Bind2 and token
// requests) on arbitrary client elements: it must answer or end the
// stream with an error, never panic or hang.
func FuzzSASL2(f *testing.F) {
	for _, s := range []string{
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>biwsbj1hbGljZSxyPWFiYw==</initial-response><user-agent id='x'/><bind xmlns='urn:xmpp:bind:0'><tag>t</tag><enable xmlns='urn:xmpp:carbons:2'/></bind><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/></authenticate><response xmlns='urn:xmpp:sasl:2'>Yz1iaXdzLHI9YWJjLHA9YWJj</response>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>YWxpY2UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</initial-response><user-agent id='d'/><fast xmlns='urn:xmpp:fast:0' count='3' invalidate='1'/></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>=</initial-response><fast xmlns='urn:xmpp:fast:0' count='-1'/></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>AGFsaWNlAHNlY3JldA==</initial-response><bind xmlns='urn:xmpp:bind:0'><tag>` + strings.Repeat("é", 70) + `</tag></bind></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'/><abort xmlns='urn:xmpp:sasl:2'/>`,
		`<authenticate xmlns='urn:xmpp:sasl:2'/><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>`,
	} {
		f.Add(s)
	}
	db := storetest.Open(f)
	storetest.User(f, db, "alice")
	s := New(Config{Domain: "fuzz.test"}, Deps{DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop()})
	f.Fuzz(func(t *testing.T, in string) {
		d := wire.NewDecoder(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`+in), 1<<16)
		if _, err := d.Header(); err != nil {
			return
		}
		tr := &fuzzTransport{}
		for len(tr.els) < 8 {
			el, err := d.Next()
			if err != nil {
				break
			}
			tr.els = append(tr.els, el)
		}
		if len(tr.els) == 0 {
			return
		}
		ss := s.newSession(tr)
		first := tr.els[0]
		tr.els = tr.els[1:]
		if first.Space != nsSASL2 || first.Local != "authenticate" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := ss.authenticate2(ctx, first)
		if err == nil && ss.user == "" {
			t.Fatalf("step %v without a user for %q", st, in)
		}
		if ss.full != "" {
			s.router.Unbind(ss)
		}
	})
}
