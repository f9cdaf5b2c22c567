package c2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/carbons"
	"chatbx/server/offline"
	"chatbx/server/roster"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

const limitsDomain = "limits.test"

// eventLog is a zerolog sink that tests can wait on.
type eventLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every write
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// find returns the first line containing every one of subs.
func (l *eventLog) find(subs ...string) (string, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, line := range l.lines {
		for _, s := range subs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		return line, nil
	}
	return "", l.changed
}

// wait returns the first line containing every one of subs, waiting for
// it with a generous deadline.
func (l *eventLog) wait(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		line, changed := l.find(subs...)
		if changed == nil {
			return line
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line with %q; log:\n%s", subs, l.String())
		}
	}
}

// next returns a channel that is closed at the next write.
func (l *eventLog) next() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "")
}

type limitsAnon struct{}

func (limitsAnon) IP(net.Addr) string { return "127.0.0.0" }

type limitsEnv struct {
	srv           *Server
	db            *store.DB
	ca            *xmpptest.CA
	log           *eventLog
	plain, direct string
	stop          func() // shuts the server down (again at cleanup: no-op)
}

func startLimits(t testing.TB, mod func(*Config), before ...func(*Server)) *limitsEnv {
	t.Helper()
	e := &limitsEnv{db: storetest.Open(t), ca: xmpptest.NewCA(t, limitsDomain), log: newEventLog()}
	cfg := DefaultConfig()
	cfg.Domain = limitsDomain
	cfg.Listen, cfg.ListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	mod(&cfg)
	e.srv = New(cfg, Deps{
		DB: e.db, Log: zerolog.New(e.log), ConnLog: zerolog.Nop(), Anon: limitsAnon{},
		StartTLS:  func(string) *tls.Config { return e.ca.ServerConfig() },
		DirectTLS: e.ca.ServerConfig("xmpp-client"),
	})
	// The IM handlers that server/services.go registers.
	roster.New(e.db, e.srv).Register(e.srv.mux)
	carbons.Register(e.srv.mux)
	offline.New(e.db, offline.Config{Domain: cfg.Domain, Max: cfg.OfflineMax, Log: zerolog.New(e.log)}).Register(e.srv.mux)
	for _, f := range before {
		f(e.srv) // hooks, before Run
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx) }()
	select {
	case <-e.srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(e.stop)
	e.plain, e.direct = e.srv.Addrs()[0].String(), e.srv.Addrs()[1].String()
	return e
}

