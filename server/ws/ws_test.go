package ws_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/ws"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

const domain = "chatbx.test"

type env struct {
	srv   *server.Server
	ca    *xmpptest.CA
	plain string // c2s STARTTLS address
	url   string // wss:// endpoint
	log   *strings.Builder
}

// start runs a c2s server and the WebSocket endpoint on a loopback HTTPS
// listener with a certificate from a test CA, and two accounts.
func start(t testing.TB, cfg ws.Config, mods ...func(*server.Config)) *env {
	t.Helper()
	db, ca := storetest.Open(t), xmpptest.NewCA(t, domain)
	scfg := server.DefaultConfig()
	scfg.Domain = domain
	scfg.C2SListen, scfg.C2SListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.MaxStanzaBytes > 0 {
		scfg.MaxStanzaBytes = cfg.MaxStanzaBytes // main passes the same limit to both
	}
	for _, m := range mods {
		m(&scfg)
	}
	srv, err := server.New(scfg, server.Deps{
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(),
		StartTLS:  func(string) *tls.Config { return ca.ServerConfig() },
		DirectTLS: ca.ServerConfig("xmpp-client"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	cfg.Domain = domain
	hs := httptest.NewUnstartedServer(ws.New(ctx, cfg, srv))
	hs.TLS = ca.ServerConfig()
	hs.StartTLS()
	t.Cleanup(func() {
		cancel()
		<-done
		hs.Close()
	})
	for _, u := range []string{"alice", "bob"} {
		c, err := store.DeriveCredentials("secret-"+u, store.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateUser(context.Background(), u, c); err != nil {
			t.Fatal(err)
		}
	}
	return &env{srv: srv, ca: ca, plain: srv.Addrs()[0].String(),
		url: "wss" + strings.TrimPrefix(hs.URL, "https") + "/xmpp-websocket"}
}

// wsClient is a minimal RFC 7395 client for tests.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
}

func (e *env) dial(t testing.TB, protocols ...string) *wsClient {
	t.Helper()
	if protocols == nil {
		protocols = []string{"xmpp"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool, ServerName: domain}}}
	conn, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: protocols})
	if err != nil {
		t.Fatalf("dial %s: %v", e.url, err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next message as an element, or the read error.
func (c *wsClient) next() (*wire.Element, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	typ, b, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, errors.New("binary message from the server")
	}
	return wire.ParseFrame(b)
}

func (c *wsClient) expect(what string, pred func(*wire.Element) bool) *wire.Element {
	c.t.Helper()
	for {
		el, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if pred(el) {
			return el
		}
	}
}

const openFrame = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='chatbx.test' version='1.0'/>`

// open sends <open/> and returns the features.
func (c *wsClient) open() *wire.Element {
	c.t.Helper()
	c.send(openFrame)
	o := c.expect("open", func(el *wire.Element) bool { return true })
	if o.Space != ws.NSFraming || o.Local != "open" || o.Get("from") != domain || o.Get("version") != "1.0" || o.Get("id") == "" {
		c.t.Fatalf("open: got %s", o)
	}
	f := c.expect("features", func(el *wire.Element) bool { return true })
	if f.Local != "features" || f.Space != "http://etherx.jabber.org/streams" {
		c.t.Fatalf("features: got %s", f)
	}
	return f
}

// login authenticates with PLAIN (the transport is TLS) and binds.
func (c *wsClient) login(user string) string {
	c.t.Helper()
	f := c.open()
	if f.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls") != nil {
		c.t.Fatalf("STARTTLS offered over WebSocket: %s", f)
	}
	creds := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00secret-" + user))
	c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + creds + `</auth>`)
	if el := c.expect("sasl answer", func(*wire.Element) bool { return true }); el.Local != "success" {
		c.t.Fatalf("auth: %s", el)
	}
	f = c.open()
	if f.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil {
		c.t.Fatalf("no bind offered: %s", f)
	}
	c.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>`)
	r := c.expect("bind result", func(el *wire.Element) bool { return el.Local == "iq" })
	if r.Get("type") != "result" || r.Space != wire.NSClient {
		c.t.Fatalf("bind: %s", r)
	}
	return r.FirstChild().ChildText("urn:ietf:params:xml:ns:xmpp-bind", "jid")
}

