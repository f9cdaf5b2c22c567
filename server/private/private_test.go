package private_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/server/iq"
	"chatbx/server/private"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

var _ iq.Handler = private.New(nil, private.Config{}).Handle

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

// memStore is an in-memory Store for one or more users.
type memStore struct {
	mu   sync.Mutex
	data map[string][]byte // user + "\x00" + key
	fail error
}

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (m *memStore) Private(_ context.Context, user, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	v, ok := m.data[user+"\x00"+key]
	if !ok {
		return nil, fmt.Errorf("mem: private: %w", store.ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

func (m *memStore) SetPrivate(_ context.Context, user, key string, xml []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if len(xml) == 0 {
		delete(m.data, user+"\x00"+key)
	} else {
		m.data[user+"\x00"+key] = append([]byte(nil), xml...)
	}
	return nil
}

var (
	alice = iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}
	bob   = iq.Context{User: "bob", Domain: "example.org", From: "bob@example.org/laptop"}
)

const (
	bookmarks     = `<storage xmlns="storage:bookmarks"><conference jid="room@muc.example.org" autojoin="true" name="R&amp;D"><nick>al</nick></conference></storage>`
	getBookmarks  = `<iq type='get' id='g'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`
	emptyResult   = `<iq type="result" id="g"><query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query></iq>`
	storedResult  = `<iq type="result" id="g"><query xmlns="jabber:iq:private">` + bookmarks + `</query></iq>`
	forbidden     = `<error type="cancel" code="403"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	badRequest    = `<error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	notAcceptable = `<error type="modify" code="406"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	internal      = `<error type="wait" code="500"><internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
)

func set(id, to, payload string) string {
	if to != "" {
		to = ` to='` + to + `'`
	}
	return `<iq type='set' id='` + id + `'` + to + `><query xmlns='jabber:iq:private'>` + payload + `</query></iq>`
}

func TestHandle(t *testing.T) {
	t.Parallel()
	type step struct {
		who     iq.Context
		in, out string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty when none", []step{{alice, getBookmarks, emptyResult}}},
		{"set then get", []step{
			{alice, set("1", "", bookmarks), `<iq type="result" id="1"/>`},
			{alice, getBookmarks, storedResult},
			{alice, strings.Replace(getBookmarks, "'get'", "'get' to='alice@example.org'", 1), storedResult},
			{bob, getBookmarks, emptyResult}, // each account has its own storage
		}},
		{"keyed by name and namespace", []step{
			{alice, set("1", "", bookmarks), `<iq type="result" id="1"/>`},
			{alice, `<iq type='get' id='g'><query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'/></query></iq>`,
				`<iq type="result" id="g"><query xmlns="jabber:iq:private"><storage xmlns="storage:rosternotes"/></query></iq>`},
			{alice, `<iq type='get' id='g'><query xmlns='jabber:iq:private'><other xmlns='storage:bookmarks'/></query></iq>`,
				`<iq type="result" id="g"><query xmlns="jabber:iq:private"><other xmlns="storage:bookmarks"/></query></iq>`},
		}},
		{"empty set deletes", []step{
			{alice, set("1", "alice@example.org", bookmarks), `<iq type="result" id="1"/>`},
			{alice, set("2", "", `<storage xmlns='storage:bookmarks'/>`), `<iq type="result" id="2"/>`},
			{alice, getBookmarks, emptyResult},
		}},
		{"attributes only are kept", []step{
			{alice, set("1", "", `<prefs xmlns='urn:x' v='2'/>`), `<iq type="result" id="1"/>`},
			{alice, `<iq type='get' id='g'><query xmlns='jabber:iq:private'><prefs xmlns='urn:x'/></query></iq>`,
				`<iq type="result" id="g"><query xmlns="jabber:iq:private"><prefs xmlns="urn:x" v="2"/></query></iq>`},
		}},
		{"other account", []step{
			{alice, set("1", "bob@example.org", bookmarks), `<iq type="error" id="1">` + forbidden + `</iq>`},
			{alice, strings.Replace(getBookmarks, "'get'", "'get' to='bob@example.org'", 1), `<iq type="error" id="g">` + forbidden + `</iq>`},
			{alice, set("2", "example.org", bookmarks), `<iq type="error" id="2">` + forbidden + `</iq>`},
			{alice, set("3", "alice@example.org/phone", bookmarks), `<iq type="error" id="3">` + forbidden + `</iq>`},
			{bob, getBookmarks, emptyResult},
		}},
		{"reserved namespaces", []step{
			{alice, set("1", "", `<message/>`), `<iq type="error" id="1">` + notAcceptable + `</iq>`},
			{alice, set("2", "", `<x xmlns='jabber:server'/>`), `<iq type="error" id="2">` + notAcceptable + `</iq>`},
			{alice, set("3", "", `<query xmlns='jabber:iq:private'><a xmlns='b'/></query>`), `<iq type="error" id="3">` + notAcceptable + `</iq>`},
			{alice, set("4", "", `<x xmlns=''/>`), `<iq type="error" id="4">` + notAcceptable + `</iq>`},
		}},
		{"child count", []step{
			{alice, set("1", "", ``), `<iq type="error" id="1">` + badRequest + `</iq>`},
			{alice, set("2", "", `text only`), `<iq type="error" id="2">` + badRequest + `</iq>`},
			{alice, set("3", "", `<a xmlns='x'/><b xmlns='x'/>`), `<iq type="error" id="3">` + badRequest + `</iq>`},
			{alice, `<iq type='get' id='4'><storage xmlns='jabber:iq:private'/></iq>`, `<iq type="error" id="4">` + badRequest + `</iq>`},
			{alice, `<iq type='error' id='5'/>`, ``},
		}},
		{"too large", []step{
			{alice, set("1", "", `<a xmlns='x'>`+strings.Repeat("y", 300)+`</a>`), `<iq type="error" id="1">` + notAcceptable + `</iq>`},
			{alice, set("2", "", `<a xmlns='`+strings.Repeat("y", 1100)+`'/>`), `<iq type="error" id="2">` + notAcceptable + `</iq>`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := private.New(newMemStore(), private.Config{MaxBytes: 300})
			for _, s := range tc.steps {
				got := str(p.Handle(t.Context(), s.who, parse(t, s.in)))
				if got != s.out {
					t.Errorf("%s: Handle(%s)\n got %s\nwant %s", s.who.User, s.in, got, s.out)
				}
			}
		})
	}
}

// TestStoreFaults: a stored fragment that is not well-formed (written by
// an older version) reads as empty and is counted in the log without its
// content (on main before this change it answered internal-server-error
// for good); a failing store is an internal error.
func TestStoreFaults(t *testing.T) {
	t.Parallel()
	db := newMemStore()
	var log bytes.Buffer
	p := private.New(db, private.Config{Log: zerolog.New(&log)})
	want := `<iq type="error" id="g">` + internal + `</iq>`
	empty := `<iq type="result" id="g"><query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query></iq>`
	for _, stored := range []string{
		`<storage xmlns="storage:bookmarks">marker`,
		"<storage xmlns=\"storage:bookmarks\">marker\xff</storage>",
		`<other xmlns="storage:bookmarks">marker</other>`,
	} {
		db.data["alice\x00storage storage:bookmarks"] = []byte(stored)
		if got := str(p.Handle(t.Context(), alice, parse(t, getBookmarks))); got != empty {
			t.Errorf("stored %q: Handle = %s, want %s", stored, got, empty)
		}
	}
	if l := log.String(); strings.Count(l, "skipped malformed private fragment") != 3 || strings.Contains(l, "marker") {
		t.Errorf("log = %s, want three counts and no content", l)
	}
	db.fail = errors.New("disk on fire")
	if got := str(p.Handle(t.Context(), alice, parse(t, getBookmarks))); got != want {
		t.Errorf("failing store: get = %s", got)
	}
	if got := str(p.Handle(t.Context(), alice, parse(t, set("g", "", bookmarks)))); got != want {
		t.Errorf("failing store: set = %s", got)
	}
}

// TestRealStore round-trips a fragment through the bbolt store.
func TestRealStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	p := private.New(db, private.DefaultConfig())
	steps := []struct{ in, want string }{
		{getBookmarks, emptyResult},
		{set("1", "", bookmarks), `<iq type="result" id="1"/>`},
		{getBookmarks, storedResult},
		{set("2", "", `<storage xmlns='storage:bookmarks'/>`), `<iq type="result" id="2"/>`},
		{getBookmarks, emptyResult},
	}
	for _, s := range steps {
		if got := str(p.Handle(t.Context(), alice, parse(t, s.in))); got != s.want {
			t.Errorf("Handle(%s)\n got %s\nwant %s", s.in, got, s.want)
		}
	}
	keys, err := db.PrivateKeys(t.Context(), "alice")
	if err != nil || len(keys) != 0 {
		t.Errorf("PrivateKeys after delete = %q, %v; want none", keys, err)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(set("1", "", bookmarks))
	f.Add(getBookmarks)
	f.Add(set("1", "alice@example.org", `<a:b xmlns:a='u' a:c='d' xml:lang='en'>&lt;</a:b>`))
	f.Fuzz(func(t *testing.T, in string) {
		dec := wire.NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := dec.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := dec.Next()
		if err != nil {
			return
		}
		p := private.New(newMemStore(), private.DefaultConfig())
		r := p.Handle(t.Context(), alice, el)
		if r == nil {
			return
		}
		if typ := r.Get("type"); r.Local != "iq" || (typ != "result" && typ != "error") || r.Get("id") != el.Get("id") {
			t.Fatalf("Handle(%q) = %s", in, str(r))
		}
		// What was stored reads back as the same serialisation.
		if el.Get("type") != "set" || r.Get("type") != "result" {
			return
		}
		frag := iq.Payload(iq.Payload(el))
		get := wire.New(wire.NSClient, "iq", "type", "get", "id", "g").
			Add(wire.New(private.NS, "query").Add(wire.New(frag.Space, frag.Local)))
		g := p.Handle(t.Context(), alice, get)
		if g.Get("type") != "result" {
			t.Fatalf("get after set %q = %s", in, str(g))
		}
		if len(frag.Children) > 0 || len(frag.Attr) > 0 {
			if a, b := str(iq.Payload(iq.Payload(g))), str(frag); a != b {
				t.Fatalf("stored %s, read back %s", b, a)
			}
		}
	})
}

// TestTotalCap: one account's fragments together stay under the store's
// cap (store.Limits.PrivateBytes); a set beyond it gets policy-violation,
// and replacing a fragment by a smaller one still works. Fails on main
// before this change (any number of keys could be stored).
func TestTotalCap(t *testing.T) {
	t.Parallel()
	db := storetest.OpenLimits(t, filepath.Join(t.TempDir(), "chatbx.db"), store.Limits{PrivateBytes: 220})
	storetest.User(t, db, "alice")
	p := private.New(db, private.DefaultConfig())
	frag := func(name string, n int) string {
		return `<` + name + ` xmlns='urn:test'>` + strings.Repeat("y", n) + `</` + name + `>`
	}
	for i, tc := range []struct{ in, want string }{
		{set("1", "", frag("a", 60)), `<iq type="result" id="1"/>`},
		{set("2", "", frag("b", 60)), `<iq type="result" id="2"/>`},
		{set("3", "", frag("c", 60)), `<iq type="error" id="3"><error type="cancel"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`},
		{set("4", "", frag("a", 10)), `<iq type="result" id="4"/>`},
		{set("5", "", frag("c", 60)), `<iq type="result" id="5"/>`},
	} {
		if got := str(p.Handle(t.Context(), alice, parse(t, tc.in))); got != tc.want {
			t.Errorf("step %d: Handle(%s)\n got %s\nwant %s", i, tc.in, got, tc.want)
		}
	}
}
