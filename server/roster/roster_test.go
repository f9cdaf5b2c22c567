package roster_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/roster"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

// removed records roster.Presence calls.
type removed struct{ calls []string }

func (r *removed) RosterRemoved(_ context.Context, user, contact string, before store.RosterItem) {
	r.calls = append(r.calls, user+" "+contact+" "+before.Sub.String())
}

// env is a registry with the roster handler over a real store, and what
// the handler pushed and marked for the requesting session.
type env struct {
	reg      *mux.Registry
	db       *store.DB
	presence *removed
	pushes   []*wire.Element
	marked   bool
}

func newEnv(t *testing.T, lim store.Limits) *env {
	t.Helper()
	db := storetest.OpenLimits(t, filepath.Join(t.TempDir(), "chatbx.db"), lim)
	storetest.User(t, db, "alice")
	e := &env{reg: mux.New(), db: db, presence: &removed{}}
	roster.New(db, e.presence).Register(e.reg)
	return e
}

// iq runs one IQ from alice through the registry, as c2s does.
func (e *env) iq(t *testing.T, s string) *wire.Element {
	t.Helper()
	el := xmpptest.Parse(t, s)
	q := el.FirstChild()
	rt, ok := e.reg.Lookup(q.Space, q.Local)
	if !ok {
		t.Fatalf("no route for {%s}%s", q.Space, q.Local)
	}
	c := iq.Context{User: "alice", Domain: "example.test", From: "alice@example.test/phone",
		Push: func(p *wire.Element) { e.pushes = append(e.pushes, p) },
		Mark: func(f iq.Flag, on bool) { e.marked = e.marked || (f == iq.FlagRoster && on) }}
	return rt.Handler(context.Background(), c, el)
}

func condition(el *wire.Element) string {
	if el.Get("type") != "error" {
		return ""
	}
	for _, c := range el.Child(wire.NSClient, "error").Elements() {
		if c.Space == wire.NSStanzas {
			return c.Local
		}
	}
	return "?"
}

func TestGetSetPush(t *testing.T) {
	e := newEnv(t, store.Limits{})
	r := e.iq(t, `<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`)
	if r.Get("type") != "result" || r.FirstChild().Get("ver") != "0" || !e.marked {
		t.Fatalf("get empty = %s (marked %v), want ver 0 and roster pushes on", xmpptest.String(r), e.marked)
	}
	r = e.iq(t, `<iq type='set' id='2'><query xmlns='jabber:iq:roster'><item jid='Bob@Example.Test' name='Bob'><group>a</group><group>a</group></item></query></iq>`)
	if r.Get("type") != "result" || len(e.pushes) != 1 {
		t.Fatalf("set = %s, pushes %d", xmpptest.String(r), len(e.pushes))
	}
	item := e.pushes[0].FirstChild().FirstChild()
	if item.Get("jid") != "bob@example.test" || item.Get("subscription") != "none" || len(item.Elements()) != 1 {
		t.Errorf("push item = %s, want normalised jid and one group", xmpptest.String(item))
	}
	ver := e.pushes[0].FirstChild().Get("ver")
	// Versioning (RFC 6121 §2.6): the current version gets an empty result.
	r = e.iq(t, `<iq type='get' id='3'><query xmlns='jabber:iq:roster' ver='`+ver+`'/></iq>`)
	if r.Get("type") != "result" || r.FirstChild() != nil {
		t.Errorf("get at current version = %s, want empty result", xmpptest.String(r))
	}
	r = e.iq(t, `<iq type='get' id='4'><query xmlns='jabber:iq:roster' ver='0'/></iq>`)
	if q := r.FirstChild(); q == nil || len(q.Elements()) != 1 || q.Get("ver") != ver {
		t.Errorf("get at old version = %s, want the roster", xmpptest.String(r))
	}
}

