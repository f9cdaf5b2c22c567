package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"mellium.im/sasl"

	"chatbx/internal/guard"
	"chatbx/server"
	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

const domain = "chatbx.test"

type env struct {
	srv    *server.Server
	db     *store.DB
	ca     *xmpptest.CA
	plain  string // STARTTLS address
	direct string
	conn   *syncBuf // connection log
	cancel context.CancelFunc
	done   chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type anon struct{}

func (anon) IP(a net.Addr) string { return "127.0.0.0" }

func start(t testing.TB, mod ...func(*server.Config)) *env {
	t.Helper()
	return startWith(t, nil, func(c *server.Config, _ *server.Deps) {
		for _, m := range mod {
			m(c)
		}
	})
}

// startWith starts a server; with prev it reuses prev's store, CA and
// connection log (a restart).
func startWith(t testing.TB, prev *env, mod func(*server.Config, *server.Deps)) *env {
	t.Helper()
	e := &env{}
	if prev != nil {
		e.db, e.ca, e.conn = prev.db, prev.ca, prev.conn
	} else {
		e.db, e.ca, e.conn = storetest.Open(t), xmpptest.NewCA(t, domain), &syncBuf{}
	}
	cfg := server.DefaultConfig()
	cfg.Domain = domain
	cfg.C2SListen = "127.0.0.1:0"
	cfg.C2SListenTLS = "127.0.0.1:0"
	cfg.OfflineMax = 50
	d := server.Deps{
		DB: e.db, Log: zerolog.Nop(), ConnLog: zerolog.New(e.conn), Anon: anon{},
		StartTLS:  func(string) *tls.Config { return e.ca.ServerConfig() },
		DirectTLS: e.ca.ServerConfig("xmpp-client"),
	}
	if mod != nil {
		mod(&cfg, &d)
	}
	srv, err := server.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-e.done:
		t.Fatal(err)
	}
	e.plain, e.direct = srv.Addrs()[0].String(), srv.Addrs()[1].String()
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	e.cancel()
	<-e.done
	e.done <- nil
}

func (e *env) user(t testing.TB, name string) {
	t.Helper()
	c, err := store.DeriveCredentials("secret-"+name, store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateUser(context.Background(), name, c); err != nil {
		t.Fatal(err)
	}
}

func (e *env) login(t testing.TB, name string, o ...xmpptest.Options) *xmpptest.Client {
	t.Helper()
	var opt xmpptest.Options
	if len(o) > 0 {
		opt = o[0]
	}
	opt.Pool = e.ca.Pool
	return xmpptest.Login(t, e.plain, domain, name, "secret-"+name, opt)
}

func isMsg(body string) func(*wire.Element) bool {
	return func(e *wire.Element) bool {
		return e.Local == "message" && e.ChildText(wire.NSClient, "body") == body
	}
}

func TestLoginMechanisms(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	tests := []struct {
		name string
		o    xmpptest.Options
	}{
		{"scram-sha-256", xmpptest.Options{Mechanism: sasl.ScramSha256}},
		{"scram-sha-1", xmpptest.Options{Mechanism: sasl.ScramSha1}},
		{"plain", xmpptest.Options{Mechanism: sasl.Plain}},
		{"direct tls", xmpptest.Options{Direct: true}},
		{"resource", xmpptest.Options{Resource: "phone"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Pool = e.ca.Pool
			addr := e.plain
			if o.Direct {
				addr = e.direct
			}
			c := xmpptest.Login(t, addr, domain, "alice", "secret-alice", o)
			if !strings.HasPrefix(c.JID, "alice@chatbx.test/") {
				t.Errorf("bound JID = %q", c.JID)
			}
			if o.Resource != "" && c.JID != "alice@chatbx.test/"+o.Resource {
				t.Errorf("bound JID = %q, want resource %q", c.JID, o.Resource)
			}
			c.Close()
		})
	}
}

func TestLoginPlus(t *testing.T) {
	e := start(t, func(c *server.Config) { c.SASLPlus = true })
	e.user(t, "alice")
	for _, m := range []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1Plus} {
		c := xmpptest.Login(t, e.plain, domain, "alice", "secret-alice", xmpptest.Options{Pool: e.ca.Pool, Mechanism: m})
		c.Close()
	}
}

