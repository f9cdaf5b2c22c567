package muc

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"chatbx/server/wire"
)

// statusCodes returns the muc#user status codes of a stanza.
func statusCodes(e *wire.Element) []int {
	var codes []int
	x := e.Child(NSUser, "x")
	if x == nil {
		return nil
	}
	for _, s := range x.Elements() {
		if s.Local == "status" {
			n, _ := strconv.Atoi(s.Get("code"))
			codes = append(codes, n)
		}
	}
	return codes
}

// presenceTo returns the presence stanzas of out addressed to full JID to
// about the occupant nick (from room/nick).
func presenceTo(out []*wire.Element, to, from string) []*wire.Element {
	var ps []*wire.Element
	for _, e := range out {
		if e.Local == "presence" && e.Get("to") == to && e.Get("from") == from {
			ps = append(ps, e)
		}
	}
	return ps
}

// bodies returns the bodies of the messages of out addressed to to.
func bodies(out []*wire.Element, to string) []string {
	var b []string
	for _, e := range out {
		if e.Local == "message" && e.Get("to") == to {
			if t := e.ChildText(wire.NSClient, "body"); t != "" {
				b = append(b, t)
			}
		}
	}
	return b
}

func (h *harness) joinX(user, room, nick, inner string) []*wire.Element {
	return h.do(`<presence xmlns='jabber:client' from='` + user + `@` + host + `/r' to='` + room + `@` + svc + `/` + nick + `'><x xmlns='http://jabber.org/protocol/muc'>` + inner + `</x></presence>`)
}

// TestStatus100NonAnonymous: in a non-anonymous room (whois=anyone) the
// self-presence on entering carries 100 (XEP-0045 §7.2.3, §10.2) and every
// occupant's real JID; in the default semi-anonymous room neither.
func TestStatus100NonAnonymous(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "open", "a")
	if e := errorOf(h.configure("alice", "open", map[string]string{"muc#roomconfig_whois": "anyone"})); e != "" {
		t.Fatalf("configure: %s", e)
	}
	out := h.join("bob", "open", "b")
	self := presenceTo(out, "bob@"+host+"/r", "open@"+svc+"/b")
	if len(self) != 1 {
		t.Fatalf("self-presence: %v", out)
	}
	if c := statusCodes(self[0]); !slices.Contains(c, 100) || !slices.Contains(c, 110) {
		t.Errorf("self-presence codes %v, want 100 and 110", c)
	}
	alice := presenceTo(out, "bob@"+host+"/r", "open@"+svc+"/a")
	if len(alice) != 1 || alice[0].Child(NSUser, "x").Child(NSUser, "item").Get("jid") != "alice@"+host+"/r" {
		t.Errorf("bob does not see alice's real JID: %v", alice)
	}

	h.join("carol", "semi", "c")
	out = h.join("dave", "semi", "d")
	self = presenceTo(out, "dave@"+host+"/r", "semi@"+svc+"/d")
	if len(self) != 1 || slices.Contains(statusCodes(self[0]), 100) {
		t.Errorf("semi-anonymous self-presence: %v", self)
	}
	carol := presenceTo(out, "dave@"+host+"/r", "semi@"+svc+"/c")
	if len(carol) != 1 || carol[0].Child(NSUser, "x").Child(NSUser, "item").Get("jid") != "" {
		t.Errorf("a participant sees a real JID in a semi-anonymous room: %v", carol)
	}
}

