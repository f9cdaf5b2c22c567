package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"chatbx/internal/admin"
	"chatbx/internal/certs"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

var (
	_ admin.Handler = inviteHandlers(inviteLinks{}, nil, nil)["invite create"]
	// inviteLinkRE finds the two links `invite create` prints.
	inviteLinkRE = regexp.MustCompile(`(https://\S+/invite/(\S+))\n\s+(xmpp:\S+\?register;preauth=(\S+))\n`)
)

// inviteToken returns the token from the output of `invite create`,
// checking that both links carry it.
func inviteToken(t *testing.T, out string) string {
	t.Helper()
	m := inviteLinkRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("invite create printed %q, want a landing page link and a preauth URI", out)
	}
	if m[2] != m[4] {
		t.Fatalf("invite create printed two tokens: %q and %q", m[2], m[4])
	}
	return m[2]
}

func TestInviteOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		flags   map[string]string
		uses    int
		expires time.Duration
		ok      bool
	}{
		{"defaults", nil, 1, 7 * day, true},
		{"uses", map[string]string{"uses": "5"}, 5, 7 * day, true},
		{"days", map[string]string{"expires": "2d"}, 1, 2 * day, true},
		{"hours", map[string]string{"expires": "12h", "uses": "3"}, 3, 12 * time.Hour, true},
		{"maximum", map[string]string{"expires": "30d", "uses": "1000"}, 1000, 30 * day, true},
		{"seconds", map[string]string{"expires": "1s"}, 1, time.Second, true},
		{"zero uses", map[string]string{"uses": "0"}, 0, 0, false},
		{"negative uses", map[string]string{"uses": "-1"}, 0, 0, false},
		{"too many uses", map[string]string{"uses": "1001"}, 0, 0, false},
		{"uses not a number", map[string]string{"uses": "two"}, 0, 0, false},
		{"too long", map[string]string{"expires": "31d"}, 0, 0, false},
		{"zero expiry", map[string]string{"expires": "0"}, 0, 0, false},
		{"bad expiry", map[string]string{"expires": "soon"}, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uses, expires, err := inviteOptions(tc.flags)
			if (err == nil) != tc.ok || tc.ok && (uses != tc.uses || expires != tc.expires) {
				t.Errorf("inviteOptions(%v) = %d, %v, %v; want %d, %v, ok %v", tc.flags, uses, expires, err, tc.uses, tc.expires, tc.ok)
			}
		})
	}
}

