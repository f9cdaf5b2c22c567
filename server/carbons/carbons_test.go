package carbons_test

import (
	"context"
	"slices"
	"testing"

	"chatbx/server/carbons"
	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/mux"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// TestEnableDisable: the IQs switch the session's flag through the
// registry (XEP-0280 §4); anything else is a bad request.
func TestEnableDisable(t *testing.T) {
	r := mux.New()
	carbons.Register(r)
	for _, tc := range []struct {
		name, in string
		want     string // result type
		flag     []bool // marks made
	}{
		{"enable", `<iq type='set' id='1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`, "result", []bool{true}},
		{"disable", `<iq type='set' id='2'><disable xmlns='urn:xmpp:carbons:2'/></iq>`, "result", []bool{false}},
		{"get", `<iq type='get' id='3'><enable xmlns='urn:xmpp:carbons:2'/></iq>`, "error", nil},
		{"other element", `<iq type='set' id='4'><private xmlns='urn:xmpp:carbons:2'/></iq>`, "error", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := xmpptest.Parse(t, tc.in)
			rt, ok := r.Lookup(carbons.NS, el.FirstChild().Local)
			if !ok {
				t.Fatal("carbons namespace not registered")
			}
			var marks []bool
			c := iq.Context{User: "alice", Domain: "example.test", Mark: func(f iq.Flag, on bool) {
				if f == iq.FlagCarbons {
					marks = append(marks, on)
				}
			}}
			out := rt.Handler(context.Background(), c, el)
			if out.Get("type") != tc.want || out.Get("id") != el.Get("id") || !slices.Equal(marks, tc.flag) {
				t.Errorf("%s = %s, marks %v; want %s, marks %v", tc.in, xmpptest.String(out), marks, tc.want, tc.flag)
			}
		})
	}
	if f := r.Disco(disco.Config{}).Features; !slices.Contains(f, carbons.NS) {
		t.Errorf("features %v lack %s", f, carbons.NS)
	}
}

func TestEligible(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`<message type='chat'/>`, true},
		{`<message type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>`, false},
		{`<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>`, false},
		{`<message><body>x</body></message>`, true},
		{`<message type='normal'/>`, false},
		{`<message type='groupchat'><body>x</body></message>`, false},
		{`<message type='headline'><body>x</body></message>`, false},
		{`<message type='error'><body>x</body></message>`, false},
	} {
		if got := carbons.Eligible(xmpptest.Parse(t, tc.in)); got != tc.want {
			t.Errorf("Eligible(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestHook: the registered copy hook selects eligible messages, strips
// <private/> from what is routed, and wraps sent and received copies
// (XEP-0280 §5, §6, §7).
func TestHook(t *testing.T) {
	r := mux.New()
	carbons.Register(r)
	hooks := r.CopyHooks()
	if len(hooks) != 1 || hooks[0].Flag != iq.FlagCarbons || hooks[0].Order != mux.OrderCarbons {
		t.Fatalf("copy hooks = %+v", hooks)
	}
	msg := xmpptest.Parse(t, `<message type='chat' to='bob@example.test'><body>hi</body></message>`)
	if r.WantCopies(msg) != 1 {
		t.Error("an eligible message is not copied")
	}
	if out := r.PrepareCopies(msg); out != msg {
		t.Error("a message without <private/> was copied")
	}
	private := xmpptest.Parse(t, `<message type='chat'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/></message>`)
	if r.WantCopies(private) != 0 {
		t.Error("a private message is copied")
	}
	if out := r.PrepareCopies(private); out.Child(carbons.NS, "private") != nil || private.Child(carbons.NS, "private") == nil {
		t.Errorf("PrepareCopies = %s, want the marker removed from a copy", xmpptest.String(out))
	}
	for _, tc := range []struct {
		dir  mux.Direction
		kind string
	}{{mux.Outgoing, "sent"}, {mux.Incoming, "received"}} {
		c := hooks[0].Copy(tc.dir, "alice@example.test", "alice@example.test/tablet", msg)
		w := c.Child(carbons.NS, tc.kind)
		if c.Get("from") != "alice@example.test" || c.Get("to") != "alice@example.test/tablet" || c.Get("type") != "chat" ||
			w == nil || w.Child("urn:xmpp:forward:0", "forwarded").Child(wire.NSClient, "message") != msg {
			t.Errorf("Copy(%v) = %s", tc.dir, xmpptest.String(c))
		}
	}
}
