package presence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"chatbx/server/wire"
	"chatbx/store"
	"chatbx/store/storetest"

	"github.com/rs/zerolog"
)

const dom = "example.org"

// sess is a fake session: what the rules may read, and what it received.
type sess struct {
	user, res string
	avail     bool
	last      *wire.Element
	got       []*wire.Element
}

// fakeHost is a session table over sess, with a recorded route for other
// domains: remote.org is the remote side, conference.example.org a local
// service.
type fakeHost struct {
	sessions   map[string][]*sess
	routed     []*wire.Element
	blocked    map[string]bool // "user blocked-jid"
	locked     map[string]bool
	pushes     []string // "user jid sub ask pending"
	subscribed []string // "user contact"
}

func (h *fakeHost) Sessions(user string) []*sess      { return h.sessions[user] }
func (*fakeHost) Full(s *sess) string                 { return s.user + "@" + dom + "/" + s.res }
func (*fakeHost) Resource(s *sess) string             { return s.res }
func (*fakeHost) Available(s *sess) bool              { return s.avail }
func (*fakeHost) Last(s *sess) *wire.Element          { return s.last }
func (*fakeHost) Send(s *sess, el *wire.Element) bool { s.got = append(s.got, el); return true }
func (*fakeHost) IsHost(d string) bool                { return d == dom }
func (*fakeHost) IsRemote(d string) bool              { return d == "remote.org" }
func (h *fakeHost) Locked(user string) bool           { return h.locked[user] }
func (h *fakeHost) Blocked(_ context.Context, user, other string) bool {
	return h.blocked[user+" "+other]
}
func (h *fakeHost) Route(_ context.Context, el *wire.Element, d string) bool {
	if d != "remote.org" && d != "conference."+dom {
		return false
	}
	h.routed = append(h.routed, el)
	return true
}
func (h *fakeHost) RosterPush(user string, _ uint64, it *store.RosterItem) {
	h.pushes = append(h.pushes, fmt.Sprintf("%s %s %v %v %v", user, it.JID, it.Sub, it.AskOut, it.PendingIn))
}
func (h *fakeHost) Subscribed(_ context.Context, user, contact string) {
	h.subscribed = append(h.subscribed, user+" "+contact)
}
func (*fakeHost) Parse(j string) (JID, error) {
	var a JID
	if j == "" || strings.ContainsAny(j, " <>") {
		return a, errors.New("bad jid")
	}
	if i := strings.IndexByte(j, '/'); i >= 0 {
		j, a.Resource = j[:i], j[i+1:]
	}
	if i := strings.IndexByte(j, '@'); i >= 0 {
		a.Local, j = j[:i], j[i+1:]
	}
	a.Domain = j
	return a, nil
}

var _ Host[*sess] = (*fakeHost)(nil)

// world is a host with the accounts alice, bob, dave, erin and frank in a
// real store; sessions are added by the test.
type world struct {
	t  *testing.T
	db *store.DB
	h  *fakeHost
	r  *Rules[*sess]
}

func newWorld(t *testing.T) *world {
	db := storetest.Open(t)
	for _, u := range []string{"alice", "bob", "dave", "erin", "frank"} {
		storetest.User(t, db, u)
	}
	h := &fakeHost{sessions: map[string][]*sess{}, blocked: map[string]bool{}, locked: map[string]bool{}}
	return &world{t: t, db: db, h: h, r: New[*sess](dom, db, h, zerolog.Nop())}
}

// session binds user/res; available sessions carry a presence.
func (w *world) session(user, res string, avail bool) *sess {
	s := &sess{user: user, res: res, avail: avail}
	if avail {
		s.last = wire.New(wire.NSClient, "presence", "from", user+"@"+dom+"/"+res)
	}
	w.h.sessions[user] = append(w.h.sessions[user], s)
	return s
}

