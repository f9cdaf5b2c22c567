package server_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatbx/server/muc"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store/storetest"
)

// createRoom creates a room with the given configuration and leaves
// owner joined as nick.
func createRoom(t *testing.T, c *xmpptest.Client, room, nick string, fields map[string]string) {
	t.Helper()
	occ := room + "@" + mucDomain + "/" + nick
	c.SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	c.Expect("201", presenceFrom(occ, "", "110", "201"))
	configure(t, c, room, fields)
	c.Expect("subject", func(e *wire.Element) bool { return e.Local == "message" && e.Child(wire.NSClient, "subject") != nil })
}

func say(c *xmpptest.Client, room, body string) {
	c.SendRaw(`<message type='groupchat' to='` + room + `@` + mucDomain + `'><body>` + body + `</body></message>`)
}

// TestMUCNoArchiveByDefault: a default room's messages never reach the
// disk; the room itself (persistent) survives a restart.
func TestMUCNoArchiveByDefault(t *testing.T) {
	e, _ := startMUC(t, nil, nil)
	e.user(t, "alice")
	e.user(t, "bob")
	alice, bob := e.login(t, "alice"), e.login(t, "bob")
	createRoom(t, alice, "plain", "alice", map[string]string{"muc#roomconfig_persistentroom": "1"})
	joinRoom(t, bob, "plain", "bob", "")
	const marker = "ephemeral-marker-7c1e"
	for i := range 5 {
		say(alice, "plain", marker+strconv.Itoa(i))
		bob.Expect("message", groupchat(marker+strconv.Itoa(i)))
	}
	// Bob leaves without reading anything more: nothing goes offline.
	bob.Close()
	alice.Close()
	e.stop()
	dir := filepath.Dir(e.db.Path())
	if hits := storetest.ScanDir(t, dir, marker); len(hits) > 0 {
		t.Fatalf("messages of a default room on disk: %v", hits)
	}
	e2, _ := startMUC(t, e, nil)
	alice = e2.login(t, "alice")
	info := alice.IQ(`<iq type='get' id='i' to='plain@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if info.Get("type") != "result" || !strings.Contains(xmpptest.String(info), "muc_persistent") {
		t.Fatalf("persistent room after restart: %s", xmpptest.String(info))
	}
	// The in-memory history went with the restart.
	alice.SendRaw(`<presence to='plain@` + mucDomain + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	for {
		el, err := alice.Next()
		if err != nil {
			t.Fatal(err)
		}
		if el.Local == "message" && strings.Contains(el.ChildText(wire.NSClient, "body"), marker) {
			t.Fatalf("history survived a restart: %s", xmpptest.String(el))
		}
		if el.Local == "message" && el.Child(wire.NSClient, "subject") != nil {
			break
		}
	}
}