func (e *limitsEnv) user(t testing.TB, name string) {
	t.Helper()
	c, err := store.DeriveCredentials("secret-"+name, store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateUser(context.Background(), name, c); err != nil {
		t.Fatal(err)
	}
}

func (e *limitsEnv) dial(t testing.TB, name string, direct bool, resource string) (*xmpptest.Client, error) {
	t.Helper()
	addr := e.plain
	if direct {
		addr = e.direct
	}
	return xmpptest.Dial(t, addr, limitsDomain, name, "secret-"+name,
		xmpptest.Options{Pool: e.ca.Pool, Direct: direct, Resource: resource})
}

func (e *limitsEnv) login(t *testing.T, name string, direct bool, resource string) *xmpptest.Client {
	t.Helper()
	c, err := e.dial(t, name, direct, resource)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return c
}

// readToEnd reads c until its stream ends and returns what it read and the
// stream error condition, if any.
func readToEnd(c *xmpptest.Client) (els []*wire.Element, condition string) {
	for {
		el, err := c.Next()
		if err != nil {
			return els, condition
		}
		if el.Local == "error" && el.Space == "http://etherx.jabber.org/streams" {
			if f := el.FirstChild(); f != nil {
				condition = f.Local
			}
			continue
		}
		els = append(els, el)
	}
}

// TestQueueBytesBound: a client that does not read, flooded with large
// messages by another user, has its queue bounded in bytes (not only in
// stanzas): its stream ends with <policy-violation/> once the queue holds
// c2s.queue_bytes, the sender is never blocked, and every message the
// server accepted reaches the recipient, live or from offline storage at
// its next login (or is bounced to the sender). Fails on main before
// QueueBytes: 100 stanzas stay below QueueMax, so the queue grows by
// every message the recipient does not read.
func TestQueueBytesBound(t *testing.T) {
	// The flood (1.6 MB) is several times what the socket buffers of a
	// client that does not read take in (a few hundred KiB on Linux
	// loopback) plus the queue, and below the store's default offline
	// share of one sender (store.DefaultLimits), so that nothing is
	// bounced.
	const (
		queueBytes = 64 << 10
		n          = 100
		bodySize   = 16 << 10
	)
	e := startLimits(t, func(c *Config) {
		c.QueueBytes = queueBytes
		c.OfflineMax = 10 * n
		// The stuck write keeps its deadline after the overflow; the
		// test reads the stream's end only after the flood.
		c.WriteTimeout = 3 * time.Minute
	})
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice", false, "a")
	b := e.login(t, "bob", true, "r")

	// bob does not read. alice floods him with n messages.
	body := strings.Repeat("x", bodySize)
	var flood bytes.Buffer
	for i := range n {
		fmt.Fprintf(&flood, `<message to='bob@%s/r' type='chat' id='m%d'><body>%s</body></message>`, limitsDomain, i, body)
	}
	a.Conn.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	if _, err := a.Conn.Write(flood.Bytes()); err != nil {
		t.Fatalf("sender blocked: %v", err)
	}
	// The server routed every message before it answers this IQ; the
	// only other stanzas alice gets are bounces.
	a.SendRaw(`<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>`)
	bounced := map[string]bool{}
	for {
		el, err := a.Next()
		if err != nil {
			t.Fatalf("sender: %v", err)
		}
		if el.Local == "iq" && el.Get("id") == "after" {
			break // answered (no ping service in this bare server)
		}
		if el.Local == "message" && el.Get("type") == "error" {
			bounced[el.Get("id")] = true
		}
	}

	line, _ := e.log.find("queue full")
	if line == "" {
		t.Fatalf("%d messages of %d KiB queued for a client that does not read: the stream was not ended", n, bodySize>>10)
	}
	var full struct{ Stanzas, Bytes int }
	if err := json.Unmarshal([]byte(line), &full); err != nil {
		t.Fatal(err)
	}
	if full.Bytes > queueBytes || full.Bytes+bodySize+200 <= queueBytes {
		t.Errorf("queue full at %d bytes, want just below %d", full.Bytes, queueBytes)
	}

	// bob reads now: what was written before the cut, then the stream
	// error.
	got := map[string]bool{}
	els, cond := readToEnd(b)
	for _, el := range els {
		if el.Local == "message" {
			got[el.Get("id")] = true
		}
	}
	if cond != "policy-violation" {
		t.Errorf("stream end: condition %q, want policy-violation", cond)
	}
	t.Logf("bob got %d live, alice got %d bounces, queue full at %d stanzas, %d bytes", len(got), len(bounced), full.Stanzas, full.Bytes)

	// The rest waited in offline storage and comes at the next login,
	// although it is larger than the queue.
	stored, err := e.db.OfflineCount(context.Background(), "bob")
	if err != nil || stored == 0 {
		t.Fatalf("offline storage holds %d messages for bob (%v)", stored, err)
	}
	b2 := e.login(t, "bob", false, "r2")
	b2.SendRaw(`<presence/>`)
	missing := func() int {
		m := 0
		for i := range n {
			id := "m" + strconv.Itoa(i)
			if !got[id] && !bounced[id] {
				m++
			}
		}
		return m
	}
	offline := 0
	for missing() > 0 {
		el, err := b2.Next()
		if err != nil {
			t.Fatalf("offline delivery: %v; %d messages never arrived", err, missing())
		}
		if el.Local == "message" && el.Child("urn:xmpp:delay", "delay") != nil {
			if el.ChildText(wire.NSClient, "body") != body {
				t.Fatalf("offline message %s: body changed", el.Get("id"))
			}
			got[el.Get("id")] = true
			offline++
		}
	}
	if offline == 0 {
		t.Error("nothing came from offline storage")
	}
}

// TestEncodedSize: the queue's size estimate follows the encoded size.
func TestEncodedSize(t *testing.T) {
	for _, tc := range []string{
		`<message to='a@b' type='chat'><body>hi</body></message>`,
		`<message to='a@b'><body>` + strings.Repeat("y", 10000) + `</body><x xmlns='urn:other' a='1'/></message>`,
		`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>`,
		`<iq type='result' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b' name='A'/><item jid='c@d'/></query></iq>`,
	} {
		el := xmpptest.Parse(t, tc)
		real := len(el.Bytes(wire.NSClient))
		est := encodedSize(el, wire.NSClient)
		if est < real/2 || est > 2*real {
			t.Errorf("encodedSize(%s) = %d, encoded %d", tc, est, real)
		}
	}
}

// probe opens a connection that stays unauthenticated: a stream header
// on the STARTTLS port, a TLS handshake on the direct TLS port. It
// returns nil when the server closed the connection instead.
func (e *limitsEnv) probe(t *testing.T, direct bool) net.Conn {
	t.Helper()
	addr := e.plain
	if direct {
		addr = e.direct
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if direct {
		tc := tls.Client(c, &tls.Config{RootCAs: e.ca.Pool, ServerName: limitsDomain, NextProtos: []string{"xmpp-client"}})
		if err := tc.Handshake(); err != nil {
			return nil
		}
		return tc
	}
	fmt.Fprintf(c, `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>`, limitsDomain)
	if _, err := wire.NewDecoder(c, 0).Header(); err != nil {
		return nil
	}
	return c
}

// end closes a probe's stream and waits until the server has closed the
// connection (which it uncounts first).
func end(t *testing.T, c net.Conn) {
	t.Helper()
	c.Write([]byte(`</stream:stream>`))
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not close the connection")
			}
			return
		}
	}
}