// item stores user's roster item for jid.
func (w *world) item(user, jid string, sub store.Subscription, askOut, pendingIn bool) {
	w.t.Helper()
	_, _, err := w.db.UpdateRosterItem(context.Background(), user, jid, func(it *store.RosterItem, _ bool) (bool, error) {
		it.Sub, it.AskOut, it.PendingIn = sub, askOut, pendingIn
		return true, nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// sub returns user's item for jid as "sub ask pending", or "-" if none.
func (w *world) sub(user, jid string) string {
	w.t.Helper()
	it, err := w.db.RosterItem(context.Background(), user, jid)
	if errors.Is(err, store.ErrNotFound) {
		return "-"
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return fmt.Sprintf("%v %v %v", it.Sub, it.AskOut, it.PendingIn)
}

// show renders stanzas as "type from>to" (type "available" for none).
func show(els []*wire.Element) []string {
	out := []string{}
	for _, el := range els {
		typ := el.Get("type")
		if typ == "" {
			typ = "available"
		}
		out = append(out, typ+" "+el.Get("from")+">"+el.Get("to"))
	}
	slices.Sort(out)
	return out
}

func want(t *testing.T, what string, got []*wire.Element, exp ...string) {
	t.Helper()
	slices.Sort(exp)
	if exp == nil {
		exp = []string{}
	}
	if g := show(got); !slices.Equal(g, exp) {
		t.Errorf("%s got\n  %q\nwant\n  %q", what, g, exp)
	}
}

func reset(ss ...*sess) {
	for _, s := range ss {
		s.got = nil
	}
}

// RFC 6121 §4.2: initial presence probes the contacts the user is
// subscribed to (local ones answered from their sessions, remote ones by
// a probe), hands over pending requests and the user's other resources;
// the broadcast reaches contacts subscribed to the user and the user's
// available sessions.
func TestInitialPresence(t *testing.T) {
	w := newWorld(t)
	w.item("alice", "bob@"+dom, store.SubBoth, false, false)
	w.item("alice", "carol@remote.org", store.SubTo, false, false)
	w.item("alice", "dave@"+dom, store.SubFrom, false, false)
	w.item("alice", "erin@"+dom, store.SubNone, false, true)
	w.item("alice", "frank@"+dom, store.SubBoth, false, false)
	w.item("alice", "gus@remote.org", store.SubFrom, false, false)
	w.h.blocked["alice frank@"+dom] = true
	phone := w.session("alice", "phone", true)
	idle := w.session("alice", "idle", false)
	laptop := w.session("alice", "laptop", false)
	bob := w.session("bob", "b", true)
	bobOff := w.session("bob", "off", false)
	dave := w.session("dave", "d", true)
	erin := w.session("erin", "e", true)
	frank := w.session("frank", "f", true)

	p := wire.New(wire.NSClient, "presence", "from", "alice@"+dom+"/laptop")
	laptop.avail, laptop.last = true, p
	w.r.Broadcast(context.Background(), "alice", laptop, p)
	if err := w.r.Initial(context.Background(), "alice", laptop); err != nil {
		t.Fatal(err)
	}
	want(t, "laptop", laptop.got,
		"available alice@example.org/laptop>alice@example.org/laptop",
		"available bob@example.org/b>alice@example.org/laptop",
		"subscribe erin@example.org>alice@example.org",
		"available alice@example.org/phone>alice@example.org/laptop")
	want(t, "phone", phone.got, "available alice@example.org/laptop>alice@example.org/phone")
	want(t, "idle", idle.got)
	want(t, "bob", bob.got, "available alice@example.org/laptop>bob@example.org")
	want(t, "bob offline", bobOff.got)
	want(t, "dave", dave.got, "available alice@example.org/laptop>dave@example.org")
	want(t, "erin", erin.got)
	want(t, "frank (blocked)", frank.got)
	want(t, "routed", w.h.routed,
		"available alice@example.org/laptop>gus@remote.org",
		"probe alice@example.org>carol@remote.org")
}

// RFC 6121 §4.5, §4.6.3: unavailable presence reaches the subscribers,
// the user's sessions, and every target of directed presence, a group
// chat room on a local service included.
func TestUnavailable(t *testing.T) {
	w := newWorld(t)
	w.item("alice", "bob@"+dom, store.SubFrom, false, false)
	alice := w.session("alice", "a", true)
	other := w.session("alice", "other", true)
	bob := w.session("bob", "b", true)
	frank := w.session("frank", "f", true)
	frank2 := w.session("frank", "g", true)

	var set map[string]bool
	set = Track(set, "frank@"+dom+"/f", "")
	set = Track(set, "room@conference."+dom+"/alice", "")
	set = Track(set, "dave@"+dom, "")
	set = Track(set, "dave@"+dom, "unavailable") // withdrawn already
	u := wire.New(wire.NSClient, "presence", "type", "unavailable", "from", "alice@"+dom+"/a")
	alice.avail, alice.last = false, nil
	w.r.Broadcast(context.Background(), "alice", alice, u)
	w.r.Withdraw(context.Background(), "alice@"+dom+"/a", set, u)
	want(t, "alice", alice.got, "unavailable alice@example.org/a>alice@example.org/a")
	want(t, "other", other.got, "unavailable alice@example.org/a>alice@example.org/other")
	want(t, "bob", bob.got, "unavailable alice@example.org/a>bob@example.org")
	want(t, "frank/f", frank.got, "unavailable alice@example.org/a>frank@example.org/f")
	want(t, "frank/g", frank2.got)
	want(t, "routed", w.h.routed, "unavailable alice@example.org/a>room@conference.example.org/alice")
}

// RFC 6121 §4.6: directed presence to a JID that is not a contact, to a
// room, to a full and a bare JID; a recipient that blocked the sender
// gets nothing; the set of targets is bounded.
func TestDirected(t *testing.T) {
	w := newWorld(t)
	alice := w.session("alice", "a", true)
	frank := w.session("frank", "f", true)
	frankOff := w.session("frank", "g", false)
	dave := w.session("dave", "d", true)
	w.h.blocked["dave alice@"+dom+"/a"] = true
	for _, to := range []string{"frank@" + dom, "frank@" + dom + "/g", "dave@" + dom, "room@conference." + dom + "/al", "x@nowhere.net"} {
		a, _ := w.h.Parse(to)
		el := wire.New(wire.NSClient, "presence", "from", "alice@"+dom+"/a", "to", to)
		w.r.Directed(context.Background(), el, a)
	}
	want(t, "frank/f", frank.got, "available alice@example.org/a>frank@example.org")
	want(t, "frank/g", frankOff.got, "available alice@example.org/a>frank@example.org/g")
	want(t, "dave (blocked alice)", dave.got)
	want(t, "alice", alice.got)
	want(t, "routed", w.h.routed, "available alice@example.org/a>room@conference.example.org/al")

	var set map[string]bool
	if Track(set, "x@y", "unavailable") != nil {
		t.Error("Track allocated a set for unavailable presence")
	}
	for i := range MaxDirected + 10 {
		set = Track(set, fmt.Sprintf("u%d@%s", i, dom), "")
	}
	if len(set) != MaxDirected {
		t.Errorf("len(set) = %d, want %d", len(set), MaxDirected)
	}
}

// RFC 6121 §3.1–§3.3 between two local accounts: request, approval,
// unsubscribe and cancellation, each with the roster changes on both
// sides, the pushes, the deliveries and the presence they imply.
func TestSubscriptionLocal(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice := w.session("alice", "a", true)
	bob := w.session("bob", "b", true)
	bobOff := w.session("bob", "off", false)
	A, B := "alice@"+dom, "bob@"+dom

	steps := []struct {
		name       string
		user, typ  string // who sends what about the other
		alice, bob []string
		aSub, bSub string // alice's item for bob, bob's for alice
		subscribed []string
	}{
		{"alice requests", "alice", "subscribe", nil,
			[]string{"subscribe alice@example.org>bob@example.org"},
			"none true false", "none false true", nil},
		{"bob approves", "bob", "subscribed",
			[]string{"subscribed bob@example.org>alice@example.org", "available bob@example.org/b>alice@example.org"}, nil,
			"to false false", "from false false", []string{"alice bob@example.org"}},
		{"alice approves a request never made: pre-approval", "alice", "subscribed", nil, nil,
			"to false false", "from false false", nil},
		{"bob requests", "bob", "subscribe", nil, nil,
			// alice pre-approved: answered on her behalf, bob gets her presence.
			"both false false", "both false false", []string{"bob alice@example.org"}},
		{"alice unsubscribes", "alice", "unsubscribe",
			[]string{"unavailable bob@example.org/b>alice@example.org"},
			[]string{"unsubscribe alice@example.org>bob@example.org"},
			"from false false", "to false false", nil},
		{"alice cancels bob's subscription", "alice", "unsubscribed",
			nil,
			[]string{"unsubscribed alice@example.org>bob@example.org", "unavailable alice@example.org/a>bob@example.org"},
			"none false false", "none false false", nil},
		{"alice cancels again: nothing routed", "alice", "unsubscribed", nil, nil,
			"none false false", "none false false", nil},
	}
	for _, st := range steps {
		reset(alice, bob, bobOff)
		w.h.subscribed = nil
		if st.user == "alice" {
			w.r.Outbound(ctx, "alice", B, st.typ)
		} else {
			w.r.Outbound(ctx, "bob", A, st.typ)
		}
		if st.name == "bob requests" {
			// The auto-reply, then alice's presence.
			st.bob = []string{"subscribed alice@example.org>bob@example.org", "available alice@example.org/a>bob@example.org"}
		}
		want(t, st.name+": alice", alice.got, st.alice...)
		want(t, st.name+": bob", bob.got, st.bob...)
		want(t, st.name+": bob offline", bobOff.got)
		if g := w.sub("alice", B); g != st.aSub {
			t.Errorf("%s: alice's item %q, want %q", st.name, g, st.aSub)
		}
		if g := w.sub("bob", A); g != st.bSub {
			t.Errorf("%s: bob's item %q, want %q", st.name, g, st.bSub)
		}
		if !slices.Equal(w.h.subscribed, st.subscribed) {
			t.Errorf("%s: Subscribed hook %q, want %q", st.name, w.h.subscribed, st.subscribed)
		}
	}
	if len(w.h.routed) != 0 {
		t.Errorf("routed %q between local accounts", show(w.h.routed))
	}
	if len(w.h.pushes) == 0 {
		t.Error("no roster pushes")
	}
}

// RFC 6121 §3 with a remote contact, both directions: requests and
// answers leave through the remote side; inbound ones change the local
// roster and reach the user.
func TestSubscriptionRemote(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice := w.session("alice", "a", true)
	C := "carol@remote.org"

	w.r.Outbound(ctx, "alice", C, "subscribe")
	want(t, "request out", w.h.routed, "subscribe alice@example.org>carol@remote.org")
	if g := w.sub("alice", C); g != "none true false" {
		t.Errorf("after request: %q", g)
	}
	w.h.routed = nil
	w.r.Inbound(ctx, C, "alice@"+dom, "subscribed")
	want(t, "approval in", alice.got, "subscribed carol@remote.org>alice@example.org")
	if g := w.sub("alice", C); g != "to false false" {
		t.Errorf("after approval: %q", g)
	}
	if !slices.Equal(w.h.subscribed, []string{"alice " + C}) {
		t.Errorf("Subscribed hook %q", w.h.subscribed)
	}

	reset(alice)
	w.r.Inbound(ctx, C, "alice@"+dom, "subscribe")
	want(t, "request in", alice.got, "subscribe carol@remote.org>alice@example.org")
	w.r.Outbound(ctx, "alice", C, "subscribed")
	want(t, "approval out", w.h.routed,
		"subscribed alice@example.org>carol@remote.org",
		"available alice@example.org/a>carol@remote.org")
	if g := w.sub("alice", C); g != "both false false" {
		t.Errorf("after approving: %q", g)
	}

	reset(alice)
	w.h.routed = nil
	w.r.Inbound(ctx, C, "alice@"+dom, "unsubscribe")
	want(t, "unsubscribe in", alice.got, "unsubscribe carol@remote.org>alice@example.org")
	want(t, "unavailable out", w.h.routed, "unavailable alice@example.org/a>carol@remote.org")
	if g := w.sub("alice", C); g != "to false false" {
		t.Errorf("after unsubscribe: %q", g)
	}
}

// §3.1.3: a request to an unknown or a locked account is refused on its
// behalf; one from a JID the contact blocked is dropped.
func TestSubscriptionRefused(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice := w.session("alice", "a", true)
	bob := w.session("bob", "b", true)
	w.h.locked["dave"] = true
	w.h.blocked["bob alice@"+dom] = true

	w.r.Outbound(ctx, "alice", "nobody@"+dom, "subscribe")
	w.r.Outbound(ctx, "alice", "dave@"+dom, "subscribe")
	want(t, "alice", alice.got,
		"unsubscribed nobody@example.org>alice@example.org",
		"unsubscribed dave@example.org>alice@example.org")
	if g := w.sub("dave", "alice@"+dom); g != "-" {
		t.Errorf("locked account's roster changed: %q", g)
	}
	w.r.Inbound(ctx, "carol@remote.org", "dave@"+dom, "subscribe")
	want(t, "to remote", w.h.routed, "unsubscribed dave@example.org>carol@remote.org")

	w.r.Outbound(ctx, "alice", "bob@"+dom, "subscribe")
	want(t, "bob (blocked alice)", bob.got)
	if g := w.sub("bob", "alice@"+dom); g != "-" {
		t.Errorf("blocking account's roster changed: %q", g)
	}
}

// RFC 6121 §2.5.2: removing an item cancels both subscriptions.
func TestRosterRemoved(t *testing.T) {
	w := newWorld(t)
	w.item("alice", "bob@"+dom, store.SubBoth, false, false)
	w.item("bob", "alice@"+dom, store.SubBoth, false, false)
	w.session("alice", "a", true)
	bob := w.session("bob", "b", true)
	w.r.RosterRemoved(context.Background(), "alice", "bob@"+dom, store.RosterItem{JID: "bob@" + dom, Sub: store.SubBoth})
	want(t, "bob", bob.got,
		"unsubscribe alice@example.org>bob@example.org",
		"unavailable alice@example.org/a>bob@example.org",
		"unsubscribed alice@example.org>bob@example.org")
	if g := w.sub("bob", "alice@"+dom); g != "none false false" {
		t.Errorf("bob's item %q", g)
	}
}

// RFC 6121 §4.3.2: a remote contact's probe is answered with what its
// subscription allows, and nothing at all when the user blocked it.
func TestRemoteProbe(t *testing.T) {
	cases := []struct {
		name    string
		sub     store.Subscription
		item    bool
		avail   bool
		blocked bool
		want    []string
	}{
		{"subscribed, available", store.SubFrom, true, true, false, []string{"available alice@example.org/a>carol@remote.org/c"}},
		{"subscribed, offline", store.SubBoth, true, false, false, []string{"unavailable alice@example.org>carol@remote.org/c"}},
		{"not subscribed", store.SubTo, true, true, false, []string{"unsubscribed alice@example.org>carol@remote.org"}},
		{"no item", 0, false, true, false, nil},
		{"blocked", store.SubFrom, true, true, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			if c.item {
				w.item("alice", "carol@remote.org", c.sub, false, false)
			}
			w.session("alice", "a", c.avail)
			w.h.blocked["alice carol@remote.org"] = c.blocked
			w.r.RemoteProbe(context.Background(),
				JID{Local: "carol", Domain: "remote.org", Resource: "c"}, JID{Local: "alice", Domain: dom})
			want(t, "routed", w.h.routed, c.want...)
		})
	}
}

// benchWorld is a user with ten subscribed local contacts (one session
// each) and two own sessions.
func benchWorld(b *testing.B) (*store.DB, *fakeHost, *sess, *wire.Element) {
	db := storetest.Open(b)
	h := &fakeHost{sessions: map[string][]*sess{}, blocked: map[string]bool{}, locked: map[string]bool{}}
	storetest.User(b, db, "alice")
	for i := range 10 {
		u := fmt.Sprintf("c%d", i)
		storetest.User(b, db, u)
		db.UpdateRosterItem(context.Background(), "alice", u+"@"+dom, func(it *store.RosterItem, _ bool) (bool, error) {
			it.Sub = store.SubFrom
			return true, nil
		})
		h.sessions[u] = []*sess{{user: u, res: "r", avail: true}}
	}
	me := &sess{user: "alice", res: "a", avail: true}
	h.sessions["alice"] = []*sess{me, {user: "alice", res: "b", avail: true}}
	return db, h, me, wire.New(wire.NSClient, "presence", "from", "alice@"+dom+"/a")
}

func (h *fakeHost) clear() {
	for _, ss := range h.sessions {
		for _, s := range ss {
			s.got = s.got[:0]
		}
	}
}

// BenchmarkPresenceBroadcast is one available presence of a user with
// ten subscribed local contacts and two own sessions, through Rules and
// the Host interface.
func BenchmarkPresenceBroadcast(b *testing.B) {
	db, h, me, p := benchWorld(b)
	r := New[*sess](dom, db, h, zerolog.Nop())
	b.ReportAllocs()
	for b.Loop() {
		r.Broadcast(context.Background(), "alice", me, p)
		h.clear()
	}
}

// BenchmarkPresenceBroadcastInline is the same broadcast written directly
// over the concrete types, as c2s did before this package: the
// difference to BenchmarkPresenceBroadcast is the cost of the Host
// indirection (no allocations).
func BenchmarkPresenceBroadcastInline(b *testing.B) {
	db, h, me, el := benchWorld(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, items, _ := db.Roster(ctx, "alice")
		for i := range items {
			it := &items[i]
			if (it.Sub == store.SubFrom || it.Sub == store.SubBoth) && !h.blocked["alice "+it.JID] {
				c := el.Copy()
				c.Set("to", it.JID)
				local, _, _ := strings.Cut(it.JID, "@")
				if from := c.Get("from"); from != "" && h.blocked[local+" "+from] {
					continue
				}
				for _, t := range h.sessions[local] {
					if t.avail {
						t.got = append(t.got, c)
					}
				}
			}
		}
		for _, t := range h.sessions["alice"] {
			if t.avail || t == me {
				c := el.Copy()
				c.Set("to", t.user+"@"+dom+"/"+t.res)
				t.got = append(t.got, c)
			}
		}
		h.clear()
	}
}

// XEP-0191 §3.3, §3.4: a newly blocked local contact gets unavailable
// presence (bare: its available sessions; full: that one), an unblocked
// subscriber the current presence again; others nothing.
func TestBlocklistChanged(t *testing.T) {
	w := newWorld(t)
	w.item("alice", "dave@"+dom, store.SubFrom, false, false)
	w.session("alice", "a", true)
	w.session("alice", "idle", false)
	bob := w.session("bob", "b", true)
	bobOff := w.session("bob", "off", false)
	frank := w.session("frank", "f", true)
	frank2 := w.session("frank", "g", true)
	dave := w.session("dave", "d", true)
	erin := w.session("erin", "e", true)
	w.r.BlocklistChanged("alice", []string{"bob@" + dom, "frank@" + dom + "/g", "carol@remote.org"},
		[]string{"dave@" + dom, "erin@" + dom})
	want(t, "bob", bob.got, "unavailable alice@example.org/a>bob@example.org")
	want(t, "bob offline", bobOff.got)
	want(t, "frank/f", frank.got)
	want(t, "frank/g", frank2.got, "unavailable alice@example.org/a>frank@example.org/g")
	want(t, "dave (subscribed)", dave.got, "available alice@example.org/a>dave@example.org")
	want(t, "erin (not subscribed)", erin.got)
	want(t, "routed", w.h.routed)
}
