package server_test

import (
	"context"
	"crypto/tls"
	"testing"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// TestSlixmppStreamManagement: Debian's python3-slixmpp with its
// xep_0198 plugin enables stream management with resumption, loses its
// TCP connection without closing the stream, resumes, and receives the
// message sent while it was away, once; its session is never started
// afresh. (slixmpp 1.8 logs "Inconsistent sequence numbers" on
// <resumed/>: it empties its own unacknowledged queue when it sends
// <resume/>, so any h looks too high to it.)
func TestSlixmppStreamManagement(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	ca := writeCA(t, e)
	rc, rl := slix(t, e, ca, "alice@chatbx.test/phone", "secret-alice", "SCRAM-SHA-256", "smresume", "first", "second")
	waitLine(t, rl, "READY")
	bob := e.login(t, "bob")
	bob.SendRaw(`<message type='chat' to='alice@chatbx.test/phone'><body>first</body></message>`)
	waitLine(t, rl, "CUT")
	bob.SendRaw(`<message type='chat' to='alice@chatbx.test/phone'><body>second</body></message>`)
	waitLine(t, rl, "RESUMED")
	waitLine(t, rl, "GOT second")
	if err := rc.Wait(); err != nil {
		t.Errorf("slixmpp: %v", err)
	}
}

// TestSMShutdown: at shutdown, messages queued for a session that lost
// its connection (hibernated or not noticed yet) and not acknowledged go
// to offline storage, and arrive with a delay after the restart.
func TestSMShutdown(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	alice := e.login(t, "alice", xmpptest.Options{Resource: "phone"})
	alice.SendRaw(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	alice.Expect("enabled", func(el *wire.Element) bool { return el.Local == "enabled" })
	alice.Conn.(*tls.Conn).NetConn().Close()
	bob := e.login(t, "bob")
	bob.SendRaw(`<message type='chat' to='alice@chatbx.test/phone'><body>before shutdown</body></message>`)
	bob.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	e.stop()
	if n, err := e.db.OfflineCount(context.Background(), "alice"); err != nil || n != 1 {
		t.Fatalf("offline messages after shutdown: %d, %v; want 1", n, err)
	}
	e2 := startWith(t, e, nil)
	c := e2.login(t, "alice")
	c.SendRaw(`<presence/>`)
	m := c.Expect("stored", isMsg("before shutdown"))
	if m.Child("urn:xmpp:delay", "delay") == nil {
		t.Fatalf("no delay: %s", xmpptest.String(m))
	}
}