func TestSetRefused(t *testing.T) {
	e := newEnv(t, store.Limits{RosterItems: 1})
	groups := strings.Repeat("<group>g</group>", 2)
	for i := range roster.MaxGroups + 1 {
		groups += "<group>" + strings.Repeat("x", i+1) + "</group>"
	}
	for _, tc := range []struct{ name, item, want string }{
		{"two items", `<item jid='a@b'/><item jid='c@d'/>`, "bad-request"},
		{"full JID", `<item jid='bob@example.test/res'/>`, "bad-request"},
		{"bad JID", `<item jid='@@'/>`, "bad-request"},
		{"self", `<item jid='alice@example.test'/>`, "not-allowed"},
		{"empty group", `<item jid='bob@example.test'><group/></item>`, "not-acceptable"},
		{"long name", `<item jid='bob@example.test' name='` + strings.Repeat("n", roster.MaxName+1) + `'/>`, "not-acceptable"},
		{"many groups", `<item jid='bob@example.test'>` + groups + `</item>`, "not-acceptable"},
		{"remove unknown", `<item jid='nobody@example.test' subscription='remove'/>`, "item-not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.iq(t, `<iq type='set' id='x'><query xmlns='jabber:iq:roster'>`+tc.item+`</query></iq>`)
			if got := condition(r); got != tc.want {
				t.Errorf("set %s = %s, want %s", tc.item, xmpptest.String(r), tc.want)
			}
		})
	}
	// The per-user cap (store.Limits.RosterItems) holds.
	if r := e.iq(t, `<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='one@example.test'/></query></iq>`); r.Get("type") != "result" {
		t.Fatalf("first item: %s", xmpptest.String(r))
	}
	if r := e.iq(t, `<iq type='set' id='2'><query xmlns='jabber:iq:roster'><item jid='two@example.test'/></query></iq>`); condition(r) != "policy-violation" {
		t.Errorf("item over the cap = %s, want policy-violation", xmpptest.String(r))
	}
}

// TestRemove: removal pushes subscription='remove' and hands the old
// item to the presence side (RFC 6121 §2.5.2).
func TestRemove(t *testing.T) {
	e := newEnv(t, store.Limits{})
	e.iq(t, `<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='bob@example.test'/></query></iq>`)
	e.pushes = nil
	r := e.iq(t, `<iq type='set' id='2'><query xmlns='jabber:iq:roster'><item jid='bob@example.test' subscription='remove'/></query></iq>`)
	if r.Get("type") != "result" || len(e.pushes) != 1 || e.pushes[0].FirstChild().FirstChild().Get("subscription") != "remove" {
		t.Fatalf("remove = %s, pushes %v", xmpptest.String(r), e.pushes)
	}
	if len(e.presence.calls) != 1 || e.presence.calls[0] != "alice bob@example.test none" {
		t.Errorf("presence calls = %q", e.presence.calls)
	}
}

// TestHiddenItems: an item that only records a subscription request is
// neither listed nor pushed (RFC 6121 §3.1.3).
func TestHiddenItems(t *testing.T) {
	hidden := store.RosterItem{JID: "eve@example.test", PendingIn: true}
	if !roster.Hidden(&hidden) || roster.Push(1, &hidden, false) != nil {
		t.Error("a pending request is shown")
	}
	if p := roster.Push(2, &hidden, true); p == nil || p.Get("type") != "set" || !strings.HasPrefix(p.Get("id"), "push-") {
		t.Errorf("removal push = %v", p)
	}
	e := newEnv(t, store.Limits{})
	if _, _, err := e.db.UpdateRosterItem(context.Background(), "alice", hidden.JID, func(it *store.RosterItem, _ bool) (bool, error) {
		it.PendingIn = true
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	r := e.iq(t, `<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`)
	if len(r.FirstChild().Elements()) != 0 {
		t.Errorf("roster with a pending request = %s, want no items", xmpptest.String(r))
	}
}

// TestRegistered: the route refuses other accounts' rosters with
// forbidden, and the features are contributed to disco.
func TestRegistered(t *testing.T) {
	e := newEnv(t, store.Limits{})
	rt, ok := e.reg.Lookup(roster.NS, "query")
	if !ok || rt.Allowed(mux.Others, "get") || rt.Refuse != "forbidden" {
		t.Errorf("route = %+v, %v", rt, ok)
	}
	feats := e.reg.Disco(disco.Config{}).Features
	for _, f := range roster.Features {
		if !slices.Contains(feats, f) {
			t.Errorf("disco features %v lack %s", feats, f)
		}
	}
	var _ roster.Presence = (*removed)(nil)
	var _ roster.Store = (*store.DB)(nil)
}
