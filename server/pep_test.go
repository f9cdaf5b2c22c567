package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"chatbx/server"
	"chatbx/server/pep"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

const (
	nsPubsub   = "http://jabber.org/protocol/pubsub"
	nsEvent    = "http://jabber.org/protocol/pubsub#event"
	nsInfo     = "http://jabber.org/protocol/disco#info"
	devicelist = "eu.siacs.conversations.axolotl.devicelist"
	omemo2Dev  = "urn:xmpp:omemo:2:devices"
	omemo2Bund = "urn:xmpp:omemo:2:bundles"
)

// capsClient describes a client's disco#info for XEP-0115.
type capsClient struct {
	name     string
	features []string
}

func (cc capsClient) query(node string) string {
	var b strings.Builder
	b.WriteString("<query xmlns='" + nsInfo + "'")
	if node != "" {
		b.WriteString(" node='" + node + "'")
	}
	b.WriteString("><identity category='client' type='pc' name='" + cc.name + "'/>")
	for _, f := range cc.features {
		b.WriteString("<feature var='" + f + "'/>")
	}
	b.WriteString("</query>")
	return b.String()
}

func (cc capsClient) ver(t testing.TB) string {
	return pep.CapsVer("sha-1", xmpptest.Parse(t, cc.query("")))
}

// available sends initial presence with cc's caps. With answer, it
// expects the server's disco#info query and answers it; then it waits
// until the server has processed everything sent so far.
func available(t testing.TB, c *xmpptest.Client, cc *capsClient, answer bool) {
	t.Helper()
	if cc == nil {
		c.SendRaw("<presence/>")
		drain(t, c)
		return
	}
	ver := cc.ver(t)
	c.SendRaw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://chatbx.test/" + cc.name + "' ver='" + ver + "'/></presence>")
	if answer {
		q := c.Expect("caps query", func(e *wire.Element) bool {
			return e.Local == "iq" && e.Get("type") == "get" && e.Child(nsInfo, "query") != nil
		})
		node := q.Child(nsInfo, "query").Get("node")
		if node != "https://chatbx.test/"+cc.name+"#"+ver {
			t.Errorf("caps query node %q", node)
		}
		c.SendRaw("<iq type='result' id='" + q.Get("id") + "' to='" + q.Get("from") + "'>" + cc.query(node) + "</iq>")
	}
	drain(t, c)
}

var syncN int

// drain waits until the server answered a ping sent now, and returns the
// stanzas that arrived before the answer.
func drain(t testing.TB, c *xmpptest.Client) []*wire.Element {
	t.Helper()
	syncN++
	id := fmt.Sprintf("sync%d", syncN)
	c.SendRaw("<iq type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>")
	var got []*wire.Element
	c.Expect("sync", func(e *wire.Element) bool {
		if e.Local == "iq" && e.Get("id") == id {
			return true
		}
		got = append(got, e)
		return false
	})
	return got
}

