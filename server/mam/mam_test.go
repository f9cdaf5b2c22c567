package mam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/server/iq"
	"chatbx/server/mam"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

var _ iq.Handler = (&mam.Archive{}).Handle

const domain = "example.org"

// env is an archive over a fresh store with the users alice, bob and carol.
type env struct {
	db  *store.DB
	a   *mam.Archive
	now time.Time
}

func newEnv(t *testing.T, cfg mam.Config) *env {
	t.Helper()
	e := &env{db: storetest.Open(t), now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	for _, u := range []string{"alice", "bob", "carol"} {
		storetest.User(t, e.db, u)
	}
	var mu sync.Mutex
	cfg.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		e.now = e.now.Add(time.Second)
		return e.now
	}
	e.a = mam.New(e.db, domain, cfg)
	return e
}

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

// chat sends one message from → to through the hook as the c2s layer
// does: outgoing for the sender, incoming for the recipient. It returns
// the ids the sender's and the recipient's archives reported.
func (e *env) chat(t *testing.T, from, to, body string) (sent, received string) {
	t.Helper()
	el := parse(t, fmt.Sprintf(`<message from='%s@%s/phone' to='%s@%s' type='chat' id='x'><body>%s</body></message>`, from, domain, to, domain, body))
	sent = e.a.Archive(t.Context(), from, el, true)
	received = e.a.Archive(t.Context(), to, el, false)
	return sent, received
}

// ask sends an IQ of user and returns the result messages sent before
// the reply, and the reply.
func (e *env) ask(t *testing.T, user, xml string) ([]*wire.Element, *wire.Element) {
	t.Helper()
	var mu sync.Mutex
	var sent []*wire.Element
	c := iq.Context{User: user, Domain: domain, From: user + "@" + domain + "/phone",
		Send: func(el *wire.Element) { mu.Lock(); sent = append(sent, el); mu.Unlock() }}
	reply := e.a.Handle(t.Context(), c, parse(t, xml))
	return sent, reply
}

func (e *env) setDefault(t *testing.T, user, mode string) {
	t.Helper()
	_, r := e.ask(t, user, `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='`+mode+`'/></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("set prefs %s: %s", mode, str(r))
	}
}

// bodies returns the bodies of result messages, checking their envelope.
func bodies(t *testing.T, msgs []*wire.Element, queryID string) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		r := m.Child(mam.NS, "result")
		if r == nil || m.Get("to") != "alice@example.org/phone" || r.Get("queryid") != queryID || r.Get("id") == "" {
			t.Fatalf("result message %s", str(m))
		}
		fwd := r.Child("urn:xmpp:forward:0", "forwarded")
		if fwd == nil || fwd.Child("urn:xmpp:delay", "delay") == nil {
			t.Fatalf("result without forwarded/delay: %s", str(m))
		}
		msg := fwd.Child(wire.NSClient, "message")
		if msg == nil {
			t.Fatalf("result without message: %s", str(m))
		}
		if sid := msg.Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Get("id") != r.Get("id") || sid.Get("by") != "alice@example.org" {
			t.Errorf("forwarded message stanza-id: %s", str(msg))
		}
		out = append(out, msg.ChildText(wire.NSClient, "body"))
	}
	return out
}

func fin(t *testing.T, r *wire.Element) (complete bool, first, last, count string) {
	t.Helper()
	if r.Get("type") != "result" {
		t.Fatalf("reply %s, want result", str(r))
	}
	f := r.Child(mam.NS, "fin")
	if f == nil {
		t.Fatalf("reply without fin: %s", str(r))
	}
	set := f.Child("http://jabber.org/protocol/rsm", "set")
	return f.Get("complete") == "true",
		set.ChildText("http://jabber.org/protocol/rsm", "first"),
		set.ChildText("http://jabber.org/protocol/rsm", "last"),
		set.ChildText("http://jabber.org/protocol/rsm", "count")
}

func query(form, rsm string) string {
	if form != "" {
		form = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>` + form + `</x>`
	}
	if rsm != "" {
		rsm = `<set xmlns='http://jabber.org/protocol/rsm'>` + rsm + `</set>`
	}
	return `<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='f27'>` + form + rsm + `</query></iq>`
}

