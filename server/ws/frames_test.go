package ws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"chatbx/server/wire"
	"chatbx/server/ws"
)

// TestWebSocketBadFramesMore covers what TestWebSocketBadFrames does not: a
// message past the library's backstop limit (twice the stanza limit), which
// is never read into memory, and frames that are well-formed but out of
// place. Each ends that connection with the close code; the server goes on
// serving.
func TestWebSocketBadFramesMore(t *testing.T) {
	const limit = 4096
	e := start(t, ws.Config{MaxStanzaBytes: limit})
	cases := []struct {
		name      string
		login     bool
		send      func(c *wsClient)
		condition string // stream error before the close; "" for none
		code      websocket.StatusCode
	}{
		{"message past the backstop", true, func(c *wsClient) {
			c.conn.Write(context.Background(), websocket.MessageText,
				[]byte(`<message xmlns='jabber:client' to='bob@chatbx.test'><body>`+strings.Repeat("x", 3*limit+4096)+`</body></message>`))
		}, "", websocket.StatusMessageTooBig},
		{"open after bind", true, func(c *wsClient) { c.send(openFrame) }, "not-authorized", websocket.StatusProtocolError},
		{"close before open", false, func(c *wsClient) {
			c.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)
		}, "", websocket.StatusProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t)
			if tc.login {
				c.login("alice")
			}
			tc.send(c)
			sawCond := false
			for {
				el, err := c.next()
				if err != nil {
					if got := websocket.CloseStatus(err); got != tc.code {
						t.Fatalf("close status %d (%v), want %d", got, err, tc.code)
					}
					break
				}
				if el.Local == "error" && tc.condition != "" && el.Child("urn:ietf:params:xml:ns:xmpp-streams", tc.condition) != nil {
					sawCond = true
				}
			}
			if tc.condition != "" && !sawCond {
				t.Errorf("no <%s/> stream error before the close", tc.condition)
			}
		})
	}
	// The server still serves, and alice can log in again.
	c := e.dial(t)
	if jid := c.login("alice"); !strings.HasPrefix(jid, "alice@chatbx.test/") {
		t.Fatalf("bound %q", jid)
	}
	c.send(`<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.expect("ping result", func(el *wire.Element) bool { return el.Local == "iq" && el.Get("id") == "p" })
}
