package vcard_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/server/iq"
	"chatbx/server/vcard"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

var _ iq.Handler = vcard.New(nil, vcard.Config{}).Handle

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

// memStore is an in-memory Store. A user missing from users does not exist.
type memStore struct {
	mu    sync.Mutex
	users map[string]bool
	cards map[string][]byte
	fail  error
}

func newMemStore(users ...string) *memStore {
	m := &memStore{users: map[string]bool{}, cards: map[string][]byte{}}
	for _, u := range users {
		m.users[u] = true
	}
	return m
}

func (m *memStore) VCard(_ context.Context, user string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	v, ok := m.cards[user]
	if !ok || !m.users[user] {
		return nil, fmt.Errorf("mem: vcard: %w", store.ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

func (m *memStore) SetVCard(_ context.Context, user string, xml []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if !m.users[user] {
		return fmt.Errorf("mem: set vcard: %w", store.ErrNotFound)
	}
	if len(xml) == 0 {
		delete(m.cards, user)
	} else {
		m.cards[user] = append([]byte(nil), xml...)
	}
	return nil
}

var alice = iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}

const (
	card        = `<vCard xmlns="vcard-temp"><FN>Alice &amp; Co</FN><NICKNAME>al</NICKNAME><X xmlns="urn:x" a="1"/></vCard>`
	empty       = `<vCard xmlns="vcard-temp"/>`
	unavailable = `<error type="cancel" code="503"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	forbidden   = `<error type="auth" code="403"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	badRequest  = `<error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	tooLarge    = `<error type="modify" code="406"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	internal    = `<error type="wait" code="500"><internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
)

// TestHandle runs each case's requests in order against a fresh service.
func TestHandle(t *testing.T) {
	t.Parallel()
	type step struct{ in, want string }
	big := `<vCard xmlns='vcard-temp'><DESC>` + strings.Repeat("x", 200) + `</DESC></vCard>`
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty when none", []step{
			{`<iq type='get' id='1'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="1">` + empty + `</iq>`},
		}},
		{"set then get", []step{
			{`<iq type='set' id='1'>` + card + `</iq>`, `<iq type="result" id="1"/>`},
			{`<iq type='get' id='2'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="2">` + card + `</iq>`},
			{`<iq type='get' id='3' to='alice@example.org'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="3">` + card + `</iq>`},
			{`<iq type='get' id='4' to='Alice@EXAMPLE.org'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="4">` + card + `</iq>`},
		}},
		{"set to own bare", []step{
			{`<iq type='set' id='1' to='alice@example.org'>` + card + `</iq>`, `<iq type="result" id="1"/>`},
			{`<iq type='get' id='2'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="2">` + card + `</iq>`},
		}},
		{"prefixed input", []step{
			{`<iq type='set' id='1'><v:vCard xmlns:v='vcard-temp'><v:FN>A</v:FN></v:vCard></iq>`, `<iq type="result" id="1"/>`},
			{`<iq type='get' id='2'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="2"><vCard xmlns="vcard-temp"><FN>A</FN></vCard></iq>`},
		}},
		{"empty set deletes", []step{
			{`<iq type='set' id='1'>` + card + `</iq>`, `<iq type="result" id="1"/>`},
			{`<iq type='set' id='2'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="2"/>`},
			{`<iq type='get' id='3'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="3">` + empty + `</iq>`},
		}},
		{"other user", []step{
			{`<iq type='get' id='1' to='bob@example.org'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="1"><vCard xmlns="vcard-temp"><FN>Bob</FN></vCard></iq>`},
			{`<iq type='set' id='2' to='bob@example.org'>` + card + `</iq>`, `<iq type="error" id="2">` + forbidden + `</iq>`},
			{`<iq type='get' id='3' to='bob@example.org'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="3"><vCard xmlns="vcard-temp"><FN>Bob</FN></vCard></iq>`},
		}},
		{"unknown user reads empty", []step{
			{`<iq type='get' id='1' to='nobody@example.org'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="1">` + empty + `</iq>`},
		}},
		{"addresses", []step{
			{`<iq type='get' id='1' to='example.org'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="error" id="1">` + unavailable + `</iq>`},
			{`<iq type='get' id='2' to='bob@example.net'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="error" id="2">` + unavailable + `</iq>`},
			{`<iq type='get' id='3' to='bob@example.org/x'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="error" id="3">` + unavailable + `</iq>`},
			{`<iq type='set' id='4' to='@@'><vCard xmlns='vcard-temp'><FN/></vCard></iq>`, `<iq type="error" id="4">` + unavailable + `</iq>`},
		}},
		{"too large", []step{
			{`<iq type='set' id='1'>` + big + `</iq>`, `<iq type="error" id="1">` + tooLarge + `</iq>`},
			{`<iq type='get' id='2'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="2">` + empty + `</iq>`},
		}},
		{"bad payload", []step{
			{`<iq type='set' id='1'><vcard xmlns='vcard-temp'/></iq>`, `<iq type="error" id="1">` + badRequest + `</iq>`},
			{`<iq type='get' id='2'><vCard xmlns='vcard-temp:x'/></iq>`, `<iq type="error" id="2">` + badRequest + `</iq>`},
			{`<iq type='get' id='3'/>`, `<iq type="error" id="3">` + badRequest + `</iq>`},
			{`<iq type='result' id='4'><vCard xmlns='vcard-temp'/></iq>`, ``},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newMemStore("alice", "bob")
			db.cards["bob"] = []byte(`<vCard xmlns="vcard-temp"><FN>Bob</FN></vCard>`)
			v := vcard.New(db, vcard.Config{MaxBytes: 200})
			for _, s := range tc.steps {
				got := str(v.Handle(t.Context(), alice, parse(t, s.in)))
				if got != s.want {
					t.Errorf("Handle(%s)\n got %s\nwant %s", s.in, got, s.want)
				}
			}
		})
	}
}

// TestStoreFaults: a stored vCard that is not well-formed (written by an
// older version) reads as an empty vCard and is counted in the log
// without its content (on main before this change it answered
// internal-server-error for good); a failing store is an internal error.
func TestStoreFaults(t *testing.T) {
	t.Parallel()
	db := newMemStore("alice")
	var log bytes.Buffer
	v := vcard.New(db, vcard.Config{Log: zerolog.New(&log)})
	get := `<iq type='get' id='1'><vCard xmlns='vcard-temp'/></iq>`
	empty := `<iq type="result" id="1"><vCard xmlns="vcard-temp"/></iq>`
	for _, stored := range []string{
		`<vCard xmlns="vcard-temp"><FN>marker`,
		"<vCard xmlns=\"vcard-temp\"><FN>marker\xff</FN></vCard>",
		`<other xmlns="vcard-temp">marker</other>`,
	} {
		db.cards["alice"] = []byte(stored)
		if got := str(v.Handle(t.Context(), alice, parse(t, get))); got != empty {
			t.Errorf("stored %q: Handle = %s, want %s", stored, got, empty)
		}
	}
	if l := log.String(); strings.Count(l, "skipped malformed stored vcard") != 3 || strings.Contains(l, "marker") {
		t.Errorf("log = %s, want three counts and no content", l)
	}
	db.fail = errors.New("disk on fire")
	for _, in := range []string{get, `<iq type='set' id='1'>` + card + `</iq>`} {
		if got := str(v.Handle(t.Context(), alice, parse(t, in))); got != `<iq type="error" id="1">`+internal+`</iq>` {
			t.Errorf("failing store: Handle(%s) = %s", in, got)
		}
	}
}

// TestRealStore round-trips a vCard through the bbolt store.
func TestRealStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	v := vcard.New(db, vcard.DefaultConfig())
	steps := []struct{ in, want string }{
		{`<iq type='get' id='1'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="1">` + empty + `</iq>`},
		{`<iq type='set' id='2'>` + card + `</iq>`, `<iq type="result" id="2"/>`},
		{`<iq type='get' id='3'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="3">` + card + `</iq>`},
		{`<iq type='get' id='4' to='bob@example.org'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="4">` + empty + `</iq>`},
		{`<iq type='set' id='5'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="5"/>`},
		{`<iq type='get' id='6'><vCard xmlns='vcard-temp'/></iq>`, `<iq type="result" id="6">` + empty + `</iq>`},
	}
	for _, s := range steps {
		if got := str(v.Handle(t.Context(), alice, parse(t, s.in))); got != s.want {
			t.Errorf("Handle(%s)\n got %s\nwant %s", s.in, got, s.want)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	db := newMemStore("alice")
	db.cards["alice"] = []byte(card)
	v := vcard.New(db, vcard.DefaultConfig())
	req := parse(b, `<iq type='get' id='1'><vCard xmlns='vcard-temp'/></iq>`)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		v.Handle(ctx, alice, req)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(`<iq type='set' id='1'>` + card + `</iq>`)
	f.Add(`<iq type='get' id='1' to='bob@example.org'><vCard xmlns='vcard-temp'/></iq>`)
	f.Add(`<iq type='set' id='1'><vCard xmlns='vcard-temp'><a:b xmlns:a='u' a:c='d'>&lt;</a:b></vCard></iq>`)
	f.Add(`<iq type='set' id='1'><vCard xmlns='vcard-temp'><a:b xmlns:a='0' :=''/></vCard></iq>`)
	f.Fuzz(func(t *testing.T, in string) {
		dec := wire.NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := dec.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := dec.Next()
		if err != nil {
			return
		}
		v := vcard.New(newMemStore("alice", "bob"), vcard.DefaultConfig())
		r := v.Handle(t.Context(), alice, el)
		if r == nil {
			return
		}
		if typ := r.Get("type"); r.Local != "iq" || (typ != "result" && typ != "error") || r.Get("id") != el.Get("id") {
			t.Fatalf("Handle(%q) = %s", in, str(r))
		}
		// Whatever was stored reads back.
		if el.Get("type") == "set" && r.Get("type") == "result" {
			g := v.Handle(t.Context(), alice, parse(t, `<iq type='get' id='g'><vCard xmlns='vcard-temp'/></iq>`))
			if g.Get("type") != "result" {
				t.Fatalf("get after set %q = %s", in, str(g))
			}
		}
	})
}
