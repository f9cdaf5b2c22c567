package muc

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbx/server/wire"
	"chatbx/store"
	"chatbx/store/storetest"
)

const (
	host = "example.org"
	svc  = "conference.example.org"
)

// harness drives the service without sockets: Handle with a send that
// records what went out.
type harness struct {
	t    testing.TB
	s    *Service
	sent []*wire.Element
	now  time.Time
}

func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.Domain, cfg.Host = svc, host
	cfg.Now = func() time.Time { return h.now }
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg, storetest.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

// do handles one raw stanza and returns what the service sent.
func (h *harness) do(raw string) []*wire.Element {
	h.t.Helper()
	el, err := wire.Parse([]byte(raw))
	if err != nil {
		h.t.Fatalf("parse %q: %v", raw, err)
	}
	h.sent = nil
	h.s.Handle(context.Background(), el, func(e *wire.Element) { h.sent = append(h.sent, e) })
	return h.sent
}

func errorOf(out []*wire.Element) string {
	for _, e := range out {
		if e.Get("type") == "error" {
			if er := e.Child(wire.NSClient, "error"); er != nil {
				for _, c := range er.Elements() {
					if c.Space == wire.NSStanzas && c.Local != "text" {
						return c.Local
					}
				}
			}
		}
	}
	return ""
}

func (h *harness) join(user, room, nick string) []*wire.Element {
	return h.do(`<presence xmlns='jabber:client' from='` + user + `@` + host + `/r' to='` + room + `@` + svc + `/` + nick + `'/>`)
}

func (h *harness) say(user, room, body string) []*wire.Element {
	return h.do(`<message xmlns='jabber:client' type='groupchat' from='` + user + `@` + host + `/r' to='` + room + `@` + svc + `'><body>` + body + `</body></message>`)
}

func (h *harness) configure(user, room string, fields map[string]string) []*wire.Element {
	var b strings.Builder
	b.WriteString(`<iq xmlns='jabber:client' type='set' id='c' from='` + user + `@` + host + `/r' to='` + room + `@` + svc + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>`)
	for k, v := range fields {
		b.WriteString(`<field var='` + k + `'><value>` + v + `</value></field>`)
	}
	b.WriteString(`</x></query></iq>`)
	return h.do(b.String())
}

func TestMaxRoomsPerUser(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxRoomsPerUser = 2 })
	for i := range 2 {
		if e := errorOf(h.join("alice", "r"+strconv.Itoa(i), "a")); e != "" {
			t.Fatalf("room %d: %s", i, e)
		}
	}
	if e := errorOf(h.join("alice", "r9", "a")); e != "resource-constraint" {
		t.Errorf("third room: %q, want resource-constraint", e)
	}
	if e := errorOf(h.join("bob", "r9", "b")); e != "" {
		t.Errorf("another user's room: %q", e)
	}
}

func TestCreateAdminsOnly(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Create = CreateAdmins; c.Admins = []string{"root@" + host} })
	if e := errorOf(h.join("alice", "r", "a")); e != "not-allowed" {
		t.Errorf("user creates with create=admins: %q", e)
	}
	if e := errorOf(h.join("root", "r", "a")); e != "" {
		t.Errorf("admin creates: %q", e)
	}
	// Remote users never create rooms here.
	h2 := newHarness(t, nil)
	if e := errorOf(h2.do(`<presence xmlns='jabber:client' from='eve@elsewhere.example/r' to='x@` + svc + `/e'/>`)); e != "not-allowed" {
		t.Errorf("remote user creates: %q", e)
	}
}

func TestMaxOccupants(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOccupants = 3 })
	h.join("owner", "r", "o")
	for i := range 2 {
		if e := errorOf(h.join("u"+strconv.Itoa(i), "r", "n"+strconv.Itoa(i))); e != "" {
			t.Fatalf("occupant %d: %s", i, e)
		}
	}
	if e := errorOf(h.join("late", "r", "late")); e != "service-unavailable" {
		t.Errorf("fourth occupant: %q, want service-unavailable", e)
	}
}

func TestMessageRate(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MessageRate = 1; c.MessageBurst = 3 })
	h.join("alice", "r", "a")
	for i := range 3 {
		if e := errorOf(h.say("alice", "r", "m"+strconv.Itoa(i))); e != "" {
			t.Fatalf("message %d: %s", i, e)
		}
	}
	if e := errorOf(h.say("alice", "r", "too fast")); e != "resource-constraint" {
		t.Errorf("over the burst: %q, want resource-constraint", e)
	}
	h.now = h.now.Add(2 * time.Second)
	if e := errorOf(h.say("alice", "r", "later")); e != "" {
		t.Errorf("after waiting: %q", e)
	}
}

func TestStateBytesAndAffiliations(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.StateBytes = 600; c.MaxAffiliations = 4 })
	h.join("alice", "r", "a")
	if e := errorOf(h.configure("alice", "r", map[string]string{"muc#roomconfig_persistentroom": "1"})); e != "" {
		t.Fatal(e)
	}
	if e := errorOf(h.configure("alice", "r", map[string]string{"muc#roomconfig_roomdesc": strings.Repeat("d", 700)})); e != "resource-constraint" {
		t.Errorf("oversized state: %q, want resource-constraint", e)
	}
	add := func(j string) string {
		return errorOf(h.do(`<iq xmlns='jabber:client' type='set' id='a' from='alice@` + host + `/r' to='r@` + svc + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='` + j + `' affiliation='member'/></query></iq>`))
	}
	for i := range 3 {
		if e := add("m" + strconv.Itoa(i) + "@" + host); e != "" {
			t.Fatalf("member %d: %s", i, e)
		}
	}
	if e := add("m9@" + host); e != "resource-constraint" {
		t.Errorf("fifth affiliation: %q, want resource-constraint", e)
	}
}

func TestHistoryBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxHistory = 5; c.HistoryDefault = 5; c.MessageBurst = 100 })
	h.join("alice", "r", "a")
	for i := range 20 {
		h.say("alice", "r", "m"+strconv.Itoa(i))
	}
	out := h.join("bob", "r", "b")
	n := 0
	for _, e := range out {
		if e.Local == "message" && e.ChildText(wire.NSClient, "body") != "" {
			n++
		}
	}
	if n != 5 {
		t.Errorf("history of %d messages, want 5", n)
	}
	if len(h.s.rooms["r"].history) != 5 {
		t.Errorf("buffer holds %d, want 5", len(h.s.rooms["r"].history))
	}
}

func TestLastOwnerStays(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "r", "a")
	out := h.do(`<iq xmlns='jabber:client' type='set' id='a' from='alice@` + host + `/r' to='r@` + svc + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='alice@` + host + `' affiliation='none'/></query></iq>`)
	if e := errorOf(out); e != "conflict" {
		t.Errorf("removing the last owner: %q, want conflict", e)
	}
}

func TestPasswordRoom(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "r", "a")
	h.configure("alice", "r", map[string]string{"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s3"})
	if e := errorOf(h.join("bob", "r", "b")); e != "not-authorized" {
		t.Errorf("join without password: %q", e)
	}
	out := h.do(`<presence xmlns='jabber:client' from='bob@` + host + `/r' to='r@` + svc + `/b'><x xmlns='http://jabber.org/protocol/muc'><password>s3</password></x></presence>`)
	if e := errorOf(out); e != "" {
		t.Errorf("join with password: %q", e)
	}
}

// FuzzHandle feeds arbitrary stanzas to the service: it answers or drops,
// never panics.
func FuzzHandle(f *testing.F) {
	seeds := []string{
		`<presence xmlns='jabber:client' from='a@example.org/r' to='r@conference.example.org/n'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='-1' seconds='x' since='bad'/></x></presence>`,
		`<iq xmlns='jabber:client' type='set' id='c' from='a@example.org/r' to='r@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_maxusers'><value>-5</value></field></x></query></iq>`,
		`<iq xmlns='jabber:client' type='set' id='c' from='a@example.org/r' to='r@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='n' role='none'/><item jid='@@' affiliation='owner'/></query></iq>`,
		`<message xmlns='jabber:client' from='a@example.org/r' to='r@conference.example.org'><x xmlns='http://jabber.org/protocol/muc#user'><invite to=''/></x></message>`,
		`<iq xmlns='jabber:client' type='set' id='q' from='a@example.org/r' to='r@conference.example.org'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>x</max><after>zz</after></set></query></iq>`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		el, err := wire.Parse([]byte(raw))
		if err != nil {
			return
		}
		s := fuzzService(t)
		// A room exists so that room handlers run too.
		join, _ := wire.Parse([]byte(`<presence xmlns='jabber:client' from='a@example.org/r' to='r@conference.example.org/n'/>`))
		s.Handle(context.Background(), join, func(*wire.Element) {})
		s.Handle(context.Background(), el, func(*wire.Element) {})
	})
}