func TestDefaultNever(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mam.DefaultConfig())
	_, r := e.ask(t, "alice", `<iq type='get' id='p'><prefs xmlns='urn:xmpp:mam:2'/></iq>`)
	if want := `<iq type="result" id="p"><prefs xmlns="urn:xmpp:mam:2" default="never"><always/><never/></prefs></iq>`; str(r) != want {
		t.Errorf("prefs of a new account = %s, want %s", str(r), want)
	}
	marker := "never-archived-4711"
	for range 3 {
		if s, r := e.chat(t, "alice", "bob", marker); s != "" || r != "" {
			t.Errorf("archive off: ids %q %q, want none", s, r)
		}
	}
	for _, u := range []string{"alice", "bob"} {
		if n, err := e.db.ArchiveCount(t.Context(), u); err != nil || n != 0 {
			t.Errorf("ArchiveCount(%s) = %d, %v, want 0", u, n, err)
		}
	}
	if b, err := os.ReadFile(e.db.Path()); err != nil || bytes.Contains(b, []byte(marker)) {
		t.Errorf("marker in the database file with the archive off (read error %v)", err)
	}
	// Unknown users have no archive either.
	el := parse(t, `<message from='alice@example.org/phone' to='nobody@example.org'><body>x</body></message>`)
	if id := e.a.Archive(t.Context(), "nobody", el, false); id != "" {
		t.Errorf("Archive(nobody) = %q, want none", id)
	}
	msgs, r := e.ask(t, "alice", query("", ""))
	if complete, _, _, count := fin(t, r); len(msgs) != 0 || !complete || count != "0" {
		t.Errorf("query of an empty archive: %d results, %s", len(msgs), str(r))
	}
}

func TestAlwaysQueryPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mam.DefaultConfig())
	e.setDefault(t, "alice", mam.Always)
	var want []string
	var ids []string
	for i := range 7 {
		body := fmt.Sprint("m", i)
		var s, r string
		if i%2 == 0 {
			s, r = e.chat(t, "alice", "bob", body)
			if s == "" || r != "" {
				t.Fatalf("alice→bob: ids %q %q, want alice's only", s, r)
			}
			ids = append(ids, s)
		} else {
			s, r = e.chat(t, "carol", "alice", body)
			if s != "" || r == "" {
				t.Fatalf("carol→alice: ids %q %q, want alice's only", s, r)
			}
			ids = append(ids, r)
		}
		want = append(want, body)
	}
	// The partners who never opted in have empty archives.
	for _, u := range []string{"bob", "carol"} {
		if n, _ := e.db.ArchiveCount(t.Context(), u); n != 0 {
			t.Errorf("ArchiveCount(%s) = %d, want 0", u, n)
		}
	}

	// Pages of two, in order, with first/last/count and complete.
	var got []string
	after := ""
	for page := 0; ; page++ {
		rsm := "<max>2</max>"
		if after != "" {
			rsm += "<after>" + after + "</after>"
		}
		msgs, r := e.ask(t, "alice", query("", rsm))
		b := bodies(t, msgs, "f27")
		got = append(got, b...)
		complete, first, last, count := fin(t, r)
		if count != "7" || len(msgs) > 2 || (len(msgs) > 0 && (first != ids[2*page] || last != ids[2*page+len(msgs)-1])) {
			t.Errorf("page %d: %v, fin %s", page, b, str(r))
		}
		if complete || page > 5 {
			break
		}
		after = last
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged bodies = %v, want %v", got, want)
	}

	tests := []struct {
		name, form, rsm string
		flip            bool
		want            []string
		complete        bool
	}{
		{"with bob", `<field var='with'><value>bob@example.org</value></field>`, "", false, []string{"m0", "m2", "m4", "m6"}, true},
		{"with carol full jid", `<field var='with'><value>Carol@Example.org/laptop</value></field>`, "", false, []string{"m1", "m3", "m5"}, true},
		{"start end", `<field var='start'><value>2026-03-04T05:06:09Z</value></field><field var='end'><value>2026-03-04T06:06:11.5+01:00</value></field>`, "", false, []string{"m1", "m2", "m3"}, true},
		{"last page", "", "<max>3</max><before/>", false, []string{"m4", "m5", "m6"}, false},
		{"before", "", "<max>2</max><before>" + ids[4] + "</before>", false, []string{"m2", "m3"}, false},
		{"flipped", "", "<max>3</max><before/>", true, []string{"m6", "m5", "m4"}, false},
		{"after-id before-id", `<field var='after-id'><value>` + ids[1] + `</value></field><field var='before-id'><value>` + ids[5] + `</value></field>`, "", false, []string{"m2", "m3", "m4"}, true},
		{"ids", `<field var='ids'><value>` + ids[6] + `</value><value>` + ids[0] + `</value></field>`, "", false, []string{"m0", "m6"}, true},
		{"max 0", "", "<max>0</max>", false, nil, false},
		{"spaces", `<field var='with'><value> bob@example.org </value></field>`, "<max> 1 </max>", false, []string{"m0"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query(tc.form, tc.rsm)
			if tc.flip {
				q = strings.Replace(q, "</query>", "<flip-page/></query>", 1)
			}
			msgs, r := e.ask(t, "alice", q)
			if got := bodies(t, msgs, "f27"); !slices.Equal(got, tc.want) {
				t.Errorf("bodies = %v, want %v", got, tc.want)
			}
			if complete, _, _, _ := fin(t, r); complete != tc.complete {
				t.Errorf("complete = %v, want %v: %s", complete, tc.complete, str(r))
			}
		})
	}

	// Stored copies keep bare addresses only (privacy: no resources).
	msgs, _ := e.ask(t, "alice", query("", "<max>1</max>"))
	stored := msgs[0].Child(mam.NS, "result").Child("urn:xmpp:forward:0", "forwarded").Child(wire.NSClient, "message")
	if s := str(stored); strings.Contains(s, "/phone") || !strings.Contains(s, `from="alice@example.org"`) {
		t.Errorf("archived message keeps a resource: %s", s)
	}

	// Forward pages carry the RSM index, backward pages do not (slixmpp
	// would end a backward iteration after the first page).
	for rsm, want := range map[string]string{"<max>2</max>": "0", "<max>2</max><after>" + ids[1] + "</after>": "2", "<max>2</max><before/>": "", "<max>2</max><before>" + ids[4] + "</before>": ""} {
		_, r := e.ask(t, "alice", query("", rsm))
		if got := r.Child(mam.NS, "fin").Child("http://jabber.org/protocol/rsm", "set").Child("http://jabber.org/protocol/rsm", "first").Get("index"); got != want {
			t.Errorf("query %s: index %q, want %q", rsm, got, want)
		}
	}

	// The archive may be addressed by the own bare JID, in any case.
	msgs, r := e.ask(t, "alice", strings.Replace(query("", "<max>1</max>"), "id='q'", "id='q' to='Alice@EXAMPLE.org'", 1))
	if len(msgs) != 1 || r.Get("type") != "result" {
		t.Errorf("query to own bare JID: %d results, %s", len(msgs), str(r))
	}

	// Metadata (XEP-0313 §5) names the first and the last message.
	_, r = e.ask(t, "alice", `<iq type='get' id='m'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
	md := r.Child(mam.NS, "metadata")
	if md == nil || md.Child(mam.NS, "start").Get("id") != ids[0] || md.Child(mam.NS, "end").Get("id") != ids[6] {
		t.Errorf("metadata = %s", str(r))
	}
	// The query form lists the fields.
	_, r = e.ask(t, "alice", `<iq type='get' id='f'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	for _, f := range []string{"with", "start", "end", "before-id", "after-id", "ids"} {
		if !strings.Contains(str(r), `var="`+f+`"`) {
			t.Errorf("query form lacks %s: %s", f, str(r))
		}
	}

	// Back to never: nothing new is archived.
	e.setDefault(t, "alice", mam.Never)
	if s, r := e.chat(t, "alice", "bob", "after never"); s != "" || r != "" {
		t.Errorf("after never: ids %q %q", s, r)
	}
	if n, _ := e.db.ArchiveCount(t.Context(), "alice"); n != 7 {
		t.Errorf("ArchiveCount(alice) = %d, want 7", n)
	}

	// Purge empties the archive and removes the bodies from the file.
	if err := e.a.Purge(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	msgs, r = e.ask(t, "alice", query("", ""))
	if complete, _, _, count := fin(t, r); len(msgs) != 0 || !complete || count != "0" {
		t.Errorf("after purge: %d results, %s", len(msgs), str(r))
	}
	if b, _ := os.ReadFile(e.db.Path()); bytes.Contains(b, []byte("<body>m3</body>")) {
		t.Error("archived body still in the database file after Purge")
	}
}

func TestPrefsRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mam.DefaultConfig())
	ctx := t.Context()
	if _, err := e.db.PutRosterItem(ctx, "alice", store.RosterItem{JID: "bob@example.org", Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	// An inbound request alone does not make carol a roster contact.
	if _, err := e.db.PutRosterItem(ctx, "alice", store.RosterItem{JID: "carol@example.org", PendingIn: true}); err != nil {
		t.Fatal(err)
	}
	_, r := e.ask(t, "alice", `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='roster'>`+
		`<always><jid>dave@remote.example</jid><jid>eve@example.com</jid></always>`+
		`<never><jid>eve@example.com/x</jid></never></prefs></iq>`)
	want := `<iq type="result" id="p"><prefs xmlns="urn:xmpp:mam:2" default="roster"><always><jid>dave@remote.example</jid></always><never><jid>eve@example.com</jid></never></prefs></iq>`
	if str(r) != want {
		t.Errorf("set prefs = %s\nwant %s", str(r), want)
	}
	in := func(from string) string {
		el := parse(t, `<message from='`+from+`' to='alice@example.org/phone' type='chat'><body>hi</body></message>`)
		return e.a.Archive(ctx, "alice", el, false)
	}
	for _, tc := range []struct {
		from string
		want bool
	}{
		{"bob@example.org/phone", true},     // roster
		{"carol@example.org/phone", false},  // pending inbound request only
		{"dave@remote.example/a", true},     // always list
		{"eve@example.com/b", false},        // never list
		{"mallory@example.net/c", false},    // not in roster
		{"alice@example.org/laptop", false}, // self, not in the roster
	} {
		if got := in(tc.from) != ""; got != tc.want {
			t.Errorf("message from %s archived = %v, want %v", tc.from, got, tc.want)
		}
	}

	// Never with an always list archives only that partner.
	if err := e.a.SetPrefs(ctx, "alice", store.ArchivePrefs{Default: mam.Never, Always: []string{"bob@example.org"}}); err != nil {
		t.Fatal(err)
	}
	if in("bob@example.org/x") == "" || in("dave@remote.example/a") != "" {
		t.Error("never + always[bob]: wrong partners archived")
	}
	// The account page's switch keeps the lists.
	if err := e.a.SetDefault(ctx, "alice", mam.Always); err != nil {
		t.Fatal(err)
	}
	p, err := e.a.Prefs(ctx, "alice")
	if err != nil || p.Default != mam.Always || !slices.Equal(p.Always, []string{"bob@example.org"}) {
		t.Errorf("Prefs after SetDefault = %+v, %v", p, err)
	}
	if err := e.a.SetDefault(ctx, "alice", "sometimes"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetDefault(sometimes) = %v, want ErrInvalid", err)
	}
	if err := e.a.SetDefault(ctx, "nobody", mam.Always); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDefault(nobody) = %v, want ErrNotFound", err)
	}

	// A message to oneself is archived once.
	self := parse(t, `<message from='alice@example.org/phone' to='alice@example.org' type='chat'><body>note</body></message>`)
	before, _ := e.db.ArchiveCount(ctx, "alice")
	if e.a.Archive(ctx, "alice", self, true) != "" || e.a.Archive(ctx, "alice", self, false) == "" {
		t.Error("message to oneself: want the incoming copy archived only")
	}
	if after, _ := e.db.ArchiveCount(ctx, "alice"); after != before+1 {
		t.Errorf("message to oneself archived %d times", after-before)
	}

	// Account deletion: a new account of the same name starts with the
	// default again, even if nobody called Forget (the store refuses a
	// write decided by stale preferences).
	if err := e.db.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if in("bob@example.org/x") != "" {
		t.Error("deleted account archives")
	}
	if err := e.a.SetDefault(ctx, "alice", mam.Always); err == nil {
		t.Error("SetDefault on a deleted account succeeded")
	}
	storetest.User(t, e.db, "alice")
	if in("bob@example.org/x") != "" {
		t.Error("re-created account archives with the old preferences")
	}
	// Again with nothing in between that would drop the cache.
	if err := e.a.SetDefault(ctx, "alice", mam.Always); err != nil {
		t.Fatal(err)
	}
	if err := e.db.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	storetest.User(t, e.db, "alice")
	if in("bob@example.org/x") != "" {
		t.Error("re-created account archives with the cached preferences")
	}
	if n, _ := e.db.ArchiveCount(ctx, "alice"); n != 0 {
		t.Errorf("re-created account has %d archived messages", n)
	}
	// The reload put the new account's preferences in the cache.
	if on, _ := e.a.ArchiveOn(ctx, "alice"); on {
		t.Error("re-created account's archive is on")
	}
}

