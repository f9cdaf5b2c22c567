package server_test

import (
	"fmt"
	"testing"

	"chatbx/server"
	"chatbx/server/pep"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

func isCapsQuery(e *wire.Element) bool {
	return e.Local == "iq" && e.Get("type") == "get" && e.Child(nsInfo, "query") != nil
}

// One client presenting many distinct valid caps hashes (more than the
// cache holds) evicts only unused entries: a contact's connected session
// keeps its verified caps and still gets +notify notifications.
func TestPEPCapsFlood(t *testing.T) {
	e := start(t, func(c *server.Config) { c.PEP = pep.Config{CapsCache: 4, CapsQueries: 2} })
	for _, u := range []string{"alice", "bob", "mallory"} {
		e.user(t, u)
	}
	befriend(t, e.db, "alice", "bob")
	omemo := capsClient{name: "omemo", features: []string{nsInfo, devicelist + "+notify"}}
	b := e.login(t, "bob")
	available(t, b, &omemo, true)
	m := e.login(t, "mallory")
	for i := range 20 {
		available(t, m, &capsClient{name: fmt.Sprint("flood", i), features: []string{fmt.Sprint("urn:flood:", i, "+notify")}}, true)
	}
	// The flood did overflow the cache: its first hash is asked again.
	m2 := e.login(t, "mallory", xmpptest.Options{Resource: "m2"})
	available(t, m2, &capsClient{name: "flood0", features: []string{"urn:flood:0+notify"}}, true)

	a := e.login(t, "alice")
	mustResult(t, a.IQ(publish("p1", devicelist, "current", "<list xmlns='eu.siacs.conversations.axolotl'><device id='1'/></list>", "")))
	els := drain(t, b)
	if ev := events(els, devicelist); len(ev) != 1 {
		t.Errorf("bob got %d devicelist events after the flood, want 1", len(ev))
	}
	for _, el := range els {
		if isCapsQuery(el) {
			t.Error("bob's pinned caps were asked again")
		}
	}
}

// A session whose caps are not in the cache (here: its query was refused
// while too many were outstanding) is asked again when a notification is
// due, and gets it once its answer verifies.
func TestPEPCapsRequery(t *testing.T) {
	e := start(t, func(c *server.Config) { c.PEP = pep.Config{CapsQueries: 1} })
	for _, u := range []string{"alice", "bob", "mallory"} {
		e.user(t, u)
	}
	befriend(t, e.db, "alice", "bob")
	omemo := capsClient{name: "omemo", features: []string{nsInfo, devicelist + "+notify"}}
	slow := capsClient{name: "slow", features: []string{"urn:x+notify"}}

	// mallory's query holds the only slot.
	m := e.login(t, "mallory")
	m.SendRaw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='" + slow.ver(t) + "'/></presence>")
	mq := m.Expect("caps query", isCapsQuery)

	b := e.login(t, "bob")
	available(t, b, &omemo, false) // refused for now: no query
	for _, el := range drain(t, b) {
		if isCapsQuery(el) {
			t.Fatal("a second concurrent query was sent")
		}
	}
	m.SendRaw("<iq type='result' id='" + mq.Get("id") + "' to='" + mq.Get("from") + "'>" + slow.query(mq.Child(nsInfo, "query").Get("node")) + "</iq>")
	drain(t, m)

	a := e.login(t, "alice")
	mustResult(t, a.IQ(publish("p1", devicelist, "current", "<list xmlns='eu.siacs.conversations.axolotl'><device id='1'/></list>", "")))
	q := b.Expect("caps query on notification", isCapsQuery)
	b.SendRaw("<iq type='result' id='" + q.Get("id") + "' to='" + q.Get("from") + "'>" + omemo.query(q.Child(nsInfo, "query").Get("node")) + "</iq>")
	ev := b.Expect("devicelist event", func(e *wire.Element) bool { return len(events([]*wire.Element{e}, devicelist)) == 1 })
	if ev.Get("from") != "alice@"+domain {
		t.Errorf("event from %q", ev.Get("from"))
	}
	// Now cached: the next one needs no query.
	mustResult(t, a.IQ(publish("p2", devicelist, "current", "<list xmlns='eu.siacs.conversations.axolotl'><device id='2'/></list>", "")))
	els := drain(t, b)
	if len(events(els, devicelist)) != 1 {
		t.Error("second notification missing")
	}
	for _, el := range els {
		if isCapsQuery(el) {
			t.Error("asked again although cached")
		}
	}
}