func fuzzService(t *testing.T) *Service {
	cfg := DefaultConfig()
	cfg.Domain, cfg.Host = svc, host
	s, err := New(context.Background(), cfg, storetest.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShutdown332(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "r", "a")
	h.join("bob", "r", "b")
	var got []*wire.Element
	h.s.Shutdown(func(e *wire.Element) { got = append(got, e) })
	if len(got) != 2 {
		t.Fatalf("shutdown sent %d stanzas, want 2", len(got))
	}
	for _, p := range got {
		if p.Get("type") != "unavailable" || !strings.Contains(p.String(), `code="332"`) {
			t.Errorf("shutdown presence = %s", p)
		}
	}
	if len(h.s.Rooms()) != 0 {
		t.Errorf("temporary room survives shutdown: %v", h.s.Rooms())
	}
}

func TestRegisteredNick210(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "r", "a")
	out := h.do(`<iq xmlns='jabber:client' type='set' id='g' from='bob@` + host + `/r' to='r@` + svc + `'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='muc#register_roomnick'><value>bobby</value></field></x></query></iq>`)
	if e := errorOf(out); e != "" {
		t.Fatalf("register: %s", e)
	}
	out = h.join("bob", "r", "other")
	found := false
	for _, p := range out {
		if p.Get("to") == "bob@"+host+"/r" && p.Get("from") == "r@"+svc+"/bobby" && strings.Contains(p.String(), `code="210"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("join with another nick: no 210 self-presence as bobby")
	}
	if e := errorOf(h.join("carol", "r", "bobby")); e != "conflict" {
		t.Errorf("someone else takes the registered nick: %q", e)
	}
}

func TestArchiveBytesPerRoom(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ArchiveBytes = 2000; c.MessageBurst = 1000 })
	h.join("alice", "r", "a")
	h.configure("alice", "r", map[string]string{"muc#roomconfig_enablearchiving": "1"})
	for i := range 50 {
		if e := errorOf(h.say("alice", "r", "archived message number "+strconv.Itoa(i))); e != "" {
			t.Fatalf("message %d: %s", i, e)
		}
	}
	db := h.s.db.(*store.DB)
	n, err := db.MUCArchiveBytes(context.Background(), "r@"+svc)
	if err != nil || n > 2000 || n == 0 {
		t.Errorf("room archive holds %d bytes (%v), want 1..2000", n, err)
	}
	p, _ := db.QueryMUCArchive(context.Background(), "r@"+svc, store.MUCArchiveQuery{Last: true, Max: 1})
	if len(p.Messages) != 1 || !strings.Contains(string(p.Messages[0].Stanza), "number 49") {
		t.Errorf("newest archived message = %+v", p.Messages)
	}
}

func TestClosedRoomSaysNothingToStrangers(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "r", "a")
	h.configure("alice", "r", map[string]string{"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s",
		"muc#roomconfig_enablearchiving": "1"})
	h.do(`<message xmlns='jabber:client' type='groupchat' from='alice@` + host + `/r' to='r@` + svc + `'><subject>secret plans</subject></message>`)
	info := h.do(`<iq xmlns='jabber:client' type='get' id='i' from='eve@` + host + `/r' to='r@` + svc + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if len(info) != 1 || strings.Contains(info[0].String(), "secret plans") || strings.Contains(info[0].String(), "roominfo_occupants") {
		t.Errorf("stranger's disco#info: %v", info)
	}
	mam := h.do(`<iq xmlns='jabber:client' type='set' id='q' from='eve@` + host + `/r' to='r@` + svc + `'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	if e := errorOf(mam); e != "forbidden" {
		t.Errorf("stranger's MAM query on a password room: %q, want forbidden", e)
	}
	info = h.do(`<iq xmlns='jabber:client' type='get' id='i' from='alice@` + host + `/r' to='r@` + svc + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(info[0].String(), "secret plans") {
		t.Errorf("occupant's disco#info lacks the subject")
	}
}

// TestForgetRacesArchive: messages of an account being deleted that are
// in flight to an archived room never outlive Forget in the archive.
func TestForgetRacesArchive(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MessageBurst = 1 << 20; c.MessageRate = 1e6 })
	h.join("alice", "r", "a")
	h.configure("alice", "r", map[string]string{"muc#roomconfig_enablearchiving": "1", "muc#roomconfig_persistentroom": "1"})
	h.join("bob", "r", "b")
	el, _ := wire.Parse([]byte(`<message xmlns='jabber:client' type='groupchat' from='bob@` + host + `/r' to='r@` + svc + `'><body>bob talks</body></message>`))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			h.s.Handle(context.Background(), el, func(*wire.Element) {})
		}
	}()
	if err := h.s.Forget(context.Background(), "bob@"+host, func(*wire.Element) {}); err != nil {
		t.Fatal(err)
	}
	<-done
	db := h.s.db.(*store.DB)
	p, err := db.QueryMUCArchive(context.Background(), "r@"+svc, store.MUCArchiveQuery{Max: 1000})
	if err != nil {
		t.Fatal(err)
	}
	bob := h.s.occupantID("r@"+svc, "bob@"+host)
	for _, m := range p.Messages {
		if m.OccupantID == bob {
			t.Fatalf("a message of the deleted account survived in the archive (%d archived)", len(p.Messages))
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{{Create: "everyone"}, {Admins: []string{"not a jid@@"}}, {Admins: []string{"example.org"}}} {
		c.Domain, c.Host = svc, host
		if _, err := New(context.Background(), c, storetest.Open(t)); err == nil {
			t.Errorf("New(%+v) accepted a bad configuration", c)
		}
	}
}

func TestNewModeratorSeesJIDs(t *testing.T) {
	h := newHarness(t, nil)
	h.join("alice", "r", "a")
	h.join("bob", "r", "b")
	h.join("carol", "r", "c")
	out := h.do(`<iq xmlns='jabber:client' type='set' id='m' from='alice@` + host + `/r' to='r@` + svc + `'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@` + host + `' affiliation='admin'/></query></iq>`)
	seen := false
	for _, p := range out {
		if p.Get("to") == "bob@"+host+"/r" && p.Get("from") == "r@"+svc+"/c" && strings.Contains(p.String(), `jid="carol@`+host+`/r"`) {
			seen = true
		}
	}
	if !seen {
		t.Errorf("the new moderator was not shown carol's real JID")
	}
}
