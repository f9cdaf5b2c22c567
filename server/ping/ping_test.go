package ping_test

import (
	"strings"
	"testing"

	"chatbx/server/iq"
	"chatbx/server/ping"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

var _ iq.Handler = ping.New().Handle

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

var alice = iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}

func TestHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"server", `<iq type='get' id='1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="result" id="1"/>`},
		{"no to", `<iq type='get' id='2'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="result" id="2"/>`},
		{"own bare", `<iq type='get' id='3' to='alice@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="result" id="3"/>`},
		{"own bare unnormalised", `<iq type='get' id='3' to='Alice@Example.ORG'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="result" id="3"/>`},
		{"other user", `<iq type='get' id='4' to='bob@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="error" id="4"><error type="cancel" code="503"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"full jid", `<iq type='get' id='5' to='alice@example.org/x'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="error" id="5"><error type="cancel" code="503"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"set", `<iq type='set' id='6'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="error" id="6"><error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"wrong payload", `<iq type='get' id='7'><pong xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="error" id="7"><error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"no payload", `<iq type='get' id='8'/>`,
			`<iq type="error" id="8"><error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{"result", `<iq type='result' id='9'/>`, ``},
		{"error", `<iq type='error' id='10'><ping xmlns='urn:xmpp:ping'/></iq>`, ``},
	}
	p := ping.New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Handle(t.Context(), alice, parse(t, tc.in))
			if s := str(got); s != tc.want {
				t.Errorf("Handle(%s)\n got %s\nwant %s", tc.in, s, tc.want)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	t.Parallel()
	got := str(ping.Request("p1", "alice@example.org/phone", "example.org"))
	want := `<iq type="get" id="p1" to="alice@example.org/phone" from="example.org"><ping xmlns="urn:xmpp:ping"/></iq>`
	if got != want {
		t.Errorf("Request() = %s, want %s", got, want)
	}
	// The request parses back as a ping.
	if p := iq.Payload(parse(t, got)); p == nil || p.Space != ping.NS || p.Local != "ping" {
		t.Errorf("payload of Request() = %v", p)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(`<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	f.Add(`<iq type='get' to='@/' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	f.Add(`<iq type='set'/>`)
	p := ping.New()
	f.Fuzz(func(t *testing.T, in string) {
		d := wire.NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := d.Next()
		if err != nil {
			return
		}
		r := p.Handle(t.Context(), alice, el)
		if r == nil {
			return
		}
		if typ := r.Get("type"); r.Local != "iq" || (typ != "result" && typ != "error") || r.Get("id") != el.Get("id") {
			t.Fatalf("Handle(%q) = %s", in, str(r))
		}
	})
}