// TestInviteAdapter: the adapter given to the invite page, in-band
// registration and retention follows the store with its clock.
func TestInviteAdapter(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	inv := storeInvites{db: db, now: func() time.Time { return now }}
	h := inviteHandlers(inviteLinks{Domain: "example.org", Site: "https://chat.example.org"}, db, func() time.Time { return t0 })
	resp, err := h["invite create"](ctx, admin.Request{Cmd: "invite create", Flags: map[string]string{"uses": "2", "expires": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := inviteToken(t, resp.Output)
	if !strings.Contains(resp.Output, "https://chat.example.org/invite/"+tok) || !strings.Contains(resp.Output, "xmpp:example.org?register;preauth="+tok) {
		t.Errorf("invite create printed %q", resp.Output)
	}
	if !strings.Contains(resp.Output, "2 registrations, valid until 2026-11-01T13:00:00Z") {
		t.Errorf("invite create printed %q, want its uses and expiry", resp.Output)
	}
	steps := []struct {
		at          time.Duration
		valid, used bool
	}{
		{0, true, true},
		{59 * time.Minute, true, true}, // the second and last use
		{59 * time.Minute, false, false},
	}
	for i, s := range steps {
		now = t0.Add(s.at)
		if ok, err := inv.InviteValid(ctx, tok); ok != s.valid || err != nil {
			t.Errorf("step %d: InviteValid() = %v, %v; want %v", i, ok, err, s.valid)
		}
		if ok, err := inv.UseInvite(ctx, tok); ok != s.used || err != nil {
			t.Errorf("step %d: UseInvite() = %v, %v; want %v", i, ok, err, s.used)
		}
	}
	// An expired invite is invalid before the sweep and gone after it.
	resp, err = h["invite create"](ctx, admin.Request{Cmd: "invite create", Flags: map[string]string{"expires": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	tok = inviteToken(t, resp.Output)
	now = t0.Add(time.Hour)
	if ok, _ := inv.InviteValid(ctx, tok); ok {
		t.Error("InviteValid() at the expiry = true")
	}
	if n, err := inv.Sweep(ctx, now.Add(-time.Nanosecond)); n != 0 || err != nil {
		t.Errorf("Sweep(just before the expiry) = %d, %v; want 0", n, err)
	}
	if n, err := inv.Sweep(ctx, now); n != 1 || err != nil {
		t.Errorf("Sweep(at the expiry) = %d, %v; want 1", n, err)
	}
	if ok, err := inv.InviteValid(ctx, "no-such-token-1234"); ok || err != nil {
		t.Errorf("InviteValid(unknown) = %v, %v", ok, err)
	}
}

// TestInviteCommandsDirect runs the invite commands on the database
// while no server runs, with their exit codes.
func TestInviteCommandsDirect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	te := newTestEnv(t)
	base := []string{"--dev", "--data-dir", dir}
	run := func(want int, args ...string) string {
		t.Helper()
		if got := te.runWith("", append(args, base...)...); got != want {
			t.Fatalf("run(%q) = %d, want %d\nstdout: %s\nstderr: %s", args, got, want, te.out, te.errOut)
		}
		return te.out.String()
	}
	// No database yet: a wrong --data-dir is an error, not a new database.
	run(exitError, "invite", "create")
	if !strings.Contains(te.errOut.String(), "no database") {
		t.Errorf("invite create without a database: stderr %q", te.errOut)
	}
	if got := te.runWith("alice-pw\n", "user", "add", "--dev", "--data-dir", dir, "alice"); got != exitOK {
		t.Fatalf("user add = %d: %s", got, te.errOut)
	}
	for _, args := range [][]string{
		{"invite"},
		{"invite", "frob"},
		{"invite", "create", "extra"},
		{"invite", "create", "--uses", "0"},
		{"invite", "create", "--expires", "31d"},
		{"invite", "create", "--unknown-flag"},
		{"invite", "list", "extra"},
		{"invite", "delete"},
	} {
		run(exitUsage, args...)
	}
	tok := inviteToken(t, run(exitOK, "invite", "create", "--uses", "3", "--expires", "2d"))
	if out := te.out.String(); !strings.Contains(out, "https://localhost") || !strings.Contains(out, "xmpp:localhost?register;preauth=") {
		t.Errorf("invite create printed %q", out)
	}
	tok2 := inviteToken(t, run(exitOK, "invite", "create"))
	list := run(exitOK, "invite", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 2 || !strings.Contains(list, "uses 3") || !strings.Contains(list, "uses 1") || !strings.Contains(list, "by operator") {
		t.Errorf("invite list = %q, want two invites", list)
	}
	if strings.Contains(list, tok) || strings.Contains(list, tok2) {
		t.Errorf("invite list = %q shows a token", list)
	}
	run(exitError, "invite", "delete", "no-such-invite-token")
	run(exitOK, "invite", "delete", tok)
	run(exitError, "invite", "delete", tok)
	// The second one by the ID that invite list shows.
	id, _, _ := strings.Cut(strings.TrimSpace(run(exitOK, "invite", "list")), " ")
	run(exitOK, "invite", "delete", id)
	if out := run(exitOK, "invite", "list"); out != "" {
		t.Errorf("invite list after deleting both = %q", out)
	}
	// Privacy: the database holds no token.
	scanDir(t, dir, tok, tok2)
}

// streamHeader opens a client stream to localhost.
const streamHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`

// preAuthClient is a c2s stream after STARTTLS and before SASL, where
// in-band registration (XEP-0077 §3.1) happens.
type preAuthClient struct {
	t        *testing.T
	conn     net.Conn
	dec      *wire.Decoder
	features *wire.Element
}

// dialPreAuth connects to the STARTTLS listener at addr, upgrades the
// stream to TLS and reads the stream features offered before SASL.
func dialPreAuth(t *testing.T, addr string, pool *x509.CertPool) *preAuthClient {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, xmpptest.Wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(xmpptest.Wait))
	c := &preAuthClient{t: t, conn: raw}
	c.open()
	if c.features.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls") == nil {
		t.Fatalf("no STARTTLS offered: %s", c.features)
	}
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.next(); el.Local != "proceed" {
		t.Fatalf("STARTTLS answered %s", el)
	}
	tc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn = tc
	c.open()
	return c
}

func (c *preAuthClient) open() {
	c.t.Helper()
	c.send(streamHeader)
	c.dec = wire.NewDecoder(c.conn, 0)
	if _, err := c.dec.Header(); err != nil {
		c.t.Fatalf("stream header: %v", err)
	}
	c.features = c.next()
	if c.features.Local != "features" {
		c.t.Fatalf("want stream features, got %s", c.features)
	}
}

func (c *preAuthClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

func (c *preAuthClient) next() *wire.Element {
	c.t.Helper()
	el, err := c.dec.Next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return el
}

// register sends a XEP-0077 registration with the invite token in the
// form's <key/> field and returns the answer.
func (c *preAuthClient) register(user, pass, token string) *wire.Element {
	c.t.Helper()
	q := wire.New("jabber:iq:register", "query").Add(
		wire.New("jabber:iq:register", "username").AddText(user),
		wire.New("jabber:iq:register", "password").AddText(pass),
		wire.New("jabber:iq:register", "key").AddText(token),
	)
	iq := wire.New(wire.NSClient, "iq", "type", "set", "id", "reg-"+user).Add(q)
	c.send(string(iq.Bytes(wire.NSClient)))
	return c.next()
}

func (c *preAuthClient) close() {
	io.WriteString(c.conn, `</stream:stream>`)
	c.conn.Close()
}

// stanzaError returns the defined condition of an IQ error, or "".
func stanzaError(el *wire.Element) string {
	if el.Get("type") != "error" {
		return ""
	}
	if e := el.Child(wire.NSClient, "error"); e != nil {
		for _, c := range e.Elements() {
			if c.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" {
				return c.Local
			}
		}
	}
	return "?"
}

// TestInviteEndToEnd: with accounts.registration = invite, a token from
// `chatbx invite create` lets a client register in-band over a real
// stream, once; the landing page knows it until it is used; an expired
// invite is removed by the retention sweep.
func TestInviteEndToEnd(t *testing.T) {
	t.Parallel()
	const carolPW = "carol-pw-19fe"
	dir := t.TempDir()
	a, stop := runTestServer(t, dir, map[string]string{
		"accounts.registration":   "invite",
		"retention.sweep":         "1s",
		"c2s.negotiation_timeout": "5s",
	})
	te := newTestEnv(t)
	te.openDirect = func(context.Context, Config, bool) (*admin.Handlers, func() error, error) {
		t.Error("invite command opened the database while the server runs")
		return nil, nil, errLocked
	}
	cli := func(want int, args ...string) string {
		t.Helper()
		if got := te.runWith("", append(args, "--dev", "--data-dir", dir)...); got != want {
			t.Fatalf("run(%q) = %d, want %d\nstderr: %s", args, got, want, te.errOut)
		}
		return te.out.String()
	}
	out := cli(exitOK, "invite", "create")
	tok := inviteToken(t, out)
	// The landing page link names the running server's HTTPS port.
	pageURL := "https://localhost:" + strings.TrimPrefix(a.addrs.https.String(), "127.0.0.1:") + "/invite/" + tok
	if !strings.Contains(out, pageURL+"\n") {
		t.Errorf("invite create printed %q, want %s", out, pageURL)
	}

	pemBytes, err := os.ReadFile(filepath.Join(dir, certs.DevCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	web := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, a.addrs.https.String())
		},
	}}
	page := func(token string) (int, string) {
		t.Helper()
		resp, err := web.Get("https://localhost/invite/" + token)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := page(tok); status != http.StatusOK || !strings.Contains(body, "preauth="+tok) {
		t.Errorf("GET /invite/TOKEN = %d, want 200 with the preauth URI", status)
	}

	xmpp := a.addrs.xmpp()
	c := dialPreAuth(t, xmpp[0].String(), pool)
	if c.features.Child("http://jabber.org/features/iq-register", "register") == nil {
		t.Errorf("features before SASL %s offer no in-band registration", c.features)
	}
	c.send(`<iq type='get' id='form'><query xmlns='jabber:iq:register'/></iq>`)
	if form := c.next(); form.Get("type") != "result" || form.Child("jabber:iq:register", "query").Child("jabber:iq:register", "key") == nil {
		t.Errorf("registration form %s asks for no invite key", form)
	}
	if res := c.register("carol", carolPW, tok); res.Get("type") != "result" {
		t.Fatalf("registration with the invite = %s, want a result", res)
	}
	c.close()
	carol := xmpptest.Login(t, xmpp[0].String(), "localhost", "carol", carolPW, xmpptest.Options{Pool: pool})
	carol.Close()

	// The invite had one use: a second registration is refused.
	c = dialPreAuth(t, xmpp[0].String(), pool)
	if res := c.register("dave", "dave-pw-5c2a", tok); stanzaError(res) != "not-allowed" {
		t.Errorf("second registration with a used invite = %s, want not-allowed", res)
	}
	c.close()
	if _, err := xmpptest.Dial(t, xmpp[0].String(), "localhost", "dave", "dave-pw-5c2a", xmpptest.Options{Pool: pool}); err == nil {
		t.Error("dave can log in without a valid invite")
	}
	if status, _ := page(tok); status != http.StatusNotFound {
		t.Errorf("GET /invite/TOKEN of a used invite = %d, want 404", status)
	}
	if out := cli(exitOK, "invite", "list"); out != "" {
		t.Errorf("invite list after the only use = %q, want nothing", out)
	}

	// XEP-0401: the token sent as <preauth/> before the registration form
	// (as invite-aware clients do) is checked at once and then spent by a
	// registration that carries no <key/>; a bogus token is refused.
	tok2 := inviteToken(t, cli(exitOK, "invite", "create"))
	c = dialPreAuth(t, xmpp[0].String(), pool)
	c.send(`<iq type='set' id='pa0'><preauth xmlns='urn:xmpp:pars:0' token='not-a-token'/></iq>`)
	if res := c.next(); stanzaError(res) != "item-not-found" {
		t.Errorf("preauth with a bogus token = %s, want item-not-found", res)
	}
	c.send(`<iq type='set' id='pa1'><preauth xmlns='urn:xmpp:pars:0' token='` + tok2 + `'/></iq>`)
	if res := c.next(); res.Get("type") != "result" {
		t.Fatalf("preauth with a valid token = %s, want a result", res)
	}
	c.send(`<iq type='set' id='reg-erin'><query xmlns='jabber:iq:register'><username>erin</username><password>erin-pw-71d3</password></query></iq>`)
	if res := c.next(); res.Get("type") != "result" {
		t.Fatalf("registration after preauth = %s, want a result", res)
	}
	c.close()
	xmpptest.Login(t, xmpp[0].String(), "localhost", "erin", "erin-pw-71d3", xmpptest.Options{Pool: pool}).Close()
	if out := cli(exitOK, "invite", "list"); out != "" {
		t.Errorf("invite list after the preauth registration = %q, want nothing", out)
	}

	// An invite valid for one second is gone after the next sweep
	// (retention.sweep = 1s), without anyone using it.
	short := inviteToken(t, cli(exitOK, "invite", "create", "--expires", "1s"))
	deadline := time.Now().Add(xmpptest.Wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for cli(exitOK, "invite", "list") != "" {
		if time.Now().After(deadline) {
			t.Fatalf("the expired invite is still stored: %q", te.out)
		}
		<-tick.C
	}
	if status, _ := page(short); status != http.StatusNotFound {
		t.Errorf("GET /invite/TOKEN of an expired invite = %d, want 404", status)
	}
	stop()
	// Privacy: no token in the logs or the database file.
	scanDir(t, dir, tok, short, carolPW)
	if _, err := os.Stat(filepath.Join(dir, dbFileName)); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, dbFileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if list, err := db.Invites(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("invites after the test = %v, %v; want none", list, err)
	}
}