func TestDefaultFromConfig(t *testing.T) {
	t.Parallel()
	cfg := mam.DefaultConfig()
	cfg.Default = mam.Always
	e := newEnv(t, cfg)
	el := parse(t, `<message from='bob@example.org/phone' to='dave@example.org' type='chat'><body>x</body></message>`)
	if e.a.Archive(t.Context(), "dave", el, false) != "" {
		t.Error("unknown user archived")
	}
	storetest.User(t, e.db, "dave")
	if e.a.Archive(t.Context(), "dave", el, false) == "" {
		t.Error("new account with default always: not archived")
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	cfg := mam.DefaultConfig()
	e := newEnv(t, cfg)
	e.setDefault(t, "alice", mam.Always)
	var first string
	for i := range 300 {
		id, _ := e.chat(t, "alice", "bob", fmt.Sprint(i))
		if i == 0 {
			first = id
		}
	}
	tests := []struct {
		name, in, cond string
	}{
		{"bad start", query(`<field var='start'><value>yesterday</value></field>`, ""), "bad-request"},
		{"bad end", query(`<field var='end'><value>2026-13-01T00:00:00Z</value></field>`, ""), "bad-request"},
		{"date without zone", query(`<field var='start'><value>2026-01-01T00:00:00</value></field>`, ""), "bad-request"},
		{"unknown field", query(`<field var='urn:example:free-text-search'><value>x</value></field>`, ""), "feature-not-implemented"},
		{"include-groupchat", query(`<field var='include-groupchat'><value>true</value></field>`, ""), "feature-not-implemented"},
		{"wrong FORM_TYPE", strings.Replace(query(`<field var='start'><value>2026-01-01T00:00:00Z</value></field>`, ""), "<value>urn:xmpp:mam:2</value>", "<value>urn:xmpp:mam:1</value>", 1), "bad-request"},
		{"two withs", query(`<field var='with'><value>bob@example.org</value><value>carol@example.org</value></field>`, ""), "bad-request"},
		{"bad with", query(`<field var='with'><value>@@@</value></field>`, ""), "bad-request"},
		{"max not a number", query("", "<max>lots</max>"), "bad-request"},
		{"max negative", query("", "<max>-1</max>"), "bad-request"},
		{"max overflow", query("", "<max>99999999999999999999</max>"), "bad-request"},
		{"index", query("", "<index>3</index>"), "feature-not-implemented"},
		{"before and after", query("", "<before>"+first+"</before><after>"+first+"</after>"), "bad-request"},
		{"empty after", query("", "<after/>"), "bad-request"},
		{"unknown after", query("", "<after>0000000000000000000a</after>"), "item-not-found"},
		{"unknown before", query("", "<before>nonsense</before>"), "item-not-found"},
		{"unknown after-id", query(`<field var='after-id'><value>nonsense</value></field>`, ""), "item-not-found"},
		{"unknown id", query(`<field var='ids'><value>`+first+`</value><value>nonsense</value></field>`, ""), "item-not-found"},
		{"node", `<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' node='x'/></iq>`, "feature-not-implemented"},
		{"foreign child", `<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'><x xmlns='urn:example'/></query></iq>`, "bad-request"},
		{"other's archive", `<iq type='set' id='q' to='bob@example.org'><query xmlns='urn:xmpp:mam:2'/></iq>`, "forbidden"},
		{"server archive", `<iq type='set' id='q' to='example.org'><query xmlns='urn:xmpp:mam:2'/></iq>`, "service-unavailable"},
		{"prefs bad default", `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>`, "bad-request"},
		{"prefs no default", `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2'/></iq>`, "bad-request"},
		{"prefs bad jid", `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>@bad@</jid></never></prefs></iq>`, "jid-malformed"},
		{"unknown payload", `<iq type='get' id='u'><archive xmlns='urn:xmpp:mam:2'/></iq>`, "feature-not-implemented"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, r := e.ask(t, "alice", tc.in)
			if r.Get("type") != "error" || r.Child(wire.NSClient, "error").Child(wire.NSStanzas, tc.cond) == nil {
				t.Errorf("reply %s, want %s", str(r), tc.cond)
			}
			if len(msgs) != 0 {
				t.Errorf("%d results sent before an error", len(msgs))
			}
		})
	}
	// A huge max is capped at Config.MaxPage; no max means Config.PageSize.
	for _, tc := range []struct {
		rsm  string
		want int
	}{{"<max>100000</max>", cfg.MaxPage}, {"", cfg.PageSize}, {"<max>7</max>", 7}} {
		msgs, r := e.ask(t, "alice", query("", tc.rsm))
		if complete, _, _, count := fin(t, r); len(msgs) != tc.want || complete || count != "300" {
			t.Errorf("query %q: %d results, %s; want %d", tc.rsm, len(msgs), str(r), tc.want)
		}
	}
	// Results and errors are not answered.
	if _, r := e.ask(t, "alice", `<iq type='result' id='r'><query xmlns='urn:xmpp:mam:2'/></iq>`); r != nil {
		t.Errorf("reply to a result: %s", str(r))
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	cfg := mam.DefaultConfig()
	e := newEnv(t, cfg)
	e.setDefault(t, "alice", mam.Always)
	for i := range 5 {
		e.chat(t, "alice", "bob", fmt.Sprint("old", i))
	}
	if n, err := e.a.Sweep(t.Context(), e.now.Add(365*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("Sweep with MaxAge 0 = %d, %v, want 0", n, err)
	}
	cfg.MaxAge = time.Hour
	a := mam.New(e.db, domain, cfg)
	// Messages at now-4s … now: the two oldest are more than an hour old
	// at now+1h-2s.
	n, err := a.Sweep(t.Context(), e.now.Add(time.Hour-2*time.Second))
	if err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v, want 2", n, err)
	}
	if c, _ := e.db.ArchiveCount(t.Context(), "alice"); c != 3 {
		t.Errorf("ArchiveCount after sweep = %d, want 3", c)
	}
	if b, _ := os.ReadFile(e.db.Path()); bytes.Contains(b, []byte("<body>old0</body>")) {
		t.Error("expired body still in the database file")
	}
}

func TestConcurrentHook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mam.DefaultConfig())
	ctx := context.Background()
	el := parse(t, `<message from='bob@example.org/phone' to='alice@example.org' type='chat'><body>x</body></message>`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				e.a.Archive(ctx, "alice", el, false)
				if i == 0 {
					e.a.SetDefault(ctx, "alice", mam.Always)
				}
			}
		})
	}
	wg.Wait()
	if n, err := e.db.ArchiveCount(ctx, "alice"); err != nil || n == 0 {
		t.Errorf("ArchiveCount = %d, %v", n, err)
	}
}