// events returns the PEP notifications among els for node.
func events(els []*wire.Element, node string) []*wire.Element {
	var out []*wire.Element
	for _, e := range els {
		if e.Local != "message" {
			continue
		}
		if ev := e.Child(nsEvent, "event"); ev != nil {
			for _, ch := range ev.Elements() {
				if ch.Get("node") == node {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

func publishOpts(fields ...string) string {
	s := "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + nsPubsub + "#publish-options</value></field>"
	for i := 0; i+1 < len(fields); i += 2 {
		s += "<field var='" + fields[i] + "'><value>" + fields[i+1] + "</value></field>"
	}
	return s + "</x></publish-options>"
}

func publish(id, node, itemID, payload, opts string) string {
	item := "<item>"
	if itemID != "" {
		item = "<item id='" + itemID + "'>"
	}
	return "<iq type='set' id='" + id + "'><pubsub xmlns='" + nsPubsub + "'><publish node='" + node + "'>" + item + payload + "</item></publish>" + opts + "</pubsub></iq>"
}

func mustResult(t testing.TB, r *wire.Element) *wire.Element {
	t.Helper()
	if r.Get("type") != "result" {
		t.Fatalf("IQ %s: %s", r.Get("id"), xmpptest.String(r))
	}
	return r
}

// errorOf returns the stanza error condition, the pubsub#errors
// condition and the legacy code of an error reply.
func errorOf(r *wire.Element) (cond, app, code string) {
	e := r.Child("jabber:client", "error")
	if r.Get("type") != "error" || e == nil {
		return "", "", ""
	}
	for _, ch := range e.Elements() {
		switch ch.Space {
		case "urn:ietf:params:xml:ns:xmpp-stanzas":
			if ch.Local != "text" {
				cond = ch.Local
			}
		case nsPubsub + "#errors":
			app = ch.Local
		}
	}
	return cond, app, e.Get("code")
}

func befriend(t testing.TB, db *store.DB, a, b string) {
	t.Helper()
	for _, p := range [][2]string{{a, b}, {b, a}} {
		_, _, err := db.UpdateRosterItem(context.Background(), p[0], p[1]+"@"+domain, func(it *store.RosterItem, _ bool) (bool, error) {
			it.Sub = store.SubBoth
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestPEPOMEMO is the OMEMO flow: two accounts with two clients each,
// device lists and bundles (legacy and OMEMO 2), fetches by a contact and
// a non-contact, +notify filtering by verified caps, access models,
// preconditions, retraction and last-item delivery on presence.
func TestPEPOMEMO(t *testing.T) {
	e := start(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	befriend(t, e.db, "alice", "bob")
	omemo := capsClient{name: "omemo", features: []string{nsInfo, devicelist + "+notify", omemo2Dev + "+notify", "urn:xmpp:avatar:metadata+notify"}}
	plain := capsClient{name: "plain", features: []string{nsInfo, "urn:xmpp:ping"}}

	a1 := e.login(t, "alice", xmpptest.Options{Resource: "a1"})
	a2 := e.login(t, "alice", xmpptest.Options{Resource: "a2"})
	b1 := e.login(t, "bob", xmpptest.Options{Resource: "b1"})
	b2 := e.login(t, "bob", xmpptest.Options{Resource: "b2"})
	carol := e.login(t, "carol")
	available(t, a1, &omemo, true) // unknown hash: queried and verified
	available(t, a2, nil, false)   // no caps at all
	available(t, b1, &omemo, false)
	available(t, b2, &plain, true)
	available(t, carol, &omemo, false)
	for _, c := range []*xmpptest.Client{a1, a2, b1, b2} {
		drain(t, c) // drain presence
	}

	// Device list with access_model=open.
	dl := "<list xmlns='eu.siacs.conversations.axolotl'><device id='1111'/></list>"
	// The publisher's own client gets the notification before the result.
	a1.SendRaw(publish("p1", devicelist, "current", dl, publishOpts("pubsub#access_model", "open")))
	var own []*wire.Element
	r := mustResult(t, a1.Expect("p1", func(e *wire.Element) bool {
		own = append(own, e)
		return e.Local == "iq" && e.Get("id") == "p1"
	}))
	if ev := events(own, devicelist); len(ev) != 1 {
		t.Errorf("alice's own omemo client: %d devicelist events, want 1", len(ev))
	}
	if it := r.Child(nsPubsub, "pubsub").Child(nsPubsub, "publish").Child(nsPubsub, "item"); it == nil || it.Get("id") != "current" {
		t.Errorf("publish result %s", xmpptest.String(r))
	}
	if ev := events(drain(t, b1), devicelist); len(ev) != 1 || ev[0].Get("from") != "alice@"+domain || ev[0].Get("type") != "headline" {
		t.Errorf("bob's omemo client: %d devicelist events", len(ev))
	} else if !strings.Contains(xmpptest.String(ev[0]), "1111") {
		t.Errorf("event lacks payload: %s", xmpptest.String(ev[0]))
	}
	for name, c := range map[string]*xmpptest.Client{"alice without caps": a2, "bob without +notify": b2, "carol, no contact": carol} {
		if ev := events(drain(t, c), devicelist); len(ev) != 0 {
			t.Errorf("%s got %d devicelist events", name, len(ev))
		}
	}

	// Bundles: legacy per-device node, OMEMO 2 device list and a bundles
	// node with many items (max_items=max).
	bundle := "<bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>AAAA</signedPreKeyPublic></bundle>"
	mustResult(t, a1.IQ(publish("p2", "eu.siacs.conversations.axolotl.bundles:1111", "current", bundle, publishOpts("pubsub#access_model", "open"))))
	mustResult(t, a1.IQ(publish("p3", omemo2Dev, "current", "<devices xmlns='urn:xmpp:omemo:2'><device id='1111'/></devices>", publishOpts("pubsub#access_model", "open"))))
	for i := 1; i <= 20; i++ {
		mustResult(t, a1.IQ(publish(fmt.Sprintf("b%d", i), omemo2Bund, fmt.Sprint(i), fmt.Sprintf("<bundle xmlns='urn:xmpp:omemo:2'><spk id='%d'>x</spk></bundle>", i),
			publishOpts("pubsub#access_model", "open", "pubsub#max_items", "max"))))
	}
	// An item without id gets one.
	r = mustResult(t, a1.IQ(publish("p4", "urn:xmpp:tmp", "", "<x xmlns='urn:test'/>", "")))
	if id := r.Child(nsPubsub, "pubsub").Child(nsPubsub, "publish").Child(nsPubsub, "item").Get("id"); id == "" {
		t.Error("no generated item id")
	}

	fetch := func(c *xmpptest.Client, id, node, inner string, attrs string) *wire.Element {
		return c.IQ("<iq type='get' id='" + id + "' to='alice@" + domain + "'><pubsub xmlns='" + nsPubsub + "'><items node='" + node + "'" + attrs + ">" + inner + "</items></pubsub></iq>")
	}
	count := func(r *wire.Element) []string {
		var ids []string
		for _, it := range r.Child(nsPubsub, "pubsub").Child(nsPubsub, "items").Elements() {
			ids = append(ids, it.Get("id"))
		}
		return ids
	}
	// A contact and a non-contact fetch the bundle.
	for name, c := range map[string]*xmpptest.Client{"contact": b1, "non-contact": carol} {
		r := mustResult(t, fetch(c, "f-"+name, "eu.siacs.conversations.axolotl.bundles:1111", "", ""))
		if !strings.Contains(xmpptest.String(r), "signedPreKeyPublic") {
			t.Errorf("%s fetch: %s", name, xmpptest.String(r))
		}
	}
	if ids := count(mustResult(t, fetch(carol, "f2", omemo2Bund, "", ""))); len(ids) != 20 {
		t.Errorf("omemo 2 bundles: %d items, want 20", len(ids))
	}
	if ids := count(mustResult(t, fetch(carol, "f3", omemo2Bund, "<item id='7'/>", ""))); len(ids) != 1 || ids[0] != "7" {
		t.Errorf("by id: %v", ids)
	}
	if ids := count(mustResult(t, fetch(b1, "f4", omemo2Bund, "", " max_items='3'"))); strings.Join(ids, ",") != "18,19,20" {
		t.Errorf("max_items=3: %v", ids)
	}

	// A presence-access node: the contact may fetch, the non-contact not.
	mustResult(t, a1.IQ(publish("p5", "urn:xmpp:avatar:metadata", "abc", "<metadata xmlns='urn:xmpp:avatar:metadata'/>", "")))
	mustResult(t, fetch(b1, "f5", "urn:xmpp:avatar:metadata", "", ""))
	if cond, app, _ := errorOf(fetch(carol, "f6", "urn:xmpp:avatar:metadata", "", "")); cond != "not-authorized" || app != "presence-subscription-required" {
		t.Errorf("non-contact on presence node: %s/%s", cond, app)
	}
	// Missing node: item-not-found with the legacy code.
	if cond, _, code := errorOf(fetch(b1, "f7", "nothing-here", "", "")); cond != "item-not-found" || code != "404" {
		t.Errorf("missing node: %s code %q", cond, code)
	}
	// Publishing to another account is forbidden.
	r = b1.IQ("<iq type='set' id='x1' to='alice@" + domain + "'><pubsub xmlns='" + nsPubsub + "'><publish node='n'><item><x xmlns='y'/></item></publish></pubsub></iq>")
	if cond, _, _ := errorOf(r); cond != "forbidden" {
		t.Errorf("publish to another account: %s", xmpptest.String(r))
	}
	// Precondition: the device list is open, not presence.
	r = a1.IQ(publish("p6", devicelist, "current", dl, publishOpts("pubsub#access_model", "presence")))
	if cond, app, _ := errorOf(r); cond != "conflict" || app != "precondition-not-met" {
		t.Errorf("precondition: %s/%s", cond, app)
	}

	// Retract with notify reaches the interested contact client only.
	drain(t, b1)
	drain(t, b2)
	mustResult(t, a1.IQ("<iq type='set' id='r1'><pubsub xmlns='"+nsPubsub+"'><retract node='"+omemo2Dev+"' notify='true'><item id='current'/></retract></pubsub></iq>"))
	if ev := events(drain(t, b1), omemo2Dev); len(ev) != 1 || ev[0].Child(nsEvent, "event").Child(nsEvent, "items").Child(nsEvent, "retract") == nil {
		t.Errorf("retract events: %d", len(ev))
	}
	if ev := events(drain(t, b2), omemo2Dev); len(ev) != 0 {
		t.Error("retract reached a client without +notify")
	}

	// Last item on presence: a new bob client gets alice's device list.
	b3 := e.login(t, "bob", xmpptest.Options{Resource: "b3"})
	b3.SendRaw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://chatbx.test/omemo' ver='" + omemo.ver(t) + "'/></presence>")
	ev := b3.Expect("last devicelist", func(e *wire.Element) bool { return len(events([]*wire.Element{e}, devicelist)) == 1 })
	if ev.Get("from") != "alice@"+domain || !strings.Contains(xmpptest.String(ev), "1111") {
		t.Errorf("last item: %s", xmpptest.String(ev))
	}
}

// A client's caps that do not hash to the advertised ver are not cached
// nor used: the session gets no notifications.
func TestPEPCapsUnverified(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	befriend(t, e.db, "alice", "bob")
	liar := capsClient{name: "liar", features: []string{devicelist + "+notify"}}
	b := e.login(t, "bob")
	b.SendRaw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='bm90LXRoZS1oYXNo'/></presence>")
	q := b.Expect("caps query", func(e *wire.Element) bool { return e.Local == "iq" && e.Get("type") == "get" })
	b.SendRaw("<iq type='result' id='" + q.Get("id") + "' to='" + domain + "'>" + liar.query("n#bm90LXRoZS1oYXNo") + "</iq>")
	drain(t, b)
	a := e.login(t, "alice")
	mustResult(t, a.IQ(publish("p1", devicelist, "current", "<list xmlns='eu.siacs.conversations.axolotl'/>", "")))
	if ev := events(drain(t, b), devicelist); len(ev) != 0 {
		t.Error("unverified caps got a notification")
	}
}

// The per-account caps hold: items, bytes and one item's size.
func TestPEPLimits(t *testing.T) {
	e := start(t, func(c *server.Config) {
		c.PEP = pep.Config{MaxItems: 3, MaxBytes: 1500, MaxItemBytes: 1000}
	})
	e.user(t, "alice")
	a := e.login(t, "alice")
	for i := range 3 {
		mustResult(t, a.IQ(publish(fmt.Sprint("p", i), fmt.Sprint("node", i), "current", "<x xmlns='urn:test'/>", "")))
	}
	if cond, _, _ := errorOf(a.IQ(publish("p4", "node4", "current", "<x xmlns='urn:test'/>", ""))); cond != "policy-violation" {
		t.Errorf("4th item: %s, want policy-violation", cond)
	}
	// Replacing an item does not count twice.
	mustResult(t, a.IQ(publish("p5", "node0", "current", "<y xmlns='urn:test'/>", "")))
	big := "<x xmlns='urn:test'>" + strings.Repeat("a", 1200) + "</x>"
	if cond, app, _ := errorOf(a.IQ(publish("p6", "node1", "current", big, ""))); cond != "not-acceptable" || app != "payload-too-big" {
		t.Errorf("big item: %s/%s", cond, app)
	}
	mid := "<x xmlns='urn:test'>" + strings.Repeat("b", 900) + "</x>"
	mustResult(t, a.IQ(publish("p7", "node1", "current", mid, "")))
	if cond, _, _ := errorOf(a.IQ(publish("p8", "node2", "current", mid, ""))); cond != "policy-violation" {
		t.Errorf("bytes cap: %s, want policy-violation", cond)
	}
	// Nothing accepted was lost.
	if n, _, err := e.db.PEPUsage(context.Background(), "alice"); err != nil || n != 3 {
		t.Errorf("usage %d items, %v", n, err)
	}
}

// Configure, purge and delete; the node's data goes with the account.
func TestPEPOwnerAndDeletion(t *testing.T) {
	dir := t.TempDir()
	prev := &env{db: storetest.OpenPath(t, filepath.Join(dir, "chatbx.db")), ca: xmpptest.NewCA(t, domain), conn: &syncBuf{}}
	e := startWith(t, prev, nil)
	e.user(t, "alice")
	a := e.login(t, "alice")
	const marker = "pep-deletion-marker-6b1f"
	mustResult(t, a.IQ(publish("p1", "urn:xmpp:bookmarks:1", "room@muc", "<conference xmlns='urn:xmpp:bookmarks:1' name='"+marker+"'/>",
		publishOpts("pubsub#access_model", "whitelist", "pubsub#persist_items", "true", "pubsub#max_items", "max", "pubsub#send_last_published_item", "never"))))
	r := mustResult(t, a.IQ("<iq type='get' id='c1'><pubsub xmlns='"+nsPubsub+"#owner'><configure node='urn:xmpp:bookmarks:1'/></pubsub></iq>"))
	if s := xmpptest.String(r); !strings.Contains(s, "whitelist") || !strings.Contains(s, "<value>256</value>") {
		t.Errorf("configure form: %s", s)
	}
	mustResult(t, a.IQ("<iq type='set' id='c2'><pubsub xmlns='"+nsPubsub+"#owner'><configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"+nsPubsub+"#node_config</value></field><field var='pubsub#max_items'><value>5</value></field></x></configure></pubsub></iq>"))
	if n, err := e.db.PEPNode(context.Background(), "alice", "urn:xmpp:bookmarks:1"); err != nil || n.MaxItems != 5 || n.Access != "whitelist" {
		t.Errorf("after configure: %+v %v", n, err)
	}
	mustResult(t, a.IQ("<iq type='set' id='c3'><pubsub xmlns='"+nsPubsub+"#owner'><purge node='urn:xmpp:bookmarks:1'/></pubsub></iq>"))
	mustResult(t, a.IQ(publish("p2", "urn:xmpp:bookmarks:1", "room@muc", "<conference xmlns='urn:xmpp:bookmarks:1' name='"+marker+"'/>", "")))
	mustResult(t, a.IQ(publish("p3", "urn:xmpp:nick", "current", "<nick xmlns='http://jabber.org/protocol/nick'>"+marker+"</nick>", "")))
	mustResult(t, a.IQ("<iq type='set' id='c4'><pubsub xmlns='"+nsPubsub+"#owner'><delete node='urn:xmpp:nick'/></pubsub></iq>"))
	if cond, _, _ := errorOf(a.IQ("<iq type='get' id='c5'><pubsub xmlns='" + nsPubsub + "'><items node='urn:xmpp:nick'/></pubsub></iq>")); cond != "item-not-found" {
		t.Errorf("deleted node: %s", cond)
	}
	a.Close()
	if err := e.db.DeleteUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if hits := storetest.ScanDir(t, dir, marker); len(hits) > 0 {
		t.Errorf("PEP data survives the account: %v", hits)
	}
}
