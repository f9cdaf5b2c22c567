package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/sasl"

	"chatbx/server"
	"chatbx/server/push"
	"chatbx/server/router"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

const nsPush = "urn:xmpp:push:0"

// enablePush is an <enable/> with a publish-options secret.
func enablePush(id, app, node, secret string) string {
	return "<iq type='set' id='" + id + "'><enable xmlns='" + nsPush + "' jid='" + app + "' node='" + node + "'>" +
		"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + nsPubsub + "#publish-options</value></field>" +
		"<field var='secret'><value>" + secret + "</value></field></x></enable></iq>"
}

// isPush matches a push notification IQ for node.
func isPush(node string) func(*wire.Element) bool {
	return func(e *wire.Element) bool {
		if e.Local != "iq" || e.Get("type") != "set" {
			return false
		}
		pub := e.Child(nsPubsub, "pubsub").Child(nsPubsub, "publish")
		return pub != nil && pub.Get("node") == node
	}
}

// summary returns the summary form's fields of a notification.
func summary(t testing.TB, n *wire.Element) map[string]string {
	t.Helper()
	x := n.Child(nsPubsub, "pubsub").Child(nsPubsub, "publish").Child(nsPubsub, "item").
		Child(nsPush, "notification").Child("jabber:x:data", "x")
	if x == nil {
		t.Fatalf("notification without summary: %s", xmpptest.String(n))
	}
	out := map[string]string{}
	for _, f := range x.Elements() {
		out[f.Get("var")] = f.ChildText("jabber:x:data", "value")
	}
	return out
}

// offlineMessage has bob send alice (offline) a message and waits until
// the server processed it.
func offlineMessage(t *testing.T, b *xmpptest.Client, body string) {
	t.Helper()
	b.SendRaw("<message to='alice@" + domain + "' type='chat'><body>" + body + "</body></message>")
	drain(t, b)
}

// TestPush: a second account on the same server is the app server. It
// gets a notification for alice's offline message with the count and the
// device's publish-options, without body and sender; after disable, none.
func TestPush(t *testing.T) {
	e := start(t, func(c *server.Config) { c.Push = push.Config{MinInterval: time.Nanosecond} })
	for _, u := range []string{"alice", "bob", "appsrv"} {
		e.user(t, u)
	}
	app := e.login(t, "appsrv", xmpptest.Options{Resource: "app"})
	b := e.login(t, "bob")
	a := e.login(t, "alice")

	// The account advertises push (XEP-0357 §5).
	r := mustResult(t, a.IQ("<iq type='get' id='d1' to='alice@"+domain+"'><query xmlns='"+nsInfo+"'/></iq>"))
	if !strings.Contains(xmpptest.String(r), "var='"+nsPush+"'") && !strings.Contains(xmpptest.String(r), `var="`+nsPush+`"`) {
		t.Errorf("account disco#info without %s: %s", nsPush, xmpptest.String(r))
	}
	mustResult(t, a.IQ(enablePush("e1", app.JID, "dev-node-1", "s3cr3t")))
	a.Close()
	waitFor(t, func() bool { return e.srv.Online() == 2 })

	const body = "push-body-marker-91c2"
	offlineMessage(t, b, body)
	n := app.Expect("notification", isPush("dev-node-1"))
	s := xmpptest.String(n)
	if n.Get("from") != "alice@"+domain {
		t.Errorf("notification from %q, want alice's bare JID", n.Get("from"))
	}
	f := summary(t, n)
	if f["FORM_TYPE"] != "urn:xmpp:push:summary" || f["message-count"] != "1" {
		t.Errorf("summary %v", f)
	}
	for _, leak := range []string{body, "bob@", "last-message-sender", "last-message-body"} {
		if strings.Contains(s, leak) {
			t.Errorf("notification carries %q: %s", leak, s)
		}
	}
	if !strings.Contains(s, "s3cr3t") || n.Child(nsPubsub, "pubsub").Child(nsPubsub, "publish-options") == nil {
		t.Errorf("notification without the device's publish-options: %s", s)
	}
	app.SendRaw("<iq type='result' id='" + n.Get("id") + "' to='" + n.Get("from") + "'/>")
	drain(t, app)

	// A second message: the count grows.
	offlineMessage(t, b, "second")
	n = app.Expect("notification 2", isPush("dev-node-1"))
	if c := summary(t, n)["message-count"]; c != "2" {
		t.Errorf("message-count %s, want 2", c)
	}
	app.SendRaw("<iq type='result' id='" + n.Get("id") + "' to='" + n.Get("from") + "'/>")
	if got := drain(t, app); len(got) != 0 {
		t.Errorf("answer to a notification answered: %s", xmpptest.String(got[0]))
	}

	// Disable: no more notifications.
	a = e.login(t, "alice")
	mustResult(t, a.IQ("<iq type='set' id='x1'><disable xmlns='"+nsPush+"' jid='"+app.JID+"' node='dev-node-1'/></iq>"))
	if regs, _ := e.db.PushRegistrations(context.Background(), "alice"); len(regs) != 0 {
		t.Errorf("after disable: %v", regs)
	}
	a.Close()
	waitFor(t, func() bool { return e.srv.Online() == 2 })
	offlineMessage(t, b, "third")
	if p := filter(drain(t, app), isPush("dev-node-1")); len(p) != 0 {
		t.Errorf("notification after disable: %s", xmpptest.String(p[0]))
	}
}