// BenchmarkArchiveHookOff measures the common path: a message of a user
// whose archive is off.
func BenchmarkArchiveHookOff(b *testing.B) {
	db := storetest.Open(b)
	storetest.User(b, db, "alice")
	a := mam.New(db, domain, mam.DefaultConfig())
	el, err := wire.Parse([]byte(`<message from='bob@example.org/phone' to='alice@example.org' type='chat'><body>x</body></message>`))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if a.Archive(ctx, "alice", el, false) != "" {
			b.Fatal("archived")
		}
	}
}

func TestPurgeCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mam.DefaultConfig())
	e.setDefault(t, "alice", mam.Always)
	e.chat(t, "alice", "bob", "keep me")
	cmd := func(user, attrs, body string) *wire.Element {
		t.Helper()
		c := iq.Context{User: user, Domain: domain, From: user + "@" + domain + "/phone"}
		return e.a.Command(t.Context(), c, parse(t, `<iq type='set' id='c' to='example.org'><command xmlns='http://jabber.org/protocol/commands' node='`+mam.PurgeNode+`' `+attrs+`>`+body+`</command></iq>`))
	}
	status := func(r *wire.Element) (string, string) {
		t.Helper()
		c := r.Child(mam.NSCommands, "command")
		if r.Get("type") != "result" || c == nil {
			t.Fatalf("command reply %s", str(r))
		}
		return c.Get("status"), c.Get("sessionid")
	}
	confirm := func(v string) string {
		return `<x xmlns='jabber:x:data' type='submit'><field var='confirm'><value>` + v + `</value></field></x>`
	}
	count := func() int {
		n, _ := e.db.ArchiveCount(t.Context(), "alice")
		return n
	}

	// Cancel, and completion without confirmation, delete nothing.
	st, sid := status(cmd("alice", "action='execute'", ""))
	if st != "executing" || sid == "" {
		t.Fatalf("execute: status %q session %q", st, sid)
	}
	if st, _ := status(cmd("alice", "sessionid='"+sid+"' action='cancel'", "")); st != "canceled" {
		t.Errorf("cancel: status %q", st)
	}
	_, sid = status(cmd("alice", "", ""))
	if st, _ := status(cmd("alice", "sessionid='"+sid+"' action='complete'", confirm("0"))); st != "completed" || count() != 1 {
		t.Errorf("complete without confirm: status %q, count %d", st, count())
	}
	// Another user cannot complete alice's session; a session is used once.
	_, sid = status(cmd("alice", "", ""))
	if r := cmd("bob", "sessionid='"+sid+"' action='complete'", confirm("1")); r.Get("type") != "error" {
		t.Errorf("bob completes alice's session: %s", str(r))
	}
	if r := cmd("alice", "sessionid='"+sid+"' action='complete'", confirm("1")); r.Get("type") != "error" || count() != 1 {
		t.Errorf("reused session: %s, count %d", str(r), count())
	}
	_, sid = status(cmd("alice", "", ""))
	if st, _ := status(cmd("alice", "sessionid='"+sid+"' action='complete'", confirm("true"))); st != "completed" || count() != 0 {
		t.Errorf("confirmed purge: status %q, count %d", st, count())
	}
	if r := e.a.Command(t.Context(), iq.Context{User: "alice", Domain: domain}, parse(t, `<iq type='set' id='c'><command xmlns='http://jabber.org/protocol/commands' node='other'/></iq>`)); str(r) != `<iq type="error" id="c"><error type="cancel" code="404"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>` {
		t.Errorf("unknown node: %s", str(r))
	}
}

