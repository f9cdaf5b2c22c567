package mux_test

import (
	"context"
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
