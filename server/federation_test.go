package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/metrics"
	"chatbx/server"
	"chatbx/server/s2s"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

// peer is one chatbx instance of a federation test.
type peer struct {
	domain string
	srv    *server.Server
	db     *store.DB
	ca     *xmpptest.CA
	leaf   tls.Certificate
	c2s    string
	s2s    string
	conn   *syncBuf
	cancel context.CancelFunc
	done   chan error
	mod    func(*server.Config, *server.Deps)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago (the peers must know each other's s2s ports before they start).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// newPeer prepares an instance for domain with a certificate from ca;
// hosts maps the other test domains to their s2s addresses.
func newPeer(t testing.TB, ca *xmpptest.CA, domain string, hosts map[string]string, mod func(*server.Config, *server.Deps)) *peer {
	t.Helper()
	p := &peer{domain: domain, db: storetest.Open(t), ca: ca, leaf: ca.Issue(t, nil, domain),
		s2s: freeAddr(t), conn: &syncBuf{}, mod: mod}
	hosts[domain] = p.s2s
	return p
}

func (p *peer) start(t testing.TB, hosts map[string]string) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Domain = p.domain
	cfg.C2SListen = "127.0.0.1:0"
	cfg.C2SListenTLS = "127.0.0.1:0"
	sc := s2s.DefaultConfig()
	sc.Listen = p.s2s
	sc.ListenTLS = ""
	sc.Hosts = hosts
	sc.ConnectTimeout = 30 * time.Second
	cfg.S2S = &sc
	leaf := p.leaf
	d := server.Deps{
		DB: p.db, Log: testLog(), ConnLog: zerolog.New(p.conn), Anon: anon{},
		StartTLS:  func(string) *tls.Config { return &tls.Config{Certificates: []tls.Certificate{leaf}} },
		DirectTLS: &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"xmpp-client"}},
	}
	d.S2S.Roots = p.ca.Pool
	if p.mod != nil {
		p.mod(&cfg, &d)
	}
	srv, err := server.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan error, 1)
	go func() { p.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-p.done:
		t.Fatal(err)
	}
	p.c2s = srv.Addrs()[0].String()
	t.Cleanup(p.stop)
}

func (p *peer) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
	p.cancel = nil
}

