package server_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

const (
	avatarData = "urn:xmpp:avatar:data"
	avatarMeta = "urn:xmpp:avatar:metadata"
	bookmarks2 = "urn:xmpp:bookmarks:1"
)

// a tiny "image" and its XEP-0084 id.
func avatar(content string) (b64, id string) {
	sum := sha1.Sum([]byte(content))
	return base64.StdEncoding.EncodeToString([]byte(content)), hex.EncodeToString(sum[:])
}

func publishAvatar(t *testing.T, c *xmpptest.Client, content, access string) string {
	t.Helper()
	b64, id := avatar(content)
	opts := ""
	if access != "" {
		opts = publishOpts("pubsub#access_model", access)
	}
	mustResult(t, c.IQ(publish("ad-"+id[:6], avatarData, id, "<data xmlns='"+avatarData+"'>"+b64+"</data>", opts)))
	mustResult(t, c.IQ(publish("am-"+id[:6], avatarMeta, id,
		"<metadata xmlns='"+avatarMeta+"'><info id='"+id+"' bytes='"+strconv.Itoa(len(content))+"' type='image/png'/></metadata>", opts)))
	return id
}

func vcardOf(t *testing.T, c *xmpptest.Client, who string) *wire.Element {
	t.Helper()
	r := mustResult(t, c.IQ("<iq type='get' id='vc-"+who+"' to='"+who+"@"+domain+"'><vCard xmlns='vcard-temp'/></iq>"))
	return r.Child("vcard-temp", "vCard")
}

func photoHash(p *wire.Element) string {
	x := p.Child("vcard-temp:x:update", "x")
	if x == nil {
		return "(none)"
	}
	return x.ChildText("vcard-temp:x:update", "photo")
}

// TestAvatarConversion (XEP-0398): an open XEP-0084 avatar becomes the
// vCard photo and its hash goes into presence (XEP-0153); a vCard photo
// becomes the PEP avatar with a notification; an avatar for contacts
// only is not copied into the public vCard; switching the avatar off
// removes the photo.
func TestAvatarConversion(t *testing.T) {
	e := start(t)
	for _, u := range []string{"alice", "bob"} {
		e.user(t, u)
	}
	befriend(t, e.db, "alice", "bob")
	cc := capsClient{name: "avatars", features: []string{nsInfo, avatarMeta + "+notify"}}
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	available(t, b, &cc, true)

	r := mustResult(t, a.IQ("<iq type='get' id='d' to='alice@"+domain+"'><query xmlns='"+nsInfo+"'/></iq>"))
	for _, f := range []string{"urn:xmpp:pep-vcard-conversion:0", bookmarks2 + "#compat", bookmarks2 + "#compat-pep", "urn:xmpp:bookmarks-conversion:0"} {
		if !strings.Contains(xmpptest.String(r), f) {
			t.Errorf("account disco lacks %s", f)
		}
	}

	// PEP → vCard, for an open avatar.
	id := publishAvatar(t, a, "png-bytes-1", "open")
	card := vcardOf(t, b, "alice")
	if got := card.Child("vcard-temp", "PHOTO").ChildText("vcard-temp", "BINVAL"); got != base64.StdEncoding.EncodeToString([]byte("png-bytes-1")) {
		t.Fatalf("vCard after PEP avatar: %s", xmpptest.String(card))
	}
	if typ := card.Child("vcard-temp", "PHOTO").ChildText("vcard-temp", "TYPE"); typ != "image/png" {
		t.Errorf("PHOTO TYPE %q", typ)
	}
	// The hash in alice's presence, as bob sees it.
	drain(t, b)
	a.SendRaw("<presence/>")
	p := b.Expect("alice's presence", func(e *wire.Element) bool { return e.Local == "presence" && strings.HasPrefix(e.Get("from"), "alice@") })
	if h := photoHash(p); h != id {
		t.Errorf("presence photo hash %q, want %q", h, id)
	}
	// A client's own (empty) photo element is left alone.
	a.SendRaw("<presence><x xmlns='vcard-temp:x:update'><photo/></x></presence>")
	p = b.Expect("alice's presence 2", func(e *wire.Element) bool { return e.Local == "presence" && strings.HasPrefix(e.Get("from"), "alice@") })
	if h := photoHash(p); h != "" {
		t.Errorf("client's empty photo replaced by %q", h)
	}

	// A presence-only avatar stays out of the public vCard.
	mustResult(t, a.IQ("<iq type='set' id='dd'><pubsub xmlns='"+nsPubsub+"#owner'><delete node='"+avatarData+"'/></pubsub></iq>"))
	publishAvatar(t, a, "png-bytes-private", "")
	if got := vcardOf(t, b, "alice").Child("vcard-temp", "PHOTO").ChildText("vcard-temp", "BINVAL"); got != base64.StdEncoding.EncodeToString([]byte("png-bytes-1")) {
		t.Errorf("presence-only avatar reached the vCard")
	}

	// vCard → PEP.
	drain(t, b)
	b64, id2 := avatar("vcard-photo-2")
	mustResult(t, a.IQ("<iq type='set' id='vs'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>"+b64+"</BINVAL></PHOTO></vCard></iq>"))
	ev := events(drain(t, b), avatarMeta)
	if len(ev) != 1 || !strings.Contains(xmpptest.String(ev[0]), id2) || !strings.Contains(xmpptest.String(ev[0]), "image/jpeg") {
		t.Errorf("metadata notifications after vCard set: %d", len(ev))
	}
	fetch := mustResult(t, b.IQ("<iq type='get' id='fd' to='alice@"+domain+"'><pubsub xmlns='"+nsPubsub+"'><items node='"+avatarData+"'><item id='"+id2+"'/></items></pubsub></iq>"))
	if !strings.Contains(xmpptest.String(fetch), b64) {
		t.Errorf("avatar data after vCard set: %s", xmpptest.String(fetch))
	}
	a.SendRaw("<presence/>")
	p = b.Expect("alice's presence 3", func(e *wire.Element) bool { return e.Local == "presence" && strings.HasPrefix(e.Get("from"), "alice@") })
	if h := photoHash(p); h != id2 {
		t.Errorf("presence hash after vCard set %q, want %q", h, id2)
	}

	// Switching the avatar off (empty metadata) removes the photo.
	mustResult(t, a.IQ(publish("off", avatarMeta, "current", "<metadata xmlns='"+avatarMeta+"'/>", "")))
	if ph := vcardOf(t, b, "alice").Child("vcard-temp", "PHOTO"); ph != nil {
		t.Errorf("PHOTO after avatar off: %s", xmpptest.String(ph))
	}
	if fn := vcardOf(t, b, "alice").ChildText("vcard-temp", "FN"); fn != "Alice" {
		t.Errorf("vCard lost FN: %q", fn)
	}
}