func filter(els []*wire.Element, pred func(*wire.Element) bool) []*wire.Element {
	var out []*wire.Element
	for _, e := range els {
		if pred(e) {
			out = append(out, e)
		}
	}
	return out
}

// The operator may include sender and body (push.include_sender,
// push.include_body).
func TestPushIncludeSenderBody(t *testing.T) {
	e := start(t, func(c *server.Config) {
		c.Push = push.Config{MinInterval: time.Nanosecond, IncludeSender: true, IncludeBody: true}
	})
	for _, u := range []string{"alice", "bob", "appsrv"} {
		e.user(t, u)
	}
	app := e.login(t, "appsrv", xmpptest.Options{Resource: "app"})
	b := e.login(t, "bob")
	a := e.login(t, "alice")
	mustResult(t, a.IQ(enablePush("e1", app.JID, "n", "s")))
	a.Close()
	waitFor(t, func() bool { return e.srv.Online() == 2 })
	offlineMessage(t, b, "hello there")
	f := summary(t, app.Expect("notification", isPush("n")))
	if f["last-message-sender"] != "bob@"+domain || f["last-message-body"] != "hello there" {
		t.Errorf("summary %v", f)
	}
}

// An app server that answers with errors, or not at all, is disabled
// after MaxErrors in a row.
func TestPushFailingAppServer(t *testing.T) {
	e := start(t, func(c *server.Config) {
		c.Push = push.Config{MinInterval: time.Nanosecond, MaxErrors: 2, Timeout: 300 * time.Millisecond}
	})
	for _, u := range []string{"alice", "bob", "appsrv"} {
		e.user(t, u)
	}
	app := e.login(t, "appsrv", xmpptest.Options{Resource: "app"})
	b := e.login(t, "bob")
	a := e.login(t, "alice")
	mustResult(t, a.IQ(enablePush("e1", app.JID, "errs", "s")))
	// The second registration's app server is a resource nobody bound:
	// its notifications time out.
	mustResult(t, a.IQ(enablePush("e2", "appsrv@"+domain+"/gone", "silent", "s")))
	a.Close()
	waitFor(t, func() bool { return e.srv.Online() == 2 })
	for i := range 2 {
		offlineMessage(t, b, fmt.Sprint("m", i))
		n := app.Expect("notification", isPush("errs"))
		app.SendRaw("<iq type='error' id='" + n.Get("id") + "' to='" + n.Get("from") + "'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		drain(t, app)
	}
	// Both registrations are gone: errors and timeouts (waited for, not slept).
	waitFor(t, func() bool {
		regs, _ := e.db.PushRegistrations(context.Background(), "alice")
		return len(regs) == 0
	})
	offlineMessage(t, b, "after")
	if p := filter(drain(t, app), isPush("errs")); len(p) != 0 {
		t.Error("notification to a disabled app server")
	}
}

// Notifications of one registration are rate-limited: a burst of
// messages gives one notification at once and one at the interval's end
// that counts them all.
func TestPushRateLimit(t *testing.T) {
	e := start(t, func(c *server.Config) { c.Push = push.Config{MinInterval: 3 * time.Second} })
	for _, u := range []string{"alice", "bob", "appsrv"} {
		e.user(t, u)
	}
	app := e.login(t, "appsrv", xmpptest.Options{Resource: "app"})
	b := e.login(t, "bob")
	a := e.login(t, "alice")
	mustResult(t, a.IQ(enablePush("e1", app.JID, "n", "s")))
	a.Close()
	waitFor(t, func() bool { return e.srv.Online() == 2 })
	for i := range 5 {
		b.SendRaw(fmt.Sprintf("<message to='alice@%s' type='chat'><body>%d</body></message>", domain, i))
	}
	drain(t, b)
	var counts []string
	for {
		n := app.Expect("notification", isPush("n"))
		c := summary(t, n)["message-count"]
		counts = append(counts, c)
		if c == "5" {
			break
		}
	}
	if len(counts) >= 5 {
		t.Errorf("no rate limit: notifications with counts %v", counts)
	}
}

// Enable requests are checked; the per-account cap holds.
func TestPushLimitsAndBadInput(t *testing.T) {
	e := start(t, func(c *server.Config) { c.Push = push.Config{MaxRegistrations: 2} })
	e.user(t, "alice")
	a := e.login(t, "alice")
	mustResult(t, a.IQ(enablePush("e1", "push.example.org", "one", "s")))
	mustResult(t, a.IQ(enablePush("e2", "push.example.org", "two", "s")))
	mustResult(t, a.IQ(enablePush("e3", "push.example.org", "two", "s2"))) // replaces
	if cond, _, _ := errorOf(a.IQ(enablePush("e4", "push.example.org", "three", "s"))); cond != "policy-violation" {
		t.Errorf("third registration: %q, want policy-violation", cond)
	}
	bad := map[string]string{
		"no node":      "<enable xmlns='" + nsPush + "' jid='push.example.org'/>",
		"no jid":       "<enable xmlns='" + nsPush + "' node='n'/>",
		"bad jid":      "<enable xmlns='" + nsPush + "' jid='@@' node='n'/>",
		"wrong form":   "<enable xmlns='" + nsPush + "' jid='p.example' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></enable>",
		"two forms":    "<enable xmlns='" + nsPush + "' jid='p.example' node='n'><x xmlns='jabber:x:data' type='submit'/><x xmlns='jabber:x:data' type='submit'/></enable>",
		"big form":     "<enable xmlns='" + nsPush + "' jid='p.example' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + nsPubsub + "#publish-options</value></field><field var='s'><value>" + strings.Repeat("x", 5000) + "</value></field></x></enable>",
		"disable none": "<disable xmlns='" + nsPush + "'/>",
	}
	for name, payload := range bad {
		if cond, _, _ := errorOf(a.IQ("<iq type='set' id='b'>" + payload + "</iq>")); cond != "bad-request" {
			t.Errorf("%s: %q, want bad-request", name, cond)
		}
	}
	// Disable without node removes every registration at that JID.
	mustResult(t, a.IQ("<iq type='set' id='d'><disable xmlns='"+nsPush+"' jid='push.example.org'/></iq>"))
	if regs, _ := e.db.PushRegistrations(context.Background(), "alice"); len(regs) != 0 {
		t.Errorf("after disable all: %v", regs)
	}
}

// The app server is a local service with its own domain (the domain
// table's Service kind, as a component would be): notifications reach
// it through the domain table and its answers come back through
// c2s.Server.Deliver. An app server that answers with errors is disabled.
func TestPushServiceDomain(t *testing.T) {
	domains := router.NewDomains(domain)
	got := make(chan *wire.Element, 16)
	var fail atomic.Bool
	app := router.HandlerFunc(func(ctx context.Context, el *wire.Element, send func(*wire.Element)) {
		got <- el
		if el.Local != "iq" {
			return
		}
		r := wire.New(wire.NSClient, "iq", "type", "result", "id", el.Get("id"), "from", el.Get("to"), "to", el.Get("from"))
		if fail.Load() {
			r.Set("type", "error")
			r.Add(wire.New(wire.NSClient, "error", "type", "cancel").Add(wire.New("urn:ietf:params:xml:ns:xmpp-stanzas", "item-not-found")))
		}
		send(r)
	})
	if err := domains.AddService("push."+domain, app); err != nil {
		t.Fatal(err)
	}
	e := startWith(t, nil, func(c *server.Config, d *server.Deps) {
		d.Domains = domains
		// No timeouts within the test: only answers count.
		c.Push = push.Config{MinInterval: time.Nanosecond, MaxErrors: 2, Timeout: time.Hour}
	})
	e.user(t, "alice")
	e.user(t, "bob")
	b := e.login(t, "bob")
	a := e.login(t, "alice")
	mustResult(t, a.IQ(enablePush("e1", "push."+domain, "svc-node", "s")))
	a.Close()
	waitFor(t, func() bool { return e.srv.Online() == 1 })

	next := func() *wire.Element {
		t.Helper()
		select {
		case el := <-got:
			return el
		case <-time.After(xmpptest.Wait):
			t.Fatal("no notification at the service")
			return nil
		}
	}
	offlineMessage(t, b, "one")
	n := next()
	if !isPush("svc-node")(n) || n.Get("from") != "alice@"+domain || strings.Contains(xmpptest.String(n), "one") {
		t.Fatalf("service got %s", xmpptest.String(n))
	}
	// The result was taken: the registration is still there and error-free.
	fail.Store(true)
	for range 2 {
		offlineMessage(t, b, "again")
		next()
	}
	waitFor(t, func() bool {
		regs, _ := e.db.PushRegistrations(context.Background(), "alice")
		return len(regs) == 0
	})
}

// TestPushHibernated: a phone whose connection dropped while stream
// management holds its session (XEP-0198) is woken like an offline one:
// a message with a body queued to the hibernated session, or left
// unacknowledged when the connection dropped, triggers a notification;
// presence does not. After resumption the message arrives once more.
func TestPushHibernated(t *testing.T) {
	e := start(t, func(c *server.Config) { c.Push = push.Config{MinInterval: time.Nanosecond} })
	for _, u := range []string{"alice", "bob", "appsrv"} {
		e.user(t, u)
	}
	app := e.login(t, "appsrv", xmpptest.Options{Resource: "app"})
	b := e.login(t, "bob")
	a := e.login(t, "alice", xmpptest.Options{Resource: "phone"})
	mustResult(t, a.IQ(enablePush("e1", app.JID, "phone-node", "s")))
	a.SendRaw(`<presence/>`)
	a.SendRaw(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	enabled := a.Expect("enabled", func(el *wire.Element) bool { return el.Local == "enabled" })
	drain(t, b)                          // alice's presence: bob is not her contact, nothing comes
	a.Conn.(*tls.Conn).NetConn().Close() // the phone goes out of coverage

	b.SendRaw("<presence to='alice@" + domain + "'/>") // not worth a wake-up
	offlineMessage(t, b, "wake up")
	n := app.Expect("notification", isPush("phone-node"))
	if c := summary(t, n)["message-count"]; c != "1" {
		t.Errorf("message-count %s, want 1 (the message, not the presence)", c)
	}
	app.SendRaw("<iq type='result' id='" + n.Get("id") + "' to='" + n.Get("from") + "'/>")

	c, err := xmpptest.Connect(t, e.plain, domain, xmpptest.Options{Pool: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth("alice", "secret-alice", sasl.Mechanism{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	c.SendRaw(`<resume xmlns='urn:xmpp:sm:3' previd='` + enabled.Get("id") + `' h='0'/>`)
	c.Expect("resumed", func(el *wire.Element) bool { return el.Local == "resumed" })
	c.Expect("message", func(el *wire.Element) bool { return el.ChildText(wire.NSClient, "body") == "wake up" })
}
