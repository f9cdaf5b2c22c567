package ws_test

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/ws"
	"chatbx/server/xmpptest"
)

const nsSM = "urn:xmpp:sm:3"

// wsSM is a WebSocket client with stream management (XEP-0198): it
// counts the stanzas it handled and answers the server's <r/>.
type wsSM struct {
	t  testing.TB
	e  *env
	w  *wsClient
	h  uint32
	id string
}

func (e *env) smLogin(t testing.TB, user string) *wsSM {
	t.Helper()
	w := e.dial(t)
	w.login(user)
	w.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	el := w.expect("enabled", func(el *wire.Element) bool { return el.Space == nsSM })
	if el.Local != "enabled" || el.Get("id") == "" {
		t.Fatalf("enable: %s", xmpptest.String(el))
	}
	return &wsSM{t: t, e: e, w: w, id: el.Get("id")}
}

func (c *wsSM) next() *wire.Element {
	c.t.Helper()
	for {
		el, err := c.w.next()
		if err != nil {
			c.t.Fatalf("ws sm client: %v", err)
		}
		if el.Space == nsSM && el.Local == "r" {
			c.w.send(fmt.Sprintf(`<a xmlns='urn:xmpp:sm:3' h='%d'/>`, c.h))
			continue
		}
		if el.Space == wire.NSClient {
			c.h++
		}
		return el
	}
}

// cut drops the connection without <close/> or a WebSocket close.
func (c *wsSM) cut() { c.w.conn.CloseNow() }

// resume opens a new WebSocket, authenticates as user and resumes.
func (c *wsSM) resume(user string) {
	c.t.Helper()
	w := c.e.dial(c.t)
	w.open()
	creds := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00secret-" + user))
	w.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + creds + `</auth>`)
	if el := w.expect("sasl answer", func(*wire.Element) bool { return true }); el.Local != "success" {
		c.t.Fatalf("auth: %s", el)
	}
	if f := w.open(); f.Child(nsSM, "sm") == nil {
		c.t.Fatalf("no sm feature: %s", xmpptest.String(f))
	}
	w.send(fmt.Sprintf(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>`, c.id, c.h))
	if el := w.expect("resumed", func(*wire.Element) bool { return true }); el.Local != "resumed" {
		c.t.Fatalf("resume: %s", xmpptest.String(el))
	}
	c.w = w
}

// TestWebSocketSMResume: over WebSocket, 1000 messages from two TCP
// senders across 10 dropped connections arrive exactly once, in order
// per sender, each time after <resume/>.
func TestWebSocketSMResume(t *testing.T) {
	const n, cuts = 1000, 10
	e := start(t, ws.Config{})
	alice := e.smLogin(t, "alice")
	to := "alice@" + domain + "/web"
	var wg sync.WaitGroup
	for _, sender := range []string{"bob", "alice"} {
		// alice's second resource sends too: another sender.
		c := xmpptest.Login(t, e.plain, domain, sender, "secret-"+sender, xmpptest.Options{Pool: e.ca.Pool, Resource: "pc"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 2 {
				c.SendRaw(`<message type='chat' to='` + to + `'><body>` + sender + ` ` + strconv.Itoa(i) + `</body></message>`)
			}
		}()
	}
	next := map[string]int{}
	for got := 0; got < n; {
		el := alice.next()
		if el.Local != "message" || el.Child(wire.NSClient, "body") == nil {
			continue
		}
		sender, num, _ := strings.Cut(el.ChildText(wire.NSClient, "body"), " ")
		if num != strconv.Itoa(next[sender]) {
			t.Fatalf("from %s: got %q, want %d (message %d)", sender, num, next[sender], got)
		}
		next[sender]++
		got++
		if got%(n/cuts) == 0 && got < n {
			alice.cut()
			alice.resume("alice")
		}
	}
	wg.Wait()
	alice.w.send(`<iq xmlns='jabber:client' type='get' id='end'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		el := alice.next()
		if el.Get("id") == "end" {
			break
		}
		if el.Local == "message" && el.Child(wire.NSClient, "body") != nil {
			t.Fatalf("extra message: %s", xmpptest.String(el))
		}
	}
}

// TestWebSocketSMWindowEnds: a WebSocket session that is not resumed in
// time ends (its other resource sees it go unavailable) and leaves its
// messages in offline storage, delivered with a delay at the next login.
func TestWebSocketSMWindowEnds(t *testing.T) {
	e := start(t, ws.Config{}, func(c *server.Config) { c.ResumeTimeout = 500 * time.Millisecond })
	alice := e.smLogin(t, "alice")
	alice.w.send(`<presence xmlns='jabber:client'/>`)
	pc := xmpptest.Login(t, e.plain, domain, "alice", "secret-alice", xmpptest.Options{Pool: e.ca.Pool, Resource: "pc"})
	// Negative priority: messages to alice never go to pc, so "late"
	// goes to storage whether it reaches the hibernated session or not.
	pc.SendRaw(`<presence><priority>-1</priority></presence>`)
	pc.Expect("web's presence", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("from") == "alice@"+domain+"/web"
	})
	alice.cut()
	bob := xmpptest.Login(t, e.plain, domain, "bob", "secret-bob", xmpptest.Options{Pool: e.ca.Pool})
	bob.SendRaw(`<message type='chat' to='alice@` + domain + `/web'><body>late</body></message>`)
	pc.Expect("web unavailable", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("from") == "alice@"+domain+"/web" && el.Get("type") == "unavailable"
	})
	w := e.dial(t)
	w.login("alice")
	w.send(`<presence xmlns='jabber:client'/>`)
	m := w.expect("late", func(el *wire.Element) bool { return el.Local == "message" })
	if m.ChildText(wire.NSClient, "body") != "late" || m.Child("urn:xmpp:delay", "delay") == nil {
		t.Fatalf("offline message: %s", xmpptest.String(m))
	}
}
