package version_test

import (
	"strings"
	"testing"

	"chatbx/server/iq"
	"chatbx/server/version"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

var _ iq.Handler = version.New("1").Handle

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

var alice = iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}

const (
	answer      = `<query xmlns="jabber:iq:version"><name>chatbx</name><version>1.2.3</version></query>`
	unavailable = `<error type="cancel" code="503"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	badRequest  = `<error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
)

func TestHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"server", `<iq type='get' id='1' to='example.org'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="result" id="1">` + answer + `</iq>`},
		{"no to", `<iq type='get' id='2'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="result" id="2">` + answer + `</iq>`},
		{"domain unnormalised", `<iq type='get' id='3' to='EXAMPLE.org'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="result" id="3">` + answer + `</iq>`},
		{"account", `<iq type='get' id='4' to='alice@example.org'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="error" id="4">` + unavailable + `</iq>`},
		{"other domain", `<iq type='get' id='5' to='example.net'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="error" id="5">` + unavailable + `</iq>`},
		{"set", `<iq type='set' id='6'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="error" id="6">` + badRequest + `</iq>`},
		{"wrong element", `<iq type='get' id='7'><version xmlns='jabber:iq:version'/></iq>`,
			`<iq type="error" id="7">` + badRequest + `</iq>`},
		{"result", `<iq type='result' id='8'/>`, ``},
	}
	v := version.New("1.2.3")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := str(v.Handle(t.Context(), alice, parse(t, tc.in)))
			if got != tc.want {
				t.Errorf("Handle(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestNoOS(t *testing.T) {
	t.Parallel()
	r := version.New("").Handle(t.Context(), alice, parse(t, `<iq type='get' id='1'><query xmlns='jabber:iq:version'/></iq>`))
	q := iq.Payload(r)
	if q.Child(version.NS, "os") != nil {
		t.Errorf("answer %s carries <os/>", str(r))
	}
	if got := q.ChildText(version.NS, "version"); got != "unknown" {
		t.Errorf("version of New(\"\") = %q, want unknown", got)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(`<iq type='get' id='1'><query xmlns='jabber:iq:version'/></iq>`)
	f.Add(`<iq type='get' to='a@b@c' id='1'><query xmlns='jabber:iq:version'/></iq>`)
	v := version.New("1")
	f.Fuzz(func(t *testing.T, in string) {
		d := wire.NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := d.Next()
		if err != nil {
			return
		}
		r := v.Handle(t.Context(), alice, el)
		if r == nil {
			return
		}
		if typ := r.Get("type"); r.Local != "iq" || (typ != "result" && typ != "error") || r.Get("id") != el.Get("id") {
			t.Fatalf("Handle(%q) = %s", in, str(r))
		}
	})
}