// endClient closes a logged-in client's stream and waits for the server to
// close it.
func endClient(c *xmpptest.Client) {
	c.SendRaw(`</stream:stream>`)
	readToEnd(c)
}

// TestConnectionCaps: c2s.max_connections and c2s.max_unauthenticated
// hold across both listeners, refused connections are closed at once and
// logged with counts, and both caps recover when connections close.
// Fails on main before the caps (every probe is accepted).
func TestConnectionCaps(t *testing.T) {
	e := startLimits(t, func(c *Config) {
		c.MaxConnections = 5
		c.MaxUnauthenticated = 2
	})
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		e.user(t, u)
	}
	a := e.login(t, "alice", false, "")
	e.login(t, "bob", true, "")
	// Authenticated sessions do not count against the unauthenticated cap.
	p1 := e.probe(t, false)
	p2 := e.probe(t, true)
	if p1 == nil || p2 == nil {
		t.Fatal("connections under both caps refused")
	}
	for _, direct := range []bool{false, true} {
		if e.probe(t, direct) != nil {
			t.Fatalf("third unauthenticated connection accepted (direct TLS %v)", direct)
		}
	}
	line := e.log.wait(t, "connection limit reached", "c2s.max_unauthenticated")
	if !strings.Contains(line, `"unauthenticated":2`) || !strings.Contains(line, `"refused":1`) {
		t.Errorf("warning: %s", line)
	}
	// Closing one makes room; a login needs that room while it
	// negotiates, then leaves it.
	end(t, p1)
	e.login(t, "carol", false, "")
	p3 := e.probe(t, true)
	if p3 == nil {
		t.Fatal("unauthenticated connection refused after one closed and one authenticated")
	}
	end(t, p2)
	e.login(t, "dave", true, "")
	// Five open (alice, bob, carol, dave, p3), one unauthenticated: the
	// global cap refuses both kinds.
	if e.probe(t, false) != nil {
		t.Fatal("sixth connection accepted")
	}
	if _, err := e.dial(t, "erin", true, ""); err == nil {
		t.Fatal("sixth connection logged in")
	}
	// The warning is rate limited: the count of refusals is logged later.
	if l, _ := e.log.find("c2s.max_connections"); l != "" {
		t.Errorf("second warning within %v: %s", refusedEvery, l)
	}
	if n, u := e.srv.conns.Load(), e.srv.unauth.Load(); n != 5 || u != 1 {
		t.Errorf("counted %d connections, %d unauthenticated; want 5, 1", n, u)
	}
	endClient(a)
	e.login(t, "erin", false, "")
	end(t, p3)
	if n, u := e.srv.conns.Load(), e.srv.unauth.Load(); n != 4 || u != 0 {
		t.Errorf("counted %d connections, %d unauthenticated; want 4, 0", n, u)
	}
	if strings.Contains(e.log.String(), "127.0.0.1") {
		t.Errorf("log holds addresses:\n%s", e.log.String())
	}
}
