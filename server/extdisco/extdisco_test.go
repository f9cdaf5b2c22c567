package extdisco_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbx/server/extdisco"
	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

func TestParseService(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want extdisco.Service
		ok   bool
	}{
		{"stun:stun.example.org", extdisco.Service{"stun", "stun.example.org", 3478, "udp"}, true},
		{"turn:turn.example.org:3479?transport=tcp", extdisco.Service{"turn", "turn.example.org", 3479, "tcp"}, true},
		{"turns:turn.example.org", extdisco.Service{"turns", "turn.example.org", 5349, "tcp"}, true},
		{"TURN:[2001:db8::1]:3478", extdisco.Service{"turn", "2001:db8::1", 3478, "udp"}, true},
		{"http://turn.example.org", extdisco.Service{}, false},
		{"turn:", extdisco.Service{}, false},
		{"turn:h:0", extdisco.Service{}, false},
		{"turn:h:99999", extdisco.Service{}, false},
		{"turn:h?transport=sctp", extdisco.Service{}, false},
		{"turn:h?user=x", extdisco.Service{}, false},
		{"turn:u@h", extdisco.Service{}, false},
	} {
		got, err := extdisco.ParseService(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseService(%q) = %+v, %v; want %+v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if _, err := extdisco.New(extdisco.Config{Services: []string{"nonsense"}}); err == nil {
		t.Error("New accepted a bad service")
	}
}

func FuzzParseService(f *testing.F) {
	for _, s := range []string{"stun:h", "turn:h:1?transport=udp", "turns:[::1]:5349", "turn:%zz", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sv, err := extdisco.ParseService(s)
		if err != nil {
			return
		}
		if sv.Host == "" || sv.Port <= 0 || sv.Port > 65535 || (sv.Transport != "udp" && sv.Transport != "tcp") {
			t.Fatalf("ParseService(%q) = %+v", s, sv)
		}
	})
}

// The TURN REST password is base64(HMAC-SHA1(secret, username)) (coturn's
// check, computed here from a known vector).
func TestPassword(t *testing.T) {
	// printf '1700000000:user' | openssl dgst -sha1 -hmac secret -binary | base64
	if got := extdisco.Password("secret", "1700000000:user"); got != "I/MZeIG6MwzOV8Uubr9liB2556o=" {
		t.Errorf("Password = %q", got)
	}
}

func TestHandle(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	e, err := extdisco.New(extdisco.Config{
		Services: []string{"stun:stun.example.org", "turn:turn.example.org?transport=udp", "turns:turn.example.org:5349"},
		Secret:   "s3cret", TTL: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(payload string) *wire.Element {
		return e.Handle(context.Background(), iq.Context{User: "alice", Domain: "d.test"}, xmpptest.Parse(t, "<iq xmlns='jabber:client' type='get' id='1'>"+payload+"</iq>"))
	}
	r := ask("<services xmlns='urn:xmpp:extdisco:2'/>")
	svcs := r.Child("urn:xmpp:extdisco:2", "services").Elements()
	if r.Get("type") != "result" || len(svcs) != 3 {
		t.Fatalf("services: %s", xmpptest.String(r))
	}
	if svcs[0].Get("username") != "" || svcs[0].Get("restricted") != "" {
		t.Errorf("stun with credentials: %s", xmpptest.String(svcs[0]))
	}
	first := ""
	for _, s := range svcs[1:] {
		user, pass := s.Get("username"), s.Get("password")
		exp, _, _ := strings.Cut(user, ":")
		if s.Get("restricted") != "1" || exp != strconv.FormatInt(now.Add(time.Hour).Unix(), 10) ||
			pass != extdisco.Password("s3cret", user) || s.Get("expires") != "2026-12-02T13:00:00Z" {
			t.Errorf("turn entry %s", xmpptest.String(s))
		}
		if user == first {
			t.Error("two entries share a username (no random part)")
		}
		first = user
	}
	if r := ask("<services xmlns='urn:xmpp:extdisco:2' type='stun'/>"); len(r.Child("urn:xmpp:extdisco:2", "services").Elements()) != 1 {
		t.Errorf("type filter: %s", xmpptest.String(r))
	}
	r = ask("<credentials xmlns='urn:xmpp:extdisco:2'><service type='turns' host='turn.example.org'/></credentials>")
	c := r.Child("urn:xmpp:extdisco:2", "credentials").Child("urn:xmpp:extdisco:2", "service")
	if c == nil || c.Get("port") != "5349" || c.Get("password") != extdisco.Password("s3cret", c.Get("username")) {
		t.Errorf("credentials: %s", xmpptest.String(r))
	}
	for name, payload := range map[string]string{
		"stun has no credentials": "<credentials xmlns='urn:xmpp:extdisco:2'><service type='stun' host='stun.example.org'/></credentials>",
		"unknown host":            "<credentials xmlns='urn:xmpp:extdisco:2'><service host='x.example'/></credentials>",
	} {
		if r := ask(payload); r.Get("type") != "error" || r.Child("jabber:client", "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", "item-not-found") == nil {
			t.Errorf("%s: %s", name, xmpptest.String(r))
		}
	}
	if r := ask("<credentials xmlns='urn:xmpp:extdisco:2'/>"); r.Get("type") != "error" {
		t.Errorf("no service: %s", xmpptest.String(r))
	}
}