// TestStatus321: taking a member's affiliation away in a members-only
// room removes the occupant, who gets unavailable with 321 and 110, and
// the others get unavailable with 321 (XEP-0045 §9.5).
func TestStatus321(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "club", "a")
	if e := errorOf(h.configure("alice", "club", map[string]string{"muc#roomconfig_membersonly": "1"})); e != "" {
		t.Fatalf("configure: %s", e)
	}
	admin := func(jid, aff string) []*wire.Element {
		return h.do(`<iq xmlns='jabber:client' type='set' id='m' from='alice@` + host + `/r' to='club@` + svc + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='` + jid + `' affiliation='` + aff + `'/></query></iq>`)
	}
	if e := errorOf(admin("bob@"+host, "member")); e != "" {
		t.Fatalf("make bob a member: %s", e)
	}
	if e := errorOf(h.join("bob", "club", "b")); e != "" {
		t.Fatalf("member joins: %s", e)
	}
	out := admin("bob@"+host, "none")
	if e := errorOf(out); e != "" {
		t.Fatalf("remove bob's membership: %s", e)
	}
	self := presenceTo(out, "bob@"+host+"/r", "club@"+svc+"/b")
	if len(self) != 1 || self[0].Get("type") != "unavailable" {
		t.Fatalf("bob's unavailable: %v", out)
	}
	if c := statusCodes(self[0]); !slices.Contains(c, 321) || !slices.Contains(c, 110) {
		t.Errorf("bob's codes %v, want 321 and 110", c)
	}
	other := presenceTo(out, "alice@"+host+"/r", "club@"+svc+"/b")
	if len(other) != 1 || other[0].Get("type") != "unavailable" || !slices.Contains(statusCodes(other[0]), 321) {
		t.Errorf("alice's view of bob leaving: %v", other)
	}
	if _, in := h.s.rooms["club"].occupants["b"]; in {
		t.Error("bob is still an occupant")
	}
	if e := errorOf(h.join("bob", "club", "b")); e != "registration-required" {
		t.Errorf("bob joins again: %q, want registration-required", e)
	}
}

// TestHistorySecondsAndSince: the join history honours the seconds and
// since attributes of <history/> (XEP-0045 §7.2.15), alone and with
// maxstanzas, and each message carries its delay stamp.
func TestHistorySecondsAndSince(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MessageBurst = 100 })
	t0 := h.now
	h.join("alice", "r", "a")
	for i := range 3 {
		h.now = t0.Add(time.Duration(i) * 10 * time.Minute)
		h.say("alice", "r", "m"+strconv.Itoa(i))
	}
	// A second later: m0 is 20 minutes old, m1 10, m2 one second.
	h.now = h.now.Add(time.Second)
	me := "bob@" + host + "/r"
	for _, c := range []struct {
		name, history string
		want          []string
	}{
		{"no history element", ``, []string{"m0", "m1", "m2"}},
		{"seconds=900", `<history seconds='900'/>`, []string{"m1", "m2"}},
		{"seconds=0", `<history seconds='0'/>`, nil},
		{"seconds=2", `<history seconds='2'/>`, []string{"m2"}},
		{"since t0+5m", `<history since='` + t0.Add(5*time.Minute).Format(time.RFC3339) + `'/>`, []string{"m1", "m2"}},
		{"since t0+15m", `<history since='` + t0.Add(15*time.Minute).Format(time.RFC3339) + `'/>`, []string{"m2"}},
		{"since in the future", `<history since='` + t0.Add(time.Hour).Format(time.RFC3339) + `'/>`, nil},
		{"since and maxstanzas", `<history since='` + t0.Format(time.RFC3339) + `' maxstanzas='1'/>`, []string{"m2"}},
		{"seconds and since: the later", `<history seconds='1800' since='` + t0.Add(5*time.Minute).Format(time.RFC3339) + `'/>`, []string{"m1", "m2"}},
		{"maxstanzas=0", `<history maxstanzas='0'/>`, nil},
	} {
		out := h.joinX("bob", "r", "b", c.history)
		if e := errorOf(out); e != "" {
			t.Fatalf("%s: join: %s", c.name, e)
		}
		if got := bodies(out, me); !slices.Equal(got, c.want) {
			t.Errorf("%s: history %v, want %v", c.name, got, c.want)
		}
		for _, e := range out {
			if e.Local == "message" && e.ChildText(wire.NSClient, "body") != "" {
				d := e.Child(NSDelay, "delay")
				if d == nil || d.Get("from") != "r@"+svc {
					t.Errorf("%s: history message without delay: %v", c.name, e)
					continue
				}
				if st, err := time.Parse(time.RFC3339, d.Get("stamp")); err != nil || st.After(h.now) || st.Before(t0) {
					t.Errorf("%s: delay stamp %q", c.name, d.Get("stamp"))
				}
			}
		}
		h.do(`<presence xmlns='jabber:client' type='unavailable' from='bob@` + host + `/r' to='r@` + svc + `/b'/>`)
	}
}

// TestInstantRoomEmptyForm: a MUC client's new room is locked (201) until
// the owner accepts the default configuration with an empty submit form
// (XEP-0045 §10.1.2); then others may join, and the configuration is the
// default one.
func TestInstantRoomEmptyForm(t *testing.T) {
	h := newHarness(t, nil)
	out := h.joinX("alice", "fresh", "a", "")
	self := presenceTo(out, "alice@"+host+"/r", "fresh@"+svc+"/a")
	if len(self) != 1 || !slices.Contains(statusCodes(self[0]), 201) {
		t.Fatalf("creation presence: %v", out)
	}
	if e := errorOf(h.join("bob", "fresh", "b")); e != "item-not-found" {
		t.Errorf("join of a locked room: %q, want item-not-found", e)
	}
	out = h.do(`<iq xmlns='jabber:client' type='set' id='inst' from='alice@` + host + `/r' to='fresh@` + svc + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
	if len(out) == 0 || out[0].Get("type") != "result" || out[0].Get("id") != "inst" {
		t.Fatalf("empty submit form: %v", out)
	}
	r := h.s.rooms["fresh"]
	if r.locked {
		t.Fatal("the room is still locked")
	}
	if def := h.s.newRoom("x").cfg; r.cfg != def {
		t.Errorf("instant room configuration %+v, want the default %+v", r.cfg, def)
	}
	if e := errorOf(h.join("bob", "fresh", "b")); e != "" {
		t.Errorf("join after the instant room was created: %q", e)
	}
	if got := bodies(h.say("bob", "fresh", "hello"), "alice@"+host+"/r"); !slices.Equal(got, []string{"hello"}) {
		t.Errorf("alice gets %v", got)
	}
}
