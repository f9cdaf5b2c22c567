package blocking_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"chatbx/server/blocking"
	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

var _ iq.Handler = blocking.New(nil, blocking.Config{}).Handle

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

// memStore is an in-memory Store. It counts Blocklist reads.
type memStore struct {
	mu    sync.Mutex
	users map[string]map[string]bool
	reads atomic.Int64
	fail  error
}

func newMemStore(users ...string) *memStore {
	m := &memStore{users: map[string]map[string]bool{}}
	for _, u := range users {
		m.users[u] = map[string]bool{}
	}
	return m
}

func (m *memStore) Blocklist(_ context.Context, user string) ([]string, error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	l, ok := m.users[user]
	if !ok {
		return nil, fmt.Errorf("mem: blocklist: %w", store.ErrNotFound)
	}
	var out []string
	for j := range l {
		out = append(out, j)
	}
	slices.Sort(out)
	return out, nil
}

func (m *memStore) Block(_ context.Context, user string, jids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	l, ok := m.users[user]
	if !ok {
		return fmt.Errorf("mem: block: %w", store.ErrNotFound)
	}
	for _, j := range jids {
		l[j] = true
	}
	return nil
}

func (m *memStore) Unblock(_ context.Context, user string, jids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	l, ok := m.users[user]
	if !ok {
		return fmt.Errorf("mem: unblock: %w", store.ErrNotFound)
	}
	if len(jids) == 0 {
		clear(l)
	}
	for _, j := range jids {
		delete(l, j)
	}
	return nil
}

// recorder collects pushes and change notifications.
type recorder struct {
	mu      sync.Mutex
	pushes  []string
	changes []string
}

func (r *recorder) context(user string) iq.Context {
	return iq.Context{User: user, Domain: "example.org", From: user + "@example.org/phone",
		Push: func(e *wire.Element) {
			r.mu.Lock()
			defer r.mu.Unlock()
			c := e.Copy()
			c.Set("id", "") // ids are unique per push; compare the rest
			r.pushes = append(r.pushes, str(c))
		}}
}

func (r *recorder) changed(user string, blocked, unblocked []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, fmt.Sprintf("%s +%v -%v", user, blocked, unblocked))
}

func (r *recorder) take() (pushes, changes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pushes, changes = r.pushes, r.changes
	r.pushes, r.changes = nil, nil
	return pushes, changes
}

