package server_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/server"
	"chatbx/server/muc"
	"chatbx/server/router"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

const mucDomain = "conference." + domain

// startMUC starts a server with the group chat service on mucDomain; with
// prev it reuses prev's store (a restart).
func startMUC(t testing.TB, prev *env, mod func(*muc.Config)) (*env, *muc.Service) {
	t.Helper()
	var rooms *muc.Service
	e := startWith(t, prev, func(c *server.Config, d *server.Deps) {
		cfg := muc.DefaultConfig()
		cfg.Domain, cfg.Host = mucDomain, domain
		if mod != nil {
			mod(&cfg)
		}
		var err error
		rooms, err = muc.New(context.Background(), cfg, d.DB)
		if err != nil {
			t.Fatal(err)
		}
		d.Domains = router.NewDomains(domain)
		if err := d.Domains.AddService(mucDomain, rooms); err != nil {
			t.Fatal(err)
		}
	})
	return e, rooms
}

// statusCodes returns the muc#user status codes of a stanza.
func statusCodes(el *wire.Element) map[string]bool {
	out := map[string]bool{}
	if x := el.Child(muc.NSUser, "x"); x != nil {
		for _, s := range x.Elements() {
			if s.Local == "status" {
				out[s.Get("code")] = true
			}
		}
	}
	return out
}

func presenceFrom(from, typ string, codes ...string) func(*wire.Element) bool {
	return func(e *wire.Element) bool {
		if e.Local != "presence" || e.Get("from") != from || e.Get("type") != typ {
			return false
		}
		sc := statusCodes(e)
		for _, c := range codes {
			if !sc[c] {
				return false
			}
		}
		return true
	}
}

func isError(e *wire.Element, cond string) bool {
	er := e.Child(wire.NSClient, "error")
	return e.Get("type") == "error" && er != nil && er.Child(wire.NSStanzas, cond) != nil
}

// joinRoom joins room as nick and waits for the self-presence and the
// subject, which ends the join (XEP-0045 §7.2.16).
func joinRoom(t *testing.T, c *xmpptest.Client, room, nick, extra string) *wire.Element {
	t.Helper()
	occ := room + "@" + mucDomain + "/" + nick
	c.SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'>` + extra + `</x></presence>`)
	self := c.Expect("self-presence", func(e *wire.Element) bool {
		return e.Local == "presence" && (presenceFrom(occ, "", "110")(e) || (e.Get("type") == "error" && e.Get("from") == occ))
	})
	if self.Get("type") == "error" {
		t.Fatalf("join %s: %s", occ, xmpptest.String(self))
	}
	c.Expect("subject", func(e *wire.Element) bool {
		return e.Local == "message" && e.Child(wire.NSClient, "subject") != nil
	})
	return self
}

func joinError(t *testing.T, c *xmpptest.Client, room, nick, extra, cond string) {
	t.Helper()
	occ := room + "@" + mucDomain + "/" + nick
	c.SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'>` + extra + `</x></presence>`)
	e := c.Expect("join error", func(e *wire.Element) bool { return e.Local == "presence" && e.Get("from") == occ })
	if !isError(e, cond) {
		t.Fatalf("join %s = %s, want error %s", occ, xmpptest.String(e), cond)
	}
}

// configure submits the room configuration form with the given fields.
func configure(t testing.TB, c *xmpptest.Client, room string, fields map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<iq type='set' id='cfg' to='` + room + `@` + mucDomain + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>`)
	b.WriteString(`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`)
	for k, v := range fields {
		b.WriteString(`<field var='` + k + `'><value>` + v + `</value></field>`)
	}
	b.WriteString(`</x></query></iq>`)
	if r := c.IQ(b.String()); r.Get("type") != "result" {
		t.Fatalf("configure %s: %s", room, xmpptest.String(r))
	}
}

func groupchat(body string) func(*wire.Element) bool {
	return func(e *wire.Element) bool {
		return e.Local == "message" && e.Get("type") == "groupchat" && e.ChildText(wire.NSClient, "body") == body
	}
}