// FuzzHandle feeds arbitrary IQ payloads to the handler: it must answer
// every get and set with a result or an error and never panic.
func FuzzHandle(f *testing.F) {
	db := storetest.Open(f)
	storetest.User(f, db, "alice")
	a := mam.New(db, domain, mam.DefaultConfig())
	if err := a.SetDefault(context.Background(), "alice", mam.Always); err != nil {
		f.Fatal(err)
	}
	for i := range 5 {
		el, _ := wire.Parse([]byte(fmt.Sprintf(`<message from='bob@example.org/x' to='alice@example.org' type='chat'><body>%d</body></message>`, i)))
		a.Archive(context.Background(), "alice", el, false)
	}
	for _, s := range []string{
		query(`<field var='with'><value>bob@example.org</value></field>`, "<max>2</max>"),
		query(`<field var='start'><value>2026-01-01T00:00:00Z</value></field>`, "<before/>"),
		query(`<field var='ids'><value>x</value></field>`, "<after>y</after>"),
		`<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>a@b</jid></always></prefs></iq>`,
		`<iq type='get' id='m'><metadata xmlns='urn:xmpp:mam:2'/></iq>`,
	} {
		f.Add(s)
	}
	c := iq.Context{User: "alice", Domain: domain, From: "alice@example.org/x", Send: func(*wire.Element) {}}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := wire.Parse([]byte(s))
		if err != nil || el.Local != "iq" {
			return
		}
		r := a.Handle(context.Background(), c, el)
		if typ := el.Get("type"); (typ == "get" || typ == "set") && r == nil {
			t.Errorf("no reply to %s", s)
		}
		// Keep the archive's preferences for the next input.
		a.SetDefault(context.Background(), "alice", mam.Always)
	})
}