func TestWrongPasswordAndRetries(t *testing.T) {
	// Enough failures per account for the stream rules tested here (the
	// default guard backs off after 5; guess_test.go tests that).
	e := startWith(t, nil, func(_ *server.Config, d *server.Deps) {
		d.Guard = guard.New(guard.Config{NetworkFree: 20}, nil)
	})
	e.user(t, "alice")
	_, err := xmpptest.Dial(t, e.plain, domain, "alice", "nope", xmpptest.Options{Pool: e.ca.Pool})
	var ae *xmpptest.AuthError
	if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Fatalf("wrong password: %v, want not-authorized", err)
	}
	_, err2 := xmpptest.Dial(t, e.plain, domain, "nobody", "nope", xmpptest.Options{Pool: e.ca.Pool})
	if err2 == nil || err2.Error() != err.Error() {
		t.Errorf("unknown user: %v, want the same as wrong password (%v)", err2, err)
	}
	// Retries on the same stream (RFC 6120 §6.4.5): four failures, then
	// the right password still logs in; a fifth failure ends the stream.
	c := e.login(t, "alice", xmpptest.Options{WrongFirst: 4})
	c.Close()
	if _, err := xmpptest.Dial(t, e.plain, domain, "alice", "secret-alice", xmpptest.Options{Pool: e.ca.Pool, WrongFirst: 5}); err == nil {
		t.Error("a sixth attempt after five failures was allowed")
	}
	if log := e.conn.String(); !strings.Contains(log, `"event":"auth-failure"`) || !strings.Contains(log, `"event":"login"`) {
		t.Errorf("connection log lacks events: %s", log)
	}
	if strings.Contains(e.conn.String(), "127.0.0.1") {
		t.Errorf("connection log holds a full IP")
	}
}

func TestSASLBeforeTLSRefused(t *testing.T) {
	e := start(t)
	conn, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='chatbx.test' version='1.0'>`)
	io.WriteString(conn, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>`)
	out, _ := io.ReadAll(conn)
	s := string(out)
	if strings.Contains(s, "<mechanism>") {
		t.Errorf("mechanisms offered before TLS: %s", s)
	}
	if !strings.Contains(s, "encryption-required") || !strings.Contains(s, "policy-violation") {
		t.Errorf("auth before TLS: %s", s)
	}
}

func TestStreamErrors(t *testing.T) {
	e := start(t, func(c *server.Config) { c.MaxStanzaBytes = 64 << 10 })
	e.user(t, "alice")
	tests := []struct {
		name, in, want string
	}{
		{"not well-formed", `<message></bod>`, "not-well-formed"},
		{"too large", `<message><body>` + strings.Repeat("x", 1<<20) + `</body></message>`, "policy-violation"},
		{"unknown element", `<foo xmlns='bar'/>`, "unsupported-stanza-type"},
		{"restricted", `<!-- hi -->`, "restricted-xml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.login(t, "alice")
			go c.SendRaw(tc.in)
			el := c.Expect("stream error", func(el *wire.Element) bool { return el.Local == "error" })
			if el.FirstChild() == nil || el.FirstChild().Local != tc.want {
				t.Errorf("stream error for %s = %s, want %s", tc.name, el, tc.want)
			}
			// The server keeps serving: a fresh login works.
			e.login(t, "alice").Close()
		})
	}
	// Wrong host.
	conn, _ := net.Dial("tcp", e.plain)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='other.example' version='1.0'>`)
	out, _ := io.ReadAll(conn)
	if !strings.Contains(string(out), "host-unknown") {
		t.Errorf("foreign host: %s", out)
	}
}

func TestMalformedJID(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	c := e.login(t, "alice")
	r := c.IQ(`<iq type='get' id='j1' to='a@b@c'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if r.Get("type") != "error" || r.Child(wire.NSClient, "error").Child(wire.NSStanzas, "jid-malformed") == nil {
		t.Errorf("malformed JID: %s", r)
	}
}