func TestMUCRoomLifecycle(t *testing.T) {
	e, _ := startMUC(t, nil, nil)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		e.user(t, u)
	}
	alice, bob, carol, dave := e.login(t, "alice"), e.login(t, "bob"), e.login(t, "carol"), e.login(t, "dave")
	room := "team@" + mucDomain
	// Dave is online (invitations go to his bare JID).
	dave.SendRaw(`<presence/>`)
	dave.Expect("own presence", func(e *wire.Element) bool { return e.Local == "presence" })

	// The service is on the host's disco#items? (main wires that; here
	// the service answers its own disco#info.)
	info := alice.IQ(`<iq type='get' id='si' to='` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if id := info.Child(muc.NSDiscoInfo, "query").Child(muc.NSDiscoInfo, "identity"); id == nil || id.Get("category") != "conference" || id.Get("type") != "text" {
		t.Fatalf("service disco#info = %s", xmpptest.String(info))
	}

	// Creating a reserved room: 201 and 110; the room is locked.
	alice.SendRaw(`<presence to='` + room + `/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	alice.Expect("201", presenceFrom(room+"/Alice", "", "110", "201"))
	joinError(t, bob, "team", "bob", "", "item-not-found")
	form := alice.IQ(`<iq type='get' id='f' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
	for _, v := range []string{"muc#roomconfig_roomname", "muc#roomconfig_enablearchiving", "muc#roomconfig_whois", "muc#roomconfig_membersonly", "muc#roomconfig_moderatedroom", "muc#roomconfig_allowpm", "muc#roomconfig_changesubject", "muc#roomconfig_allowinvites", "muc#roomconfig_maxusers", "muc#roomconfig_roomsecret"} {
		if !strings.Contains(xmpptest.String(form), "var=\""+v+"\"") && !strings.Contains(xmpptest.String(form), "var='"+v+"'") {
			t.Errorf("config form lacks %s: %s", v, xmpptest.String(form))
		}
	}
	if !strings.Contains(xmpptest.String(form), `Archive messages on the server for 30 days"><value>0</value>`) {
		t.Errorf("archiving is not off by default: %s", xmpptest.String(form))
	}
	configure(t, alice, "team", map[string]string{"muc#roomconfig_roomname": "Team", "muc#roomconfig_persistentroom": "1", "muc#roomconfig_publicroom": "1"})
	alice.Expect("subject after unlock", func(e *wire.Element) bool { return e.Local == "message" && e.Child(wire.NSClient, "subject") != nil })

	// Bob joins: he sees Alice without her real JID (semi-anonymous);
	// Alice, a moderator, sees his.
	self := joinRoom(t, bob, "team", "bob", "")
	if it := self.Child(muc.NSUser, "x").Child(muc.NSUser, "item"); it.Get("role") != "participant" || it.Get("affiliation") != "none" {
		t.Errorf("bob's self-presence item = %s", xmpptest.String(self))
	}
	if self.Child(muc.NSOccupant, "occupant-id") == nil {
		t.Errorf("no occupant-id in %s", xmpptest.String(self))
	}
	bp := alice.Expect("bob's presence", presenceFrom(room+"/bob", ""))
	if j := bp.Child(muc.NSUser, "x").Child(muc.NSUser, "item").Get("jid"); !strings.HasPrefix(j, "bob@"+domain+"/") {
		t.Errorf("moderator sees jid %q", j)
	}

	// Messages carry the room's stanza-id and the occupant id.
	alice.SendRaw(`<message type='groupchat' to='` + room + `' id='m1'><body>hello team</body></message>`)
	for _, c := range []*xmpptest.Client{alice, bob} {
		m := c.Expect("groupchat", groupchat("hello team"))
		if m.Get("from") != room+"/Alice" {
			t.Errorf("from = %q", m.Get("from"))
		}
		sid := m.Child(muc.NSSID, "stanza-id")
		if sid == nil || sid.Get("by") != room || sid.Get("id") == "" {
			t.Errorf("stanza-id missing: %s", xmpptest.String(m))
		}
		if m.Child(muc.NSOccupant, "occupant-id") == nil {
			t.Errorf("occupant-id missing: %s", xmpptest.String(m))
		}
	}

	// A nick in use: 409; a third client joins and gets the history.
	joinError(t, carol, "team", "bob", "", "conflict")
	occ := room + "/carol"
	carol.SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/></x></presence>`)
	carol.Expect("self", presenceFrom(occ, "", "110"))
	h := carol.Expect("history", groupchat("hello team"))
	if h.Child(muc.NSDelay, "delay") == nil {
		t.Errorf("history without delay: %s", xmpptest.String(h))
	}
	carol.Expect("subject", func(e *wire.Element) bool { return e.Child(wire.NSClient, "subject") != nil })

	// Subject: moderators only by default.
	bob.SendRaw(`<message type='groupchat' to='` + room + `' id='s0'><subject>bob's topic</subject></message>`)
	if r := bob.Expect("subject error", func(e *wire.Element) bool { return e.Get("id") == "s0" }); !isError(r, "forbidden") {
		t.Errorf("participant subject change = %s", xmpptest.String(r))
	}
	alice.SendRaw(`<message type='groupchat' to='` + room + `' id='s1'><subject>Plans</subject></message>`)
	bob.Expect("subject", func(e *wire.Element) bool { return e.ChildText(wire.NSClient, "subject") == "Plans" })

	// Nick change: 303 with the new nick, then presence under it.
	bob.SendRaw(`<presence to='` + room + `/bobby'/>`)
	un := alice.Expect("303", presenceFrom(room+"/bob", "unavailable", "303"))
	if un.Child(muc.NSUser, "x").Child(muc.NSUser, "item").Get("nick") != "bobby" {
		t.Errorf("303 without new nick: %s", xmpptest.String(un))
	}
	bob.Expect("own 303", presenceFrom(room+"/bob", "unavailable", "303", "110"))
	alice.Expect("bobby", presenceFrom(room+"/bobby", ""))
	bob.Expect("self bobby", presenceFrom(room+"/bobby", "", "110"))
	carol.SendRaw(`<presence to='` + room + `/Alice'/>`)
	if r := carol.Expect("nick conflict", func(e *wire.Element) bool { return e.Local == "presence" && e.Get("type") == "error" }); !isError(r, "conflict") {
		t.Errorf("nick change to a taken nick = %s", xmpptest.String(r))
	}

	// Private messages between occupants.
	carol.SendRaw(`<message type='chat' to='` + room + `/bobby' id='pm'><body>psst</body></message>`)
	pm := bob.Expect("pm", isMsg("psst"))
	if pm.Get("from") != room+"/carol" || pm.Child(muc.NSUser, "x") == nil {
		t.Errorf("private message = %s", xmpptest.String(pm))
	}

	// Self-ping (XEP-0410) while joined.
	if r := carol.IQ(`<iq type='get' id='sp1' to='` + room + `/carol'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Get("type") != "result" {
		t.Errorf("self-ping while joined = %s", xmpptest.String(r))
	}

	// Kick (307).
	kick := alice.IQ(`<iq type='set' id='k' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='carol' role='none'><reason>out</reason></item></query></iq>`)
	if kick.Get("type") != "result" {
		t.Fatalf("kick = %s", xmpptest.String(kick))
	}
	carol.Expect("kicked", presenceFrom(room+"/carol", "unavailable", "307", "110"))
	bob.Expect("carol kicked", presenceFrom(room+"/carol", "unavailable", "307"))
	if r := carol.IQ(`<iq type='get' id='sp2' to='` + room + `/carol'><ping xmlns='urn:xmpp:ping'/></iq>`); !isError(r, "not-acceptable") {
		t.Errorf("self-ping after kick = %s", xmpptest.String(r))
	}
	// A participant may not kick the owner.
	if r := bob.IQ(`<iq type='set' id='k2' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Alice' role='none'/></query></iq>`); r.Get("type") != "error" {
		t.Errorf("participant kicks owner = %s", xmpptest.String(r))
	}

	// Ban (301), then the ban list; the banned user cannot come back.
	joinRoom(t, carol, "team", "carol", "")
	ban := alice.IQ(`<iq type='set' id='b' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='carol@` + domain + `' affiliation='outcast'/></query></iq>`)
	if ban.Get("type") != "result" {
		t.Fatalf("ban = %s", xmpptest.String(ban))
	}
	carol.Expect("banned", presenceFrom(room+"/carol", "unavailable", "301", "110"))
	joinError(t, carol, "team", "carol", "", "forbidden")
	list := alice.IQ(`<iq type='get' id='bl' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`)
	if !strings.Contains(xmpptest.String(list), "carol@"+domain) {
		t.Errorf("ban list = %s", xmpptest.String(list))
	}

	// Mediated invitation (§7.8.2) and a direct one (XEP-0249) passing
	// through the server.
	alice.SendRaw(`<message to='` + room + `' id='inv'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='dave@` + domain + `'><reason>join us</reason></invite></x></message>`)
	inv := dave.Expect("invite", func(e *wire.Element) bool { return e.Local == "message" && e.Child(muc.NSUser, "x") != nil })
	if i := inv.Child(muc.NSUser, "x").Child(muc.NSUser, "invite"); i == nil || i.Get("from") != "alice@"+domain || inv.Get("from") != room {
		t.Errorf("mediated invite = %s", xmpptest.String(inv))
	}
	alice.SendRaw(`<message to='dave@` + domain + `' id='dinv'><x xmlns='jabber:x:conference' jid='` + room + `'/></message>`)
	dave.Expect("direct invite", func(e *wire.Element) bool { return e.Get("id") == "dinv" && e.Child("jabber:x:conference", "x") != nil })

	// Members-only: Bob, not a member, leaves with 322; the admin list
	// lets him back in.
	configure(t, alice, "team", map[string]string{"muc#roomconfig_membersonly": "1", "muc#roomconfig_moderatedroom": "1"})
	bob.Expect("322", presenceFrom(room+"/bobby", "unavailable", "322", "110"))
	joinError(t, bob, "team", "bobby", "", "registration-required")
	if r := alice.IQ(`<iq type='set' id='mem' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@` + domain + `' affiliation='member'/></query></iq>`); r.Get("type") != "result" {
		t.Fatalf("grant membership = %s", xmpptest.String(r))
	}
	// Nick registration in the members-only room.
	reg := bob.IQ(`<iq type='set' id='reg' to='` + room + `'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>bobby</value></field></x></query></iq>`)
	if reg.Get("type") != "result" {
		t.Fatalf("nick registration = %s", xmpptest.String(reg))
	}
	// An owner's invitation into a members-only room brings membership.
	alice.SendRaw(`<message to='` + room + `' id='inv2'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='dave@` + domain + `'/></x></message>`)
	dave.Expect("invite", func(e *wire.Element) bool { return e.Get("id") == "inv2" })
	if r := dave.IQ(`<iq type='get' id='reg2' to='` + room + `'><query xmlns='jabber:iq:register'/></iq>`); r.Get("type") != "result" {
		// Dave was invited by an owner into a members-only room:
		// membership came with the invitation.
		t.Errorf("invited member's registration form = %s", xmpptest.String(r))
	}
	joinRoom(t, bob, "team", "bobby", "")
	joinError(t, dave, "team", "bobby", "", "conflict")
	self = joinRoom(t, dave, "team", "dave", "")
	if role := self.Child(muc.NSUser, "x").Child(muc.NSUser, "item").Get("role"); role != "participant" {
		t.Errorf("member's role in a moderated room = %q", role)
	}
	// Voice: revoke Dave's, he may not speak, a voice request reaches the
	// moderator.
	if r := alice.IQ(`<iq type='set' id='v' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='dave' role='visitor'/></query></iq>`); r.Get("type") != "result" {
		t.Fatalf("revoke voice = %s", xmpptest.String(r))
	}
	dave.SendRaw(`<message type='groupchat' to='` + room + `' id='vm'><body>may I?</body></message>`)
	if r := dave.Expect("visitor error", func(e *wire.Element) bool { return e.Get("id") == "vm" && e.Get("type") == "error" }); !isError(r, "forbidden") {
		t.Errorf("visitor message = %s", xmpptest.String(r))
	}
	dave.SendRaw(`<message to='` + room + `' id='vr'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field></x></message>`)
	alice.Expect("voice request", func(e *wire.Element) bool {
		x := e.Child("jabber:x:data", "x")
		return e.Local == "message" && x != nil && strings.Contains(xmpptest.String(x), "muc#request")
	})
	// The moderator approves: Dave becomes a participant again.
	alice.SendRaw(`<message to='` + room + `' id='va'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field><field var='muc#roomnick'><value>dave</value></field><field var='muc#request_allow'><value>true</value></field></x></message>`)
	voiced := dave.Expect("voice granted", presenceFrom(room+"/dave", "", "110"))
	if role := voiced.Child(muc.NSUser, "x").Child(muc.NSUser, "item").Get("role"); role != "participant" {
		t.Errorf("role after approval = %q", role)
	}
	// A declined invitation goes back to the inviter (online now).
	alice.SendRaw(`<presence/>`)
	alice.Expect("own presence", func(e *wire.Element) bool { return e.Local == "presence" && e.Get("from") == alice.JID })
	dave.SendRaw(`<message to='` + room + `' id='dec'><x xmlns='http://jabber.org/protocol/muc#user'><decline to='alice@` + domain + `'><reason>busy</reason></decline></x></message>`)
	dec := alice.Expect("decline", func(e *wire.Element) bool { return e.Get("id") == "dec" })
	if d := dec.Child(muc.NSUser, "x").Child(muc.NSUser, "decline"); d == nil || d.Get("from") != "dave@"+domain {
		t.Errorf("decline = %s", xmpptest.String(dec))
	}

	// Room disco#info: features and the room info form.
	ri := bob.IQ(`<iq type='get' id='ri' to='` + room + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	for _, f := range []string{"muc_persistent", "muc_membersonly", "muc_moderated", "muc_semianonymous", "muc#roominfo", "urn:xmpp:occupant-id:0", "muc#self-ping-optimization"} {
		if !strings.Contains(xmpptest.String(ri), f) {
			t.Errorf("room disco#info lacks %s", f)
		}
	}
	if strings.Contains(xmpptest.String(ri), "urn:xmpp:mam:2") {
		t.Errorf("room without archive advertises MAM")
	}
	items := bob.IQ(`<iq type='get' id='it' to='` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if !strings.Contains(xmpptest.String(items), room) {
		t.Errorf("public room not listed: %s", xmpptest.String(items))
	}
	configure(t, alice, "team", map[string]string{"muc#roomconfig_publicroom": "0"})
	items = bob.IQ(`<iq type='get' id='it2' to='` + mucDomain + `'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if strings.Contains(xmpptest.String(items), room) {
		t.Errorf("hidden room listed: %s", xmpptest.String(items))
	}

	// A client that disconnects leaves the room.
	dave.Close()
	alice.Expect("dave gone", presenceFrom(room+"/dave", "unavailable"))

	// Leaving: the others see it, and the self-ping now fails (XEP-0410).
	bob.SendRaw(`<presence type='unavailable' to='` + room + `/bobby'><status>later</status></presence>`)
	bob.Expect("own leave", presenceFrom(room+"/bobby", "unavailable", "110"))
	alice.Expect("bob left", presenceFrom(room+"/bobby", "unavailable"))
	if r := bob.IQ(`<iq type='get' id='sp3' to='` + room + `/bobby'><ping xmlns='urn:xmpp:ping'/></iq>`); !isError(r, "not-acceptable") {
		t.Errorf("self-ping after leaving = %s", xmpptest.String(r))
	}
	joinRoom(t, bob, "team", "bobby", "")

	// Destroy with an alternate venue.
	d := alice.IQ(`<iq type='set' id='d' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='new@` + mucDomain + `'><reason>moved</reason></destroy></query></iq>`)
	if d.Get("type") != "result" {
		t.Fatalf("destroy = %s", xmpptest.String(d))
	}
	gone := bob.Expect("destroyed", presenceFrom(room+"/bobby", "unavailable"))
	if ds := gone.Child(muc.NSUser, "x").Child(muc.NSUser, "destroy"); ds == nil || ds.Get("jid") != "new@"+mucDomain {
		t.Errorf("destroy presence = %s", xmpptest.String(gone))
	}
	if r := bob.IQ(`<iq type='get' id='ri2' to='` + room + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); !isError(r, "item-not-found") {
		t.Errorf("destroyed room's disco#info = %s", xmpptest.String(r))
	}
}

// TestMUCSlixmpp drives three Debian python3-slixmpp clients (xep_0045)
// through a room's life (testdata/slix_muc.py).
func TestMUCSlixmpp(t *testing.T) {
	py := xmpptest.RequireCommand(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-slixmpp is required in CI")
		}
		t.Skip("python3-slixmpp not installed")
	}
	e, _ := startMUC(t, nil, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, e.ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.plain)
	// Longer than the script's own 240 s limit, so its output is kept.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/slix_muc.py", domain, mucDomain, host, port, ca).CombinedOutput()
	s := string(out)
	if err != nil {
		t.Fatalf("slix_muc.py: %v\n%s", err, s)
	}
	for _, want := range []string{"OK create-configure", "OK members-only", "OK join-three", "OK groupchat-stanza-id",
		"OK subject", "OK nick-change", "OK private-message", "OK invitations", "OK self-ping-joined",
		"OK kick-307-self-ping-left", "OK ban-301", "OK destroy", "OK room-mam", "RESULT ok"} {
		if !strings.Contains(s, want) {
			t.Errorf("slixmpp output lacks %q:\n%s", want, s)
		}
	}
}

// TestDirectedPresenceToServiceEnds: a session that sent directed
// presence to a local service's JID makes the service get unavailable
// presence when it sends unavailable or its stream ends (RFC 6121
// §4.6.3); without it a vanished client stays an occupant.
func TestDirectedPresenceToServiceEnds(t *testing.T) {
	got := make(chan *wire.Element, 10)
	e := startWith(t, nil, func(_ *server.Config, d *server.Deps) {
		d.Domains = router.NewDomains(domain)
		d.Domains.AddService("svc."+domain, router.HandlerFunc(func(_ context.Context, el *wire.Element, _ func(*wire.Element)) {
			if el.Local == "presence" {
				got <- el
			}
		}))
	})
	e.user(t, "alice")
	for _, end := range []string{"unavailable", "close"} {
		t.Run(end, func(t *testing.T) {
			c := e.login(t, "alice")
			c.SendRaw(`<presence to='room@svc.` + domain + `/a'/>`)
			if p := <-got; p.Get("type") != "" || p.Get("from") != c.JID {
				t.Fatalf("directed presence = %s", xmpptest.String(p))
			}
			if end == "close" {
				c.Close()
			} else {
				c.SendRaw(`<presence/>`)
				c.SendRaw(`<presence type='unavailable'/>`)
			}
			select {
			case p := <-got:
				if p.Get("type") != "unavailable" || p.Get("to") != "room@svc."+domain+"/a" || p.Get("from") != c.JID {
					t.Errorf("after %s: %s", end, xmpptest.String(p))
				}
			case <-time.After(xmpptest.Wait):
				t.Fatalf("no unavailable presence after %s", end)
			}
		})
	}
}
