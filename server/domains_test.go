package server_test

import (
	"context"
	"testing"

	"chatbx/server"
	"chatbx/server/router"
	"chatbx/server/wire"
)

// TestDomainTable: a stanza for a local service's domain reaches the
// service, whose answer is routed back to the sender; a remote domain
// without server-to-server gets remote-server-not-found; the host's
// accounts are unaffected.
func TestDomainTable(t *testing.T) {
	domains := router.NewDomains(domain)
	got := make(chan string, 4)
	echo := router.HandlerFunc(func(ctx context.Context, el *wire.Element, send func(*wire.Element)) {
		got <- el.Local + " " + el.Get("to")
		if el.Local != "iq" {
			return
		}
		r := wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id"), "from", el.Get("to"), "to", el.Get("from"))
		send(r)
	})
	if err := domains.AddService("echo."+domain, echo); err != nil {
		t.Fatal(err)
	}
	e := startWith(t, nil, func(_ *server.Config, d *server.Deps) { d.Domains = domains })
	e.user(t, "alice")
	a := e.login(t, "alice")

	r := a.IQ(`<iq type='get' id='s1' to='echo.chatbx.test'><query xmlns='urn:example:echo'/></iq>`)
	if r.Get("type") != "result" || r.Get("from") != "echo."+domain || r.Get("to") != a.JID {
		t.Fatalf("service answer: %s", r)
	}
	if g := <-got; g != "iq echo."+domain {
		t.Fatalf("service got %q", g)
	}
	a.SendRaw(`<presence to='room@echo.chatbx.test/nick'/>`)
	if g := <-got; g != "presence room@echo."+domain+"/nick" {
		t.Fatalf("service got %q", g)
	}

	a.SendRaw(`<message to='someone@remote.example' id='r1' type='chat'><body>hi</body></message>`)
	m := a.Expect("bounce", func(el *wire.Element) bool { return el.Local == "message" && el.Get("id") == "r1" })
	if m.Get("type") != "error" || m.Child(wire.NSClient, "error").Child(wire.NSStanzas, "remote-server-not-found") == nil {
		t.Fatalf("remote bounce: %s", m)
	}
	if code := m.Child(wire.NSClient, "error").Get("code"); code != "404" {
		// XEP-0086: every stanza error carries its legacy code.
		t.Errorf("legacy code = %q, want 404", code)
	}
}
