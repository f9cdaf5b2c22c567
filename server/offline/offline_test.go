package offline_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/disco"
	"chatbx/server/mux"
	"chatbx/server/offline"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

var at = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	reg    *mux.Registry
	db     *store.DB
	stored []string
}

func newEnv(t *testing.T, max int) *env {
	t.Helper()
	db := storetest.OpenLimits(t, filepath.Join(t.TempDir(), "chatbx.db"), store.Limits{})
	storetest.User(t, db, "bob")
	e := &env{reg: mux.New(), db: db}
	offline.New(db, offline.Config{Domain: "example.test", Max: max, Now: func() time.Time { return at }, Log: zerolog.Nop(),
		Stored: func(user string, el *wire.Element) { e.stored = append(e.stored, user+" "+el.Get("id")) }}).Register(e.reg)
	return e
}

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`<message type='chat'><body>x</body></message>`, true},
		{`<message><subject>x</subject></message>`, true},
		{`<message type='normal'><store xmlns='urn:xmpp:hints'/></message>`, true},
		{`<message type='chat'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, true},
		{`<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`, false},
		{`<message type='headline'><body>x</body></message>`, false},
		{`<message type='groupchat'><body>x</body></message>`, false},
		{`<message type='error'><body>x</body></message>`, false},
		{`<presence><body>x</body></presence>`, false},
	} {
		if got := offline.Wanted(xmpptest.Parse(t, tc.in)); got != tc.want {
			t.Errorf("Wanted(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestStore: the hook keeps a message with bare JIDs, runs Stored, and
// reports the store's refusals (unknown user, full queue).
func TestStore(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	msg := xmpptest.Parse(t, `<message type='chat' id='m1' from='alice@example.test/phone' to='bob@example.test/laptop'><body>hi</body></message>`)
	if !e.reg.WantsUndelivered(msg) {
		t.Fatal("the hook does not want a chat message")
	}
	if taken, err := e.reg.RunUndelivered(ctx, "bob", msg); !taken || err != nil {
		t.Fatalf("RunUndelivered = %v, %v", taken, err)
	}
	if !slices.Equal(e.stored, []string{"bob m1"}) {
		t.Errorf("Stored calls = %q", e.stored)
	}
	page, err := e.db.OfflinePage(ctx, "bob", 0, 10, 1<<20)
	if err != nil || len(page) != 1 {
		t.Fatalf("OfflinePage = %v, %v", page, err)
	}
	got := xmpptest.Parse(t, string(page[0].Stanza))
	if got.Get("from") != "alice@example.test" || got.Get("to") != "bob@example.test" {
		t.Errorf("stored %s: want bare JIDs (privacy)", page[0].Stanza)
	}
	// The per-user cap (Config.Max) holds.
	if taken, err := e.reg.RunUndelivered(ctx, "bob", msg); taken || !errors.Is(err, store.ErrQuota) {
		t.Errorf("over the cap: %v, %v; want ErrQuota", taken, err)
	}
	if taken, err := e.reg.RunUndelivered(ctx, "nobody", msg); taken || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v, %v; want ErrNotFound", taken, err)
	}
	if f := e.reg.Disco(disco.Config{}).Features; !slices.Contains(f, "msgoffline") || !slices.Contains(f, "urn:xmpp:delay") {
		t.Errorf("features = %v", f)
	}
}

// TestDeliver: stored messages come back in order with a delay stamp, a
// page at a time; a record that does not parse is dropped; a session
// that ends leaves the rest stored.
func TestDeliver(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	for _, id := range []string{"1", "2", "3"} {
		e.reg.RunUndelivered(ctx, "bob", xmpptest.Parse(t, `<message type='chat' id='`+id+`' from='alice@example.test'><body>hi</body></message>`))
	}
	if _, err := e.db.PushOfflineFrom(ctx, "bob", "eve@example.test", at, []byte("<message><unclosed>"), 100); err != nil {
		t.Fatal(err)
	}
	e.reg.RunUndelivered(ctx, "bob", xmpptest.Parse(t, `<message type='chat' id='4' from='alice@example.test'><body>hi</body></message>`))
	hooks := e.reg.UndeliveredHooks()
	if len(hooks) != 1 || hooks[0].Deliver == nil {
		t.Fatalf("hooks = %+v", hooks)
	}
	var ids []string
	// The session writes each message and deletes it, as c2s does.
	enqueue := func(el *wire.Element, id uint64) bool {
		if d := el.Child("urn:xmpp:delay", "delay"); d == nil || d.Get("from") != "example.test" || d.Get("stamp") != "2026-01-02T03:04:05.000Z" {
			t.Errorf("delivered %s: want a delay stamp", xmpptest.String(el))
		}
		ids = append(ids, el.Get("id"))
		if len(ids) == 2 {
			return false // the session ends
		}
		return e.db.DeleteOffline(ctx, "bob", id) == nil
	}
	hooks[0].Deliver(xmpptest.Ctx(t), "bob", 1, enqueue)
	if !slices.Equal(ids, []string{"1", "2"}) {
		t.Fatalf("first session got %v, want [1 2]", ids)
	}
	ids = nil
	enqueue2 := func(el *wire.Element, id uint64) bool {
		ids = append(ids, el.Get("id"))
		return e.db.DeleteOffline(ctx, "bob", id) == nil
	}
	hooks[0].Deliver(xmpptest.Ctx(t), "bob", 2, enqueue2)
	if !slices.Equal(ids, []string{"2", "3", "4"}) {
		t.Errorf("second session got %v, want [2 3 4] (the malformed record dropped)", ids)
	}
	if page, _ := e.db.OfflinePage(ctx, "bob", 0, 10, 1<<20); len(page) != 0 {
		t.Errorf("left stored: %d", len(page))
	}
}
