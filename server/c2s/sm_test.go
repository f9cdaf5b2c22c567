package c2s

import (
	"context"
	"crypto/tls"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"mellium.im/sasl"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
)

// smClient is a test client with XEP-0198: it counts the stanzas it
// handled and answers the server's <r/>.
type smClient struct {
	t  testing.TB
	c  *xmpptest.Client
	h  uint32 // stanzas handled since <enabled/> (or per <resumed/>)
	id string
}

// next returns the next stanza, answering <r/> on the way.
func (sc *smClient) next() *wire.Element {
	sc.t.Helper()
	for {
		el, err := sc.c.Next()
		if err != nil {
			sc.t.Fatalf("sm client: %v", err)
		}
		if el.Space == nsSM && el.Local == "r" {
			sc.c.SendRaw(fmt.Sprintf(`<a xmlns='urn:xmpp:sm:3' h='%d'/>`, sc.h))
			continue
		}
		if el.Space == wire.NSClient {
			sc.h++
		}
		return el
	}
}

// expect skips stanzas until pred matches.
func (sc *smClient) expect(what string, pred func(*wire.Element) bool) *wire.Element {
	sc.t.Helper()
	for {
		if el := sc.next(); pred(el) {
			return el
		} else if el.Space != wire.NSClient {
			sc.t.Logf("%s: skipping %s", what, xmpptest.String(el))
		}
	}
}

// cut drops the TCP connection without closing the stream.
func (sc *smClient) cut() {
	sc.c.Conn.(*tls.Conn).NetConn().Close()
}

