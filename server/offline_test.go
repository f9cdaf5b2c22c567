package server_test

import (
	"chatbx/internal/heappeak"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

// startLimits starts a server over a store with the given per-user caps,
// logging to log (if not nil).
func startLimits(t *testing.T, lim store.Limits, log *syncBuf, mod func(*server.Config)) *env {
	t.Helper()
	prev := &env{
		db:   storetest.OpenLimits(t, filepath.Join(t.TempDir(), "chatbx.db"), lim),
		ca:   xmpptest.NewCA(t, domain),
		conn: &syncBuf{},
	}
	return startWith(t, prev, func(c *server.Config, d *server.Deps) {
		if log != nil {
			d.Log = zerolog.New(log)
		}
		if mod != nil {
			mod(c)
		}
	})
}

// TestOfflinePagedDelivery: a queue of 5,000 messages (20 MB) is delivered
// at login in order, exactly once, and the server's heap grows by far
// less than the queue: it reads and queues one page at a time. Fails on
// main before this change, which loaded the whole queue and queued all of
// it at once (the session's queue overflowed and the stream was cut).
func TestOfflinePagedDelivery(t *testing.T) {
	const (
		n    = 5000
		body = 4000
	)
	e := startLimits(t, store.Limits{OfflineBytes: -1}, nil, func(c *server.Config) { c.OfflineMax = 0 })
	e.user(t, "alice")
	e.user(t, "bob")
	ctx := context.Background()
	pad := strings.Repeat("x", body)
	for i := range n {
		stanza := fmt.Sprintf(`<message xmlns='jabber:client' from='alice@%s' to='bob@%s' type='chat'><body>%05d %s</body></message>`, domain, domain, i, pad)
		if _, err := e.db.PushOffline(ctx, "bob", time.Now(), []byte(stanza), 0); err != nil {
			t.Fatal(err)
		}
	}
	queued := int64(n * body)

	stopHeap := heappeak.Start()

	b := e.login(t, "bob")
	b.SendRaw(`<presence/>`)
	next := 0
	for next < n {
		el, err := b.Next()
		if err != nil {
			t.Fatalf("after %d offline messages: %v", next, err)
		}
		if el.Local != "message" {
			continue
		}
		text := el.ChildText(wire.NSClient, "body")
		var got int
		if _, err := fmt.Sscanf(text, "%05d", &got); err != nil || got != next {
			t.Fatalf("offline message %d has number %d (%v), want in order without duplicates", next, got, err)
		}
		next++
	}
	growth := stopHeap()
	t.Logf("queue %d MB, heap growth at peak %.1f MB", queued>>20, float64(growth)/(1<<20))
	if growth > queued/4 {
		t.Errorf("heap grew by %d bytes while delivering %d queued bytes, want well under (bounded by a page)", growth, queued)
	}
	waitForLong(t, func() bool { c, _ := e.db.OfflineCount(ctx, "bob"); return c == 0 })
	// Nothing more arrives: each message was delivered once.
	b.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
}

// waitForLong is waitFor with a deadline for a loaded machine.
func waitForLong(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOfflinePoisonedRecord: records an older version stored that are not
// well-formed are dropped at delivery and counted in the log (without
// their content); the messages after them are delivered. Fails on main
// before this change (the malformed records stayed in the queue forever).
func TestOfflinePoisonedRecord(t *testing.T) {
	log := &syncBuf{}
	e := startLimits(t, store.Limits{}, log, nil)
	e.user(t, "bob")
	ctx := context.Background()
	for _, raw := range []string{
		`<message xmlns='jabber:client' from='alice@` + domain + `' type='chat'><body>before</body></message>`,
		`<message xmlns='jabber:client'><body>poison-marker</message>`,
		"<message xmlns='jabber:client'><body>poison-marker \xff</body></message>",
		`<iq xmlns='jabber:client' type='get' id='poison-marker'/>`,
		`<message xmlns='jabber:client' from='alice@` + domain + `' type='chat'><body>after</body></message>`,
	} {
		if _, err := e.db.PushOffline(ctx, "bob", time.Now(), []byte(raw), 0); err != nil {
			t.Fatal(err)
		}
	}
	b := e.login(t, "bob")
	b.SendRaw(`<presence/>`)
	b.Expect("message before the poison", isMsg("before"))
	b.Expect("message after the poison", isMsg("after"))
	waitFor(t, func() bool { c, _ := e.db.OfflineCount(ctx, "bob"); return c == 0 })
	waitFor(t, func() bool { return strings.Contains(log.String(), "dropped malformed offline messages") })
	if l := log.String(); !strings.Contains(l, `"count":3`) || strings.Contains(l, "poison-marker") {
		t.Errorf("log = %s, want a count of 3 and no content", l)
	}
}

// TestOfflineSenderShare: one sender can fill only its share of another
// user's offline queue and then gets resource-constraint back; other
// senders still reach the user. Fails on main before this change (one
// sender could fill the whole queue).
func TestOfflineSenderShare(t *testing.T) {
	e := startLimits(t, store.Limits{OfflineSenderPercent: 20}, nil, func(c *server.Config) { c.OfflineMax = 10 })
	e.user(t, "mallory")
	e.user(t, "carol")
	e.user(t, "bob")
	m := e.login(t, "mallory")
	for i := range 3 {
		m.SendRaw(fmt.Sprintf(`<message to='bob@%s' type='chat' id='m%d'><body>spam</body></message>`, domain, i))
	}
	errEl := m.Expect("bounce of the third message", func(el *wire.Element) bool {
		return el.Local == "message" && el.Get("type") == "error"
	})
	if errEl.Get("id") != "m2" || errEl.Child(wire.NSClient, "error").Child(wire.NSStanzas, "resource-constraint") == nil {
		t.Errorf("bounce = %s, want resource-constraint for m2", xmpptest.String(errEl))
	}
	c := e.login(t, "carol")
	c.SendRaw(`<message to='bob@` + domain + `' type='chat' id='c1'><body>hello</body></message>`)
	c.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	waitFor(t, func() bool { n, _ := e.db.OfflineCount(context.Background(), "bob"); return n == 3 })
}

// TestRosterCapIQ: a roster set beyond the per-user cap gets
// policy-violation, not an internal error. Fails on main before this
// change (no cap).
func TestRosterCapIQ(t *testing.T) {
	e := startLimits(t, store.Limits{RosterItems: 2}, nil, nil)
	e.user(t, "alice")
	a := e.login(t, "alice")
	for i, want := range []string{"result", "result", "error"} {
		r := a.IQ(fmt.Sprintf(`<iq type='set' id='r%d'><query xmlns='jabber:iq:roster'><item jid='c%d@%s'/></query></iq>`, i, i, domain))
		if r.Get("type") != want {
			t.Fatalf("roster set %d = %s, want %s", i, xmpptest.String(r), want)
		}
		if want == "error" && r.Child(wire.NSClient, "error").Child(wire.NSStanzas, "policy-violation") == nil {
			t.Errorf("roster set beyond the cap = %s, want policy-violation", xmpptest.String(r))
		}
	}
}