func (p *peer) user(t testing.TB, name string) {
	t.Helper()
	c, err := store.DeriveCredentials("secret-"+name, store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.db.CreateUser(context.Background(), name, c); err != nil {
		t.Fatal(err)
	}
}

func (p *peer) login(t testing.TB, name string) *xmpptest.Client {
	t.Helper()
	return xmpptest.Login(t, p.c2s, p.domain, name, "secret-"+name, xmpptest.Options{Pool: p.ca.Pool})
}

// federation starts a.test and b.test with certificates from one CA.
func federation(t testing.TB, mod func(*server.Config, *server.Deps)) (a, b *peer, hosts map[string]string) {
	t.Helper()
	ca := xmpptest.NewCA(t, "ca.test")
	hosts = map[string]string{}
	a = newPeer(t, ca, "a.test", hosts, mod)
	b = newPeer(t, ca, "b.test", hosts, mod)
	a.start(t, hosts)
	b.start(t, hosts)
	return a, b, hosts
}

func presenceOf(typ, from string) func(*wire.Element) bool {
	return func(e *wire.Element) bool {
		return e.Local == "presence" && e.Get("type") == typ && strings.HasPrefix(e.Get("from"), from)
	}
}

func rosterPush(jid, sub string) func(*wire.Element) bool {
	return func(e *wire.Element) bool {
		if e.Local != "iq" || e.Get("type") != "set" {
			return false
		}
		q := e.Child("jabber:iq:roster", "query")
		if q == nil {
			return false
		}
		it := q.Child("jabber:iq:roster", "item")
		return it != nil && it.Get("jid") == jid && it.Get("subscription") == sub
	}
}

// TestFederation: two chatbx instances with certificates from one CA
// (SASL EXTERNAL both ways): a presence subscription handshake in each
// direction, presence, messages both ways, vcard-temp and disco across,
// and a PEP notification to a remote contact.
func TestFederation(t *testing.T) {
	a, b, _ := federation(t, nil)
	a.user(t, "alice")
	b.user(t, "bob")
	alice := a.login(t, "alice")
	bob := b.login(t, "bob")
	alice.IQ(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	bob.IQ(`<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>`)
	alice.SendRaw(`<presence/>`)
	bob.SendRaw(`<presence/>`)

	// alice subscribes to bob; bob approves (RFC 6121 §3.1).
	alice.SendRaw(`<presence to='bob@b.test' type='subscribe'/>`)
	bob.Expect("subscribe from alice", presenceOf("subscribe", "alice@a.test"))
	bob.SendRaw(`<presence to='alice@a.test' type='subscribed'/>`)
	alice.Expect("roster push: to", rosterPush("bob@b.test", "to"))
	alice.Expect("bob's presence", presenceOf("", "bob@b.test/"))

	// bob subscribes to alice; alice approves.
	bob.SendRaw(`<presence to='alice@a.test' type='subscribe'/>`)
	alice.Expect("subscribe from bob", presenceOf("subscribe", "bob@b.test"))
	alice.SendRaw(`<presence to='bob@b.test' type='subscribed'/>`)
	bob.Expect("roster push: both", rosterPush("alice@a.test", "both"))
	bob.Expect("alice's presence", presenceOf("", "alice@a.test/"))

	// Messages both ways.
	alice.SendRaw(`<message to='bob@b.test' type='chat' id='m1'><body>hello bob</body></message>`)
	m := bob.Expect("message from alice", isMsg("hello bob"))
	if !strings.HasPrefix(m.Get("from"), "alice@a.test/") {
		t.Errorf("from = %q", m.Get("from"))
	}
	bob.SendRaw(`<message to='alice@a.test' type='chat' id='m2'><body>hello alice</body></message>`)
	alice.Expect("message from bob", isMsg("hello alice"))

	// vcard-temp and disco across.
	r := bob.IQ(`<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Bob B</FN></vCard></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("vcard set: %s", xmpptest.String(r))
	}
	r = alice.IQ(`<iq type='get' id='v2' to='bob@b.test'><vCard xmlns='vcard-temp'/></iq>`)
	if r.Get("type") != "result" || r.Get("from") != "bob@b.test" ||
		r.Child("vcard-temp", "vCard").ChildText("vcard-temp", "FN") != "Bob B" {
		t.Fatalf("remote vcard: %s", xmpptest.String(r))
	}
	r = alice.IQ(`<iq type='get' id='d1' to='b.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if r.Get("type") != "result" || r.Child("http://jabber.org/protocol/disco#info", "query").Child("http://jabber.org/protocol/disco#info", "identity") == nil {
		t.Fatalf("remote disco#info: %s", xmpptest.String(r))
	}
	r = alice.IQ(`<iq type='get' id='d2' to='bob@b.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("disco#info of a remote contact: %s", xmpptest.String(r))
	}
	r = alice.IQ(`<iq type='get' id='p1' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("remote ping: %s", xmpptest.String(r))
	}
	// A set to the remote server's address is refused.
	r = alice.IQ(`<iq type='set' id='x1' to='b.test'><query xmlns='jabber:iq:private'><x xmlns='urn:example'/></query></iq>`)
	if r.Get("type") != "error" {
		t.Fatalf("remote private set: %s", xmpptest.String(r))
	}

	// PEP (XEP-0163): bob publishes; alice, a remote contact with a
	// subscription whose client asked for the node, is notified.
	available(t, alice, &capsClient{name: "tune", features: []string{nsInfo, "urn:xmpp:tune+notify"}}, true)
	r = bob.IQ(`<iq type='set' id='pub1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:tune'><item id='t1'><tune xmlns='urn:xmpp:tune'><title>Song</title></tune></item></publish></pubsub></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("publish: %s", xmpptest.String(r))
	}
	ev := alice.Expect("pep event", func(e *wire.Element) bool {
		return e.Local == "message" && e.Child("http://jabber.org/protocol/pubsub#event", "event") != nil
	})
	if ev.Get("from") != "bob@b.test" {
		t.Errorf("event from %q", ev.Get("from"))
	}

	// The connection logs name the remote domain, nothing of the users.
	for _, p := range []*peer{a, b} {
		log := p.conn.String()
		// One stream may carry both directions (XEP-0288): the
		// initiator logs s2s-out, the receiver s2s-in and s2s-bidi.
		if !strings.Contains(log, `"event":"s2s-out"`) && !(strings.Contains(log, `"event":"s2s-in"`) && strings.Contains(log, `"event":"s2s-bidi"`)) {
			t.Errorf("%s connection log lacks s2s events: %s", p.domain, log)
		}
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "s2s") && (strings.Contains(line, "alice") || strings.Contains(line, "bob") || strings.Contains(line, "127.0.0")) {
				t.Errorf("%s s2s log line names users or addresses: %s", p.domain, line)
			}
		}
	}
}

// TestFederationRestart: b.test restarts while a.test sends; every
// message a.test accepted ends up in bob's offline storage or is bounced
// to alice with an error, none is lost.
func TestFederationRestart(t *testing.T) {
	a, b, hosts := federation(t, nil)
	a.user(t, "alice")
	b.user(t, "bob")
	alice := a.login(t, "alice")
	const n = 300
	send := func(from, to int) {
		for i := from; i < to; i++ {
			alice.SendRaw(fmt.Sprintf(`<message to='bob@b.test' type='chat' id='r%d'><body>m%d</body></message>`, i, i))
		}
	}
	send(0, n/2)
	// Wait until traffic flows, then restart b while more is sent.
	for deadline := time.Now().Add(xmpptest.Wait); ; {
		if c, _ := b.db.OfflineCount(context.Background(), "bob"); c >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message reached b.test")
		}
		time.Sleep(10 * time.Millisecond)
	}
	go send(n/2, n)
	t0 := time.Now()
	b.stop()
	t.Logf("stopped after %v", time.Since(t0))
	b.start(t, hosts)
	t.Logf("restarted after %v", time.Since(t0))
	bounces := make(chan string, n)
	go func() {
		for {
			el, err := alice.Next()
			if err != nil {
				return
			}
			if el.Local == "message" && el.Get("type") == "error" {
				bounces <- el.Get("id")
			}
		}
	}()
	bounced := map[string]bool{}
	deadline := time.After(xmpptest.Wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case id := <-bounces:
			bounced[id] = true
			continue
		case <-tick.C:
		case <-deadline:
			ac, bc := a.srv.S2S().Counters(), b.srv.S2S().Counters()
			t.Fatalf("messages neither stored nor bounced after %v (bounced %d; a sent %d bounced %d, b received %d)",
				xmpptest.Wait, len(bounced), ac.Sent.Load(), ac.Bounced.Load(), bc.Received.Load())
		}
		stored := map[string]bool{}
		msgs, err := b.db.Offline(context.Background(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			el, err := wire.Parse(m.Stanza)
			if err != nil {
				t.Fatal(err)
			}
			stored[el.Get("id")] = true
		}
		missing := 0
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("r%d", i)
			if !stored[id] && !bounced[id] {
				missing++
			}
		}
		if missing == 0 {
			t.Logf("stored %d, bounced %d (offline share full) after %v", len(stored), len(bounced), time.Since(t0))
			return
		}
	}
}

// TestFederationRefused: with secure_auth, a peer whose certificate does
// not name its domain, one from another CA, and one that offers no TLS
// are refused (the sender gets remote-server-not-found), an
// unauthenticated inbound stream cannot send stanzas, and a blocked
// domain is refused both ways; the good peer stays reachable.
func TestFederationRefused(t *testing.T) {
	ca := xmpptest.NewCA(t, "ca.test")
	hosts := map[string]string{}
	a := newPeer(t, ca, "a.test", hosts, func(c *server.Config, _ *server.Deps) {
		c.S2S.BlockDomains = []string{"blocked.test"}
	})
	b := newPeer(t, ca, "b.test", hosts, nil)
	bad := newPeer(t, ca, "bad.test", hosts, nil)
	bad.leaf = ca.Issue(t, nil, "other.test") // names another domain
	other := xmpptest.NewCA(t, "evil.test")
	evil := newPeer(t, other, "evil.test", hosts, nil)
	evil.leaf = other.Issue(t, nil, "evil.test") // a CA a.test does not trust
	blocked := newPeer(t, ca, "blocked.test", hosts, nil)
	for _, p := range []*peer{a, b, bad, evil, blocked} {
		p.start(t, hosts)
	}
	a.user(t, "alice")
	b.user(t, "bob")
	bad.user(t, "mallory")
	evil.user(t, "eve")
	blocked.user(t, "spam")
	alice := a.login(t, "alice")
	alice.SendRaw(`<presence/>`)

	for _, to := range []string{"x@bad.test", "x@evil.test", "x@blocked.test"} {
		alice.SendRaw(`<message to='` + to + `' type='chat' id='to-` + to + `'><body>hi</body></message>`)
		m := alice.Expect("bounce from "+to, func(e *wire.Element) bool { return e.Get("id") == "to-"+to })
		if m.Get("type") != "error" {
			t.Errorf("message to %s: %s", to, xmpptest.String(m))
		}
	}
	bob := b.login(t, "bob")
	bob.SendRaw(`<presence/>`)
	alice.SendRaw(`<message to='bob@b.test' type='chat' id='ok'><body>fine</body></message>`)
	bob.Expect("message from alice", isMsg("fine"))

	// Inbound: the refused peers cannot reach alice; their senders
	// learn it.
	for _, p := range []*peer{bad, evil, blocked} {
		u := map[string]string{"bad.test": "mallory", "evil.test": "eve", "blocked.test": "spam"}[p.domain]
		c := xmpptest.Login(t, p.c2s, p.domain, u, "secret-"+u, xmpptest.Options{NoSNI: true})
		c.SendRaw(`<message to='alice@a.test' type='chat' id='in'><body>let me in</body></message>`)
		m := c.Expect("bounce at "+p.domain, func(e *wire.Element) bool { return e.Get("id") == "in" })
		if m.Get("type") != "error" {
			t.Errorf("%s → alice: %s", p.domain, xmpptest.String(m))
		}
	}
	// An inbound stream without TLS gets nothing but STARTTLS.
	raw, err := net.Dial("tcp", a.s2s)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(xmpptest.Wait))
	raw.Write([]byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='b.test' to='a.test' version='1.0'><message from='bob@b.test' to='alice@a.test'><body>plain</body></message>`))
	var got strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := raw.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(got.String(), "policy-violation") {
		t.Errorf("plaintext stanza: %q", got.String())
	}
	alice.SendRaw(`<iq type='get' id='last'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.Expect("nothing from refused peers", func(e *wire.Element) bool {
		if e.Local == "message" && e.Get("type") != "error" {
			t.Errorf("alice got %s", xmpptest.String(e))
		}
		return e.Get("id") == "last"
	})
}

// fakePeer listens on loopback and runs fn for each connection.
func fakePeer(t testing.TB, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestFederationDeadPeer: a peer that accepts and never answers, and one
// that offers no TLS: stanzas to them bounce (after the connect timeout),
// a flood beyond the queue bound is bounced at once, and another domain
// is unaffected meanwhile.
func TestFederationDeadPeer(t *testing.T) {
	ca := xmpptest.NewCA(t, "ca.test")
	hosts := map[string]string{}
	dead := fakePeer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	plain := fakePeer(t, func(c net.Conn) {
		c.Write([]byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='plain.test' version='1.0'><stream:features/>`))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	hosts["dead.test"] = dead
	hosts["plain.test"] = plain
	a := newPeer(t, ca, "a.test", hosts, func(c *server.Config, _ *server.Deps) {
		c.S2S.ConnectTimeout = 3 * time.Second
		c.S2S.QueueBytes = 16 << 10
	})
	b := newPeer(t, ca, "b.test", hosts, nil)
	a.start(t, hosts)
	b.start(t, hosts)
	a.user(t, "alice")
	b.user(t, "bob")
	alice := a.login(t, "alice")
	bob := b.login(t, "bob")
	bob.SendRaw(`<presence/>`)

	body := strings.Repeat("x", 1000)
	const n = 100 // about 100 KiB: far beyond the 16 KiB queue
	for i := 0; i < n; i++ {
		alice.SendRaw(fmt.Sprintf(`<message to='x@dead.test' type='chat' id='d%d'><body>%s</body></message>`, i, body))
	}
	alice.SendRaw(`<message to='x@plain.test' type='chat' id='plain'><body>hi</body></message>`)
	alice.SendRaw(`<message to='bob@b.test' type='chat' id='live'><body>still here</body></message>`)
	bob.Expect("message while dead.test hangs", isMsg("still here"))

	conds := map[string]int{}
	for seen := 0; seen < n+1; {
		m := alice.Expect("bounces", func(e *wire.Element) bool { return e.Local == "message" && e.Get("type") == "error" })
		seen++
		for _, c := range m.Child(wire.NSClient, "error").Elements() {
			if c.Space == wire.NSStanzas && c.Local != "text" {
				conds[c.Local]++
				if m.Get("id") == "plain" && c.Local != "remote-server-not-found" {
					t.Errorf("no-TLS peer: %s", c.Local)
				}
			}
		}
	}
	if conds["resource-constraint"] == 0 || conds["remote-server-timeout"] == 0 {
		t.Errorf("bounce conditions = %v, want resource-constraint (queue bound) and remote-server-timeout", conds)
	}
}

