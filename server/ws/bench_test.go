package ws_test

// WebSocket counterparts of the TCP benchmarks BenchmarkLogin and
// BenchmarkRouteMessage in package server (server/server_test.go): the
// same accounts (store.MinIterations), mechanism (SCRAM-SHA-256), bind and
// message, so that the two transports' numbers compare.

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"mellium.im/sasl"

	"chatbx/server/wire"
	"chatbx/server/ws"
)

const nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"

// scramLogin authenticates with SCRAM-SHA-256 (mellium's client, as
// xmpptest.Login over TCP) and binds; it returns the bound JID.
func (c *wsClient) scramLogin(user string) string {
	c.t.Helper()
	f := c.open()
	var remote []string
	if ms := f.Child(nsSASL, "mechanisms"); ms != nil {
		for _, m := range ms.Elements() {
			remote = append(remote, m.Text())
		}
	}
	neg := sasl.NewClient(sasl.ScramSha256,
		sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte("secret-" + user), nil }),
		sasl.RemoteMechanisms(remote...))
	_, resp, err := neg.Step(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(`<auth xmlns='` + nsSASL + `' mechanism='SCRAM-SHA-256'>` + base64.StdEncoding.EncodeToString(resp) + `</auth>`)
	for done := false; !done; {
		el := c.expect("sasl", func(*wire.Element) bool { return true })
		switch el.Local {
		case "challenge":
			ch, _ := base64.StdEncoding.DecodeString(el.Text())
			if _, resp, err = neg.Step(ch); err != nil {
				c.t.Fatal(err)
			}
			c.send(`<response xmlns='` + nsSASL + `'>` + base64.StdEncoding.EncodeToString(resp) + `</response>`)
		case "success":
			add, _ := base64.StdEncoding.DecodeString(el.Text())
			if _, _, err := neg.Step(add); err != nil {
				c.t.Fatalf("server signature: %v", err)
			}
			done = true
		default:
			c.t.Fatalf("sasl: %s", el)
		}
	}
	c.open()
	c.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	r := c.expect("bind result", func(el *wire.Element) bool { return el.Local == "iq" })
	if r.Get("type") != "result" {
		c.t.Fatalf("bind: %s", r)
	}
	return r.FirstChild().ChildText("urn:ietf:params:xml:ns:xmpp-bind", "jid")
}

// close ends the stream as a client does: <close/>, the server's <close/>
// and the WebSocket closing handshake.
func (c *wsClient) close() {
	c.t.Helper()
	c.send(`<close xmlns='` + ws.NSFraming + `'/>`)
	c.expect("close", func(el *wire.Element) bool { return el.Space == ws.NSFraming && el.Local == "close" })
	if _, err := c.next(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		c.t.Fatalf("after close: %v, want close status 1000", err)
	}
}

// BenchmarkWebSocketLogin is one complete WebSocket session per iteration:
// TCP and TLS connection, HTTP upgrade, <open/>, SCRAM-SHA-256, bind and
// <close/> (BenchmarkLogin in package server is the TCP one: STARTTLS
// instead of the upgrade).
func BenchmarkWebSocketLogin(b *testing.B) {
	e := start(b, ws.Config{})
	b.ReportAllocs()
	for b.Loop() {
		c := e.dial(b)
		c.scramLogin("alice")
		c.close()
	}
}

// BenchmarkWebSocketMessage routes chat messages from one WebSocket session
// to another, with at most 256 in flight (as BenchmarkRouteMessage in
// package server does over TCP).
func BenchmarkWebSocketMessage(b *testing.B) {
	e := start(b, ws.Config{})
	a, bo := e.dial(b), e.dial(b)
	a.scramLogin("alice")
	bo.scramLogin("bob")
	bo.send(`<presence xmlns='jabber:client'/>`)
	bo.send(`<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
	bo.expect("ping result", func(el *wire.Element) bool { return el.Local == "iq" && el.Get("id") == "p" })
	msg := []byte(`<message xmlns='jabber:client' to='bob@chatbx.test' type='chat'><body>benchmark message body of typical length</body></message>`)
	b.ReportAllocs()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	n := b.N
	window := make(chan struct{}, 256)
	go func() {
		for i := 0; i < n; i++ {
			typ, p, err := bo.conn.Read(ctx)
			if err != nil {
				done <- err
				return
			}
			if el, err := wire.ParseFrame(p); typ != websocket.MessageText || err != nil || el.Local != "message" {
				done <- fmt.Errorf("message %d: %q (%v)", i, p, err)
				return
			}
			<-window
		}
		done <- nil
	}()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		select {
		case window <- struct{}{}:
		case err := <-done: // the receiver failed
			b.Fatal(err)
		}
		if err := a.conn.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
