package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"chatbx/server"
	"chatbx/server/mam"
	"chatbx/server/muc"
	"chatbx/server/push"
	"chatbx/server/router"
	"chatbx/server/upload"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
)

// Local services across servers (issue 12, "every local service works
// across servers"): two chatbx instances wired as main wires them, each
// with the message archive, push and a group chat service on
// conference.<domain>, and a certificate naming both.

// fedServices starts a.test and b.test with the archive, push and group
// chat, and certificates for the host and its conference service.
func fedServices(t *testing.T) (a, b *peer) {
	t.Helper()
	return fedServicesAuth(t, false, nil)
}

// fedServicesAuth is fedServices; with dialback, secure_auth is off and
// the s2s certificates name neither domain, so the servers authenticate
// each other by dialback (XEP-0220) over TLS.
func fedServicesAuth(t *testing.T, dialback bool, more func(*server.Config, *server.Deps)) (a, b *peer) {
	t.Helper()
	ca := xmpptest.NewCA(t, "ca.test")
	hosts := map[string]string{}
	mod := func(c *server.Config, d *server.Deps) {
		// Push: answers count, timeouts would take long (only an
		// answer that arrives can end a registration here).
		c.Push = push.Config{MinInterval: time.Nanosecond, MaxErrors: 1, Timeout: 10 * time.Minute}
		arch := mam.New(d.DB, c.Domain, mam.Config{})
		c.Extra = append(c.Extra, arch, upload.New(upload.DefaultConfig("https://"+c.Domain+"/upload/"), d.DB))
		c.AccountFeatures = arch.Features()
		d.Archive = arch.Archive
		mc := muc.DefaultConfig()
		mc.Domain, mc.Host = "conference."+c.Domain, c.Domain
		rooms, err := muc.New(context.Background(), mc, d.DB)
		if err != nil {
			t.Fatal(err)
		}
		d.Domains = router.NewDomains(c.Domain)
		if err := d.Domains.AddService(mc.Domain, rooms); err != nil {
			t.Fatal(err)
		}
		if more != nil {
			more(c, d)
		}
		if dialback {
			c.S2S.SecureAuth = false
			d.S2S.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, nil, "elsewhere.test")}}
		}
	}
	a = newPeer(t, ca, "a.test", hosts, mod)
	b = newPeer(t, ca, "b.test", hosts, mod)
	for _, p := range []*peer{a, b} {
		p.leaf = ca.Issue(t, nil, p.domain, "conference."+p.domain)
		hosts["conference."+p.domain] = p.s2s
	}
	a.start(t, hosts)
	b.start(t, hosts)
	return a, b
}

// befriendAcross runs the subscription handshake both ways between x
// (xJID) and y (yJID) on two servers.
func befriendAcross(t *testing.T, x *xmpptest.Client, xJID string, y *xmpptest.Client, yJID string) {
	t.Helper()
	x.SendRaw(`<presence to='` + yJID + `' type='subscribe'/>`)
	y.Expect("subscribe from "+xJID, presenceOf("subscribe", xJID))
	y.SendRaw(`<presence to='` + xJID + `' type='subscribed'/>`)
	x.Expect("roster push: to", rosterPush(yJID, "to"))
	y.SendRaw(`<presence to='` + xJID + `' type='subscribe'/>`)
	x.Expect("subscribe from "+yJID, presenceOf("subscribe", yJID))
	x.SendRaw(`<presence to='` + yJID + `' type='subscribed'/>`)
	y.Expect("roster push: both", rosterPush(xJID, "both"))
	x.Expect("roster push: both", rosterPush(yJID, "both"))
}

// condition returns the defined condition of an error stanza, or "".
func condition(e *wire.Element) string {
	er := e.Child(wire.NSClient, "error")
	if e.Get("type") != "error" || er == nil {
		return ""
	}
	for _, c := range er.Elements() {
		if c.Space == wire.NSStanzas && c.Local != "text" {
			return c.Local
		}
	}
	return ""
}

