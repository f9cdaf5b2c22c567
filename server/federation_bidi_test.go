package server_test

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"

	"mellium.im/sasl"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// TestFederationBidi: two chatbx instances use one stream both ways
// (XEP-0288): a.test opens it, b.test's answers travel back over it, and
// b.test opens no stream of its own.
func TestFederationBidi(t *testing.T) {
	a, b, _ := federation(t, nil)
	a.user(t, "alice")
	b.user(t, "bob")
	alice, bob := a.login(t, "alice"), b.login(t, "bob")
	for _, c := range []*xmpptest.Client{alice, bob} {
		c.SendRaw(`<presence/>`)
		drain(t, c)
	}
	alice.SendRaw(`<message to='bob@b.test' type='chat'><body>one-stream</body></message>`)
	bob.Expect("message", isMsg("one-stream"))
	bob.SendRaw(`<message to='alice@a.test' type='chat'><body>same-stream</body></message>`)
	alice.Expect("answer", isMsg("same-stream"))
	if r := bob.IQ(`<iq type='get' id='p' to='a.test'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Get("type") != "result" {
		t.Errorf("ping over the bidirectional stream: %s", xmpptest.String(r))
	}
	if log := b.conn.String(); !strings.Contains(log, `"event":"s2s-bidi","domain":"a.test"`) || strings.Contains(log, `"event":"s2s-out"`) {
		t.Errorf("b.test's connection log: %s", log)
	}
	if log := a.conn.String(); strings.Contains(log, `"event":"s2s-in"`) {
		t.Errorf("a.test accepted a stream although its own carries both ways: %s", log)
	}
}

// TestProsodyFederationBidi: with Prosody's mod_s2s_bidi, one stream
// carries both directions whichever side opens it (certificates, SASL
// EXTERNAL).
func TestProsodyFederationBidi(t *testing.T) {
	for _, first := range []string{"prosody", "chatbx"} {
		t.Run(first+" first", func(t *testing.T) {
			ca := xmpptest.NewCA(t, "ca.test")
			pr := startProsody(t, ca, true, true, "s2s_bidi")
			dom := loopbackDomain(t)
			hosts := map[string]string{"p.test": pr.s2s}
			c := newPeer(t, ca, dom, hosts, func(cfg *server.Config, d *server.Deps) { cfg.S2S.SecureAuth = true })
			c.s2s = dom + ":5269"
			c.leaf = ca.Issue(t, func(x *x509.Certificate) { x.IPAddresses = append(x.IPAddresses, net.ParseIP(dom)) }, dom)
			c.start(t, hosts)
			c.user(t, "alice")
			alice := c.login(t, "alice")
			alice.SendRaw(`<presence/>`)
			drain(t, alice)
			bob := xmpptest.Login(t, pr.c2s, "p.test", "bob", "secret-bob", xmpptest.Options{Pool: ca.Pool, Mechanism: sasl.Plain})
			bob.SendRaw(`<presence/>`)
			bob.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
			noError := func(e *wire.Element) {
				if e.Local == "message" && e.Get("type") == "error" {
					t.Fatalf("error: %s", xmpptest.String(e))
				}
			}
			toBob := func() {
				alice.SendRaw(`<message to='bob@p.test' type='chat'><body>to-prosody</body></message>`)
				bob.Expect("from chatbx", func(e *wire.Element) bool { noError(e); return isMsg("to-prosody")(e) })
			}
			toAlice := func() {
				bob.SendRaw(`<message to='alice@` + dom + `' type='chat'><body>to-chatbx</body></message>`)
				alice.Expect("from prosody", func(e *wire.Element) bool { noError(e); return isMsg("to-chatbx")(e) })
			}
			if first == "prosody" {
				toAlice()
				toBob()
			} else {
				toBob()
				toAlice()
			}
			log := c.conn.String()
			switch first {
			case "prosody":
				if !strings.Contains(log, `"event":"s2s-bidi","domain":"p.test"`) || strings.Contains(log, `"event":"s2s-out"`) {
					t.Errorf("chatbx did not answer over Prosody's stream: %s", log)
				}
			default:
				if !strings.Contains(log, `"event":"s2s-out","domain":"p.test"`) || strings.Contains(log, `"event":"s2s-in"`) {
					t.Errorf("Prosody did not answer over chatbx's stream: %s", log)
				}
			}
		})
	}
}
