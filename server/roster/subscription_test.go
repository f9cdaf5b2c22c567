package roster_test

import (
	"testing"

	"chatbx/server/roster"
	"chatbx/store"
)

// state is a compact roster item state: subscription plus the
// pending-out (ask), pending-in and pre-approved flags (RFC 6121 A.1).
type state struct {
	sub                 store.Subscription
	ask, pendIn, preApp bool
}

func (s state) item() store.RosterItem {
	return store.RosterItem{JID: "c@example.test", Sub: s.sub, AskOut: s.ask, PendingIn: s.pendIn, PreApproved: s.preApp}
}

func stateOf(it store.RosterItem) state {
	return state{it.Sub, it.AskOut, it.PendingIn, it.PreApproved}
}

// TestOutbound follows RFC 6121 A.2 (the user's server, stanzas the user
// sends) and §3.4 pre-approval.
func TestOutbound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		typ    string
		from   state
		want   state
		routed bool
	}{
		{"subscribe from none", "subscribe", state{}, state{ask: true}, true},
		{"subscribe when subscribed", "subscribe", state{sub: store.SubTo}, state{sub: store.SubTo}, true},
		{"approve a request", "subscribed", state{pendIn: true}, state{sub: store.SubFrom}, true},
		{"approve a request, to", "subscribed", state{sub: store.SubTo, pendIn: true}, state{sub: store.SubBoth}, true},
		{"approve again", "subscribed", state{sub: store.SubFrom}, state{sub: store.SubFrom}, false},
		{"pre-approve", "subscribed", state{}, state{preApp: true}, false},
		{"unsubscribe", "unsubscribe", state{sub: store.SubBoth}, state{sub: store.SubFrom}, true},
		{"unsubscribe pending", "unsubscribe", state{ask: true}, state{}, true},
		{"cancel", "unsubscribed", state{sub: store.SubBoth}, state{sub: store.SubTo}, true},
		{"deny a request", "unsubscribed", state{pendIn: true}, state{}, true},
		{"withdraw pre-approval", "unsubscribed", state{preApp: true}, state{}, true},
		{"cancel nothing", "unsubscribed", state{}, state{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.from.item()
			keep, routed := roster.Outbound(&it, true, tc.typ)
			if got := stateOf(it); got != tc.want || routed != tc.routed || !keep {
				t.Errorf("Outbound(%+v, %s) = %+v routed %v keep %v; want %+v routed %v", tc.from, tc.typ, got, routed, keep, tc.want, tc.routed)
			}
		})
	}
	// A new item is stored only if it records something.
	it := store.RosterItem{}
	if keep, _ := roster.Outbound(&it, false, "unsubscribe"); keep {
		t.Error("an unsubscribe about a stranger stores an item")
	}
	if keep, _ := roster.Outbound(&it, false, "subscribe"); !keep {
		t.Error("a subscribe to a stranger stores no item")
	}
}

// TestInbound follows RFC 6121 A.3 (the contact's server, stanzas it
// receives) and §3.4 pre-approval.
func TestInbound(t *testing.T) {
	for _, tc := range []struct {
		name      string
		typ       string
		from      state
		want      state
		delivered bool
		reply     string
	}{
		{"request", "subscribe", state{}, state{pendIn: true}, true, ""},
		{"request, already from", "subscribe", state{sub: store.SubFrom}, state{sub: store.SubFrom}, false, "subscribed"},
		{"request, pre-approved", "subscribe", state{preApp: true}, state{sub: store.SubFrom}, false, "subscribed"},
		{"approval", "subscribed", state{ask: true}, state{sub: store.SubTo}, true, ""},
		{"approval, from", "subscribed", state{sub: store.SubFrom, ask: true}, state{sub: store.SubBoth}, true, ""},
		{"approval not asked for", "subscribed", state{}, state{}, false, ""},
		{"unsubscribe", "unsubscribe", state{sub: store.SubBoth}, state{sub: store.SubTo}, true, ""},
		{"unsubscribe a request", "unsubscribe", state{pendIn: true}, state{}, true, ""},
		{"unsubscribe nothing", "unsubscribe", state{}, state{}, false, ""},
		{"cancelled", "unsubscribed", state{sub: store.SubBoth}, state{sub: store.SubFrom}, true, ""},
		{"denied", "unsubscribed", state{ask: true}, state{}, true, ""},
		{"cancelled nothing", "unsubscribed", state{}, state{}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.from.item()
			keep, delivered, reply := roster.Inbound(&it, true, tc.typ)
			if got := stateOf(it); got != tc.want || delivered != tc.delivered || reply != tc.reply || !keep {
				t.Errorf("Inbound(%+v, %s) = %+v delivered %v reply %q; want %+v %v %q", tc.from, tc.typ, got, delivered, reply, tc.want, tc.delivered, tc.reply)
			}
		})
	}
	it := store.RosterItem{}
	if keep, _, _ := roster.Inbound(&it, false, "subscribe"); !keep {
		t.Error("a request from a stranger is not kept (RFC 6121 §3.1.3)")
	}
	before, after := store.RosterItem{}, store.RosterItem{PendingIn: true}
	if !roster.Changed(&before, &after) || roster.Changed(&before, &before) {
		t.Error("Changed")
	}
}