func TestMessagesOnlineAndOffline(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	b.SendRaw(`<presence/>`)
	a.SendRaw(`<presence/>`)
	// Presence is not shared without subscription, so wait for bob's own
	// session to be available by a ping round trip.
	b.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	a.SendRaw(`<message to='bob@chatbx.test' type='chat' id='m1'><body>hello bob</body></message>`)
	got := b.Expect("message", isMsg("hello bob"))
	if got.Get("from") != a.JID {
		t.Errorf("from = %q, want %q (stamped)", got.Get("from"), a.JID)
	}
	// Full JID.
	a.SendRaw(`<message to='` + b.JID + `' type='chat'><body>full</body></message>`)
	b.Expect("message", isMsg("full"))
	b.Close()
	// Without stream management a message that races the client's close
	// can only be kept if the server already knows the stream ended.
	waitFor(t, func() bool { return e.srv.Online() == 1 })
	// Offline.
	a.SendRaw(`<message to='bob@chatbx.test' type='chat'><body>while away</body></message>`)
	a.IQ(`<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>`)
	waitFor(t, func() bool { n, _ := e.db.OfflineCount(context.Background(), "bob"); return n == 1 })
	b2 := e.login(t, "bob")
	b2.SendRaw(`<presence/>`)
	m := b2.Expect("offline message", isMsg("while away"))
	if m.Child("urn:xmpp:delay", "delay") == nil {
		t.Errorf("offline message without delay: %s", m)
	}
	// Privacy: the stored copy kept no resource.
	if m.Get("from") != "alice@chatbx.test" {
		t.Errorf("offline message from %q, want the bare JID", m.Get("from"))
	}
	waitFor(t, func() bool { n, _ := e.db.OfflineCount(context.Background(), "bob"); return n == 0 })
	// Unknown user.
	a.SendRaw(`<message to='nobody@chatbx.test' type='chat' id='x1'><body>?</body></message>`)
	a.Expect("error", func(el *wire.Element) bool {
		return el.Local == "message" && el.Get("type") == "error" && el.Get("id") == "x1"
	})
}

