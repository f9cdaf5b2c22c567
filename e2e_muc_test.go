package main

// End-to-end test of group chat (issue 13) against the wired application:
// the service on conference.<domain> in the host's disco#items and the
// data-policy form, a room's owner data in the export, and an account
// deleted through the CLI leaving every room (the accounts hook main
// registers). Not parallel: see e2e_retention_test.go.

import (
	"archive/zip"
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store/storetest"
)

func TestE2EGroupChat(t *testing.T) {
	const (
		mucDomain = "conference." + e2eDomain
		marker    = "muc-e2e-marker-4f7a"
	)
	e := newE2E(t, nil)
	registerLogs(e)
	e.addUser("alice", "alice-pw-1")
	e.addUser("bob", "bob-pw-2")
	alice := e.login("alice", "alice-pw-1")
	bob := e.login("bob", "bob-pw-2")

	items := alice.IQ(`<iq type='get' id='i' to='` + e2eDomain + `'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if !strings.Contains(xmpptest.String(items), mucDomain) {
		t.Errorf("host disco#items lacks the group chat service: %s", xmpptest.String(items))
	}
	info := alice.IQ(`<iq type='get' id='d' to='` + e2eDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	for _, f := range []string{"muc-archive-default", "retention-muc-archive", "muc-history"} {
		if !strings.Contains(xmpptest.String(info), f) {
			t.Errorf("data-policy form lacks %s", f)
		}
	}
	sinfo := alice.IQ(`<iq type='get' id='s' to='` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(xmpptest.String(sinfo), `category="conference"`) {
		t.Errorf("service identity: %s", xmpptest.String(sinfo))
	}

	// Alice owns a room with archiving on, Bob one of his own; Bob is a
	// member of Alice's and speaks in it.
	mk := func(c *xmpptest.Client, room, nick string, fields string) {
		t.Helper()
		occ := room + "@" + mucDomain + "/" + nick
		c.SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		c.Expect("created", func(el *wire.Element) bool { return el.Local == "presence" && el.Get("from") == occ })
		r := c.IQ(`<iq type='set' id='c' to='` + room + `@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>` +
			`<field var='muc#roomconfig_persistentroom'><value>1</value></field>` + fields + `</x></query></iq>`)
		if r.Get("type") != "result" {
			t.Fatalf("configure %s: %s", room, xmpptest.String(r))
		}
	}
	mk(alice, "alices", "alice", `<field var='muc#roomconfig_enablearchiving'><value>1</value></field><field var='muc#roomconfig_roomname'>`+
		`<value>Alice's room</value></field>`)
	mk(bob, "bobs", "bob", "")
	if r := alice.IQ(`<iq type='set' id='m' to='alices@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@` + e2eDomain + `' affiliation='member'/></query></iq>`); r.Get("type") != "result" {
		t.Fatal(xmpptest.String(r))
	}
	bob.SendRaw(`<presence to='alices@` + mucDomain + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	bob.Expect("joined", func(el *wire.Element) bool { return el.Local == "message" && el.Child(wire.NSClient, "subject") != nil })
	bob.SendRaw(`<message type='groupchat' to='alices@` + mucDomain + `'><body>` + marker + `</body></message>`)
	alice.Expect("bob's message", func(el *wire.Element) bool { return el.ChildText(wire.NSClient, "body") == marker })

	// Alice's export names her room and its configuration.
	out := e.cli("", "user", "export", "alice")
	zr, err := zip.NewReader(bytes.NewReader([]byte(out)), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range zr.File {
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		all.Write(b)
	}
	if s := all.String(); !strings.Contains(s, "urn:chatbx:muc:export") || !strings.Contains(s, "alices@"+mucDomain) || !strings.Contains(s, "archive='1'") {
		t.Errorf("export lacks the owned room")
	}

	// Deleting Bob: he leaves, loses membership, his messages leave the
	// archive, and his own room is destroyed.
	e.cli("", "user", "delete", "bob")
	alice.Expect("bob left", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("from") == "alices@"+mucDomain+"/bob" && el.Get("type") == "unavailable"
	})
	if r := alice.IQ(`<iq type='get' id='b' to='bobs@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); r.Get("type") != "error" {
		t.Errorf("bob's room survives: %s", xmpptest.String(r))
	}
	members := alice.IQ(`<iq type='get' id='ml' to='alices@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`)
	if strings.Contains(xmpptest.String(members), "bob@") {
		t.Errorf("deleted account still a member: %s", xmpptest.String(members))
	}
	if hits := storetest.ScanDir(t, filepath.Join(e.dir), marker, "bob@"+e2eDomain); len(hits) > 0 {
		t.Errorf("deleted account's traces on disk: %v", hits)
	}
}
