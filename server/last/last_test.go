package last_test

import (
	"strings"
	"testing"
	"time"

	"chatbx/server/iq"
	"chatbx/server/last"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

var _ iq.Handler = last.New(time.Time{}, nil).Handle

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

var alice = iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}

const (
	unavailable = `<error type="cancel" code="503"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	badRequest  = `<error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
)

func TestHandle(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(90*time.Minute + 999*time.Millisecond)
	l := last.New(start, func() time.Time { return now })
	tests := []struct {
		name, in, want string
	}{
		{"server uptime", `<iq type='get' id='1' to='example.org'><query xmlns='jabber:iq:last'/></iq>`,
			`<iq type="result" id="1"><query xmlns="jabber:iq:last" seconds="5400"/></iq>`},
		{"no to", `<iq type='get' id='2'><query xmlns='jabber:iq:last'/></iq>`,
			`<iq type="result" id="2"><query xmlns="jabber:iq:last" seconds="5400"/></iq>`},
		{"own account", `<iq type='get' id='3' to='alice@example.org'><query xmlns='jabber:iq:last'/></iq>`,
			`<iq type="error" id="3">` + unavailable + `</iq>`},
		{"other account", `<iq type='get' id='4' to='bob@example.org'><query xmlns='jabber:iq:last'/></iq>`,
			`<iq type="error" id="4">` + unavailable + `</iq>`},
		{"malformed to", `<iq type='get' id='5' to='@@'><query xmlns='jabber:iq:last'/></iq>`,
			`<iq type="error" id="5">` + unavailable + `</iq>`},
		{"set", `<iq type='set' id='6'><query xmlns='jabber:iq:last'/></iq>`,
			`<iq type="error" id="6">` + badRequest + `</iq>`},
		{"no payload", `<iq type='get' id='7'/>`, `<iq type="error" id="7">` + badRequest + `</iq>`},
		{"error", `<iq type='error' id='8'/>`, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := str(l.Handle(t.Context(), alice, parse(t, tc.in)))
			if got != tc.want {
				t.Errorf("Handle(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestClockBeforeStart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	l := last.New(start, func() time.Time { return start.Add(-time.Hour) })
	r := l.Handle(t.Context(), alice, parse(t, `<iq type='get' id='1'><query xmlns='jabber:iq:last'/></iq>`))
	if got := iq.Payload(r).Get("seconds"); got != "0" {
		t.Errorf("seconds with the clock set back = %q, want 0", got)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(`<iq type='get' id='1'><query xmlns='jabber:iq:last'/></iq>`)
	f.Add(`<iq type='get' to='x@example.org/r' id='1'><query xmlns='jabber:iq:last'/></iq>`)
	l := last.New(time.Now(), nil)
	f.Fuzz(func(t *testing.T, in string) {
		d := wire.NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := d.Next()
		if err != nil {
			return
		}
		r := l.Handle(t.Context(), alice, el)
		if r == nil {
			return
		}
		if typ := r.Get("type"); r.Local != "iq" || (typ != "result" && typ != "error") || r.Get("id") != el.Get("id") {
			t.Fatalf("Handle(%q) = %s", in, str(r))
		}
	})
}