// TestMUCArchive: with archiving on, MAM on the room JID pages; the
// retention sweep removes what is older than the room archive period.
func TestMUCArchive(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	e, rooms := startMUC(t, nil, func(c *muc.Config) {
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	e.user(t, "alice")
	e.user(t, "bob")
	alice, bob := e.login(t, "alice"), e.login(t, "bob")
	createRoom(t, alice, "logged", "alice", map[string]string{"muc#roomconfig_persistentroom": "1", "muc#roomconfig_enablearchiving": "1"})
	self := joinRoom(t, bob, "logged", "bob", "")
	if !statusCodes(self)["170"] {
		t.Errorf("join of an archived room without 170: %s", xmpptest.String(self))
	}
	const marker = "archived-marker-91ab"
	for i := range 7 {
		say(alice, "logged", marker+strconv.Itoa(i))
		bob.Expect("message", groupchat(marker+strconv.Itoa(i)))
	}
	info := bob.IQ(`<iq type='get' id='i' to='logged@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(xmpptest.String(info), "urn:xmpp:mam:2") || !strings.Contains(xmpptest.String(info), "x-chatbx-archive-max-age") {
		t.Errorf("archived room's disco#info: %s", xmpptest.String(info))
	}
	// Page through with max 3.
	var got []string
	after := ""
	for page := 0; page < 5; page++ {
		set := `<set xmlns='http://jabber.org/protocol/rsm'><max>3</max>`
		if after != "" {
			set += `<after>` + after + `</after>`
		}
		set += `</set>`
		id := "q" + strconv.Itoa(page)
		bob.SendRaw(`<iq type='set' id='` + id + `' to='logged@` + mucDomain + `'><query xmlns='urn:xmpp:mam:2' queryid='` + id + `'>` + set + `</query></iq>`)
		var fin *wire.Element
		for fin == nil {
			el, err := bob.Next()
			if err != nil {
				t.Fatal(err)
			}
			if r := el.Child(muc.NSMAM, "result"); r != nil && r.Get("queryid") == id {
				fwd := r.Child(muc.NSForward, "forwarded").Child(wire.NSClient, "message")
				got = append(got, fwd.ChildText(wire.NSClient, "body"))
				if fwd.Child(muc.NSOccupant, "occupant-id") == nil || strings.Contains(xmpptest.String(fwd), "alice@") {
					t.Errorf("archived message names a real JID or lacks the occupant id: %s", xmpptest.String(fwd))
				}
			}
			if el.Local == "iq" && el.Get("id") == id {
				if el.Get("type") != "result" {
					t.Fatalf("mam query: %s", xmpptest.String(el))
				}
				fin = el.Child(muc.NSMAM, "fin")
			}
		}
		after = fin.Child(muc.NSRSM, "set").ChildText(muc.NSRSM, "last")
		if fin.Get("complete") == "true" {
			break
		}
	}
	if len(got) != 7 || got[0] != marker+"0" || got[6] != marker+"6" {
		t.Fatalf("archive pages = %v", got)
	}
	dir := filepath.Dir(e.db.Path())
	if hits := storetest.ScanDir(t, dir, marker+"3"); len(hits) == 0 {
		t.Fatalf("archived message not on disk (test premise)")
	}
	// The sweep: 20 days later a newer message arrives; at 31 days the
	// seven old ones are past the period (30 days) and go, the new one
	// stays.
	clock.Store(clock.Load() + int64(20*24*time.Hour))
	say(alice, "logged", "newer-message")
	bob.Expect("newer", groupchat("newer-message"))
	at31 := time.Unix(0, clock.Load()).Add(11 * 24 * time.Hour)
	n, err := rooms.Sweep(context.Background(), at31)
	if err != nil || n != 7 {
		t.Fatalf("sweep = %d, %v; want 7", n, err)
	}
	if hits := storetest.ScanDir(t, dir, marker); len(hits) > 0 {
		t.Fatalf("swept messages still on disk: %v", hits)
	}
	if hits := storetest.ScanDir(t, dir, "newer-message"); len(hits) == 0 {
		t.Errorf("the sweep removed a message younger than the period")
	}
}

// TestMUCAccountDeleted: a deleted account leaves its rooms, loses its
// affiliations and archived messages, and its solely owned rooms go.
func TestMUCAccountDeleted(t *testing.T) {
	e, rooms := startMUC(t, nil, nil)
	for _, u := range []string{"alice", "bob"} {
		e.user(t, u)
	}
	alice, bob := e.login(t, "alice"), e.login(t, "bob")
	createRoom(t, alice, "shared", "alice", map[string]string{"muc#roomconfig_persistentroom": "1", "muc#roomconfig_enablearchiving": "1", "muc#roomconfig_membersonly": "1"})
	if r := alice.IQ(`<iq type='set' id='m' to='shared@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@` + domain + `' affiliation='member'/></query></iq>`); r.Get("type") != "result" {
		t.Fatal(xmpptest.String(r))
	}
	createRoom(t, bob, "bobs", "bob", map[string]string{"muc#roomconfig_persistentroom": "1", "muc#roomconfig_enablearchiving": "1"})
	joinRoom(t, bob, "shared", "bob", "")
	const marker = "deleted-user-marker-5d2"
	say(bob, "shared", marker)
	alice.Expect("bob's message", groupchat(marker))
	say(alice, "shared", "alice stays")
	alice.Expect("own", groupchat("alice stays"))

	ctx := context.Background()
	if _, err := e.db.DeleteAccount(ctx, "bob", "bob@"+domain); err != nil {
		t.Fatal(err)
	}
	e.srv.KickUser("bob", "not-authorized")
	if err := rooms.Forget(ctx, "bob@"+domain, e.srv.Deliver); err != nil {
		t.Fatal(err)
	}
	alice.Expect("bob left", presenceFrom("shared@"+mucDomain+"/bob", "unavailable"))
	members := alice.IQ(`<iq type='get' id='ml' to='shared@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`)
	if strings.Contains(xmpptest.String(members), "bob@") {
		t.Errorf("deleted account still a member: %s", xmpptest.String(members))
	}
	if r := alice.IQ(`<iq type='get' id='b' to='bobs@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); !isError(r, "item-not-found") {
		t.Errorf("solely owned room survives: %s", xmpptest.String(r))
	}
	if got := rooms.Rooms(); strings.Join(got, ",") != "shared" {
		t.Errorf("rooms = %v, want [shared]", got)
	}
	dir := filepath.Dir(e.db.Path())
	if hits := storetest.ScanDir(t, dir, marker, "bob@"+domain); len(hits) > 0 {
		t.Fatalf("deleted account's traces on disk: %v", hits)
	}
	if hits := storetest.ScanDir(t, dir, "alice stays"); len(hits) == 0 {
		t.Errorf("other occupants' archived messages went too")
	}
}
