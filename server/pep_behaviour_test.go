package server_test

import (
	"context"
	"strings"
	"testing"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
)

const nsPubsubOwner = nsPubsub + "#owner"

// fetchFrom asks owner's PEP service for node's items.
func fetchFrom(c *xmpptest.Client, id, owner, node string) *wire.Element {
	return c.IQ("<iq type='get' id='" + id + "' to='" + owner + "@" + domain + "'><pubsub xmlns='" + nsPubsub + "'><items node='" + node + "'/></pubsub></iq>")
}

func itemIDs(r *wire.Element) []string {
	var ids []string
	if its := r.Child(nsPubsub, "pubsub").Child(nsPubsub, "items"); its != nil {
		for _, it := range its.Elements() {
			ids = append(ids, it.Get("id"))
		}
	}
	return ids
}

// presenceCaps is an available presence with cc's caps.
func presenceCaps(t testing.TB, cc capsClient) string {
	return "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://chatbx.test/" + cc.name + "' ver='" + cc.ver(t) + "'/></presence>"
}

// When a presence subscription is approved, the subscriber's interested
// sessions get the last item of the contact's nodes whose
// send_last_published_item is on_sub or on_sub_and_presence, never of a
// node with never; a new session's presence brings those with
// on_sub_and_presence only.
func TestPEPLastItemOnSubscription(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	const sap, onSub, never = "urn:test:sap", "urn:test:onsub", "urn:test:never"
	cc := capsClient{name: "lastitem", features: []string{nsInfo, sap + "+notify", onSub + "+notify", never + "+notify"}}
	a := e.login(t, "alice")
	available(t, a, nil, false)
	mustResult(t, a.IQ(publish("p1", sap, "current", "<x xmlns='urn:test'>sap</x>", "")))
	mustResult(t, a.IQ(publish("p2", onSub, "current", "<x xmlns='urn:test'>onsub</x>", publishOpts("pubsub#send_last_published_item", "on_sub"))))
	mustResult(t, a.IQ(publish("p3", never, "current", "<x xmlns='urn:test'>never</x>", publishOpts("pubsub#send_last_published_item", "never"))))

	b := e.login(t, "bob", xmpptest.Options{Resource: "b1"})
	available(t, b, &cc, true)
	if els := drain(t, b); len(events(els, sap))+len(events(els, onSub))+len(events(els, never)) != 0 {
		t.Fatal("last items before any subscription")
	}
	b.SendRaw("<presence to='alice@" + domain + "' type='subscribe'/>")
	a.Expect("subscription request", func(e *wire.Element) bool { return e.Local == "presence" && e.Get("type") == "subscribe" })
	a.SendRaw("<presence to='bob@" + domain + "' type='subscribed'/>")
	var got []*wire.Element
	b.Expect("last items on subscription", func(e *wire.Element) bool {
		got = append(got, e)
		return len(events(got, sap)) > 0 && len(events(got, onSub)) > 0
	})
	got = append(got, drain(t, b)...)
	if n := len(events(got, never)); n != 0 {
		t.Errorf("send_last_published_item=never: %d last items on subscription", n)
	}
	if ev := events(got, sap); len(ev) != 1 || ev[0].Get("from") != "alice@"+domain || !strings.Contains(xmpptest.String(ev[0]), ">sap<") {
		t.Errorf("on_sub_and_presence on subscription: %d events", len(ev))
	}

	// A new session of bob, now subscribed: on presence, only the
	// on_sub_and_presence node's last item.
	b2 := e.login(t, "bob", xmpptest.Options{Resource: "b2"})
	b2.SendRaw(presenceCaps(t, cc))
	got = drain(t, b2)
	if len(events(got, sap)) != 1 || len(events(got, onSub)) != 0 || len(events(got, never)) != 0 {
		t.Errorf("on presence: sap %d, on_sub %d, never %d events; want 1, 0, 0",
			len(events(got, sap)), len(events(got, onSub)), len(events(got, never)))
	}
}