func testLog() zerolog.Logger {
	if os.Getenv("S2S_DEBUG") != "" {
		return zerolog.New(os.Stderr).Level(zerolog.DebugLevel)
	}
	return zerolog.Nop()
}

// TestFederationStrangers: the per-account stranger policy for messages
// from other servers, set with the disco-listed ad-hoc command: accept
// (first contacts limited per remote domain), only contacts' servers,
// only contacts; a refused sender gets service-unavailable.
func TestFederationStrangers(t *testing.T) {
	a, b, _ := federation(t, nil)
	a.user(t, "alice")
	b.user(t, "bob")
	alice := a.login(t, "alice")
	alice.SendRaw(`<presence/>`)
	bob := b.login(t, "bob")

	r := alice.IQ(`<iq type='get' id='i1' to='a.test'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`)
	if !strings.Contains(xmpptest.String(r), "urn:chatbx:strangers") {
		t.Fatalf("command not listed: %s", xmpptest.String(r))
	}
	set := func(policy string) {
		t.Helper()
		r := alice.IQ(`<iq type='set' id='c1' to='a.test'><command xmlns='http://jabber.org/protocol/commands' node='urn:chatbx:strangers' action='execute'/></iq>`)
		cmd := r.Child("http://jabber.org/protocol/commands", "command")
		if cmd == nil || cmd.Get("status") != "executing" {
			t.Fatalf("execute: %s", xmpptest.String(r))
		}
		r = alice.IQ(`<iq type='set' id='c2' to='a.test'><command xmlns='http://jabber.org/protocol/commands' node='urn:chatbx:strangers' sessionid='` + cmd.Get("sessionid") + `' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='policy'><value>` + policy + `</value></field></x></command></iq>`)
		if c := r.Child("http://jabber.org/protocol/commands", "command"); c == nil || c.Get("status") != "completed" {
			t.Fatalf("complete %s: %s", policy, xmpptest.String(r))
		}
	}
	n := 0
	send := func() string {
		n++
		id := fmt.Sprintf("s%d", n)
		bob.SendRaw(`<message to='alice@a.test' type='chat' id='` + id + `'><body>` + id + `</body></message>`)
		return id
	}
	delivered := func(id string) {
		t.Helper()
		alice.Expect("message "+id, isMsg(id))
	}
	refused := func(id string) {
		t.Helper()
		m := bob.Expect("bounce "+id, func(e *wire.Element) bool { return e.Get("id") == id })
		if m.Get("type") != "error" || m.Child(wire.NSClient, "error").Child(wire.NSStanzas, "service-unavailable") == nil {
			t.Fatalf("message %s: %s", id, xmpptest.String(m))
		}
	}
	delivered(send()) // default: accept

	set("contacts")
	refused(send())

	set("servers")
	refused(send())
	r = alice.IQ(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='carol@b.test'/></query></iq>`)
	if r.Get("type") != "result" {
		t.Fatal(xmpptest.String(r))
	}
	delivered(send()) // alice has a contact on b.test now

	// accept: first contacts from one domain are limited.
	set("accept")
	const burst = 40
	ids := map[string]bool{}
	for range burst {
		ids[send()] = true
	}
	// The budget is 30 a minute per remote domain (one was spent above):
	// at least 10 of these are refused.
	for i := 0; i < burst-30; i++ {
		bob.Expect("first-contact limit", func(e *wire.Element) bool { return ids[e.Get("id")] && e.Get("type") == "error" })
	}
	// A contact is not limited.
	r = alice.IQ(`<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='bob@b.test'/></query></iq>`)
	if r.Get("type") != "result" {
		t.Fatal(xmpptest.String(r))
	}
	for range 5 {
		delivered(send())
	}

	// XEP-0377: a block with a spam report is counted per remote domain
	// (no JIDs, no content).
	r = alice.IQ(`<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@b.test'><report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item></block></iq>`)
	if r.Get("type") != "result" {
		t.Fatal(xmpptest.String(r))
	}
	if got := a.srv.S2S().SpamReports(); len(got) != 1 || got[0].Domain != "b.test" || got[0].Count != 1 {
		t.Errorf("spam reports = %v", got)
	}
}

// TestFederationIdle: an idle link is closed after s2s.idle_timeout and
// opened again for the next stanza.
func TestFederationIdle(t *testing.T) {
	var met []*metrics.Metrics // a's, then b's: the s2s links gauge
	a, b, _ := federation(t, func(c *server.Config, d *server.Deps) {
		c.S2S.IdleTimeout = 200 * time.Millisecond
		d.Metrics = metrics.New(metrics.Sources{})
		met = append(met, d.Metrics)
	})
	a.user(t, "alice")
	b.user(t, "bob")
	alice := a.login(t, "alice")
	bob := b.login(t, "bob")
	bob.IQ(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='alice@a.test'/></query></iq>`)
	bob.SendRaw(`<presence/>`)
	bob.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for i, body := range []string{"first", "second"} {
		alice.SendRaw(`<message to='bob@b.test' type='chat'><body>` + body + `</body></message>`)
		bob.Expect(body, isMsg(body))
		// Until a's link logs its close, a counts it (the gauge drops
		// after the log line).
		if g := met[0].S2SLinks().Value(); i == 0 && g == 0 && !strings.Contains(a.conn.String(), `"event":"s2s-out-closed"`) {
			t.Error("s2s links gauge 0 while a's link is open")
		}
		deadline := time.Now().Add(xmpptest.Wait)
		for strings.Count(a.conn.String(), `"event":"s2s-out-closed"`) < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("link not closed after the idle timeout: %s", a.conn.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Both ends closed: the gauges come back to 0.
	deadline := time.Now().Add(xmpptest.Wait)
	for met[0].S2SLinks().Value() != 0 || met[1].S2SLinks().Value() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("s2s links gauges %d, %d after the links closed, want 0", met[0].S2SLinks().Value(), met[1].S2SLinks().Value())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(a.conn.String(), `"event":"s2s-out","domain":"b.test"`); n != 2 {
		t.Errorf("outbound streams = %d, want 2 (one per message)", n)
	}
}

// TestFederationFlood: a peer that sends faster than
// s2s.stanzas_per_second is slowed down (its stream is read later), not
// cut off: every stanza arrives, no sooner than the rate allows.
func TestFederationFlood(t *testing.T) {
	a, b, _ := federation(t, func(c *server.Config, _ *server.Deps) {
		c.S2S.StanzasPerSecond, c.S2S.StanzaBurst = 100, 10
	})
	a.user(t, "alice")
	b.user(t, "bob")
	alice := a.login(t, "alice")
	alice.IQ(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='bob@b.test'/></query></iq>`)
	alice.SendRaw(`<presence/>`)
	alice.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	bob := b.login(t, "bob")
	const n = 200
	start := time.Now()
	for i := 0; i < n; i++ {
		bob.SendRaw(fmt.Sprintf(`<message to='alice@a.test' type='chat' id='f%d'><body>f%d</body></message>`, i, i))
	}
	for i := 0; i < n; i++ {
		alice.Expect("flood message", isMsg(fmt.Sprintf("f%d", i)))
	}
	// 190 stanzas beyond the burst at 100/s: at least 1.9 s.
	if took := time.Since(start); took < 1800*time.Millisecond {
		t.Errorf("%d stanzas arrived in %v: the rate limit did not hold", n, took)
	}
}
