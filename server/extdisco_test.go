package server_test

import (
	"strings"
	"testing"

	"chatbx/server"
	"chatbx/server/extdisco"
	"chatbx/server/xmpptest"
)

// External services (XEP-0215) over a real stream: advertised in the
// server's disco#info, TURN credentials fresh per request; without
// services, neither.
func TestExtDisco(t *testing.T) {
	e := start(t, func(c *server.Config) {
		c.ExtDisco = extdisco.Config{Services: []string{"stun:stun.example.org", "turn:turn.example.org:3478?transport=udp"}, Secret: "s"}
	})
	e.user(t, "alice")
	a := e.login(t, "alice")
	info := xmpptest.String(mustResult(t, a.IQ("<iq type='get' id='i' to='"+domain+"'><query xmlns='"+nsInfo+"'/></iq>")))
	if !strings.Contains(info, "urn:xmpp:extdisco:2") {
		t.Errorf("disco#info lacks extdisco: %s", info)
	}
	get := func(id string) string {
		r := mustResult(t, a.IQ("<iq type='get' id='"+id+"' to='"+domain+"'><services xmlns='urn:xmpp:extdisco:2'/></iq>"))
		s := r.Child("urn:xmpp:extdisco:2", "services").Elements()
		if len(s) != 2 || s[1].Get("username") == "" {
			t.Fatalf("services: %s", xmpptest.String(r))
		}
		return s[1].Get("username")
	}
	if get("s1") == get("s2") {
		t.Error("the same TURN username twice")
	}

	e2 := start(t)
	e2.user(t, "bob")
	b := e2.login(t, "bob")
	if info := xmpptest.String(mustResult(t, b.IQ("<iq type='get' id='i' to='"+domain+"'><query xmlns='"+nsInfo+"'/></iq>"))); strings.Contains(info, "extdisco") {
		t.Errorf("extdisco advertised without services: %s", info)
	}
	if cond, _, _ := errorOf(b.IQ("<iq type='get' id='s' to='" + domain + "'><services xmlns='urn:xmpp:extdisco:2'/></iq>")); cond != "service-unavailable" {
		t.Errorf("without services: %q, want service-unavailable", cond)
	}
}