// waitFor polls cond until it holds, failing the test after xmpptest.Wait
// (generous: a loaded machine is slow, not wrong).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(xmpptest.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRosterAndSubscription(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	r := a.IQ(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	ver := r.Child("jabber:iq:roster", "query").Get("ver")
	b.IQ(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	a.SendRaw(`<presence/>`)
	b.SendRaw(`<presence/>`)
	// alice subscribes to bob; bob approves; and the other way round.
	a.SendRaw(`<presence to='bob@chatbx.test' type='subscribe'/>`)
	b.Expect("subscribe", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("type") == "subscribe" && el.Get("from") == "alice@chatbx.test"
	})
	b.SendRaw(`<presence to='alice@chatbx.test' type='subscribed'/>`)
	a.Expect("subscribed", func(el *wire.Element) bool { return el.Local == "presence" && el.Get("type") == "subscribed" })
	a.Expect("bob's presence", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("type") == "" && strings.HasPrefix(el.Get("from"), "bob@")
	})
	b.SendRaw(`<presence to='alice@chatbx.test' type='subscribe'/>`)
	a.Expect("subscribe", func(el *wire.Element) bool { return el.Local == "presence" && el.Get("type") == "subscribe" })
	a.SendRaw(`<presence to='bob@chatbx.test' type='subscribed'/>`)
	b.Expect("alice's presence", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("type") == "" && strings.HasPrefix(el.Get("from"), "alice@")
	})
	it, err := e.db.RosterItem(context.Background(), "alice", "bob@chatbx.test")
	if err != nil || it.Sub != store.SubBoth {
		t.Fatalf("alice's item for bob = %+v, %v, want both", it, err)
	}
	// Roster versioning: the old version gets a full roster, the current
	// one an empty result.
	r = a.IQ(`<iq type='get' id='r2'><query xmlns='jabber:iq:roster' ver='` + ver + `'/></iq>`)
	q := r.Child("jabber:iq:roster", "query")
	if q == nil || len(q.Elements()) != 1 {
		t.Fatalf("roster after subscription = %s", r)
	}
	r = a.IQ(`<iq type='get' id='r3'><query xmlns='jabber:iq:roster' ver='` + q.Get("ver") + `'/></iq>`)
	if r.FirstChild() != nil {
		t.Errorf("up-to-date roster get = %s, want empty result", r)
	}
	// Presence broadcast and unavailable on disconnect.
	b.Close()
	a.Expect("unavailable", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("type") == "unavailable" && strings.HasPrefix(el.Get("from"), "bob@")
	})
	// Cancel: alice unsubscribes; her item goes to from.
	a.SendRaw(`<presence to='bob@chatbx.test' type='unsubscribe'/>`)
	a.Expect("push", func(el *wire.Element) bool {
		i := el.Child("jabber:iq:roster", "query")
		return el.Local == "iq" && i != nil && i.FirstChild() != nil && i.FirstChild().Get("subscription") == "from"
	})
	// Remove.
	r = a.IQ(`<iq type='set' id='r4'><query xmlns='jabber:iq:roster'><item jid='bob@chatbx.test' subscription='remove'/></query></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("remove: %s", r)
	}
	// The contact-side updates ran before the IQ result was queued.
	bi, _ := e.db.RosterItem(context.Background(), "bob", "alice@chatbx.test")
	if bi.Sub != store.SubNone {
		t.Errorf("bob's item after alice removed him: %+v", bi)
	}
}

func TestPreApproval(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	b.SendRaw(`<presence/>`)
	a.SendRaw(`<presence/>`)
	// bob pre-approves alice; alice's request is then approved at once.
	b.SendRaw(`<presence to='alice@chatbx.test' type='subscribed'/>`)
	b.IQ(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
	a.SendRaw(`<presence to='bob@chatbx.test' type='subscribe'/>`)
	a.Expect("subscribed", func(el *wire.Element) bool { return el.Local == "presence" && el.Get("type") == "subscribed" })
	it, _ := e.db.RosterItem(context.Background(), "bob", "alice@chatbx.test")
	if it.Sub != store.SubFrom || it.PreApproved {
		t.Errorf("bob's item = %+v, want from without pre-approval", it)
	}
}

func TestConflictAndKick(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	a1 := e.login(t, "alice", xmpptest.Options{Resource: "r"})
	a2 := e.login(t, "alice", xmpptest.Options{Resource: "r"})
	el := a1.Expect("conflict", func(el *wire.Element) bool { return el.Local == "error" })
	if el.FirstChild().Local != "conflict" {
		t.Errorf("old session got %s, want conflict", el)
	}
	e.srv.KickUser("alice", "not-authorized")
	el = a2.Expect("kick", func(el *wire.Element) bool { return el.Local == "error" })
	if el.FirstChild().Local != "not-authorized" {
		t.Errorf("kick = %s", el)
	}
}

func TestShutdownStoresQueued(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	a := e.login(t, "alice")
	a.IQ(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
	e.cancel()
	el := a.Expect("shutdown", func(el *wire.Element) bool { return el.Local == "error" })
	if el.FirstChild().Local != "system-shutdown" {
		t.Errorf("shutdown = %s", el)
	}
}

func BenchmarkLogin(b *testing.B) {
	e := start(b, func(c *server.Config) { c.ConnPerSecond, c.ConnBurst = 1e6, 1e6 })
	e.user(b, "alice")
	b.ReportAllocs()
	for b.Loop() {
		c := xmpptest.Login(b, e.plain, domain, "alice", "secret-alice", xmpptest.Options{Pool: e.ca.Pool})
		c.Close()
	}
}

func BenchmarkRouteMessage(b *testing.B) {
	e := start(b)
	e.user(b, "alice")
	e.user(b, "bob")
	a := e.login(b, "alice")
	bo := e.login(b, "bob")
	bo.SendRaw(`<presence/>`)
	bo.IQ(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
	msg := []byte(`<message to='bob@chatbx.test' type='chat'><body>benchmark message body of typical length</body></message>`)
	b.ReportAllocs()
	done := make(chan struct{})
	n := b.N
	// A window of 256 in flight keeps the receiver's queue bounded (a
	// receiver that falls 2000 stanzas behind is cut off by design).
	window := make(chan struct{}, 256)
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if _, err := bo.Next(); err != nil {
				b.Error(err)
				return
			}
			<-window
		}
	}()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		window <- struct{}{}
		a.Conn.Write(msg)
	}
	<-done
}

func TestNegotiationDeadline(t *testing.T) {
	e := start(t, func(c *server.Config) { c.NegotiationTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// A client that sends a header and then nothing is cut off.
	io.WriteString(conn, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='chatbx.test' version='1.0'>`)
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v (server did not close)", err)
	}
	if !strings.Contains(string(out), "connection-timeout") {
		t.Errorf("negotiation deadline: %s", out)
	}
}

