package server_test

import (
	"testing"

	"chatbx/server/xmpptest"
)

// TestSlixmppCarbonsPEP: Debian's python3-slixmpp with its xep_0280
// plugin enables carbons and gets the sent and received carbons of a
// second resource of the same account; it then publishes a user
// nickname (XEP-0172, xep_0172 over xep_0163), and a contact's slixmpp,
// which advertises nick+notify through its caps (xep_0115), receives the
// PEP notification.
func TestSlixmppCarbonsPEP(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	befriend(t, e.db, "alice", "bob")
	ca := writeCA(t, e)
	const nick = "Alice Slix"
	bc, bl := slix(t, e, ca, "bob@chatbx.test/laptop", "secret-bob", "SCRAM-SHA-256", "pepnotify", nick)
	waitLine(t, bl, "READY")
	ac, al := slix(t, e, ca, "alice@chatbx.test/phone", "secret-alice", "SCRAM-SHA-256", "carbons", "to-desktop", "from-desktop", nick)
	waitLine(t, al, "READY")

	desktop := e.login(t, "alice", xmpptest.Options{Resource: "desktop"})
	available(t, desktop, nil, false)
	bob := e.login(t, "bob", xmpptest.Options{Resource: "go"})
	bob.SendRaw(`<message type='chat' to='alice@chatbx.test/desktop'><body>to-desktop</body></message>`)
	waitLine(t, al, "CARBON-RECEIVED")
	desktop.SendRaw(`<message type='chat' to='bob@chatbx.test'><body>from-desktop</body></message>`)
	waitLine(t, al, "CARBON-SENT")
	waitLine(t, al, "PUBLISHED")
	if err := ac.Wait(); err != nil {
		t.Errorf("slixmpp alice: %v", err)
	}
	waitLine(t, bl, "NICK "+nick)
	if err := bc.Wait(); err != nil {
		t.Errorf("slixmpp bob: %v", err)
	}
}
