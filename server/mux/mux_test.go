package mux_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/wire"
)

func answer(name string) iq.Handler {
	return func(_ context.Context, _ iq.Context, el *wire.Element) *wire.Element {
		return iq.Result(el, wire.New("urn:test", name))
	}
}

func TestIQRoutes(t *testing.T) {
	r := mux.New()
	r.Namespace("urn:a", mux.Route{Handler: answer("ns")})
	r.IQ("urn:a", "special", mux.Route{Handler: answer("special"), Targets: mux.Server | mux.Others})
	for _, tc := range []struct {
		space, local string
		found        bool
		want         string
	}{
		{"urn:a", "query", true, "ns"},
		{"urn:a", "special", true, "special"},
		{"urn:b", "query", false, ""},
	} {
		rt, ok := r.Lookup(tc.space, tc.local)
		if ok != tc.found {
			t.Fatalf("Lookup(%s, %s) found = %v", tc.space, tc.local, ok)
		}
		if !ok {
			continue
		}
		got := rt.Handler(context.Background(), iq.Context{}, wire.New(wire.NSClient, "iq")).FirstChild().Local
		if got != tc.want {
			t.Errorf("Lookup(%s, %s) ran %q, want %q", tc.space, tc.local, got, tc.want)
		}
	}
	def, _ := r.Lookup("urn:a", "query")
	special, _ := r.Lookup("urn:a", "special")
	for _, tc := range []struct {
		name   string
		route  mux.Route
		target mux.Target
		typ    string
		want   bool
	}{
		{"default answers the server", def, mux.Server, "get", true},
		{"default answers the own bare JID", def, mux.Self, "set", true},
		{"default refuses others", def, mux.Others, "get", false},
		{"others: get only", special, mux.Others, "get", true},
		{"others: never set", special, mux.Others, "set", false},
		{"no self unless listed", special, mux.Self, "get", false},
	} {
		if got := tc.route.Allowed(tc.target, tc.typ); got != tc.want {
			t.Errorf("%s: Allowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCommandsByNode(t *testing.T) {
	r := mux.New()
	r.Command(mux.Command{Item: disco.Item{Node: "b", Name: "B"}, Handler: answer("b")})
	r.Command(mux.Command{Item: disco.Item{Node: "a", Name: "A"}, Handler: answer("a")})
	rt, ok := r.Lookup(disco.NSCommands, "command")
	if !ok {
		t.Fatal("commands namespace not registered")
	}
	run := func(node string) *wire.Element {
		el := wire.New(wire.NSClient, "iq", "type", "set", "id", "1").Add(wire.New(disco.NSCommands, "command", "node", node))
		return rt.Handler(context.Background(), iq.Context{}, el)
	}
	if got := run("a").FirstChild().Local; got != "a" {
		t.Errorf("node a ran %q", got)
	}
	if e := run("zzz"); e.Get("type") != "error" || e.Child(wire.NSClient, "error").Child(wire.NSStanzas, "item-not-found") == nil {
		t.Errorf("unknown node: %s", e)
	}
	var nodes []string
	for _, it := range r.Disco(disco.Config{}).Commands {
		nodes = append(nodes, it.Node)
	}
	if !slices.Equal(nodes, []string{"b", "a"}) {
		t.Errorf("disco commands = %v, want registration order", nodes)
	}
}

// TestMessageHooks: hooks run in order, only for messages they want.
func TestMessageHooks(t *testing.T) {
	r := mux.New()
	var ran []string
	hook := func(name string, order int, wants func(*wire.Element) bool) mux.MessageHook {
		return mux.MessageHook{Name: name, Order: order, Wants: wants,
			Run: func(_ context.Context, owner string, dir mux.Direction, el *wire.Element) *wire.Element {
				ran = append(ran, name)
				return el.Copy().Add(wire.New("urn:test", name))
			}}
	}
	r.Message(hook("late", 200, nil))
	r.Message(hook("early", 10, nil))
	r.Message(hook("bodies", 100, func(el *wire.Element) bool { return el.Child(wire.NSClient, "body") != nil }))

	plain := wire.New(wire.NSClient, "message")
	out := r.RunMessage(context.Background(), "alice", mux.Incoming, plain)
	if !slices.Equal(ran, []string{"early", "late"}) || len(out.Elements()) != 2 {
		t.Errorf("without body: ran %v, got %s", ran, out)
	}
	ran = nil
	r.RunMessage(context.Background(), "alice", mux.Outgoing, wire.New(wire.NSClient, "message").Add(wire.New(wire.NSClient, "body")))
	if !slices.Equal(ran, []string{"early", "bodies", "late"}) {
		t.Errorf("with body: ran %v", ran)
	}
}

func TestDiscoContributions(t *testing.T) {
	r := mux.New()
	r.Feature("urn:b", "urn:a")
	r.Feature("urn:a")
	r.AccountFeature("urn:pep")
	r.Identity(disco.Identity{Category: "store", Type: "file", Name: "upload"})
	c := r.Disco(disco.Config{Features: []string{"urn:c"}})
	if !slices.Equal(c.Features, []string{"urn:a", "urn:b", "urn:c"}) {
		t.Errorf("features = %v", c.Features)
	}
	if !slices.Equal(c.AccountFeatures, []string{"urn:pep"}) || len(c.Identities) != 1 {
		t.Errorf("account features %v, identities %v", c.AccountFeatures, c.Identities)
	}
}

// TestMessageHookConsumes: a hook that returns nil ends the chain.
func TestMessageHookConsumes(t *testing.T) {
	r := mux.New()
	var ran []string
	r.Message(mux.MessageHook{Name: "after", Order: mux.OrderArchive, Run: func(_ context.Context, _ string, _ mux.Direction, el *wire.Element) *wire.Element {
		ran = append(ran, "after")
		return el
	}})
	r.Message(mux.MessageHook{Name: "gate", Order: mux.OrderBlocking, Run: func(_ context.Context, owner string, _ mux.Direction, el *wire.Element) *wire.Element {
		ran = append(ran, "gate")
		if owner == "mallory" {
			return nil
		}
		return el
	}})
	msg := wire.New(wire.NSClient, "message")
	if out := r.RunMessage(context.Background(), "mallory", mux.Incoming, msg); out != nil || !slices.Equal(ran, []string{"gate"}) {
		t.Errorf("consumed: got %v, ran %v, want nil after gate only", out, ran)
	}
	ran = nil
	if out := r.RunMessage(context.Background(), "alice", mux.Incoming, msg); out != msg || !slices.Equal(ran, []string{"gate", "after"}) {
		t.Errorf("passed: got %v, ran %v", out, ran)
	}
}

// TestCopyHooks: copy hooks are ordered, selected by Wants as a bit set,
// and Prepare runs over a sent message in order.
func TestCopyHooks(t *testing.T) {
	r := mux.New()
	mark := func(name string) func(*wire.Element) *wire.Element {
		return func(el *wire.Element) *wire.Element { return el.Copy().Add(wire.New("urn:test", name)) }
	}
	r.Copy(mux.CopyHook{Name: "b", Order: 20, Prepare: mark("b")})
	r.Copy(mux.CopyHook{Name: "a", Order: 10, Prepare: mark("a"),
		Wants: func(el *wire.Element) bool { return el.Child(wire.NSClient, "body") != nil }})
	var names []string
	for _, h := range r.CopyHooks() {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("CopyHooks = %v, want [a b]", names)
	}
	plain := wire.New(wire.NSClient, "message")
	if got := r.WantCopies(plain); got != 0b10 {
		t.Errorf("WantCopies(no body) = %b, want 10", got)
	}
	if got := r.WantCopies(wire.New(wire.NSClient, "message").Add(wire.New(wire.NSClient, "body"))); got != 0b11 {
		t.Errorf("WantCopies(body) = %b, want 11", got)
	}
	out := r.PrepareCopies(plain)
	if len(plain.Elements()) != 0 || len(out.Elements()) != 2 || out.Elements()[0].Local != "a" {
		t.Errorf("PrepareCopies = %s (input %s), want a then b, input unchanged", out, plain)
	}
}

// TestUndeliveredHooks: the first hook that takes a message or fails
// ends the round.
func TestUndeliveredHooks(t *testing.T) {
	r := mux.New()
	msg := wire.New(wire.NSClient, "message")
	if taken, err := r.RunUndelivered(context.Background(), "alice", msg); taken || err != nil {
		t.Errorf("no hooks: %v, %v", taken, err)
	}
	var ran []string
	hook := func(name string, order int, taken bool, err error) mux.UndeliveredHook {
		return mux.UndeliveredHook{Name: name, Order: order, Run: func(context.Context, string, *wire.Element) (bool, error) {
			ran = append(ran, name)
			return taken, err
		}}
	}
	r.Undelivered(hook("never", 900, true, nil))
	h := hook("unwanted", 0, true, nil)
	h.Wants = func(*wire.Element) bool { return false }
	r.Undelivered(h)
	if !r.WantsUndelivered(msg) || len(r.UndeliveredHooks()) != 2 || r.UndeliveredHooks()[0].Name != "unwanted" {
		t.Errorf("WantsUndelivered = %v, hooks %d", r.WantsUndelivered(msg), len(r.UndeliveredHooks()))
	}
	r.Undelivered(hook("store", mux.OrderOffline, true, nil))
	r.Undelivered(hook("pass", 1, false, nil))
	if taken, err := r.RunUndelivered(context.Background(), "alice", msg); !taken || err != nil || !slices.Equal(ran, []string{"pass", "store"}) {
		t.Errorf("RunUndelivered = %v, %v, ran %v; want taken by store", taken, err, ran)
	}
	boom := errors.New("full")
	r.Undelivered(hook("fails", 2, false, boom))
	ran = nil
	if taken, err := r.RunUndelivered(context.Background(), "alice", msg); taken || err != boom || !slices.Equal(ran, []string{"pass", "fails"}) {
		t.Errorf("RunUndelivered = %v, %v, ran %v; want the error", taken, err, ran)
	}
}

// TestRunMessageAllocs: running hooks that pass a message allocates
// nothing of the registry's own (the routing hot path).
func TestRunMessageAllocs(t *testing.T) {
	r := mux.New()
	pass := func(_ context.Context, _ string, _ mux.Direction, el *wire.Element) *wire.Element { return el }
	r.Message(mux.MessageHook{Name: "a", Order: 1, Run: pass})
	r.Message(mux.MessageHook{Name: "b", Order: 2, Run: pass, Wants: func(*wire.Element) bool { return false }})
	r.Copy(mux.CopyHook{Name: "c", Wants: func(*wire.Element) bool { return true }})
	msg := wire.New(wire.NSClient, "message")
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		r.RunMessage(ctx, "alice", mux.Incoming, msg)
		r.WantCopies(msg)
		r.PrepareCopies(msg)
	}); n != 0 {
		t.Errorf("allocs per message = %v, want 0", n)
	}
}

// TestPresenceHooks: presence hooks run in order, may change a copy, and
// a nil ends the chain.
func TestPresenceHooks(t *testing.T) {
	r := mux.New()
	var ran []string
	r.Presence(mux.PresenceHook{Name: "gate", Order: 200, Run: func(_ context.Context, owner string, el *wire.Element) *wire.Element {
		ran = append(ran, "gate")
		if owner == "mallory" {
			return nil
		}
		return el
	}})
	r.Presence(mux.PresenceHook{Name: "hash", Order: mux.OrderAvatar, Run: func(_ context.Context, _ string, el *wire.Element) *wire.Element {
		ran = append(ran, "hash")
		return el.Copy().Add(wire.New("vcard-temp:x:update", "x"))
	}})
	p := wire.New(wire.NSClient, "presence")
	out := r.RunPresence(context.Background(), "alice", p)
	if !slices.Equal(ran, []string{"hash", "gate"}) || out == p || len(out.Elements()) != 1 || len(p.Elements()) != 0 {
		t.Errorf("ran %v, got %s from %s", ran, out, p)
	}
	if out := r.RunPresence(context.Background(), "mallory", p); out != nil {
		t.Errorf("consumed presence = %s, want nil", out)
	}
}