// TestSlowReaderCutOff: a client that never reads is disconnected once its
// queue is full; the sender is never blocked and keeps working.
func TestSlowReaderCutOff(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	b.SendRaw(`<presence/>`)
	b.IQ(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
	body := strings.Repeat("x", 1000)
	var buf bytes.Buffer
	for i := 0; i < 200; i++ {
		buf.WriteString(`<message to='bob@chatbx.test' type='chat'><body>` + body + `</body></message>`)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.srv.Online() == 2 && time.Now().Before(deadline) {
		a.SendRaw(buf.String())
		a.IQ(`<iq type='get' id='s'><ping xmlns='urn:xmpp:ping'/></iq>`)
	}
	if e.srv.Online() != 1 {
		t.Fatal("slow reader still connected")
	}
	r := a.IQ(`<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if r.Get("type") != "result" {
		t.Errorf("sender after cut-off: %s", r)
	}
	// What bob could not take went to offline storage.
	waitFor(t, func() bool { n, _ := e.db.OfflineCount(context.Background(), "bob"); return n > 0 })
}

// TestIdlePing: an idle client is pinged (XEP-0199); one that answers
// stays, one that does not is closed with connection-timeout.
func TestIdlePing(t *testing.T) {
	e := start(t, func(c *server.Config) { c.IdleTimeout = 300 * time.Millisecond })
	e.user(t, "alice")
	a := e.login(t, "alice")
	for i := 0; i < 2; i++ {
		p := a.Expect("server ping", func(el *wire.Element) bool {
			return el.Local == "iq" && el.Get("type") == "get" && el.Child("urn:xmpp:ping", "ping") != nil
		})
		a.SendRaw(`<iq type='result' id='` + p.Get("id") + `' to='chatbx.test'/>`)
	}
	a.Expect("ping", func(el *wire.Element) bool { return el.Local == "iq" })
	el := a.Expect("timeout", func(el *wire.Element) bool { return el.Local == "error" })
	if el.FirstChild().Local != "connection-timeout" {
		t.Errorf("idle close = %s", el)
	}
}

func TestServices(t *testing.T) {
	e := start(t, func(c *server.Config) {
		c.ContactAbuse = []string{"mailto:abuse@chatbx.test"}
		c.DataPolicy = &disco.DataPolicy{ArchiveDefault: "never", IPv4Prefix: 24, IPv6Prefix: 48,
			Retention: map[string]time.Duration{"connection-logs": 24 * time.Hour}}
	})
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	ok := func(name string, r *wire.Element) *wire.Element {
		t.Helper()
		if r.Get("type") != "result" {
			t.Fatalf("%s: %s", name, r)
		}
		return r
	}
	// ping and disco.
	ok("ping", a.IQ(`<iq type='get' id='1' to='chatbx.test'><ping xmlns='urn:xmpp:ping'/></iq>`))
	info := ok("disco", a.IQ(`<iq type='get' id='2' to='chatbx.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)).String()
	for _, want := range []string{"urn:xmpp:blocking", "vcard-temp", "jabber:iq:private", "urn:xmpp:ping",
		"jabber:iq:roster", "mailto:abuse@chatbx.test", "urn:chatbx:data-policy", "retention-connection-logs", "86400"} {
		if !strings.Contains(info, want) {
			t.Errorf("disco#info lacks %q: %s", want, info)
		}
	}
	// version without OS.
	v := ok("version", a.IQ(`<iq type='get' id='3' to='chatbx.test'><query xmlns='jabber:iq:version'/></iq>`))
	if strings.Contains(v.String(), "<os") {
		t.Errorf("version reveals the OS: %s", v)
	}
	// vcard: set own, read own and another's.
	ok("vcard set", a.IQ(`<iq type='set' id='4'><vCard xmlns='vcard-temp'><FN>Alice Marker</FN></vCard></iq>`))
	if r := ok("vcard get", b.IQ(`<iq type='get' id='5' to='alice@chatbx.test'><vCard xmlns='vcard-temp'/></iq>`)); !strings.Contains(r.String(), "Alice Marker") {
		t.Errorf("vcard of alice seen by bob: %s", r)
	}
	// private storage.
	ok("private set", a.IQ(`<iq type='set' id='6'><query xmlns='jabber:iq:private'><prefs xmlns='urn:x:test'><a>1</a></prefs></query></iq>`))
	if r := ok("private get", a.IQ(`<iq type='get' id='7'><query xmlns='jabber:iq:private'><prefs xmlns='urn:x:test'/></query></iq>`)); !strings.Contains(r.String(), "<a>1</a>") {
		t.Errorf("private get: %s", r)
	}
	// blocking: bob blocks alice; alice's message bounces, bob gets nothing.
	b.SendRaw(`<presence/>`)
	ok("block", b.IQ(`<iq type='set' id='8'><block xmlns='urn:xmpp:blocking'><item jid='alice@chatbx.test'/></block></iq>`))
	if r := ok("blocklist", b.IQ(`<iq type='get' id='9'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)); !strings.Contains(r.String(), "alice@chatbx.test") {
		t.Errorf("blocklist: %s", r)
	}
	a.SendRaw(`<message to='bob@chatbx.test' type='chat' id='blocked1'><body>blocked</body></message>`)
	a.Expect("bounce", func(el *wire.Element) bool { return el.Get("id") == "blocked1" && el.Get("type") == "error" })
	ok("unblock", b.IQ(`<iq type='set' id='10'><unblock xmlns='urn:xmpp:blocking'/></iq>`))
	a.SendRaw(`<message to='bob@chatbx.test' type='chat'><body>after unblock</body></message>`)
	b.Expect("message", isMsg("after unblock"))
	// An unknown namespace.
	if r := a.IQ(`<iq type='get' id='11' to='chatbx.test'><foo xmlns='urn:unknown'/></iq>`); r.Get("type") != "error" ||
		!strings.Contains(r.String(), "service-unavailable") {
		t.Errorf("unknown iq: %s", r)
	}
}

// TestOfflineExpiredBounce: an offline message deleted by retention comes
// back to its sender as recipient-unavailable.
func TestOfflineExpiredBounce(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	a.SendRaw(`<presence/>`)
	a.SendRaw(`<message to='bob@chatbx.test' type='chat' id='exp1'><body>too late</body></message>`)
	waitFor(t, func() bool { n, _ := e.db.OfflineCount(context.Background(), "bob"); return n == 1 })
	n, err := e.db.ExpireOffline(context.Background(), time.Now().Add(time.Hour), func(user string, m store.OfflineMessage) {
		e.srv.OfflineExpired(user, m.Stanza)
	})
	if err != nil || n != 1 {
		t.Fatalf("ExpireOffline = %d, %v", n, err)
	}
	r := a.Expect("bounce", func(el *wire.Element) bool { return el.Local == "message" && el.Get("id") == "exp1" })
	if r.Get("type") != "error" || !strings.Contains(r.String(), "recipient-unavailable") || r.Get("from") != "bob@chatbx.test" {
		t.Errorf("bounce = %s", r)
	}
}

// TestOwnPresenceEcho: the resource that sends its initial presence gets it
// back (RFC 6121 §4.2.2).
func TestOwnPresenceEcho(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	a := e.login(t, "alice")
	a.SendRaw(`<presence><show>away</show></presence>`)
	p := a.Expect("own presence", func(el *wire.Element) bool { return el.Local == "presence" })
	if p.Get("from") != a.JID || p.ChildText(wire.NSClient, "show") != "away" {
		t.Errorf("echo = %s", p)
	}
}

// TestShutdownWhileNegotiating: a connection that has not finished
// negotiating does not hold up shutdown until its deadline.
func TestShutdownWhileNegotiating(t *testing.T) {
	e := start(t) // negotiation timeout: the 30 s default
	conn, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='chatbx.test' version='1.0'>`)
	buf := make([]byte, 512)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	conn.Read(buf) // the features: the connection is being served
	began := time.Now()
	e.stop()
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("shutdown took %v with a negotiating connection", took)
	}
	out, _ := io.ReadAll(conn)
	if !strings.Contains(string(out), "system-shutdown") {
		t.Errorf("negotiating stream got %q, want system-shutdown", out)
	}
}

// TestBlockingPresence: blocking a subscribed contact sends it unavailable
// presence and stops later presence; unblocking sends the current presence
// again (XEP-0191 §3.3, §3.4). Blocklist pushes go to the sessions that
// asked for the blocklist.
func TestBlockingPresence(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	ctx := context.Background()
	for _, p := range [][2]string{{"alice", "bob@chatbx.test"}, {"bob", "alice@chatbx.test"}} {
		if _, err := e.db.PutRosterItem(ctx, p[0], store.RosterItem{JID: p[1], Sub: store.SubBoth}); err != nil {
			t.Fatal(err)
		}
	}
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	b.SendRaw(`<presence/>`)
	b.IQ(`<iq type='get' id='s'><ping xmlns='urn:xmpp:ping'/></iq>`)
	a.IQ(`<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
	a.SendRaw(`<presence/>`)
	b.Expect("alice online", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("type") == "" && el.Get("from") == a.JID
	})
	a.SendRaw(`<iq type='set' id='blk'><block xmlns='urn:xmpp:blocking'><item jid='bob@chatbx.test'/></block></iq>`)
	a.Expect("block push", func(el *wire.Element) bool {
		return el.Local == "iq" && el.Get("type") == "set" && el.Child("urn:xmpp:blocking", "block") != nil
	})
	b.Expect("unavailable on block", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("type") == "unavailable" && el.Get("from") == a.JID
	})
	a.SendRaw(`<presence><show>dnd</show></presence>`)
	a.IQ(`<iq type='get' id='s2'><ping xmlns='urn:xmpp:ping'/></iq>`)
	b.SendRaw(`<iq type='get' id='s3'><ping xmlns='urn:xmpp:ping'/></iq>`)
	// bob must see nothing from alice before his ping's answer.
	for {
		el, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		if el.Local == "presence" && strings.HasPrefix(el.Get("from"), "alice@") {
			t.Fatalf("blocked contact got presence: %s", el)
		}
		if el.Local == "iq" && el.Get("id") == "s3" {
			break
		}
	}
	a.IQ(`<iq type='set' id='ub'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@chatbx.test'/></unblock></iq>`)
	p := b.Expect("presence on unblock", func(el *wire.Element) bool {
		return el.Local == "presence" && el.Get("from") == a.JID
	})
	if p.ChildText(wire.NSClient, "show") != "dnd" {
		t.Errorf("presence after unblock = %s", p)
	}
}

// panicky is a service whose handler panics, standing in for a bug.
type panicky struct{}

func (panicky) Namespaces() []string { return []string{"urn:test:panic"} }
func (panicky) Features() []string   { return nil }
func (panicky) Handle(context.Context, iq.Context, *wire.Element) *wire.Element {
	panic("handler bug")
}

// TestPanicEndsOneSession: a panic while handling one stanza ends that
// session with internal-server-error; everyone else is served on.
func TestPanicEndsOneSession(t *testing.T) {
	e := start(t, func(c *server.Config) { c.Extra = append(c.Extra, panicky{}) })
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	a.SendRaw(`<iq type='get' id='boom' to='chatbx.test'><x xmlns='urn:test:panic'/></iq>`)
	el := a.Expect("stream error", func(el *wire.Element) bool { return el.Local == "error" })
	if el.FirstChild().Local != "internal-server-error" {
		t.Errorf("after a panic: %s", el)
	}
	if r := b.IQ(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Get("type") != "result" {
		t.Errorf("other session after a panic: %s", r)
	}
	e.login(t, "alice").Close()
}

// TestCarbons: XEP-0280 sent and received copies to the user's other
// resources that enabled carbons; <private/> messages are not copied.
func TestCarbons(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	phone := e.login(t, "alice", xmpptest.Options{Resource: "phone"})
	laptop := e.login(t, "alice", xmpptest.Options{Resource: "laptop"})
	b := e.login(t, "bob")
	for _, c := range []*xmpptest.Client{phone, laptop} {
		if r := c.IQ(`<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>`); r.Get("type") != "result" {
			t.Fatalf("enable carbons: %s", r)
		}
		c.SendRaw(`<presence/>`)
	}
	b.SendRaw(`<presence/>`)
	b.IQ(`<iq type='get' id='s'><ping xmlns='urn:xmpp:ping'/></iq>`)
	forwarded := func(kind, body string) func(*wire.Element) bool {
		return func(el *wire.Element) bool {
			k := el.Child("urn:xmpp:carbons:2", kind)
			if el.Local != "message" || k == nil {
				return false
			}
			m := k.Child("urn:xmpp:forward:0", "forwarded").Child(wire.NSClient, "message")
			return m != nil && m.ChildText(wire.NSClient, "body") == body
		}
	}
	// Received: bob writes to the phone; the laptop gets a copy.
	b.SendRaw(`<message to='` + phone.JID + `' type='chat'><body>to the phone</body></message>`)
	phone.Expect("message", isMsg("to the phone"))
	c := laptop.Expect("received carbon", forwarded("received", "to the phone"))
	if c.Get("from") != "alice@chatbx.test" {
		t.Errorf("carbon from %q, want the bare JID", c.Get("from"))
	}
	// Sent: the phone writes to bob; the laptop gets a copy.
	phone.SendRaw(`<message to='bob@chatbx.test' type='chat'><body>from the phone</body></message>`)
	b.Expect("message", isMsg("from the phone"))
	laptop.Expect("sent carbon", forwarded("sent", "from the phone"))
	// Private: no copy, and the marker does not reach bob.
	phone.SendRaw(`<message to='bob@chatbx.test' type='chat'><body>private</body><private xmlns='urn:xmpp:carbons:2'/></message>`)
	m := b.Expect("message", isMsg("private"))
	if m.Child("urn:xmpp:carbons:2", "private") != nil {
		t.Errorf("private marker forwarded: %s", m)
	}
	laptop.SendRaw(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		el, err := laptop.Next()
		if err != nil {
			t.Fatal(err)
		}
		if forwarded("sent", "private")(el) {
			t.Fatal("a private message was copied")
		}
		if el.Local == "iq" && el.Get("id") == "sync" {
			break
		}
	}
	// Disabled: no more copies.
	laptop.IQ(`<iq type='set' id='cd'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
	phone.SendRaw(`<message to='bob@chatbx.test' type='chat'><body>after disable</body></message>`)
	b.Expect("message", isMsg("after disable"))
	laptop.SendRaw(`<iq type='get' id='sync2'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		el, err := laptop.Next()
		if err != nil {
			t.Fatal(err)
		}
		if forwarded("sent", "after disable")(el) {
			t.Fatal("copied after disable")
		}
		if el.Local == "iq" && el.Get("id") == "sync2" {
			break
		}
	}
}