const (
	getList     = `<iq type='get' id='g'><blocklist xmlns='urn:xmpp:blocking'/></iq>`
	forbidden   = `<error type="cancel" code="403"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	badRequest  = `<error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	malformed   = `<error type="modify" code="400"><jid-malformed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	policy      = `<error type="modify"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	internal    = `<error type="wait" code="500"><internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	emptyResult = `<iq type="result" id="g"><blocklist xmlns="urn:xmpp:blocking"/></iq>`
)

func req(typ, id, to, payload string) string {
	if to != "" {
		to = ` to='` + to + `'`
	}
	return `<iq type='` + typ + `' id='` + id + `'` + to + `>` + payload + `</iq>`
}

func blockEl(local string, jids ...string) string {
	var b strings.Builder
	b.WriteString(`<` + local + ` xmlns='urn:xmpp:blocking'>`)
	for _, j := range jids {
		b.WriteString(`<item jid='` + j + `'/>`)
	}
	b.WriteString(`</` + local + `>`)
	return b.String()
}

func list(id string, jids ...string) string {
	if len(jids) == 0 {
		return `<iq type="result" id="` + id + `"><blocklist xmlns="urn:xmpp:blocking"/></iq>`
	}
	var b strings.Builder
	b.WriteString(`<iq type="result" id="` + id + `"><blocklist xmlns="urn:xmpp:blocking">`)
	for _, j := range jids {
		b.WriteString(`<item jid="` + j + `"/>`)
	}
	b.WriteString(`</blocklist></iq>`)
	return b.String()
}

func push(local string, jids ...string) string {
	var b strings.Builder
	b.WriteString(`<iq type="set"><` + local + ` xmlns="urn:xmpp:blocking"`)
	if len(jids) == 0 {
		b.WriteString(`/></iq>`)
		return b.String()
	}
	b.WriteString(`>`)
	for _, j := range jids {
		b.WriteString(`<item jid="` + j + `"/>`)
	}
	b.WriteString(`</` + local + `></iq>`)
	return b.String()
}

func TestHandle(t *testing.T) {
	t.Parallel()
	type step struct {
		in, out string
		pushes  []string
		changes []string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty list", []step{{in: getList, out: emptyResult}}},
		{"block and list", []step{
			{in: req("set", "1", "", blockEl("block", "romeo@montague.net", "Mercutio@Verona.lit/Phone", "romeo@montague.net")),
				out:     `<iq type="result" id="1"/>`,
				pushes:  []string{push("block", "romeo@montague.net", "mercutio@verona.lit/Phone")},
				changes: []string{"alice +[romeo@montague.net mercutio@verona.lit/Phone] -[]"}},
			{in: getList, out: list("g", "mercutio@verona.lit/Phone", "romeo@montague.net")},
			{in: req("get", "2", "alice@example.org", `<blocklist xmlns='urn:xmpp:blocking'/>`), out: list("2", "mercutio@verona.lit/Phone", "romeo@montague.net")},
		}},
		{"unblock some", []step{
			{in: req("set", "1", "alice@example.org", blockEl("block", "a@x", "b@x", "x")), out: `<iq type="result" id="1"/>`,
				pushes: []string{push("block", "a@x", "b@x", "x")}, changes: []string{"alice +[a@x b@x x] -[]"}},
			{in: req("set", "2", "", blockEl("unblock", "b@x", "never@blocked")), out: `<iq type="result" id="2"/>`,
				pushes: []string{push("unblock", "b@x", "never@blocked")}, changes: []string{"alice +[] -[b@x never@blocked]"}},
			{in: getList, out: list("g", "a@x", "x")},
		}},
		{"unblock all", []step{
			{in: req("set", "1", "", blockEl("block", "a@x", "x")), out: `<iq type="result" id="1"/>`,
				pushes: []string{push("block", "a@x", "x")}, changes: []string{"alice +[a@x x] -[]"}},
			{in: req("set", "2", "", `<unblock xmlns='urn:xmpp:blocking'/>`), out: `<iq type="result" id="2"/>`,
				pushes: []string{push("unblock")}, changes: []string{"alice +[] -[a@x x]"}},
			{in: getList, out: emptyResult},
			// Unblocking an empty list changes nothing to report.
			{in: req("set", "3", "", `<unblock xmlns='urn:xmpp:blocking'/>`), out: `<iq type="result" id="3"/>`,
				pushes: []string{push("unblock")}},
		}},
		{"bad requests", []step{
			{in: req("set", "1", "", `<block xmlns='urn:xmpp:blocking'/>`), out: `<iq type="error" id="1">` + badRequest + `</iq>`},
			{in: req("set", "2", "", `<block xmlns='urn:xmpp:blocking'><other jid='a@x'/></block>`), out: `<iq type="error" id="2">` + badRequest + `</iq>`},
			{in: req("get", "3", "", blockEl("block", "a@x")), out: `<iq type="error" id="3">` + badRequest + `</iq>`},
			{in: req("set", "4", "", `<blocklist xmlns='urn:xmpp:blocking'/>`), out: `<iq type="error" id="4">` + badRequest + `</iq>`},
			{in: req("set", "5", "", `<block xmlns='urn:xmpp:blocking:x'><item jid='a@x'/></block>`), out: `<iq type="error" id="5">` + badRequest + `</iq>`},
			{in: req("get", "6", "", ``), out: `<iq type="error" id="6">` + badRequest + `</iq>`},
			{in: req("result", "7", "", ``), out: ``},
			{in: getList, out: emptyResult},
		}},
		{"malformed jids", []step{
			{in: req("set", "1", "", blockEl("block", "a@x", "@x")), out: `<iq type="error" id="1">` + malformed + `</iq>`},
			{in: req("set", "2", "", blockEl("block", "")), out: `<iq type="error" id="2">` + malformed + `</iq>`},
			{in: req("set", "3", "", `<block xmlns='urn:xmpp:blocking'><item/></block>`), out: `<iq type="error" id="3">` + malformed + `</iq>`},
			{in: req("set", "4", "", blockEl("unblock", "a@b@c")), out: `<iq type="error" id="4">` + malformed + `</iq>`},
			{in: req("set", "5", "", blockEl("block", "x/")), out: `<iq type="error" id="5">` + malformed + `</iq>`},
			{in: getList, out: emptyResult},
		}},
		{"other account", []step{
			{in: req("get", "1", "bob@example.org", `<blocklist xmlns='urn:xmpp:blocking'/>`), out: `<iq type="error" id="1">` + forbidden + `</iq>`},
			{in: req("set", "2", "example.org", blockEl("block", "a@x")), out: `<iq type="error" id="2">` + forbidden + `</iq>`},
			{in: req("set", "3", "alice@example.org/phone", blockEl("block", "a@x")), out: `<iq type="error" id="3">` + forbidden + `</iq>`},
		}},
		{"limit", []step{
			{in: req("set", "1", "", blockEl("block", "1@x", "2@x", "3@x", "4@x")), out: `<iq type="error" id="1">` + policy + `</iq>`},
			{in: req("set", "2", "", blockEl("block", "1@x", "2@x")), out: `<iq type="result" id="2"/>`,
				pushes: []string{push("block", "1@x", "2@x")}, changes: []string{"alice +[1@x 2@x] -[]"}},
			{in: req("set", "3", "", blockEl("block", "3@x", "4@x")), out: `<iq type="error" id="3">` + policy + `</iq>`},
			// Already blocked JIDs do not count twice.
			{in: req("set", "4", "", blockEl("block", "2@x", "3@x")), out: `<iq type="result" id="4"/>`,
				pushes: []string{push("block", "2@x", "3@x")}, changes: []string{"alice +[2@x 3@x] -[]"}},
			{in: getList, out: list("g", "1@x", "2@x", "3@x")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rec recorder
			b := blocking.New(newMemStore("alice", "bob"), blocking.Config{MaxItems: 3, Changed: rec.changed})
			c := rec.context("alice")
			for _, s := range tc.steps {
				got := str(b.Handle(t.Context(), c, parse(t, s.in)))
				if got != s.out {
					t.Errorf("Handle(%s)\n got %s\nwant %s", s.in, got, s.out)
				}
				pushes, changes := rec.take()
				if !slices.Equal(pushes, s.pushes) {
					t.Errorf("Handle(%s) pushed\n%q\nwant\n%q", s.in, pushes, s.pushes)
				}
				if !slices.Equal(changes, s.changes) {
					t.Errorf("Handle(%s) reported changes %q, want %q", s.in, changes, s.changes)
				}
			}
		})
	}
}

func TestPushIDsDiffer(t *testing.T) {
	t.Parallel()
	var ids []string
	c := iq.Context{User: "alice", Domain: "example.org", Push: func(e *wire.Element) { ids = append(ids, e.Get("id")) }}
	b := blocking.New(newMemStore("alice"), blocking.DefaultConfig())
	b.Handle(t.Context(), c, parse(t, req("set", "1", "", blockEl("block", "a@x"))))
	b.Handle(t.Context(), c, parse(t, req("set", "1", "", blockEl("unblock", "a@x"))))
	if len(ids) != 2 || ids[0] == ids[1] || ids[0] == "" {
		t.Errorf("push ids = %q, want two different ids", ids)
	}
}

func TestStoreFaults(t *testing.T) {
	t.Parallel()
	db := newMemStore("alice")
	db.fail = errors.New("disk on fire")
	b := blocking.New(db, blocking.DefaultConfig())
	var pushed int
	c := iq.Context{User: "alice", Domain: "example.org", Push: func(*wire.Element) { pushed++ }}
	for _, in := range []string{
		getList,
		req("set", "g", "", blockEl("block", "a@x")),
		req("set", "g", "", blockEl("unblock", "a@x")),
		req("set", "g", "", `<unblock xmlns='urn:xmpp:blocking'/>`),
	} {
		if got := str(b.Handle(t.Context(), c, parse(t, in))); got != `<iq type="error" id="g">`+internal+`</iq>` {
			t.Errorf("failing store: Handle(%s) = %s", in, got)
		}
	}
	if pushed != 0 {
		t.Errorf("failed changes pushed %d times", pushed)
	}
	if b.Blocked(t.Context(), "alice", "a@x") {
		t.Error("Blocked with a failing store = true, want false")
	}
	// A fault is not cached: once the store works, the list is read.
	db.fail = nil
	db.users["alice"]["a@x"] = true
	if !b.Blocked(t.Context(), "alice", "a@x") {
		t.Error("Blocked after the store recovered = false, want true")
	}
}

func TestBlocked(t *testing.T) {
	t.Parallel()
	db := newMemStore("alice", "empty")
	for _, j := range []string{
		"full@example.net/res",
		"bare@example.net",
		"evil.example",
		"example.com/bot",
		"NotNormal@Example.NET", // stored before normalisation
		"café@example.net",
	} {
		db.users["alice"][j] = true
	}
	b := blocking.New(db, blocking.DefaultConfig())
	tests := []struct {
		user, peer string
		want       bool
	}{
		{"alice", "full@example.net/res", true},
		{"alice", "full@example.net/other", false},
		{"alice", "full@example.net", false},
		{"alice", "bare@example.net", true},
		{"alice", "bare@example.net/any", true},
		{"alice", "bare@example.net/", false}, // not a JID
		{"alice", "evil.example", true},
		{"alice", "anyone@evil.example", true},
		{"alice", "anyone@evil.example/r", true},
		{"alice", "evil.example/r", true},
		{"alice", "sub.evil.example", false},
		{"alice", "example.com/bot", true},
		{"alice", "user@example.com/bot", true},
		{"alice", "example.com/Bot", false},
		{"alice", "example.com", false},
		{"alice", "user@example.com", false},
		{"alice", "BARE@Example.Net/x", true},
		{"alice", "bare@example.net./x", true},
		{"alice", "notnormal@example.net", true},
		{"alice", "Café@example.net/x", true},
		{"alice", "cafe@example.net", false},
		{"alice", "", false},
		{"alice", "@@@", false},
		{"alice", "bob@example.org", false},
		{"empty", "bare@example.net", false},
		{"nobody", "bare@example.net", false},
	}
	for _, tc := range tests {
		if got := b.Blocked(t.Context(), tc.user, tc.peer); got != tc.want {
			t.Errorf("Blocked(%q, %q) = %v, want %v", tc.user, tc.peer, got, tc.want)
		}
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	db := newMemStore("alice")
	b := blocking.New(db, blocking.DefaultConfig())
	c := iq.Context{User: "alice", Domain: "example.org"}
	ctx := t.Context()
	check := func(peer string, want bool, reads int64) {
		t.Helper()
		if got := b.Blocked(ctx, "alice", peer); got != want {
			t.Errorf("Blocked(alice, %q) = %v, want %v", peer, got, want)
		}
		if got := db.reads.Load(); got != reads {
			t.Errorf("store reads after Blocked(alice, %q) = %d, want %d", peer, got, reads)
		}
	}
	check("a@x", false, 1)
	// An empty list is cached too.
	check("a@x", false, 1)
	// Blocking reads the list once to check the limit.
	b.Handle(ctx, c, parse(t, req("set", "1", "", blockEl("block", "a@x"))))
	check("a@x", true, 3)
	check("b@x", false, 3)
	b.Handle(ctx, c, parse(t, req("set", "2", "", blockEl("unblock", "a@x"))))
	check("a@x", false, 4)
	// A change behind the service's back shows after Forget.
	db.users["alice"]["b@x"] = true
	check("b@x", false, 4)
	b.Forget("alice")
	check("b@x", true, 5)
	// Unknown users are not cached.
	b.Blocked(ctx, "nobody", "a@x")
	b.Blocked(ctx, "nobody", "a@x")
	if got := db.reads.Load(); got != 7 {
		t.Errorf("store reads for an unknown user = %d, want 7", got)
	}
}

// TestConcurrent races lookups against changes; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	db := newMemStore()
	for i := range 16 {
		db.users["u"+strconv.Itoa(i)] = map[string]bool{}
	}
	b := blocking.New(db, blocking.DefaultConfig())
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 16 {
		user := "u" + strconv.Itoa(i)
		c := iq.Context{User: user, Domain: "example.org"}
		wg.Go(func() {
			for range 50 {
				b.Handle(ctx, c, parse(t, req("set", "1", "", blockEl("block", "x@y"))))
				b.Handle(ctx, c, parse(t, req("set", "2", "", `<unblock xmlns='urn:xmpp:blocking'/>`)))
			}
			b.Handle(ctx, c, parse(t, req("set", "3", "", blockEl("block", "x@y"))))
		})
		wg.Go(func() {
			for range 500 {
				b.Blocked(ctx, user, "x@y/r")
			}
		})
	}
	wg.Wait()
	// Every change invalidated the cache: the final state is visible.
	for i := range 16 {
		if !b.Blocked(ctx, "u"+strconv.Itoa(i), "x@y/r") {
			t.Errorf("Blocked(u%d, x@y/r) = false after the final block", i)
		}
	}
}

// TestRealStore runs block, list, match and unblock against bbolt.
func TestRealStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	b := blocking.New(db, blocking.DefaultConfig())
	c := iq.Context{User: "alice", Domain: "example.org"}
	ctx := t.Context()
	steps := []struct{ in, want string }{
		{getList, emptyResult},
		{req("set", "1", "", blockEl("block", "Romeo@Montague.net", "evil.example")), `<iq type="result" id="1"/>`},
		{getList, list("g", "evil.example", "romeo@montague.net")},
	}
	for _, s := range steps {
		if got := str(b.Handle(ctx, c, parse(t, s.in))); got != s.want {
			t.Errorf("Handle(%s)\n got %s\nwant %s", s.in, got, s.want)
		}
	}
	for peer, want := range map[string]bool{"romeo@montague.net/x": true, "a@evil.example": true, "juliet@capulet.lit": false} {
		if got := b.Blocked(ctx, "alice", peer); got != want {
			t.Errorf("Blocked(alice, %q) = %v, want %v", peer, got, want)
		}
	}
	if got := str(b.Handle(ctx, c, parse(t, req("set", "2", "", `<unblock xmlns='urn:xmpp:blocking'/>`)))); got != `<iq type="result" id="2"/>` {
		t.Errorf("unblock all = %s", got)
	}
	if b.Blocked(ctx, "alice", "a@evil.example") {
		t.Error("Blocked after unblock all = true")
	}
	if b.Blocked(ctx, "nobody", "a@evil.example") {
		t.Error("Blocked for an unknown user = true")
	}
}

func TestBlockedError(t *testing.T) {
	t.Parallel()
	want := `<error type="cancel" code="406"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><blocked xmlns="urn:xmpp:blocking:errors"/></error>`
	if got := str(blocking.BlockedError()); got != want {
		t.Errorf("BlockedError() = %s, want %s", got, want)
	}
}

// benchService returns a service with 10,000 cached users, every tenth of
// whom blocks 20 JIDs.
func benchService(b *testing.B) *blocking.Blocking {
	db := newMemStore()
	for i := range 10000 {
		l := map[string]bool{}
		if i%10 == 0 {
			for j := range 20 {
				l["spam"+strconv.Itoa(j)+"@example.net"] = true
			}
			l["evil.example"] = true
		}
		db.users["u"+strconv.Itoa(i)] = l
	}
	s := blocking.New(db, blocking.DefaultConfig())
	for i := range 10000 {
		s.Blocked(b.Context(), "u"+strconv.Itoa(i), "warm@example.org")
	}
	return s
}

func BenchmarkBlocked(b *testing.B) {
	s := benchService(b)
	ctx := b.Context()
	cases := []struct{ name, user, peer string }{
		{"empty list", "u1", "friend@example.org/phone"},
		{"miss", "u10", "friend@example.org/phone"},
		{"hit bare", "u10", "spam7@example.net/res"},
		{"hit domain", "u10", "anyone@evil.example/r"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Blocked(ctx, bc.user, bc.peer)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		users := make([]string, 1024)
		for i := range users {
			users[i] = "u" + strconv.Itoa(i*7)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				s.Blocked(ctx, users[i%len(users)], "spam3@example.net/x")
				i++
			}
		})
	})
}

func FuzzHandle(f *testing.F) {
	f.Add(req("set", "1", "", blockEl("block", "a@x", "x/y")))
	f.Add(req("set", "1", "", `<unblock xmlns='urn:xmpp:blocking'/>`))
	f.Add(getList)
	f.Add(req("set", "1", "", blockEl("block", "é@x/ø")))
	f.Fuzz(func(t *testing.T, in string) {
		dec := wire.NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := dec.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := dec.Next()
		if err != nil {
			return
		}
		b := blocking.New(newMemStore("alice"), blocking.DefaultConfig())
		c := iq.Context{User: "alice", Domain: "example.org", Push: func(*wire.Element) {}}
		r := b.Handle(t.Context(), c, el)
		if r != nil {
			if typ := r.Get("type"); r.Local != "iq" || (typ != "result" && typ != "error") || r.Get("id") != el.Get("id") {
				t.Fatalf("Handle(%q) = %s", in, str(r))
			}
		}
		// Every blocked JID then matches itself.
		if el.Get("type") == "set" && r != nil && r.Get("type") == "result" {
			if p := iq.Payload(el); p.Local == "block" {
				for _, it := range p.Elements() {
					if it.Space == blocking.NS && it.Local == "item" && !b.Blocked(t.Context(), "alice", it.Get("jid")) {
						t.Fatalf("Blocked(alice, %q) = false after %s", it.Get("jid"), in)
					}
				}
			}
		}
	})
}