// accountArchive is web/account.Archive, which main hands the archive to.
type accountArchive interface {
	ArchiveOn(ctx context.Context, user string) (bool, error)
	SetArchiveOn(ctx context.Context, user string, on bool) error
	PurgeArchive(ctx context.Context, user string) (int, error)
	ExportArchive(ctx context.Context, user string, w io.Writer) error
}

var _ accountArchive = (*mam.Archive)(nil)

func TestAccountPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mam.DefaultConfig())
	ctx := t.Context()
	if on, err := e.a.ArchiveOn(ctx, "alice"); err != nil || on {
		t.Errorf("ArchiveOn(new account) = %v, %v, want false", on, err)
	}
	if err := e.a.SetArchiveOn(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if on, err := e.a.ArchiveOn(ctx, "alice"); err != nil || !on {
		t.Errorf("ArchiveOn after SetArchiveOn(true) = %v, %v", on, err)
	}
	for i := range 1203 { // more than one export page
		e.chat(t, "alice", "bob", fmt.Sprint("export-", i))
	}
	e.chat(t, "carol", "alice", `say "hi" &amp; more`)
	var buf bytes.Buffer
	if err := e.a.ExportArchive(ctx, "alice", &buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Preferences struct {
			Default       string
			Always, Never []string
		}
		Messages []struct {
			ID, With, Direction, Body, Stanza string
			Time                              time.Time
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%.300s", err, buf.String())
	}
	if doc.Preferences.Default != mam.Always || len(doc.Messages) != 1204 {
		t.Fatalf("export: default %q, %d messages", doc.Preferences.Default, len(doc.Messages))
	}
	m0, last := doc.Messages[0], doc.Messages[1203]
	if m0.Body != "export-0" || m0.Direction != "sent" || m0.With != "bob@example.org" || !strings.Contains(m0.Stanza, "export-0") || m0.Time.IsZero() {
		t.Errorf("first exported message = %+v", m0)
	}
	if last.Direction != "received" || last.With != "carol@example.org" || last.Body != `say "hi" & more` {
		t.Errorf("last exported message = %+v", last)
	}
	if n, err := e.a.PurgeArchive(ctx, "alice"); err != nil || n != 1204 {
		t.Errorf("PurgeArchive = %d, %v, want 1204", n, err)
	}
	if err := e.a.SetArchiveOn(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := e.a.ExportArchive(ctx, "alice", &buf); err != nil || buf.String() != `{"preferences":{"always":[],"default":"never","never":[]},"messages":[]}`+"\n" {
		t.Errorf("empty export = %q, %v", buf.String(), err)
	}
	if _, err := e.a.ArchiveOn(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ArchiveOn(nobody) = %v, want ErrNotFound", err)
	}
}