func privateBookmarks(t *testing.T, c *xmpptest.Client) *wire.Element {
	t.Helper()
	r := mustResult(t, c.IQ("<iq type='get' id='pg'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>"))
	return r.Child("jabber:iq:private", "query").Child("storage:bookmarks", "storage")
}

func bookmarkItems(t *testing.T, c *xmpptest.Client) map[string]string {
	t.Helper()
	r := c.IQ("<iq type='get' id='bi'><pubsub xmlns='" + nsPubsub + "'><items node='" + bookmarks2 + "'/></pubsub></iq>")
	out := map[string]string{}
	if r.Get("type") != "result" {
		return out
	}
	for _, it := range r.Child(nsPubsub, "pubsub").Child(nsPubsub, "items").Elements() {
		out[it.Get("id")] = xmpptest.String(it)
	}
	return out
}

// TestBookmarksConversion (XEP-0402 #compat, XEP-0411): a PEP bookmark
// shows up in XEP-0049 private storage and back, retractions included,
// and a XEP-0048 PEP node follows both.
func TestBookmarksConversion(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	a := e.login(t, "alice")
	bmOpts := publishOpts("pubsub#persist_items", "true", "pubsub#max_items", "max", "pubsub#send_last_published_item", "never", "pubsub#access_model", "whitelist")

	// PEP → private storage.
	mustResult(t, a.IQ(publish("b1", bookmarks2, "room1@conference.example.org",
		"<conference xmlns='"+bookmarks2+"' name='Room One' autojoin='true'><nick>ali</nick></conference>", bmOpts)))
	st := privateBookmarks(t, a)
	c := st.Child("storage:bookmarks", "conference")
	if c == nil || c.Get("jid") != "room1@conference.example.org" || c.Get("name") != "Room One" || c.Get("autojoin") != "true" || c.ChildText("storage:bookmarks", "nick") != "ali" {
		t.Fatalf("private storage after PEP publish: %s", xmpptest.String(st))
	}

	// Private storage → PEP: a second room added, a URL kept aside.
	mustResult(t, a.IQ("<iq type='set' id='ps'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"+
		"<conference jid='room1@conference.example.org' name='Room One' autojoin='true'><nick>ali</nick></conference>"+
		"<conference jid='room2@conference.example.org' name='Room Two'/>"+
		"<url name='site' url='https://example.org/'/></storage></query></iq>"))
	items := bookmarkItems(t, a)
	if len(items) != 2 || !strings.Contains(items["room2@conference.example.org"], "Room Two") {
		t.Fatalf("PEP bookmarks after private set: %v", items)
	}
	n, err := e.db.PEPNode(context.Background(), "alice", bookmarks2)
	if err != nil || n.Access != "whitelist" {
		t.Errorf("bookmarks node %+v, %v", n, err)
	}

	// Retract in PEP → gone from private storage; the URL stays.
	mustResult(t, a.IQ("<iq type='set' id='r'><pubsub xmlns='"+nsPubsub+"'><retract node='"+bookmarks2+"' notify='true'><item id='room1@conference.example.org'/></retract></pubsub></iq>"))
	s := xmpptest.String(privateBookmarks(t, a))
	if strings.Contains(s, "room1@") || !strings.Contains(s, "room2@") || !strings.Contains(s, "https://example.org/") {
		t.Errorf("private storage after retract: %s", s)
	}

	// Removed from private storage → retracted in PEP.
	mustResult(t, a.IQ("<iq type='set' id='ps2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>"))
	if items := bookmarkItems(t, a); len(items) != 0 {
		t.Errorf("PEP bookmarks after emptying private storage: %v", items)
	}

	// XEP-0048 on PEP (storage:bookmarks node): its publish reaches both.
	mustResult(t, a.IQ(publish("l1", "storage:bookmarks", "current",
		"<storage xmlns='storage:bookmarks'><conference jid='room3@conference.example.org' name='Three'/></storage>",
		publishOpts("pubsub#persist_items", "true", "pubsub#access_model", "whitelist"))))
	if items := bookmarkItems(t, a); len(items) != 1 || items["room3@conference.example.org"] == "" {
		t.Errorf("PEP bookmarks after XEP-0048 PEP publish: %v", items)
	}
	if s := xmpptest.String(privateBookmarks(t, a)); !strings.Contains(s, "room3@") {
		t.Errorf("private storage after XEP-0048 PEP publish: %s", s)
	}
	// ... and a XEP-0402 publish updates the XEP-0048 node.
	mustResult(t, a.IQ(publish("b4", bookmarks2, "room4@conference.example.org", "<conference xmlns='"+bookmarks2+"' name='Four'/>", "")))
	r := mustResult(t, a.IQ("<iq type='get' id='lg'><pubsub xmlns='"+nsPubsub+"'><items node='storage:bookmarks'/></pubsub></iq>"))
	if s := xmpptest.String(r); !strings.Contains(s, "room4@") || !strings.Contains(s, "room3@") {
		t.Errorf("XEP-0048 PEP node after XEP-0402 publish: %s", s)
	}
}