// TestFederationServices: the local services with a peer on another
// chatbx server: queries of the remote server and of remote accounts,
// blocking a remote JID, the archive of federated messages (opt-in),
// PEP and OMEMO bundles, push to an app server on the other server,
// group chat with a remote occupant, account deletion telling remote
// contacts; then what the receiving server's file holds of the remote
// addresses.
func TestFederationServices(t *testing.T) {
	a, b := fedServices(t)
	for _, u := range []string{"alice", "paula", "dora"} {
		a.user(t, u)
	}
	for _, u := range []string{"bob", "carol", "appsrv"} {
		b.user(t, u)
	}
	alice := a.login(t, "alice")
	bob := b.login(t, "bob")
	carol := b.login(t, "carol")
	for _, c := range []*xmpptest.Client{alice, bob, carol} {
		c.IQ(`<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>`)
		c.SendRaw(`<presence/>`)
		drain(t, c)
	}
	befriendAcross(t, alice, "alice@a.test", bob, "bob@b.test")
	drain(t, alice)
	drain(t, bob)

	t.Run("queries", func(t *testing.T) {
		// The remote server's address: ping, version, disco, last.
		for _, q := range []string{
			`<ping xmlns='urn:xmpp:ping'/>`,
			`<query xmlns='jabber:iq:version'/>`,
			`<query xmlns='http://jabber.org/protocol/disco#info'/>`,
			`<query xmlns='http://jabber.org/protocol/disco#items'/>`,
			`<query xmlns='jabber:iq:last'/>`,
		} {
			r := alice.IQ(`<iq type='get' id='q' to='b.test'>` + q + `</iq>`)
			if r.Get("type") != "result" || r.Get("from") != "b.test" {
				t.Errorf("%s at b.test: %s", q, xmpptest.String(r))
			}
		}
		r := alice.IQ(`<iq type='get' id='ver' to='b.test'><query xmlns='jabber:iq:version'/></iq>`)
		if r.Child("jabber:iq:version", "query").ChildText("jabber:iq:version", "name") == "" {
			t.Errorf("remote version without name: %s", xmpptest.String(r))
		}
		// The conference service answers disco across.
		r = alice.IQ(`<iq type='get' id='cd' to='conference.b.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		if r.Get("type") != "result" || r.Child(muc.NSDiscoInfo, "query").Child(muc.NSDiscoInfo, "identity").Get("category") != "conference" {
			t.Errorf("remote conference disco#info: %s", xmpptest.String(r))
		}
		// A remote account's bare JID: vcard (empty), disco#info.
		r = alice.IQ(`<iq type='get' id='vc' to='carol@b.test'><vCard xmlns='vcard-temp'/></iq>`)
		if r.Get("type") != "result" && condition(r) != "item-not-found" {
			t.Errorf("vcard of a remote account without one: %s", xmpptest.String(r))
		}
		// A full JID: the client answers (ping, version) both ways.
		alice.SendRaw(`<iq type='get' id='fp' to='` + bob.JID + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
		q := bob.Expect("ping from alice", func(e *wire.Element) bool { return e.Local == "iq" && e.Get("id") == "fp" })
		if q.Get("from") != alice.JID {
			t.Errorf("ping from %q, want %q", q.Get("from"), alice.JID)
		}
		bob.SendRaw(`<iq type='result' id='fp' to='` + q.Get("from") + `'/>`)
		r = alice.Expect("pong", func(e *wire.Element) bool { return e.Local == "iq" && e.Get("id") == "fp" })
		if r.Get("type") != "result" || r.Get("from") != bob.JID {
			t.Errorf("pong: %s", xmpptest.String(r))
		}
		bob.SendRaw(`<iq type='get' id='fv' to='` + alice.JID + `'><query xmlns='jabber:iq:version'/></iq>`)
		q = alice.Expect("version query", func(e *wire.Element) bool { return e.Local == "iq" && e.Get("id") == "fv" })
		alice.SendRaw(`<iq type='result' id='fv' to='` + q.Get("from") + `'><query xmlns='jabber:iq:version'><name>test</name><version>1</version></query></iq>`)
		r = bob.Expect("version answer", func(e *wire.Element) bool { return e.Local == "iq" && e.Get("id") == "fv" })
		if r.Child("jabber:iq:version", "query").ChildText("jabber:iq:version", "name") != "test" {
			t.Errorf("version answer: %s", xmpptest.String(r))
		}
		// A set to a remote account's bare JID for something only the
		// owner may set is refused.
		r = alice.IQ(`<iq type='set' id='vs' to='carol@b.test'><vCard xmlns='vcard-temp'><FN>Not Carol</FN></vCard></iq>`)
		if r.Get("type") != "error" {
			t.Errorf("vcard set on a remote account: %s", xmpptest.String(r))
		}
	})

	t.Run("directed presence", func(t *testing.T) {
		// RFC 6121 §4.6: a second client of alice's sends carol, who is
		// no contact, directed presence; when it ends, carol learns it.
		a2 := xmpptest.Login(t, a.c2s, a.domain, "alice", "secret-alice", xmpptest.Options{Pool: a.ca.Pool, Resource: "directed"})
		a2.SendRaw(`<presence to='carol@b.test'><status>just for carol</status></presence>`)
		p := carol.Expect("directed presence", presenceOf("", "alice@a.test/directed"))
		if p.ChildText(wire.NSClient, "status") != "just for carol" {
			t.Errorf("directed presence: %s", xmpptest.String(p))
		}
		a2.Close()
		carol.Expect("unavailable after the session ended", presenceOf("unavailable", "alice@a.test/directed"))
		drain(t, alice)
	})

	t.Run("upload", func(t *testing.T) {
		// alice gets a slot from her server and sends bob its URL.
		req := `<request xmlns='urn:xmpp:http:upload:0' filename='photo.jpg' size='1000' content-type='image/jpeg'/>`
		r := mustResult(t, alice.IQ(`<iq type='get' id='up1' to='a.test'>`+req+`</iq>`))
		get := r.Child("urn:xmpp:http:upload:0", "slot").Child("urn:xmpp:http:upload:0", "get").Get("url")
		if !strings.HasPrefix(get, "https://a.test/upload/") {
			t.Fatalf("slot: %s", xmpptest.String(r))
		}
		alice.SendRaw(`<message to='bob@b.test' type='chat'><body>` + get + `</body><x xmlns='jabber:x:oob'><url>` + get + `</url></x></message>`)
		m := bob.Expect("upload URL", isMsg(get))
		if m.Child("jabber:x:oob", "x").ChildText("jabber:x:oob", "url") != get {
			t.Errorf("OOB URL lost: %s", xmpptest.String(m))
		}
		// Slots are for the server's own accounts: bob cannot get one
		// from a.test.
		if r := bob.IQ(`<iq type='get' id='up2' to='a.test'>` + req + `</iq>`); r.Get("type") != "error" {
			t.Errorf("slot for a remote account: %s", xmpptest.String(r))
		}
	})

	t.Run("blocking", func(t *testing.T) {
		r := alice.IQ(`<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@b.test'/></block></iq>`)
		mustResult(t, r)
		drain(t, alice)
		// XEP-0191 §3.2: messages from the blocked JID are answered with
		// service-unavailable; IQs to the bare JID too.
		bob.SendRaw(`<message to='alice@a.test' type='chat' id='blk1'><body>blocked-1</body></message>`)
		m := bob.Expect("bounce", func(e *wire.Element) bool { return e.Get("id") == "blk1" })
		if condition(m) != "service-unavailable" {
			t.Errorf("message to the blocker: %s", xmpptest.String(m))
		}
		r = bob.IQ(`<iq type='get' id='blk2' to='alice@a.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		if condition(r) != "service-unavailable" {
			t.Errorf("IQ to the blocker: %s", xmpptest.String(r))
		}
		// Presence from the blocked JID does not arrive: carol's message
		// after it, on the same link, comes first.
		bob.SendRaw(`<presence><status>blocked-presence</status></presence>`)
		bob.SendRaw(`<message to='` + alice.JID + `' type='chat' id='blk3'><body>blocked-3</body></message>`)
		bob.Expect("bounce to full JID", func(e *wire.Element) bool { return e.Get("id") == "blk3" && e.Get("type") == "error" })
		carol.SendRaw(`<message to='alice@a.test' type='chat' id='seq'><body>after-blocked</body></message>`)
		alice.Expect("carol's message", func(e *wire.Element) bool {
			if e.Get("from") != "" && strings.HasPrefix(e.Get("from"), "bob@b.test") {
				t.Errorf("alice got from the blocked JID: %s", xmpptest.String(e))
			}
			return isMsg("after-blocked")(e)
		})
		// XEP-0191 §3.3: the blocker's own stanzas to the blocked JID
		// are refused locally with not-acceptable.
		alice.SendRaw(`<message to='bob@b.test' type='chat' id='blk4'><body>to-blocked</body></message>`)
		m = alice.Expect("local refusal", func(e *wire.Element) bool { return e.Get("id") == "blk4" })
		if condition(m) != "not-acceptable" {
			t.Errorf("message to a blocked JID: %s", xmpptest.String(m))
		}
		mustResult(t, alice.IQ(`<iq type='set' id='b2'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@b.test'/></unblock></iq>`))
		drain(t, alice)
		bob.SendRaw(`<message to='alice@a.test' type='chat' id='unb'><body>unblocked</body></message>`)
		alice.Expect("message after unblock", isMsg("unblocked"))
	})

	t.Run("archive", func(t *testing.T) {
		// Nothing is archived before alice opts in.
		bob.SendRaw(`<message to='alice@a.test' type='chat'><body>MARK-unarchived-in</body></message>`)
		m := alice.Expect("unarchived", isMsg("MARK-unarchived-in"))
		if m.Child("urn:xmpp:sid:0", "stanza-id") != nil {
			t.Errorf("stanza-id without opt-in: %s", xmpptest.String(m))
		}
		mustResult(t, alice.IQ(`<iq type='set' id='ap'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>`))
		bob.SendRaw(`<message to='alice@a.test' type='chat'><body>MARK-archived-in</body></message>`)
		m = alice.Expect("archived", isMsg("MARK-archived-in"))
		if sid := m.Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Get("by") != "alice@a.test" {
			t.Errorf("archived federated message without alice's stanza-id: %s", xmpptest.String(m))
		}
		alice.SendRaw(`<message to='bob@b.test' type='chat'><body>MARK-archived-out</body></message>`)
		bm := bob.Expect("outgoing", isMsg("MARK-archived-out"))
		if bm.Child("urn:xmpp:sid:0", "stanza-id") != nil {
			t.Errorf("bob did not opt in, yet his server tagged: %s", xmpptest.String(bm))
		}
		bodies, fin := mamIDs(t, alice, "mq", "", "")
		if fin == nil {
			t.Fatal("MAM query failed")
		}
		got := strings.Join(bodies, ",")
		if got != "MARK-archived-in,MARK-archived-out" {
			t.Errorf("alice's archive = %q, want the two messages after opt-in", got)
		}
		// bob did not opt in: his server holds none of it.
		drain(t, bob)
		for _, mk := range []string{"MARK-unarchived-in", "MARK-archived-in", "MARK-archived-out"} {
			if fileContains(t, b.db, mk) {
				t.Errorf("b.test's file holds %s", mk)
			}
		}
		if fileContains(t, a.db, "MARK-unarchived-in") {
			t.Error("a.test's file holds a message sent before the opt-in")
		}
	})

	t.Run("pep", func(t *testing.T) {
		// alice's client asks for device lists (+notify, XEP-0115);
		// her second client has no caps.
		omemo := capsClient{name: "omemo-fed", features: []string{nsInfo, devicelist + "+notify"}}
		available(t, alice, &omemo, true)
		plainA := xmpptest.Login(t, a.c2s, a.domain, "alice", "secret-alice", xmpptest.Options{Pool: a.ca.Pool, Resource: "plain"})
		available(t, plainA, nil, false)
		drain(t, bob)
		dev := "<list xmlns='eu.siacs.conversations.axolotl'><device id='2222'/></list>"
		bob.SendRaw(publish("dl", devicelist, "current", dev, publishOpts("pubsub#access_model", "open")))
		bob.Expect("publish", func(e *wire.Element) bool { return e.Get("id") == "dl" })
		ev := alice.Expect("devicelist event", func(e *wire.Element) bool {
			return len(events([]*wire.Element{e}, devicelist)) == 1
		})
		if ev.Get("from") != "bob@b.test" || !strings.Contains(xmpptest.String(ev), "2222") {
			t.Errorf("event: %s", xmpptest.String(ev))
		}
		// A tune: alice's client did not ask for it.
		mustResult(t, bob.IQ(publish("tu0", "urn:xmpp:tune", "current", "<tune xmlns='urn:xmpp:tune'><title>TUNE-0</title></tune>", "")))
		// The client without +notify gets neither (its server filters
		// what comes from another server by the session's caps).
		bob.SendRaw(`<message to='alice@a.test' type='chat'><body>after-events</body></message>`)
		for name, c := range map[string]*xmpptest.Client{"with caps": alice, "without caps": plainA} {
			var got []*wire.Element
			c.Expect("marker", func(e *wire.Element) bool {
				got = append(got, e)
				return isMsg("after-events")(e)
			})
			if n := len(events(got, "urn:xmpp:tune")); n != 0 {
				t.Errorf("alice's client %s: %d tune events", name, n)
			}
			if n := len(events(got, devicelist)); name == "without caps" && n != 0 {
				t.Errorf("alice's client without caps: %d devicelist events", n)
			}
		}
		plainA.Close()
		// A new client of alice's with the device-list caps gets the
		// last item when its presence reaches bob's server
		// (send_last_published_item on_sub_and_presence).
		third := xmpptest.Login(t, a.c2s, a.domain, "alice", "secret-alice", xmpptest.Options{Pool: a.ca.Pool, Resource: "third"})
		third.SendRaw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://chatbx.test/" + omemo.name + "' ver='" + omemo.ver(t) + "'/></presence>")
		last := third.Expect("last devicelist on presence", func(e *wire.Element) bool {
			return len(events([]*wire.Element{e}, devicelist)) == 1
		})
		if last.Get("from") != "bob@b.test" || last.Get("to") != third.JID {
			t.Errorf("last item: %s", xmpptest.String(last))
		}
		third.Close()
		bundle := "<bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>BUNDLE-2222</signedPreKeyPublic></bundle>"
		mustResult(t, bob.IQ(publish("bu", "eu.siacs.conversations.axolotl.bundles:2222", "current", bundle, publishOpts("pubsub#access_model", "open"))))
		drain(t, alice)
		fetch := func(c *xmpptest.Client, node string) *wire.Element {
			return c.IQ(`<iq type='get' id='f' to='bob@b.test'><pubsub xmlns='` + nsPubsub + `'><items node='` + node + `'/></pubsub></iq>`)
		}
		// A contact and a stranger on the other server fetch the open
		// bundle (OMEMO: a first message needs it).
		paula := a.login(t, "paula")
		for name, c := range map[string]*xmpptest.Client{"contact": alice, "stranger": paula} {
			r := fetch(c, "eu.siacs.conversations.axolotl.bundles:2222")
			if r.Get("type") != "result" || r.Get("from") != "bob@b.test" || !strings.Contains(xmpptest.String(r), "BUNDLE-2222") {
				t.Errorf("%s fetches the bundle: %s", name, xmpptest.String(r))
			}
		}
		paula.Close()
		// A node with the presence access model: the contact may read
		// it, the stranger may not.
		mustResult(t, bob.IQ(publish("tu", "urn:xmpp:tune", "current", "<tune xmlns='urn:xmpp:tune'><title>TUNE-B</title></tune>", "")))
		if r := fetch(alice, "urn:xmpp:tune"); !strings.Contains(xmpptest.String(r), "TUNE-B") {
			t.Errorf("contact reads a presence-access node: %s", xmpptest.String(r))
		}
		drain(t, alice)
		carolFetch := carol.IQ(`<iq type='get' id='f2' to='alice@a.test'><pubsub xmlns='` + nsPubsub + `'><items node='urn:xmpp:tune'/></pubsub></iq>`)
		if carolFetch.Get("type") != "error" {
			t.Errorf("stranger reads a presence-access node across: %s", xmpptest.String(carolFetch))
		}
		// Publishing into a remote account's PEP is refused.
		r := alice.IQ(`<iq type='set' id='rp' to='bob@b.test'><pubsub xmlns='` + nsPubsub + `'><publish node='urn:xmpp:tune'><item><tune xmlns='urn:xmpp:tune'/></item></publish></pubsub></iq>`)
		if r.Get("type") != "error" {
			t.Errorf("publish into a remote PEP: %s", xmpptest.String(r))
		}
	})

	t.Run("push", func(t *testing.T) {
		app := xmpptest.Login(t, b.c2s, b.domain, "appsrv", "secret-appsrv", xmpptest.Options{Pool: b.ca.Pool, Resource: "app"})
		app.SendRaw(`<presence/>`)
		drain(t, app)
		paula := a.login(t, "paula")
		mustResult(t, paula.IQ(enablePush("pe", app.JID, "fed-node", "fed-secret")))
		online := a.srv.Online()
		paula.Close()
		waitFor(t, func() bool { return a.srv.Online() < online })
		bob.SendRaw(`<message to='paula@a.test' type='chat'><body>PUSH-BODY-1</body></message>`)
		n := app.Expect("notification across", isPush("fed-node"))
		if n.Get("from") != "paula@a.test" || strings.Contains(xmpptest.String(n), "PUSH-BODY") || strings.Contains(xmpptest.String(n), "bob@") {
			t.Errorf("notification: %s", xmpptest.String(n))
		}
		app.SendRaw(`<iq type='result' id='` + n.Get("id") + `' to='` + n.Get("from") + `'/>`)
		bob.SendRaw(`<message to='paula@a.test' type='chat'><body>PUSH-BODY-2</body></message>`)
		n = app.Expect("second notification", isPush("fed-node"))
		if c := summary(t, n)["message-count"]; c != "2" {
			t.Errorf("message-count %s, want 2", c)
		}
		// The app server's error answer crosses back and ends the
		// registration (MaxErrors 1; the timeout is 10 minutes).
		app.SendRaw(`<iq type='error' id='` + n.Get("id") + `' to='` + n.Get("from") + `'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
		waitFor(t, func() bool {
			regs, _ := a.db.PushRegistrations(context.Background(), "paula")
			return len(regs) == 0
		})
		app.Close()
	})

	t.Run("muc", func(t *testing.T) {
		room := "lounge@conference.b.test"
		// bob creates and unlocks a room on his server.
		bob.SendRaw(`<presence to='` + room + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		bob.Expect("201", presenceFrom(room+"/bob", "", "110", "201"))
		mustResult(t, bob.IQ(`<iq type='set' id='cfg' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`))
		bob.Expect("subject", func(e *wire.Element) bool { return e.Local == "message" && e.Child(wire.NSClient, "subject") != nil })
		// Only b.test's accounts create rooms there.
		alice.SendRaw(`<presence to='mine@conference.b.test/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		if e := alice.Expect("creation refused", func(e *wire.Element) bool { return e.Get("from") == "mine@conference.b.test/alice" }); condition(e) != "not-allowed" {
			t.Errorf("remote room creation: %s", xmpptest.String(e))
		}
		// alice joins from a.test.
		alice.SendRaw(`<presence to='` + room + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		self := alice.Expect("self-presence", func(e *wire.Element) bool {
			return e.Local == "presence" && e.Get("from") == room+"/alice"
		})
		if self.Get("type") == "error" || !statusCodes(self)["110"] {
			t.Fatalf("remote join: %s", xmpptest.String(self))
		}
		alice.Expect("subject", func(e *wire.Element) bool { return e.Local == "message" && e.Child(wire.NSClient, "subject") != nil })
		bp := bob.Expect("alice's join", presenceFrom(room+"/alice", ""))
		if j := bp.Child(muc.NSUser, "x").Child(muc.NSUser, "item").Get("jid"); !strings.HasPrefix(j, "alice@a.test/") {
			t.Errorf("owner sees jid %q", j)
		}
		// Group chat both ways.
		alice.SendRaw(`<message type='groupchat' to='` + room + `'><body>from-a</body></message>`)
		for _, c := range []*xmpptest.Client{alice, bob} {
			if m := c.Expect("groupchat from alice", groupchat("from-a")); m.Get("from") != room+"/alice" {
				t.Errorf("from %q", m.Get("from"))
			}
		}
		bob.SendRaw(`<message type='groupchat' to='` + room + `'><body>from-b</body></message>`)
		for _, c := range []*xmpptest.Client{alice, bob} {
			c.Expect("groupchat from bob", groupchat("from-b"))
		}
		// Private messages through the room both ways.
		bob.SendRaw(`<message type='chat' to='` + room + `/alice'><body>pm-to-a</body></message>`)
		if m := alice.Expect("pm", isMsg("pm-to-a")); m.Get("from") != room+"/bob" {
			t.Errorf("pm from %q", m.Get("from"))
		}
		alice.SendRaw(`<message type='chat' to='` + room + `/bob'><body>pm-to-b</body></message>`)
		if m := bob.Expect("pm", isMsg("pm-to-b")); m.Get("from") != room+"/alice" {
			t.Errorf("pm from %q", m.Get("from"))
		}
		// Leaving: bob sees unavailable; alice gets her own.
		alice.SendRaw(`<presence type='unavailable' to='` + room + `/alice'/>`)
		alice.Expect("own leave", presenceFrom(room+"/alice", "unavailable", "110"))
		bob.Expect("alice left", presenceFrom(room+"/alice", "unavailable"))
		// Rejoin, then the owner kicks her (307).
		alice.SendRaw(`<presence to='` + room + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		alice.Expect("rejoin", presenceFrom(room+"/alice", "", "110"))
		bob.Expect("alice back", presenceFrom(room+"/alice", ""))
		bob.SendRaw(`<iq type='set' id='kick' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='alice' role='none'/></query></iq>`)
		alice.Expect("kicked", presenceFrom(room+"/alice", "unavailable", "307", "110"))
		seen := false
		mustResult(t, bob.Expect("kick result", func(e *wire.Element) bool {
			seen = seen || presenceFrom(room+"/alice", "unavailable", "307")(e)
			return e.Local == "iq" && e.Get("id") == "kick"
		}))
		if !seen {
			bob.Expect("kick seen", presenceFrom(room+"/alice", "unavailable", "307"))
		}

		// The owner makes alice a member: the room's stored
		// affiliations hold her address (the owner's choice).
		mustResult(t, bob.IQ(`<iq type='set' id='aff' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='alice@a.test'/></query></iq>`))

		// A room on a.test with bob from b.test: join and a message.
		aroom := "den@conference.a.test"
		alice.SendRaw(`<presence to='` + aroom + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		alice.Expect("201", presenceFrom(aroom+"/alice", "", "110", "201"))
		mustResult(t, alice.IQ(`<iq type='set' id='cfg2' to='`+aroom+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`))
		bob.SendRaw(`<presence to='` + aroom + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		bob.Expect("joined a.test's room", presenceFrom(aroom+"/bob", "", "110"))
		bob.SendRaw(`<message type='groupchat' to='` + aroom + `'><body>in-den</body></message>`)
		alice.Expect("bob's groupchat", groupchat("in-den"))
		bob.Expect("echo", groupchat("in-den"))
		bob.SendRaw(`<presence type='unavailable' to='` + aroom + `/bob'/>`)
		alice.Expect("bob left", presenceFrom(aroom+"/bob", "unavailable"))
	})

	t.Run("deletion", func(t *testing.T) {
		dora := a.login(t, "dora")
		dora.IQ(`<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>`)
		dora.SendRaw(`<presence/>`)
		drain(t, dora)
		befriendAcross(t, dora, "dora@a.test", bob, "bob@b.test")
		bob.Expect("dora's presence", presenceOf("", "dora@a.test/"))
		dora.Close()
		bob.Expect("dora offline", presenceOf("unavailable", "dora@a.test/"))
		ctx := context.Background()
		_, roster, err := a.db.Roster(ctx, "dora")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.db.DeleteAccount(ctx, "dora", "dora@a.test"); err != nil {
			t.Fatal(err)
		}
		a.srv.AccountDeleted(ctx, "dora", roster)
		// bob's server learns both subscriptions ended (unsubscribed and
		// unsubscribe): bob's roster item for dora goes to none, and bob
		// is told dora is unavailable and ended his subscription.
		seen := map[string]bool{}
		bob.Expect("roster push: none", func(e *wire.Element) bool {
			if e.Local == "presence" && strings.HasPrefix(e.Get("from"), "dora@a.test") {
				seen[e.Get("type")] = true
			}
			return rosterPush("dora@a.test", "none")(e)
		})
		if !seen["unsubscribed"] {
			bob.Expect("unsubscribed", presenceOf("unsubscribed", "dora@a.test"))
		}
		if it, err := b.db.RosterItem(ctx, "bob", "dora@a.test"); err != nil || it.Sub != store.SubNone {
			t.Errorf("bob's item for the deleted account: %+v, %v", it, err)
		}
	})

	t.Run("privacy", func(t *testing.T) {
		// What the receiving server's file holds of the other server's
		// users after all of the above: only what its users stored
		// (roster items; archived messages of alice, who opted in; a
		// room's affiliations when the owner set them).
		drain(t, alice)
		drain(t, bob)
		a.stop()
		b.stop()
		for _, c := range []struct {
			p      *peer
			remote []string
		}{
			{a, []string{"bob@b.test", "carol@b.test", "appsrv@b.test"}},
			{b, []string{"alice@a.test", "paula@a.test", "dora@a.test"}},
		} {
			found := boltScan(t, c.p.db, c.remote)
			for _, f := range found {
				t.Logf("%s holds %s", c.p.domain, f)
				if !allowedRemote(c.p.domain, f) {
					t.Errorf("%s stores a remote address outside what its users chose: %s", c.p.domain, f)
				}
			}
		}
	})
}

// allowedRemote reports whether a place (bucket path: the address) may
// hold a remote user's address: a roster, an archive of a user who opted
// in, messages waiting offline, the push registration of the user's own
// app server.
func allowedRemote(domain, place string) bool {
	path, addr, _ := strings.Cut(place, ": ")
	switch {
	case strings.Contains(path, "/roster"):
		return true
	case strings.HasSuffix(path, "/offline"):
		return true // messages waiting for their recipient, with their sender
	case domain == "a.test" && strings.HasPrefix(path, "users/alice/archive"):
		return true // alice opted in
	case domain == "a.test" && strings.HasPrefix(path, "users/paula/push") && addr == "appsrv@b.test":
		return true // paula chose that app server (deleted on error)
	case domain == "b.test" && strings.HasPrefix(path, "muc") && addr == "alice@a.test":
		return true // bob, the owner of a persistent room, made alice a member
	}
	return false
}

// fileContains reports whether db's file holds marker (after a scrub of
// free pages, as retention leaves it).
func fileContains(t *testing.T, db *store.DB, marker string) bool {
	t.Helper()
	if err := db.Scrub(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(marker))
}

// boltScan byte-scans db's file (free pages scrubbed) for each address
// and, where found, names the buckets whose keys or values hold it, read
// from a copy of the file. It returns "bucket/path: address" entries; an
// address in the file outside any live record is reported as "free: ".
func boltScan(t *testing.T, db *store.DB, addrs []string) []string {
	t.Helper()
	if err := db.Scrub(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(cp, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var out []string
	for _, addr := range addrs {
		if !bytes.Contains(raw, []byte(addr)) {
			continue
		}
		places := map[string]bool{}
		err := bdb.View(func(tx *bolt.Tx) error {
			var walk func(path string, bk *bolt.Bucket)
			walk = func(path string, bk *bolt.Bucket) {
				bk.ForEach(func(k, v []byte) error {
					p := path + "/" + printable(k)
					if v == nil {
						walk(p, bk.Bucket(k))
						return nil
					}
					if bytes.Contains(k, []byte(addr)) || bytes.Contains(v, []byte(addr)) {
						places[path] = true
					}
					return nil
				})
			}
			return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
				walk(printable(name), bk)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(places) == 0 {
			places["free"] = true
		}
		for p := range places {
			out = append(out, p+": "+addr)
		}
	}
	return out
}

// printable shows a bucket or key name: text as is, other bytes in hex.
func printable(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", b)
		}
	}
	return string(b)
}

// TestFederationServicesDialback: with dialback (secure_auth off, no
// certificate naming the domains), the group chat's own domain
// authenticates too: a remote occupant joins, and messages and a private
// message cross both ways.
func TestFederationServicesDialback(t *testing.T) {
	a, b := fedServicesAuth(t, true, nil)
	a.user(t, "alice")
	b.user(t, "bob")
	alice, bob := a.login(t, "alice"), b.login(t, "bob")
	for _, c := range []*xmpptest.Client{alice, bob} {
		c.SendRaw(`<presence/>`)
		drain(t, c)
	}
	room := "db@conference.b.test"
	bob.SendRaw(`<presence to='` + room + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	bob.Expect("201", presenceFrom(room+"/bob", "", "110", "201"))
	mustResult(t, bob.IQ(`<iq type='set' id='cfg' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`))
	alice.SendRaw(`<presence to='` + room + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if self := alice.Expect("self-presence", func(e *wire.Element) bool { return e.Get("from") == room+"/alice" }); !statusCodes(self)["110"] {
		t.Fatalf("join over dialback: %s", xmpptest.String(self))
	}
	alice.SendRaw(`<message type='groupchat' to='` + room + `'><body>over-dialback</body></message>`)
	bob.Expect("groupchat", groupchat("over-dialback"))
	alice.Expect("echo", groupchat("over-dialback"))
	bob.SendRaw(`<message type='chat' to='` + room + `/alice'><body>pm-dialback</body></message>`)
	alice.Expect("pm", isMsg("pm-dialback"))
	alice.SendRaw(`<message to='bob@b.test' type='chat'><body>direct-dialback</body></message>`)
	bob.Expect("direct", isMsg("direct-dialback"))
}

// TestFederationMUCOccupantServerStops: when the server of a remote
// occupant stops, the occupant's unavailable presence still reaches the
// room (the link flushes during shutdown) and the others see her leave.
// (A server that vanishes without a word is not simulated here: then the
// room's messages bounce with remote-server-timeout to the sender's
// occupant JID, see docs/internals.md.)
func TestFederationMUCOccupantServerStops(t *testing.T) {
	a, b := fedServicesAuth(t, false, func(c *server.Config, _ *server.Deps) {
		c.S2S.ConnectTimeout = 2 * time.Second
	})
	a.user(t, "alice")
	b.user(t, "bob")
	alice, bob := a.login(t, "alice"), b.login(t, "bob")
	room := "ghost@conference.b.test"
	bob.SendRaw(`<presence to='` + room + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	bob.Expect("201", presenceFrom(room+"/bob", "", "110", "201"))
	mustResult(t, bob.IQ(`<iq type='set' id='cfg' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`))
	alice.SendRaw(`<presence to='` + room + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	alice.Expect("joined", presenceFrom(room+"/alice", "", "110"))
	bob.Expect("alice joined", presenceFrom(room+"/alice", ""))
	a.stop() // alice's server is gone (her session with it)
	bob.SendRaw(`<message type='groupchat' to='` + room + `'><body>anyone there?</body></message>`)
	bob.Expect("alice left", presenceFrom(room+"/alice", "unavailable"))
}