// Owner affiliations for the whitelist access model: get and set
// <affiliations/> in pubsub#owner; a member reads and is notified, a
// non-member (even a contact) is refused with not-allowed/closed-node
// (XEP-0060 §6.5.9) and not notified; only the owner manages them.
func TestPEPWhitelistAffiliations(t *testing.T) {
	e := start(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	befriend(t, e.db, "alice", "bob")
	befriend(t, e.db, "alice", "carol")
	const node = "urn:test:whitelist"
	cc := capsClient{name: "wl", features: []string{nsInfo, node + "+notify"}}
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	c := e.login(t, "carol")
	available(t, a, nil, false)
	available(t, b, &cc, true)
	available(t, c, &cc, false)
	mustResult(t, a.IQ(publish("p1", node, "current", "<x xmlns='urn:test'>one</x>", publishOpts("pubsub#access_model", "whitelist"))))

	affs := func(id string) map[string]string {
		r := mustResult(t, a.IQ("<iq type='get' id='"+id+"'><pubsub xmlns='"+nsPubsubOwner+"'><affiliations node='"+node+"'/></pubsub></iq>"))
		out := map[string]string{}
		for _, af := range r.Child(nsPubsubOwner, "pubsub").Child(nsPubsubOwner, "affiliations").Elements() {
			out[af.Get("jid")] = af.Get("affiliation")
		}
		return out
	}
	setAff := func(id, jid, aff string) *wire.Element {
		return a.IQ("<iq type='set' id='" + id + "'><pubsub xmlns='" + nsPubsubOwner + "'><affiliations node='" + node + "'><affiliation jid='" + jid + "' affiliation='" + aff + "'/></affiliations></pubsub></iq>")
	}
	if got := affs("g1"); len(got) != 1 || got["alice@"+domain] != "owner" {
		t.Errorf("initial affiliations %v", got)
	}
	for name, cl := range map[string]*xmpptest.Client{"bob": b, "carol": c} {
		if cond, app, _ := errorOf(fetchFrom(cl, "f-"+name, "alice", node)); cond != "not-allowed" || app != "closed-node" {
			t.Errorf("%s before the whitelist: %s/%s, want not-allowed/closed-node", name, cond, app)
		}
	}
	mustResult(t, setAff("s1", "bob@"+domain, "member"))
	if got := affs("g2"); len(got) != 2 || got["bob@"+domain] != "member" {
		t.Errorf("affiliations after set %v", got)
	}
	if ids := itemIDs(mustResult(t, fetchFrom(b, "f1", "alice", node))); len(ids) != 1 {
		t.Errorf("member fetch: %v", ids)
	}
	if cond, app, _ := errorOf(fetchFrom(c, "f2", "alice", node)); cond != "not-allowed" || app != "closed-node" {
		t.Errorf("non-member contact: %s/%s, want not-allowed/closed-node", cond, app)
	}
	drain(t, b)
	drain(t, c)
	mustResult(t, a.IQ(publish("p2", node, "current", "<x xmlns='urn:test'>two</x>", "")))
	if ev := events(drain(t, b), node); len(ev) != 1 {
		t.Errorf("member got %d notifications, want 1", len(ev))
	}
	if ev := events(drain(t, c), node); len(ev) != 0 {
		t.Errorf("non-member got %d notifications", len(ev))
	}
	// Only the owner manages affiliations: another account reading them
	// gets forbidden, and so does a set (the server answers for the
	// account, RFC 6121 §8.5.2.1.3, with pubsub's condition).
	r := b.IQ("<iq type='get' id='x0' to='alice@" + domain + "'><pubsub xmlns='" + nsPubsubOwner + "'><affiliations node='" + node + "'/></pubsub></iq>")
	if cond, _, _ := errorOf(r); cond != "forbidden" {
		t.Errorf("affiliations read by a non-owner: %s", xmpptest.String(r))
	}
	r = b.IQ("<iq type='set' id='x1' to='alice@" + domain + "'><pubsub xmlns='" + nsPubsubOwner + "'><affiliations node='" + node + "'><affiliation jid='carol@" + domain + "' affiliation='member'/></affiliations></pubsub></iq>")
	if cond, _, _ := errorOf(r); cond != "forbidden" {
		t.Errorf("affiliations set by a non-owner: %s", xmpptest.String(r))
	}
	if got := affs("g2b"); got["carol@"+domain] != "" {
		t.Errorf("a non-owner changed the affiliations: %v", got)
	}
	if cond, _, _ := errorOf(setAff("s2", "carol@"+domain, "king")); cond != "not-acceptable" {
		t.Errorf("unknown affiliation: %s", cond)
	}
	// Removing the member closes the node to it again.
	mustResult(t, setAff("s3", "bob@"+domain, "none"))
	if got := affs("g3"); len(got) != 1 {
		t.Errorf("affiliations after removal %v", got)
	}
	if cond, app, _ := errorOf(fetchFrom(b, "f3", "alice", node)); cond != "not-allowed" || app != "closed-node" {
		t.Errorf("removed member: %s/%s", cond, app)
	}
}

func setGroups(t testing.TB, db *store.DB, owner, contact string, groups ...string) {
	t.Helper()
	_, _, err := db.UpdateRosterItem(context.Background(), owner, contact+"@"+domain, func(it *store.RosterItem, _ bool) (bool, error) {
		it.Groups = groups
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The roster access model: a contact in a group of
// pubsub#roster_groups_allowed reads and is notified; a contact in no
// allowed group gets not-authorized/not-in-roster-group (XEP-0060
// §6.5.9) and no notification.
func TestPEPRosterAccess(t *testing.T) {
	e := start(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	befriend(t, e.db, "alice", "bob")
	befriend(t, e.db, "alice", "carol")
	setGroups(t, e.db, "alice", "bob", "Friends")
	setGroups(t, e.db, "alice", "carol", "Work")
	const node = "urn:test:roster"
	cc := capsClient{name: "roster", features: []string{nsInfo, node + "+notify"}}
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	c := e.login(t, "carol")
	available(t, a, nil, false)
	available(t, b, &cc, true)
	available(t, c, &cc, false)
	drain(t, b)
	drain(t, c)
	mustResult(t, a.IQ(publish("p1", node, "current", "<x xmlns='urn:test'/>",
		publishOpts("pubsub#access_model", "roster", "pubsub#roster_groups_allowed", "Friends"))))
	if ev := events(drain(t, b), node); len(ev) != 1 {
		t.Errorf("contact in an allowed group got %d notifications", len(ev))
	}
	if ev := events(drain(t, c), node); len(ev) != 0 {
		t.Errorf("contact in another group got %d notifications", len(ev))
	}
	if ids := itemIDs(mustResult(t, fetchFrom(b, "f1", "alice", node))); len(ids) != 1 {
		t.Errorf("allowed fetch: %v", ids)
	}
	if cond, app, _ := errorOf(fetchFrom(c, "f2", "alice", node)); cond != "not-authorized" || app != "not-in-roster-group" {
		t.Errorf("other group: %s/%s, want not-authorized/not-in-roster-group", cond, app)
	}
	r := mustResult(t, a.IQ("<iq type='get' id='c1'><pubsub xmlns='"+nsPubsubOwner+"'><configure node='"+node+"'/></pubsub></iq>"))
	if s := xmpptest.String(r); !strings.Contains(s, "pubsub#roster_groups_allowed") || !strings.Contains(s, "<value>Friends</value>") {
		t.Errorf("configure form lacks the groups: %s", s)
	}
}

// persist_items=false: nothing is stored, the notification is still sent.
func TestPEPTransientNode(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	befriend(t, e.db, "alice", "bob")
	const node = "urn:test:transient"
	cc := capsClient{name: "transient", features: []string{nsInfo, node + "+notify"}}
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	available(t, a, nil, false)
	available(t, b, &cc, true)
	drain(t, b)
	mustResult(t, a.IQ(publish("p1", node, "x1", "<x xmlns='urn:test'>transient-payload</x>", publishOpts("pubsub#persist_items", "false"))))
	if ev := events(drain(t, b), node); len(ev) != 1 || !strings.Contains(xmpptest.String(ev[0]), "transient-payload") {
		t.Errorf("notification of a transient item: %d events", len(ev))
	}
	if ids := itemIDs(mustResult(t, fetchFrom(b, "f1", "alice", node))); len(ids) != 0 {
		t.Errorf("transient items stored: %v", ids)
	}
	if n, _, err := e.db.PEPUsage(context.Background(), "alice"); err != nil || n != 0 {
		t.Errorf("usage %d items, %v; want 0", n, err)
	}
	// Nor is anything sent on presence.
	b2 := e.login(t, "bob", xmpptest.Options{Resource: "b2"})
	b2.SendRaw(presenceCaps(t, cc))
	if ev := events(drain(t, b2), node); len(ev) != 0 {
		t.Errorf("last item of a transient node on presence: %d", len(ev))
	}
}

// Notifications reach the owner's other resources that advertise
// +notify, not those that do not.
func TestPEPOwnResources(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	const node = "urn:xmpp:avatar:metadata"
	cc := capsClient{name: "own", features: []string{nsInfo, node + "+notify"}}
	a1 := e.login(t, "alice", xmpptest.Options{Resource: "a1"})
	a2 := e.login(t, "alice", xmpptest.Options{Resource: "a2"})
	a3 := e.login(t, "alice", xmpptest.Options{Resource: "a3"})
	available(t, a1, nil, false)
	available(t, a2, &cc, true)
	available(t, a3, &capsClient{name: "other", features: []string{nsInfo}}, true)
	drain(t, a2)
	drain(t, a3)
	mustResult(t, a1.IQ(publish("p1", node, "abc", "<metadata xmlns='urn:xmpp:avatar:metadata'/>", "")))
	if ev := events(drain(t, a2), node); len(ev) != 1 || ev[0].Get("from") != "alice@"+domain || ev[0].Get("to") != "alice@"+domain+"/a2" {
		t.Errorf("other resource with +notify: %d events", len(ev))
	}
	if ev := events(drain(t, a3), node); len(ev) != 0 {
		t.Errorf("other resource without +notify: %d events", len(ev))
	}
	if ev := events(drain(t, a1), node); len(ev) != 0 {
		t.Errorf("publishing resource without caps: %d events", len(ev))
	}
}