// XEP-0172 nicknames reach interested contacts; XEP-0223 private nodes
// (whitelist, persistent) are readable by the owner only.
func TestNickAndPrivateNodes(t *testing.T) {
	e := start(t)
	for _, u := range []string{"alice", "bob"} {
		e.user(t, u)
	}
	befriend(t, e.db, "alice", "bob")
	cc := capsClient{name: "nick", features: []string{nsInfo, "http://jabber.org/protocol/nick+notify"}}
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	available(t, b, &cc, true)
	mustResult(t, a.IQ(publish("n1", "http://jabber.org/protocol/nick", "current", "<nick xmlns='http://jabber.org/protocol/nick'>Ali</nick>", "")))
	if ev := events(drain(t, b), "http://jabber.org/protocol/nick"); len(ev) != 1 || !strings.Contains(xmpptest.String(ev[0]), "Ali") {
		t.Errorf("nick notifications: %d", len(ev))
	}
	mustResult(t, a.IQ(publish("p1", "urn:example:settings", "current", "<settings xmlns='urn:example:settings'>secret-ish</settings>",
		publishOpts("pubsub#persist_items", "true", "pubsub#access_model", "whitelist"))))
	mustResult(t, a.IQ("<iq type='get' id='g1'><pubsub xmlns='"+nsPubsub+"'><items node='urn:example:settings'/></pubsub></iq>"))
	r := b.IQ("<iq type='get' id='g2' to='alice@" + domain + "'><pubsub xmlns='" + nsPubsub + "'><items node='urn:example:settings'/></pubsub></iq>")
	if r.Get("type") != "error" || strings.Contains(xmpptest.String(r), "secret-ish") {
		t.Errorf("contact read a private node: %s", xmpptest.String(r))
	}
}