// smLogin logs in, binds resource and enables stream management with
// resumption.
func (e *limitsEnv) smLogin(t testing.TB, name, resource string) *smClient {
	t.Helper()
	c, err := xmpptest.Dial(t, e.plain, limitsDomain, name, "secret-"+name,
		xmpptest.Options{Pool: e.ca.Pool, Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	c.SendRaw(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	el := c.Expect("enabled", func(el *wire.Element) bool { return el.Space == nsSM })
	if el.Local != "enabled" || el.Get("resume") != "true" || len(el.Get("id")) < 22 {
		t.Fatalf("enable: %s", xmpptest.String(el))
	}
	return &smClient{t: t, c: c, id: el.Get("id")}
}

// resume connects as name and sends <resume/> for previd with h; it
// returns the client and the server's answer.
func (e *limitsEnv) resume(t testing.TB, name, pass, previd string, h uint32) (*xmpptest.Client, *wire.Element) {
	t.Helper()
	c, err := xmpptest.Connect(t, e.plain, limitsDomain, xmpptest.Options{Pool: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(name, pass, sasl.Mechanism{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if c.Features.Child(nsSM, "sm") == nil || c.Features.Child(nsCSI, "csi") == nil {
		t.Fatalf("no sm or csi feature: %s", xmpptest.String(c.Features))
	}
	c.SendRaw(fmt.Sprintf(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>`, previd, h))
	el, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	return c, el
}

// resumeOK resumes sc on a new connection.
func (e *limitsEnv) resumeOK(t testing.TB, sc *smClient, name string) {
	t.Helper()
	c, el := e.resume(t, name, "secret-"+name, sc.id, sc.h)
	if el.Local != "resumed" || el.Get("previd") != sc.id {
		t.Fatalf("resume: %s", xmpptest.String(el))
	}
	sc.c = c
}

func msg(to, body string) string {
	return `<message type='chat' to='` + to + `'><body>` + body + `</body></message>`
}

func isBody(body string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Local == "message" && el.ChildText(wire.NSClient, "body") == body
	}
}

// TestSMAckCounting: the unacknowledged buffer and h wrap around at
// 2^32 (XEP-0198 §4); an h beyond what was sent is refused.
func TestSMAckCounting(t *testing.T) {
	ss := &Session{srv: &Server{log: zerolog.Nop()}}
	sm := &smState{counting: true, out: 1<<32 - 3, acked: 1<<32 - 3}
	ss.sm.Store(sm)
	var batch []outItem
	for i := range 5 {
		batch = append(batch, outItem{el: wire.New(wire.NSClient, "message", "id", strconv.Itoa(i))})
	}
	batch = append(batch, outItem{el: wire.New(nsSM, "a", "h", "0")}) // not counted
	keep, moved, _ := ss.smTake(sm, batch)
	if keep != 0 || moved <= 0 || len(sm.unacked) != 5 || sm.out != 2 {
		t.Fatalf("smTake: keep %d moved %d unacked %d out %d; want 0, >0, 5, 2", keep, moved, len(sm.unacked), sm.out)
	}
	if err := ss.smAck(context.Background(), 1); err != nil { // 4 acknowledged across the wrap
		t.Fatal(err)
	}
	if len(sm.unacked) != 1 || sm.unacked[0].el.Get("id") != "4" || sm.acked != 1 {
		t.Fatalf("after a h=1: %d unacked, acked %d", len(sm.unacked), sm.acked)
	}
	if err := ss.smAck(context.Background(), 1); err != nil { // repeated h
		t.Fatal(err)
	}
	if err := ss.smAck(context.Background(), 3); err == nil {
		t.Fatal("h beyond the stanzas sent accepted")
	}
	if err := ss.smAck(context.Background(), 2); err != nil || len(sm.unacked) != 0 || sm.ubytes != 0 {
		t.Fatalf("a h=2: %v, %d unacked, %d bytes", err, len(sm.unacked), sm.ubytes)
	}
	// Before <enabled/> went out nothing counts; after it, everything.
	sm2 := &smState{}
	ss.sm.Store(sm2)
	keep, _, _ = ss.smTake(sm2, []outItem{{el: wire.New(wire.NSClient, "iq")}, {el: wire.New(nsSM, "enabled")},
		{el: wire.New(wire.NSClient, "message")}})
	if keep != 2 || sm2.out != 1 || len(sm2.unacked) != 1 {
		t.Fatalf("enabled mid-batch: keep %d out %d", keep, sm2.out)
	}
}

// TestSMServerRequestsAcks: the server asks for an ack after smAckEvery
// stanzas in a batch, and on an idle link with unacknowledged stanzas.
func TestSMServerRequestsAcks(t *testing.T) {
	ss := &Session{srv: &Server{log: zerolog.Nop()}}
	sm := &smState{counting: true}
	ss.sm.Store(sm)
	batch := make([]outItem, smAckEvery-1)
	for i := range batch {
		batch[i] = outItem{el: wire.New(wire.NSClient, "presence")}
	}
	if _, _, req := ss.smTake(sm, batch); req {
		t.Fatalf("request after %d stanzas", len(batch))
	}
	if _, _, req := ss.smTake(sm, batch[:1]); !req {
		t.Fatalf("no request after %d stanzas", smAckEvery)
	}

	e := startLimits(t, func(*Config) {})
	e.user(t, "alice")
	e.user(t, "bob")
	alice := e.smLogin(t, "alice", "phone")
	bob := e.login(t, "bob", false, "pc")
	bob.SendRaw(msg("alice@"+limitsDomain+"/phone", "one"))
	alice.c.Expect("one", isBody("one"))
	r := alice.c.Expect("r", func(el *wire.Element) bool { return el.Space == nsSM })
	if r.Local != "r" {
		t.Fatalf("want <r/> on the idle link, got %s", xmpptest.String(r))
	}
	alice.c.SendRaw(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
	alice.c.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	s := e.srv.Router().Session("alice", "phone")
	s.mu.Lock()
	n, acked := len(s.sm.Load().unacked), s.sm.Load().acked
	s.mu.Unlock()
	if n > 1 || acked != 1 { // the ping's answer may be unacknowledged
		t.Fatalf("after <a h='1'/>: %d unacknowledged, acked %d", n, acked)
	}
}

func TestParseH(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"4294967295", 1<<32 - 1, true}, {"007", 7, true},
		{"4294967296", 0, false}, {"", 0, false}, {"-1", 0, false}, {"+1", 0, false},
		{" 1", 0, false}, {"1e3", 0, false}, {strings.Repeat("0", 33), 0, false},
		{"99999999999999999999999", 0, false},
	} {
		got, ok := parseH(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseH(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseH(f *testing.F) {
	for _, s := range []string{"0", "1", "4294967295", "4294967296", "", "-1", "0001", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseH(s)
		n, err := strconv.ParseUint(s, 10, 32)
		plain := len(s) <= 32 && !strings.ContainsAny(s, "+-_")
		if ok != (err == nil && plain) {
			t.Fatalf("parseH(%q) ok=%v, ParseUint err=%v", s, ok, err)
		}
		if ok && uint64(v) != n {
			t.Fatalf("parseH(%q) = %d, want %d", s, v, n)
		}
		if ok {
			if back, ok2 := parseH(strconv.FormatUint(uint64(v), 10)); !ok2 || back != v {
				t.Fatalf("round trip of %d: %d %v", v, back, ok2)
			}
		}
	})
}

// TestSMResume: the TCP connection is cut without closing the stream;
// messages sent meanwhile arrive after <resume/>, with the stanzas the
// client had not acknowledged, and nothing twice. The server's <r/> and
// <a/> count as XEP-0198 says.
func TestSMResume(t *testing.T) {
	e := startLimits(t, func(*Config) {})
	e.user(t, "alice")
	e.user(t, "bob")
	alice := e.smLogin(t, "alice", "phone")
	bob := e.login(t, "bob", false, "pc")
	to := "alice@" + limitsDomain + "/phone"

	// Acks both ways: the server answers <r/> with the stanzas it
	// handled from alice since <enable/>.
	alice.c.SendRaw(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.expect("ping result", func(el *wire.Element) bool { return el.Get("id") == "p1" })
	alice.c.SendRaw(`<r xmlns='urn:xmpp:sm:3'/>`)
	a := alice.c.Expect("a", func(el *wire.Element) bool { return el.Space == nsSM && el.Local == "a" })
	if a.Get("h") != "1" {
		t.Fatalf("server's <a/> = %s, want h=1", xmpptest.String(a))
	}
	bob.SendRaw(msg(to, "before"))
	alice.expect("before", isBody("before"))
	// Not acknowledged: alice counted it, the server still holds it.
	alice.cut()
	for i := range 3 {
		bob.SendRaw(msg(to, "meanwhile "+strconv.Itoa(i)))
	}
	e.resumeOK(t, alice, "alice")
	for i := range 3 {
		el := alice.next()
		if !isBody("meanwhile " + strconv.Itoa(i))(el) {
			t.Fatalf("after resume, stanza %d: %s", i, xmpptest.String(el))
		}
	}
	// The session is the same: bound, and the old transport is gone.
	alice.c.SendRaw(`<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if r := alice.next(); r.Get("id") != "p2" || r.Get("to") != to {
		t.Fatalf("after resume: %s", xmpptest.String(r))
	}
	if n := e.srv.Router().Count(); n != 2 {
		t.Fatalf("%d sessions bound, want 2", n)
	}
	// A resumption of a live session takes it over and closes the old
	// connection.
	old := alice.c
	e.resumeOK(t, alice, "alice")
	if _, err := old.Next(); err == nil {
		t.Fatal("old connection still open after a second resumption")
	}
	bob.SendRaw(msg(to, "after takeover"))
	alice.expect("after takeover", isBody("after takeover"))
}

// TestSMResumeRefused: resumption needs authentication as the same
// account and a known id.
func TestSMResumeRefused(t *testing.T) {
	e := startLimits(t, func(*Config) {})
	e.user(t, "alice")
	e.user(t, "bob")
	alice := e.smLogin(t, "alice", "phone")
	alice.cut()
	// Another account with alice's id.
	if _, el := e.resume(t, "bob", "secret-bob", alice.id, 0); el.Local != "failed" ||
		el.Child(nsStanzas, "item-not-found") == nil {
		t.Fatalf("bob resuming alice's session: %s", xmpptest.String(el))
	}
	// Unknown id, bad h.
	if _, el := e.resume(t, "alice", "secret-alice", "nope", 0); el.Local != "failed" || el.Child(nsStanzas, "item-not-found") == nil {
		t.Fatalf("unknown id: %s", xmpptest.String(el))
	}
	if _, el := e.resume(t, "alice", "secret-alice", alice.id, 99); el.Local != "failed" {
		t.Fatalf("h beyond what was sent: %s", xmpptest.String(el))
	}
	// Without authentication: the stream ends.
	c, err := xmpptest.Connect(t, e.plain, limitsDomain, xmpptest.Options{Pool: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	c.SendRaw(`<resume xmlns='urn:xmpp:sm:3' previd='` + alice.id + `' h='0'/>`)
	if _, cond := readToEnd(c); cond != "not-authorized" {
		t.Fatalf("resume before SASL: condition %q, want not-authorized", cond)
	}
	// The session was not disturbed by any of it.
	e.resumeOK(t, alice, "alice")
}

// TestSMWindowEnds: after the resumption window, the messages queued for
// the hibernated session arrive through offline storage with a delay;
// the session is gone and resumption fails with item-not-found.
func TestSMWindowEnds(t *testing.T) {
	queued := make(chan string, 10)
	e := startLimits(t, func(c *Config) { c.ResumeTimeout = 3 * time.Second }, func(s *Server) {
		// The hook also gets what was unacknowledged when the session went
		// to sleep (here alice's own presence); messages are what counts.
		s.OnHibernated(func(user string, el *wire.Element) {
			if el.Local == "message" {
				queued <- user + " " + el.ChildText(wire.NSClient, "body")
			}
		})
	})
	e.user(t, "alice")
	e.user(t, "bob")
	alice := e.smLogin(t, "alice", "phone")
	alice.c.SendRaw(`<presence/>`)
	alice.expect("own presence", func(el *wire.Element) bool { return el.Local == "presence" })
	bob := e.login(t, "bob", false, "pc")
	alice.cut()
	e.log.wait(t, "session hibernated")
	for i := range 3 {
		bob.SendRaw(msg("alice@"+limitsDomain, "late "+strconv.Itoa(i)))
	}
	bob.IQ(`<iq type='get' id='routed'><ping xmlns='urn:xmpp:ping'/></iq>`)
	routed := time.Now()
	// Each was reported while the session was away (XEP-0357 push). The
	// hook runs as the message is routed, before the ping's answer; if
	// the window ended first (a very slow machine), only those routed
	// before it were reported and the rest went to storage directly.
	ended := strings.Contains(e.log.String(), "hibernated session ended")
	var reported []string
	for len(queued) > 0 {
		reported = append(reported, <-queued)
	}
	for i, got := range reported {
		if want := "alice late " + strconv.Itoa(i); got != want {
			t.Errorf("OnHibernated: %q, want %q", got, want)
		}
	}
	if !ended && len(reported) != 3 {
		t.Errorf("OnHibernated reported %q, want 3 messages", reported)
	}
	e.log.wait(t, "hibernated session ended")
	// XEP-0198 §5: the failure tells how many of the client's stanzas
	// the server handled (its one presence), so it resends nothing.
	if _, el := e.resume(t, "alice", "secret-alice", alice.id, alice.h); el.Local != "failed" ||
		el.Child(nsStanzas, "item-not-found") == nil || el.Get("h") != "1" {
		t.Fatalf("resume after the window: %s", xmpptest.String(el))
	}
	c := e.login(t, "alice", false, "phone")
	c.SendRaw(`<presence/>`)
	for i := range 3 {
		m := c.Expect("offline message", func(el *wire.Element) bool { return el.Local == "message" })
		if m.ChildText(wire.NSClient, "body") != "late "+strconv.Itoa(i) || m.Child("urn:xmpp:delay", "delay") == nil {
			t.Fatalf("offline message %d: %s", i, xmpptest.String(m))
		}
		// XEP-0203: stamped when it reached the hibernated session, not
		// when the window ended (3 s later).
		if at, err := time.Parse(time.RFC3339, m.Child("urn:xmpp:delay", "delay").Get("stamp")); err != nil || at.After(routed) {
			t.Errorf("offline message %d stamped %v (%v), want at most %v", i, at, err, routed)
		}
	}
	c.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`) // the writer deleted them by then
	if n, _ := e.db.OfflineCount(context.Background(), "alice"); n != 0 {
		t.Fatalf("%d offline messages left", n)
	}
}

// TestSMOfflineDeletedOnAck: offline messages delivered to an SM session
// leave the store only when acknowledged; a lost connection before the
// ack keeps them (for the resumed session, which gets them again).
func TestSMOfflineDeletedOnAck(t *testing.T) {
	e := startLimits(t, func(*Config) {})
	e.user(t, "alice")
	ctx := context.Background()
	for i := range 3 {
		st := fmt.Sprintf(`<message xmlns='jabber:client' type='chat' from='bob@%s' to='alice@%s'><body>stored %d</body></message>`, limitsDomain, limitsDomain, i)
		if _, err := e.db.PushOffline(ctx, "alice", time.Now(), []byte(st), 100); err != nil {
			t.Fatal(err)
		}
	}
	alice := e.smLogin(t, "alice", "phone")
	alice.c.SendRaw(`<presence/>`)
	for i := 0; i < 3; {
		// Read without answering the server's <r/>.
		el, err := alice.c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if el.Space == wire.NSClient {
			alice.h++
		}
		if isBody("stored " + strconv.Itoa(i))(el) {
			i++
		}
	}
	// Received but not acknowledged: still stored.
	if n, _ := e.db.OfflineCount(ctx, "alice"); n != 3 {
		t.Fatalf("%d offline messages before the ack, want 3", n)
	}
	h := alice.h
	alice.h -= 2 // pretend the last two did not arrive
	alice.cut()
	e.resumeOK(t, alice, "alice")
	alice.expect("stored 1", isBody("stored 1"))
	alice.expect("stored 2", isBody("stored 2"))
	if alice.h != h {
		t.Fatalf("h %d after resending, want %d", alice.h, h)
	}
	alice.c.SendRaw(fmt.Sprintf(`<a xmlns='urn:xmpp:sm:3' h='%d'/>`, alice.h))
	alice.c.SendRaw(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.expect("ping", func(el *wire.Element) bool { return el.Get("id") == "p1" })
	if n, _ := e.db.OfflineCount(ctx, "alice"); n != 0 {
		t.Fatalf("%d offline messages after the ack, want 0", n)
	}
}

// TestSMThousandAcrossDisconnects: 1000 messages from two senders across
// 10 forced disconnects arrive exactly once, in order per sender.
func TestSMThousandAcrossDisconnects(t *testing.T) {
	const n, cuts = 1000, 10
	e := startLimits(t, func(*Config) {})
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	alice := e.smLogin(t, "alice", "phone")
	to := "alice@" + limitsDomain + "/phone"
	var wg sync.WaitGroup
	for _, sender := range []string{"bob", "carol"} {
		c := e.login(t, sender, false, "pc")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 2 {
				c.SendRaw(msg(to, sender+" "+strconv.Itoa(i)))
			}
		}()
	}
	next := map[string]int{"bob": 0, "carol": 0}
	for got := 0; got < n; {
		el := alice.next()
		if el.Local != "message" {
			continue
		}
		sender, num, _ := strings.Cut(el.ChildText(wire.NSClient, "body"), " ")
		if num != strconv.Itoa(next[sender]) {
			t.Fatalf("from %s: got %q, want %d (message %d)", sender, num, next[sender], got)
		}
		next[sender]++
		got++
		if got%(n/cuts) == 0 && got < n {
			alice.cut()
			e.resumeOK(t, alice, "alice")
		}
	}
	wg.Wait()
	// Nothing more: a ping's answer comes next.
	alice.c.SendRaw(`<iq type='get' id='end'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if el := alice.next(); el.Get("id") != "end" {
		t.Fatalf("after %d messages: %s", n, xmpptest.String(el))
	}
	if c, _ := e.db.OfflineCount(context.Background(), "alice"); c != 0 {
		t.Fatalf("%d messages went offline", c)
	}
}

// TestSMConflictingBind: binding the resource of a hibernated session
// replaces it; its queued messages go to offline storage first and reach
// the new session.
func TestSMConflictingBind(t *testing.T) {
	e := startLimits(t, func(*Config) {})
	e.user(t, "alice")
	e.user(t, "bob")
	alice := e.smLogin(t, "alice", "phone")
	alice.cut()
	e.log.wait(t, "session hibernated")
	// A hibernated session keeps no transport: no buffers, no TLS state.
	hib := e.srv.Router().Session("alice", "phone")
	hib.mu.Lock()
	tr, writing := hib.tr, hib.writing
	hib.mu.Unlock()
	if _, ok := tr.(parked); !ok || writing {
		t.Fatalf("hibernated session holds %T (writer running: %v)", tr, writing)
	}
	bob := e.login(t, "bob", false, "pc")
	bob.SendRaw(msg("alice@"+limitsDomain+"/phone", "queued"))
	bob.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c := e.login(t, "alice", false, "phone")
	c.SendRaw(`<presence/>`)
	c.Expect("queued", isBody("queued"))
	if _, el := e.resume(t, "alice", "secret-alice", alice.id, alice.h); el.Local != "failed" {
		t.Fatalf("resume of a replaced session: %s", xmpptest.String(el))
	}
}

// TestCSI: while inactive, a presence flood is held and reduced to the
// newest presence per contact, sent on <active/>; a message with a body
// sends what is held first, in order.
func TestCSI(t *testing.T) {
	e := startLimits(t, func(*Config) {})
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	for _, u := range []string{"bob", "carol"} {
		if _, err := e.db.PutRosterItem(ctx, "alice", store.RosterItem{JID: u + "@" + limitsDomain, Sub: store.SubBoth}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.PutRosterItem(ctx, u, store.RosterItem{JID: "alice@" + limitsDomain, Sub: store.SubBoth}); err != nil {
			t.Fatal(err)
		}
	}
	alice := e.login(t, "alice", false, "phone")
	alice.SendRaw(`<presence/>`)
	alice.Expect("own presence", func(el *wire.Element) bool {
		return el.Local == "presence" && strings.HasPrefix(el.Get("from"), "alice@")
	})
	alice.SendRaw(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	alice.IQ(`<iq type='get' id='inactive'><ping xmlns='urn:xmpp:ping'/></iq>`) // <inactive/> was handled
	const flood = 50
	for _, u := range []string{"bob", "carol"} {
		c := e.login(t, u, false, "pc")
		for i := range flood {
			c.SendRaw(`<presence><status>` + u + ` ` + strconv.Itoa(i) + `</status></presence>`)
		}
		// The sender's own copy of its last presence comes after the
		// contacts' (RFC 6121 §4.2.2): alice's is queued or held by now.
		c.Expect("last own presence", func(el *wire.Element) bool {
			return el.Local == "presence" && el.ChildText(wire.NSClient, "status") == u+" "+strconv.Itoa(flood-1)
		})
	}
	alice.SendRaw(`<active xmlns='urn:xmpp:csi:0'/>`)
	alice.SendRaw(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	var got []string
	for {
		el, err := alice.Next()
		if err != nil {
			t.Fatal(err)
		}
		if el.Get("id") == "sync" {
			break
		}
		if el.Local == "presence" {
			got = append(got, el.ChildText(wire.NSClient, "status"))
		}
	}
	// 50 presences from each contact, reduced to the newest of each.
	want := []string{"bob 49", "carol 49"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("presence after <active/>: %q, want %q", got, want)
	}

	// A message flushes, in order: presence, chat state, message.
	alice.SendRaw(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	alice.IQ(`<iq type='get' id='sync2'><ping xmlns='urn:xmpp:ping'/></iq>`) // urgent; nothing held yet
	bob := e.login(t, "bob", false, "tablet")
	bob.SendRaw(`<presence><status>away</status></presence>`)
	bob.SendRaw(`<message type='chat' to='alice@` + limitsDomain + `'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	bob.SendRaw(msg("alice@"+limitsDomain, "wake up"))
	var kinds []string
	for len(kinds) == 0 || kinds[len(kinds)-1] != "body" {
		el, err := alice.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case el.Local == "presence" && el.ChildText(wire.NSClient, "status") == "away":
			kinds = append(kinds, "presence")
		case el.Local == "message" && el.Child("http://jabber.org/protocol/chatstates", "composing") != nil:
			kinds = append(kinds, "chatstate")
		case el.Local == "message" && el.ChildText(wire.NSClient, "body") == "wake up":
			kinds = append(kinds, "body")
		}
	}
	if fmt.Sprint(kinds) != "[presence chatstate body]" {
		t.Fatalf("while inactive, got %v, want presence, chat state, then the message", kinds)
	}
}

// BenchmarkSMResume is one resumption per iteration: the receiver's
// connection is cut, a message is sent to it, and it reconnects (TCP,
// STARTTLS, SCRAM-SHA-256), resumes and reads the message. Compare with
// BenchmarkLogin in package server (connect, SCRAM, bind, close).
func BenchmarkSMResume(b *testing.B) {
	e := startLimits(b, func(c *Config) {
		c.ConnPerSecond, c.ConnBurst, c.AuthFailBurst = 1e9, 1e9, 1<<30
	})
	e.user(b, "alice")
	e.user(b, "bob")
	alice := e.smLogin(b, "alice", "phone")
	bob, err := e.dial(b, "bob", false, "pc")
	if err != nil {
		b.Fatal(err)
	}
	to := "alice@" + limitsDomain + "/phone"
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		alice.cut()
		body := "m" + strconv.Itoa(i)
		bob.SendRaw(msg(to, body))
		c, el := e.resume(b, "alice", "secret-alice", alice.id, alice.h)
		if el.Local != "resumed" {
			b.Fatalf("resume %d: %s\n%s", i, xmpptest.String(el), e.log)
		}
		alice.c = c
		alice.expect(body, isBody(body))
		i++
	}
}

// TestSMEnable: <enabled/> carries the id, max (the client's, if
// shorter than the window) and location; a second <enable/>, one
// before bind, and <r/> before <enable/> are refused.
func TestSMEnable(t *testing.T) {
	e := startLimits(t, func(c *Config) { c.ResumeLocation = "xmpp.example.org:5222" })
	e.user(t, "alice")
	c := e.login(t, "alice", false, "phone")
	c.SendRaw(`<enable xmlns='urn:xmpp:sm:3' resume='true' max='60'/>`)
	el := c.Expect("enabled", func(el *wire.Element) bool { return el.Space == nsSM })
	if el.Local != "enabled" || el.Get("max") != "60" || el.Get("location") != "xmpp.example.org:5222" {
		t.Fatalf("enabled: %s", xmpptest.String(el))
	}
	c.SendRaw(`<enable xmlns='urn:xmpp:sm:3'/>`)
	if el := c.Expect("failed", func(el *wire.Element) bool { return el.Space == nsSM }); el.Local != "failed" ||
		el.Child(nsStanzas, "unexpected-request") == nil {
		t.Fatalf("second enable: %s", xmpptest.String(el))
	}

	// Before bind.
	b, err := xmpptest.Connect(t, e.plain, limitsDomain, xmpptest.Options{Pool: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Auth("alice", "secret-alice", sasl.Mechanism{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	b.SendRaw(`<enable xmlns='urn:xmpp:sm:3'/>`)
	if el, err := b.Next(); err != nil || el.Local != "failed" {
		t.Fatalf("enable before bind: %v %v", el, err)
	}
	// The stream goes on with bind.
	b.SendRaw(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	if el, err := b.Next(); err != nil || el.Get("type") != "result" {
		t.Fatalf("bind after failed enable: %v %v", el, err)
	}
	// <r/> without stream management is not a stanza.
	b.SendRaw(`<r xmlns='urn:xmpp:sm:3'/>`)
	if _, cond := readToEnd(b); cond != "unsupported-stanza-type" {
		t.Fatalf("<r/> before <enable/>: condition %q", cond)
	}
}

// TestCSICarbonFlushes: a carbon of the user's own message with a body
// (sent from another device) sends what an inactive session holds, in
// order; a carbon without a body (a chat state) is held.
func TestCSICarbonFlushes(t *testing.T) {
	e := startLimits(t, func(*Config) {})
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		e.user(t, u)
	}
	if _, err := e.db.PutRosterItem(ctx, "alice", store.RosterItem{JID: "bob@" + limitsDomain, Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.PutRosterItem(ctx, "bob", store.RosterItem{JID: "alice@" + limitsDomain, Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	phone := e.login(t, "alice", false, "phone")
	phone.SendRaw(`<presence/>`)
	if r := phone.IQ(`<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>`); r.Get("type") != "result" {
		t.Fatalf("carbons: %s", xmpptest.String(r))
	}
	phone.SendRaw(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	phone.IQ(`<iq type='get' id='inactive'><ping xmlns='urn:xmpp:ping'/></iq>`) // <inactive/> was handled
	pc := e.login(t, "alice", false, "pc")
	bob := e.login(t, "bob", false, "pc")
	bob.SendRaw(`<presence><status>held</status></presence>`)
	bob.Expect("own presence", func(el *wire.Element) bool { return el.ChildText(wire.NSClient, "status") == "held" })
	pc.SendRaw(`<message type='chat' to='bob@` + limitsDomain + `'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	pc.SendRaw(`<message type='chat' to='bob@` + limitsDomain + `'><body>from pc</body></message>`)
	var kinds []string
	for len(kinds) < 3 {
		el, err := phone.Next()
		if err != nil {
			t.Fatal(err)
		}
		sent := el.Child(nsCarbons, "sent")
		switch {
		case el.Local == "presence" && el.ChildText(wire.NSClient, "status") == "held":
			kinds = append(kinds, "presence")
		case sent != nil && strings.Contains(xmpptest.String(sent), "from pc"):
			kinds = append(kinds, "carbon")
		case sent != nil:
			kinds = append(kinds, "chatstate")
		}
	}
	if fmt.Sprint(kinds) != "[presence chatstate carbon]" {
		t.Fatalf("inactive phone got %v, want the held presence and chat state carbon, then the carbon", kinds)
	}
}

// TestSMUnackedBound: the unacknowledged buffer counts against the queue
// bound: a client that never acknowledges has its stream ended with
// policy-violation, and every message reaches offline storage (those it
// may have received included: a duplicate beats a loss).
func TestSMUnackedBound(t *testing.T) {
	const queueMax, n = 10, 25
	e := startLimits(t, func(c *Config) { c.QueueMax = queueMax })
	e.user(t, "alice")
	e.user(t, "bob")
	alice := e.smLogin(t, "alice", "phone")
	bob := e.login(t, "bob", false, "pc")
	for i := range n {
		bob.SendRaw(msg("alice@"+limitsDomain+"/phone", "m"+strconv.Itoa(i)))
	}
	// alice reads but never acknowledges.
	got, cond := readToEnd(alice.c)
	if cond != "policy-violation" {
		t.Fatalf("stream ended with %q after %d elements, want policy-violation", cond, len(got))
	}
	bob.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if c, _ := e.db.OfflineCount(context.Background(), "alice"); c != n {
		t.Fatalf("%d messages in offline storage, want %d", c, n)
	}
}

// TestSMShutdownAcked: at shutdown a live session with stream management
// is asked for a last acknowledgement; what it acknowledged is not stored
// offline again (it would arrive twice), what it did not is.
func TestSMShutdownAcked(t *testing.T) {
	delay := smAckDelay
	smAckDelay = time.Hour // no idle request: the message stays unacknowledged
	t.Cleanup(func() { smAckDelay = delay })
	e := startLimits(t, func(*Config) {})
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	alice := e.smLogin(t, "alice", "phone") // acknowledges when asked
	carol := e.smLogin(t, "carol", "phone") // never does
	bob := e.login(t, "bob", false, "pc")
	bob.SendRaw(msg("alice@"+limitsDomain+"/phone", "to alice"))
	bob.SendRaw(msg("carol@"+limitsDomain+"/phone", "to carol"))
	alice.expect("to alice", isBody("to alice"))
	carol.expect("to carol", isBody("to carol"))
	ended := make(chan string, 2)
	go func() {
		for {
			el, err := alice.c.Next()
			if err != nil {
				ended <- "alice"
				return
			}
			if el.Space == nsSM && el.Local == "r" {
				alice.c.SendRaw(fmt.Sprintf(`<a xmlns='urn:xmpp:sm:3' h='%d'/>`, alice.h))
			}
		}
	}()
	go func() {
		readToEnd(carol.c)
		ended <- "carol"
	}()
	e.stop()
	<-ended
	<-ended
	if n, _ := e.db.OfflineCount(context.Background(), "alice"); n != 0 {
		t.Errorf("alice acknowledged her message, yet %d stored offline", n)
	}
	if n, _ := e.db.OfflineCount(context.Background(), "carol"); n != 1 {
		t.Errorf("carol did not acknowledge hers: %d stored offline, want 1", n)
	}
}

// BenchmarkHibernatedMemory reports the heap a hibernated session keeps
// (session, stream management state, table entries, timer), measured in
// process after a GC: sessions with resumption lose their connections and
// the growth over the idle server is divided by their number.
func BenchmarkHibernatedMemory(b *testing.B) {
	const n = 300
	e := startLimits(b, func(c *Config) {
		c.ConnPerSecond, c.ConnBurst, c.AuthFailBurst = 1e9, 1e9, 1<<30
	})
	for i := range n {
		e.user(b, "h"+strconv.Itoa(i))
	}
	for b.Loop() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for i := range n {
			c := e.smLogin(b, "h"+strconv.Itoa(i), "phone")
			c.cut()
		}
		for {
			next := e.log.next() // before counting: no write is missed
			if e.hibernated() >= n {
				break
			}
			<-next
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/1024/n, "heap-KiB/session")
	}
}

// hibernated counts the "session hibernated" lines logged so far.
func (e *limitsEnv) hibernated() int {
	return strings.Count(e.log.String(), "session hibernated")
}

// TestSMInline: the Bind2 inline hooks enable stream management with
// counting from the start, and set CSI.
func TestSMInline(t *testing.T) {
	ss := &Session{srv: &Server{cfg: Config{ResumeTimeout: time.Minute}}, user: "alice"}
	el := smInline(context.Background(), ss, wire.New(nsSM, "enable", "resume", "true"))
	if el == nil || el.Local != "enabled" || el.Get("resume") != "true" {
		t.Fatalf("smInline: %s", xmpptest.String(el))
	}
	if sm := ss.sm.Load(); sm == nil || !sm.counting {
		t.Fatal("inline stream management does not count from the start")
	}
	csiInline(context.Background(), ss, wire.New(nsCSI, "inactive"))
	if ss.csi == nil || !ss.csi.inactive {
		t.Fatal("inline <inactive/> not taken")
	}
}

// TestSMGoneBounded: the handled counts of ended sessions are kept for
// their window and at most maxSMGone at a time.
func TestSMGoneBounded(t *testing.T) {
	var g smGone
	now := time.Unix(1000, 0)
	for i := range maxSMGone + 100 {
		g.add(fmt.Sprint("alice\x00", i), uint32(i), now, now.Add(time.Minute))
	}
	if len(g.m) > maxSMGone {
		t.Fatalf("%d entries, want at most %d", len(g.m), maxSMGone)
	}
	g.add("bob\x00x", 7, now, now.Add(time.Minute))
	if h, ok := g.get("bob\x00x", now.Add(59*time.Second)); !ok || h != 7 {
		t.Errorf("within the window: %d %v", h, ok)
	}
	if _, ok := g.get("bob\x00x", now.Add(61*time.Second)); ok {
		t.Error("after the window: still known")
	}
	if _, ok := g.get("mallory\x00x", now); ok {
		t.Error("another account's key found")
	}
}

// TestCSIPresenceReplaced: while inactive, a contact's newer presence
// replaces the held one in place: a thousand updates from one contact
// hold one stanza and never flush the hold.
func TestCSIPresenceReplaced(t *testing.T) {
	ss := &Session{srv: &Server{cfg: Config{QueueMax: 64}}, user: "alice"}
	csiInline(context.Background(), ss, wire.New(nsCSI, "inactive"))
	other := wire.New(wire.NSClient, "presence", "from", "carol@example.org/x")
	ss.csiHold(outItem{el: other})
	for i := range 1000 {
		p := wire.New(wire.NSClient, "presence", "from", "bob@example.org/phone").Add(wire.New(wire.NSClient, "status").AddText(strconv.Itoa(i)))
		if !ss.csiHold(outItem{el: p}) {
			t.Fatalf("presence %d not held", i)
		}
	}
	if len(ss.csi.held) != 2 || len(ss.queue) != 0 {
		t.Fatalf("held %d, queued %d; want 2 held, nothing queued", len(ss.csi.held), len(ss.queue))
	}
	if got := ss.csi.held[1].el.ChildText(wire.NSClient, "status"); got != "999" {
		t.Errorf("held presence status %q, want the newest (999)", got)
	}
}