func TestWebSocketChatsWithTCP(t *testing.T) {
	e := start(t, ws.Config{})
	w := e.dial(t)
	if got := w.conn.Subprotocol(); got != "xmpp" {
		t.Fatalf("subprotocol = %q, want xmpp", got)
	}
	jid := w.login("alice")
	if jid != "alice@chatbx.test/web" {
		t.Fatalf("bound %q", jid)
	}
	w.send(`<presence xmlns='jabber:client'/>`)
	bob := xmpptest.Login(t, e.plain, domain, "bob", "secret-bob", xmpptest.Options{Pool: e.ca.Pool})
	bob.SendRaw(`<presence/>`)

	// TCP → WebSocket.
	bob.SendRaw(`<message to='alice@chatbx.test/web' type='chat' id='m1'><body>hello over tcp</body></message>`)
	m := w.expect("message from bob", func(el *wire.Element) bool { return el.Local == "message" })
	if m.ChildText(wire.NSClient, "body") != "hello over tcp" || !strings.HasPrefix(m.Get("from"), "bob@chatbx.test/") {
		t.Fatalf("got %s", m)
	}
	// WebSocket → TCP.
	w.send(`<message xmlns='jabber:client' to='bob@chatbx.test' type='chat' id='m2'><body>hello over websocket</body></message>`)
	got := bob.Expect("message from alice", func(el *wire.Element) bool {
		return el.Local == "message" && el.ChildText(wire.NSClient, "body") == "hello over websocket"
	})
	if got.Get("from") != "alice@chatbx.test/web" {
		t.Fatalf("from = %q", got.Get("from"))
	}
	// A message to an unknown user is bounced with an error.
	w.send(`<message xmlns='jabber:client' to='nobody@chatbx.test' type='chat' id='m3'><body>anyone?</body></message>`)
	errMsg := w.expect("error", func(el *wire.Element) bool { return el.Local == "message" && el.Get("id") == "m3" })
	if errMsg.Get("type") != "error" || errMsg.Child(wire.NSClient, "error").Child(wire.NSStanzas, "service-unavailable") == nil {
		t.Fatalf("bounce: %s", errMsg)
	}
	// <close/> ends the stream with <close/> and a normal closure.
	w.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)
	w.expect("close", func(el *wire.Element) bool { return el.Space == ws.NSFraming && el.Local == "close" })
	if _, err := w.next(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after close: %v, want close status 1000", err)
	}
}

// TestWebSocketBadFrames: every framing error ends the connection with a
// stream error and a close code that says why; the server goes on.
func TestWebSocketBadFrames(t *testing.T) {
	e := start(t, ws.Config{MaxStanzaBytes: 4096})
	cases := []struct {
		name      string
		login     bool
		send      func(c *wsClient)
		condition string
		code      websocket.StatusCode
	}{
		{"binary frame", false, func(c *wsClient) {
			c.conn.Write(context.Background(), websocket.MessageBinary, []byte(openFrame))
		}, "unsupported-encoding", websocket.StatusUnsupportedData},
		{"stanza before open", false, func(c *wsClient) {
			c.send(`<message xmlns='jabber:client' to='bob@chatbx.test'><body>x</body></message>`)
		}, "invalid-namespace", websocket.StatusProtocolError},
		{"two elements in one message", true, func(c *wsClient) {
			c.send(`<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>`)
		}, "not-well-formed", websocket.StatusProtocolError},
		{"text that is not xml", true, func(c *wsClient) { c.send(`hello`) }, "not-well-formed", websocket.StatusProtocolError},
		{"oversized stanza", true, func(c *wsClient) {
			c.send(`<message xmlns='jabber:client' to='bob@chatbx.test'><body>` + strings.Repeat("x", 5000) + `</body></message>`)
		}, "policy-violation", websocket.StatusMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t)
			if tc.login {
				c.login("alice")
			}
			tc.send(c)
			var sawCond bool
			for {
				el, err := c.next()
				if err != nil {
					if got := websocket.CloseStatus(err); got != tc.code {
						t.Fatalf("close status %d (%v), want %d", got, err, tc.code)
					}
					break
				}
				if el.Local == "error" && el.Child("urn:ietf:params:xml:ns:xmpp-streams", tc.condition) != nil {
					sawCond = true
				}
			}
			if !sawCond {
				t.Errorf("no <%s/> stream error before the close", tc.condition)
			}
		})
	}
	// The server still serves.
	e.dial(t).login("bob")
}

func TestWebSocketNeedsSubprotocol(t *testing.T) {
	e := start(t, ws.Config{})
	c := e.dial(t, "chat")
	if _, err := c.next(); websocket.CloseStatus(err) != websocket.StatusProtocolError {
		t.Fatalf("without the xmpp subprotocol: %v, want close 1002", err)
	}
}

func TestWebSocketOrigins(t *testing.T) {
	e := start(t, ws.Config{Origins: []string{"chat.example.org"}})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool, ServerName: domain}}}
	for origin, ok := range map[string]bool{"https://chat.example.org": true, "https://evil.example": false} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, resp, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"xmpp"},
			HTTPHeader: http.Header{"Origin": {origin}}})
		cancel()
		if ok != (err == nil) {
			t.Errorf("origin %s: err = %v, want allowed = %v", origin, err, ok)
		}
		if err == nil {
			conn.CloseNow()
		} else if resp != nil && resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %s: status %d, want 403", origin, resp.StatusCode)
		}
	}
}

// TestWebSocketConnectionRate: new WebSocket streams count against the
// same per-network connection rate as TCP connections.
func TestWebSocketConnectionRate(t *testing.T) {
	e := start(t, ws.Config{}, func(c *server.Config) { c.ConnPerSecond, c.ConnBurst = 0.001, 2 })
	for i := 0; i < 2; i++ {
		e.dial(t).open()
	}
	c := e.dial(t)
	var closed bool
	for !closed {
		el, err := c.next()
		if err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation {
				t.Fatalf("third stream: close %d (%v), want 1008", got, err)
			}
			closed = true
			break
		}
		if el.Local == "features" {
			t.Fatal("third stream over the burst was served")
		}
	}
}
