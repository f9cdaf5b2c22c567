package server_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/sasl"

	"chatbx/internal/metrics"
	"chatbx/server"
	"chatbx/server/auth"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

// SASL2 (XEP-0388), Bind2 (XEP-0386), FAST (XEP-0484) and XEP-0474 with a
// raw client over real TLS.

const (
	nsSASL2 = "urn:xmpp:sasl:2"
	nsBind2 = "urn:xmpp:bind:0"
	nsFast  = "urn:xmpp:fast:0"
)

// connect2 opens a stream that offers SASL2.
func connect2(t *testing.T, e *env) *xmpptest.Client {
	t.Helper()
	c, err := xmpptest.Connect(t, e.plain, domain, xmpptest.Options{Pool: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if c.Features.Child(nsSASL2, "authentication") == nil {
		t.Fatalf("no SASL2 offered: %s", c.Features)
	}
	return c
}

// scram2 runs one SASL2 SCRAM-SHA-256 exchange with extra children in
// <authenticate/>. It returns <success/> (its additional data checked by
// the client) or <failure/>, and the server-first-message.
func scram2(t *testing.T, c *xmpptest.Client, user, pass, extra string) (*wire.Element, string) {
	t.Helper()
	return scram2Mech(t, c, sasl.ScramSha256, user, pass, extra)
}

// scram2Mech is scram2 with SCRAM mechanism mech (a -PLUS one binds to the
// TLS connection as mellium/sasl does: tls-exporter on TLS 1.3).
func scram2Mech(t *testing.T, c *xmpptest.Client, mech sasl.Mechanism, user, pass, extra string) (*wire.Element, string) {
	t.Helper()
	return scram2State(t, c, mech, c.Conn.(*tls.Conn).ConnectionState(), user, pass, extra)
}

// scram2State is scram2Mech binding to the TLS connection state cs (of
// another connection, to test that a wrong binding fails).
func scram2State(t *testing.T, c *xmpptest.Client, mech sasl.Mechanism, cs tls.ConnectionState, user, pass, extra string) (*wire.Element, string) {
	t.Helper()
	var remote []string
	for _, m := range c.Features.Child(nsSASL2, "authentication").Elements() {
		if m.Local == "mechanism" {
			remote = append(remote, m.Text())
		}
	}
	neg := sasl.NewClient(mech,
		sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(pass), nil }),
		sasl.RemoteMechanisms(remote...), sasl.TLSState(cs))
	_, first, err := neg.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SendRaw(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='` + mech.Name + `'><initial-response>` +
		base64.StdEncoding.EncodeToString(first) + `</initial-response>` + extra + `</authenticate>`)
	serverFirst := ""
	for {
		el, err := c.Next()
		if err != nil {
			t.Fatalf("SASL2: %v", err)
		}
		switch {
		case el.Space == nsSASL2 && el.Local == "challenge":
			ch, _ := base64.StdEncoding.DecodeString(el.Text())
			serverFirst = string(ch)
			_, resp, err := neg.Step(ch)
			if err != nil {
				t.Fatal(err)
			}
			c.SendRaw(`<response xmlns='urn:xmpp:sasl:2'>` + base64.StdEncoding.EncodeToString(resp) + `</response>`)
		case el.Space == nsSASL2 && el.Local == "success":
			add, _ := base64.StdEncoding.DecodeString(el.ChildText(nsSASL2, "additional-data"))
			if _, _, err := neg.Step(add); err != nil {
				t.Fatalf("server signature in additional-data: %v", err)
			}
			return el, serverFirst
		case el.Space == nsSASL2 && el.Local == "failure":
			return el, serverFirst
		default:
			t.Fatalf("SASL2: unexpected %s", el)
		}
	}
}

// htProof is the HT-SHA-256-NONE initial response for token.
func htProof(user, token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	return base64.StdEncoding.EncodeToString(append([]byte(user+"\x00"), m.Sum(nil)...))
}

// fast2 logs in with a FAST token; fastAttrs go on <fast/>.
func fast2(t *testing.T, c *xmpptest.Client, user, token, uaid, fastAttrs, extra string) *wire.Element {
	t.Helper()
	return fastMech(t, c, auth.HTNone, nil, user, token, uaid, fastAttrs, extra)
}

// fastMech logs in with a FAST token with mechanism mech and channel
// binding data cb.
func fastMech(t *testing.T, c *xmpptest.Client, mech string, cb []byte, user, token, uaid, fastAttrs, extra string) *wire.Element {
	t.Helper()
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	m.Write(cb)
	proof := base64.StdEncoding.EncodeToString(append([]byte(user+"\x00"), m.Sum(nil)...))
	c.SendRaw(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='` + mech + `'><initial-response>` + proof +
		`</initial-response><user-agent id='` + uaid + `'><software>test</software></user-agent><fast xmlns='urn:xmpp:fast:0' ` +
		fastAttrs + `/>` + extra + `</authenticate>`)
	el, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	if el.Local == "success" {
		m := hmac.New(sha256.New, []byte(token))
		m.Write([]byte("Responder"))
		m.Write(cb)
		if got := el.ChildText(nsSASL2, "additional-data"); got != base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			t.Errorf("FAST success additional data %q, want the responder HMAC", got)
		}
	}
	return el
}

// cond returns a failure's SASL condition, or "success".
func cond(el *wire.Element) string {
	if el.Local == "success" {
		return "success"
	}
	for _, c := range el.Elements() {
		if c.Space == "urn:ietf:params:xml:ns:xmpp-sasl" {
			return c.Local
		}
	}
	return "?" + el.String()
}

// features reads the stream features that follow SASL2 success.
func features(t *testing.T, c *xmpptest.Client) *wire.Element {
	t.Helper()
	el, err := c.Next()
	if err != nil || el.Local != "features" || el.Space != "http://etherx.jabber.org/streams" {
		t.Fatalf("after success: %v %v, want stream features without a restart", el, err)
	}
	return el
}

// TestSASL2SCRAM: SASL2 is offered beside SASL with the same mechanisms,
// Bind2 (with carbons inline) and FAST; a SCRAM login succeeds with the
// server signature in additional-data and a bare authorization
// identifier; the server-first-message carries the XEP-0474 hash of the
// offered lists; features follow without a restart and RFC 6120 bind works.
func TestSASL2SCRAM(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.user(t, "alice")
	c := connect2(t, e)
	a := c.Features.Child(nsSASL2, "authentication")
	var mechs []string
	for _, m := range a.Elements() {
		if m.Local == "mechanism" {
			mechs = append(mechs, m.Text())
		}
	}
	var legacy []string
	for _, m := range c.Features.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms").Elements() {
		legacy = append(legacy, m.Text())
	}
	if fmt.Sprint(mechs) != fmt.Sprint(legacy) {
		t.Errorf("SASL2 mechanisms %v, legacy %v; want the same", mechs, legacy)
	}
	inline := a.Child(nsSASL2, "inline")
	if inline == nil || inline.Child(nsBind2, "bind") == nil || inline.Child(nsFast, "fast") == nil {
		t.Fatalf("inline features: %s", a)
	}
	if f := inline.Child(nsBind2, "bind").Child(nsBind2, "inline"); f == nil || !strings.Contains(f.String(), "urn:xmpp:carbons:2") {
		t.Errorf("Bind2 inline features %s, want carbons", f)
	}
	var fm []string
	for _, m := range inline.Child(nsFast, "fast").Elements() {
		fm = append(fm, m.Text())
	}
	// TCP knows its certificate (ENDP); EXPR needs c2s.sasl_plus.
	if want := []string{auth.HTEndp, auth.HTNone}; fmt.Sprint(fm) != fmt.Sprint(want) {
		t.Errorf("FAST mechanisms %q, want %q", fm, want)
	}
	ok, serverFirst := scram2(t, c, "alice", "secret-alice", `<user-agent id='ua-1'><software>t</software></user-agent>`)
	if cond(ok) != "success" {
		t.Fatalf("SASL2 SCRAM: %s", ok)
	}
	if got := ok.ChildText(nsSASL2, "authorization-identifier"); got != "alice@"+domain {
		t.Errorf("authorization-identifier %q, want the bare JID", got)
	}
	wantH := "h=" + auth.SSDP(sha256.New, mechs, nil)
	if !strings.HasSuffix(serverFirst, ","+wantH) {
		t.Errorf("server-first %q, want XEP-0474 %s", serverFirst, wantH)
	}
	f := features(t, c)
	if f.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil || f.Child(nsSASL2, "authentication") != nil {
		t.Errorf("features after SASL2 success: %s, want bind and no SASL2", f)
	}
	r := c.IQ(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r1</resource></bind></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("bind after SASL2: %s", r)
	}
	if r := c.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Get("type") != "result" {
		t.Errorf("ping: %s", r)
	}
	if log := e.conn.String(); !strings.Contains(log, `"event":"login","user":"alice"`) {
		t.Errorf("connection log %q has no login line", log)
	}
}

// TestSASL2SCRAMPlus: with c2s.sasl_plus, SASL2 offers SCRAM-SHA-256-PLUS
// and a login with tls-exporter channel binding (TLS 1.3) succeeds, with
// the server signature checked by the client, and the XEP-0474 hash covers
// the offered channel binding types; the session then binds and works.
func TestSASL2SCRAMPlus(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *server.Config) { c.SASLPlus = true })
	e.user(t, "alice")
	c := connect2(t, e)
	if v := c.Conn.(*tls.Conn).ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("TLS version %x, want 1.3 (tls-exporter)", v)
	}
	var mechs, cbs []string
	for _, m := range c.Features.Child(nsSASL2, "authentication").Elements() {
		if m.Local == "mechanism" {
			mechs = append(mechs, m.Text())
		}
	}
	if !strings.Contains(" "+strings.Join(mechs, " ")+" ", " SCRAM-SHA-256-PLUS ") {
		t.Fatalf("SASL2 mechanisms %v, want SCRAM-SHA-256-PLUS", mechs)
	}
	if cb := c.Features.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding"); cb != nil {
		for _, ch := range cb.Elements() {
			cbs = append(cbs, ch.Get("type"))
		}
	}
	if !strings.Contains(fmt.Sprint(cbs), "tls-exporter") {
		t.Errorf("channel binding types %v, want tls-exporter", cbs)
	}
	ok, serverFirst := scram2Mech(t, c, sasl.ScramSha256Plus, "alice", "secret-alice", `<user-agent id='ua-plus'/>`)
	if cond(ok) != "success" {
		t.Fatalf("SASL2 SCRAM-SHA-256-PLUS: %s", ok)
	}
	if got := ok.ChildText(nsSASL2, "authorization-identifier"); got != "alice@"+domain {
		t.Errorf("authorization-identifier %q", got)
	}
	if wantH := "h=" + auth.SSDP(sha256.New, mechs, cbs); !strings.HasSuffix(serverFirst, ","+wantH) {
		t.Errorf("server-first %q, want XEP-0474 %s", serverFirst, wantH)
	}
	features(t, c)
	if r := c.IQ(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r1</resource></bind></iq>`); r.Get("type") != "result" {
		t.Fatalf("bind after SASL2 -PLUS: %s", r)
	}
	if r := c.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Get("type") != "result" {
		t.Errorf("ping: %s", r)
	}
	// Binding data of another TLS connection (a relayed login) fails.
	c1, c2 := connect2(t, e), connect2(t, e)
	if el, _ := scram2State(t, c1, sasl.ScramSha256Plus, c2.Conn.(*tls.Conn).ConnectionState(), "alice", "secret-alice", ""); cond(el) != "not-authorized" {
		t.Errorf("-PLUS with another connection's binding: %s", el)
	}
}

// TestSSDPLegacySHA1 checks XEP-0474's hash in legacy SASL too, with
// SHA-1 for SCRAM-SHA-1.
func TestSSDPLegacySHA1(t *testing.T) {
	t.Parallel()
	e := start(t)
	c, err := xmpptest.Connect(t, e.plain, domain, xmpptest.Options{Pool: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	var mechs []string
	for _, m := range c.Features.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms").Elements() {
		mechs = append(mechs, m.Text())
	}
	c.SendRaw(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>` +
		base64.StdEncoding.EncodeToString([]byte("n,,n=nobody,r=abcdef")) + `</auth>`)
	el, err := c.Next()
	if err != nil || el.Local != "challenge" {
		t.Fatalf("challenge: %v %v", el, err)
	}
	sf, _ := base64.StdEncoding.DecodeString(el.Text())
	if want := ",h=" + auth.SSDP(sha1.New, mechs, nil); !strings.HasSuffix(string(sf), want) {
		t.Errorf("server-first %q, want it to end with %q", sf, want)
	}
}

// TestSASL2Failure: a wrong password and an unknown mechanism fail with
// their conditions, the stream stays usable, the auth-failure line is
// logged, and the next attempt on the same stream succeeds.
func TestSASL2Failure(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.user(t, "alice")
	c := connect2(t, e)
	if el, _ := scram2(t, c, "alice", "wrong", ""); cond(el) != "not-authorized" {
		t.Errorf("wrong password: %s, want not-authorized", el)
	}
	c.SendRaw(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X-NOPE'/>`)
	if el, err := c.Next(); err != nil || cond(el) != "invalid-mechanism" {
		t.Errorf("unknown mechanism: %v %v, want invalid-mechanism", el, err)
	}
	c.SendRaw(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>!!!</initial-response></authenticate>`)
	if el, err := c.Next(); err != nil || cond(el) != "incorrect-encoding" {
		t.Errorf("bad base64: %v %v, want incorrect-encoding", el, err)
	}
	if el, _ := scram2(t, c, "alice", "secret-alice", ""); cond(el) != "success" {
		t.Errorf("right password after failures: %s", el)
	}
	if log := e.conn.String(); !strings.Contains(log, `"event":"auth-failure"`) {
		t.Errorf("connection log %q has no auth-failure line", log)
	}
}

// TestSASL2Attempts: five failures on one stream end it (RFC 6120 §6.4.5).
func TestSASL2Attempts(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := connect2(t, e)
	for range 5 {
		c.SendRaw(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X-NOPE'/>`)
		if el, err := c.Next(); err != nil || el.Local != "failure" {
			t.Fatalf("attempt: %v %v", el, err)
		}
	}
	el, err := c.Next()
	if err == nil && !(el.Local == "error" && el.Child("urn:ietf:params:xml:ns:xmpp-streams", "policy-violation") != nil) {
		t.Errorf("after 5 failures: %s, want policy-violation", el)
	}
}

// TestBind2: a Bind2 request binds tag.suffix with carbons enabled
// inline; the full JID is the authorization identifier; the same
// user-agent id gets the same resource again (the old session gets
// conflict); carbons work without an IQ.
func TestBind2(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	bob := e.login(t, "bob")
	bob.SendRaw(`<presence/>`)
	bind := `<user-agent id='device-7'/><bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><enable xmlns='urn:xmpp:carbons:2'/></bind>`
	c := connect2(t, e)
	ok, _ := scram2(t, c, "alice", "secret-alice", bind)
	if cond(ok) != "success" || ok.Child(nsBind2, "bound") == nil {
		t.Fatalf("Bind2: %s", ok)
	}
	full := ok.ChildText(nsSASL2, "authorization-identifier")
	if !strings.HasPrefix(full, "alice@"+domain+"/Phone.") {
		t.Fatalf("authorization-identifier %q, want alice@%s/Phone.…", full, domain)
	}
	if f := features(t, c); f.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") != nil {
		t.Errorf("bind offered after Bind2: %s", f)
	}
	c.SendRaw(`<presence/>`)
	if r := c.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Get("type") != "result" {
		t.Fatalf("ping after Bind2: %s", r)
	}
	// Carbons were enabled inline: a message another resource sends
	// comes back as a carbon.
	other := e.login(t, "alice", xmpptest.Options{Resource: "desk"})
	other.SendRaw(`<message to='bob@` + domain + `' type='chat' id='m1'><body>carbon test</body></message>`)
	c.Expect("carbon", func(el *wire.Element) bool {
		return el.Local == "message" && el.Child("urn:xmpp:carbons:2", "sent") != nil
	})
	// The same device again gets the same resource; the old stream ends.
	c2 := connect2(t, e)
	ok2, _ := scram2(t, c2, "alice", "secret-alice", bind)
	if got := ok2.ChildText(nsSASL2, "authorization-identifier"); got != full {
		t.Errorf("same user-agent id bound %q, want %q again", got, full)
	}
	c.Expect("conflict", func(el *wire.Element) bool {
		return el.Local == "error" && el.Child("urn:ietf:params:xml:ns:xmpp-streams", "conflict") != nil
	})
}

// startFast starts a server with a clock the test moves and the given
// FAST limits.
func startFast(t *testing.T, ttl time.Duration, max int) (*env, *offsetClock) {
	t.Helper()
	clk := &offsetClock{}
	e := startWith(t, nil, func(c *server.Config, d *server.Deps) {
		d.Now = clk.now
		c.FastTokenTTL = ttl
		c.FastMaxTokens = max
	})
	return e, clk
}

// getToken logs in with SCRAM, asks for a token for device uaid and
// returns it.
func getToken(t *testing.T, e *env, user, uaid string) string {
	t.Helper()
	c := connect2(t, e)
	defer c.Close()
	ok, _ := scram2(t, c, user, "secret-"+user, `<user-agent id='`+uaid+`'/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`)
	tok := ok.Child(nsFast, "token")
	if cond(ok) != "success" || tok == nil || len(tok.Get("token")) != auth.TokenLen {
		t.Fatalf("token request: %s", ok)
	}
	return tok.Get("token")
}

// fastLogin tries a FAST login on a new connection and returns the
// answer.
func fastLogin(t *testing.T, e *env, user, token, uaid, attrs, extra string) *wire.Element {
	t.Helper()
	c := connect2(t, e)
	defer c.Close()
	return fast2(t, c, user, token, uaid, attrs, extra)
}

// TestFASTIssueAndUse: a token asked for with a SCRAM login expires after
// fast_token_ttl, logs in (with Bind2) in one round trip, works only from
// its device and with its mechanism, and a wrong token fails. The store
// holds its hash, never the token or the user-agent id.
func TestFASTIssueAndUse(t *testing.T) {
	t.Parallel()
	e, _ := startFast(t, 24*time.Hour, 0)
	e.user(t, "alice")
	before := time.Now()
	token := getToken(t, e, "alice", "ua-fast-1")
	list, err := e.db.FastTokens(t.Context(), "alice", time.Now())
	if err != nil || len(list) != 1 {
		t.Fatalf("stored tokens: %v %v", list, err)
	}
	if exp := list[0].Expiry; exp.Before(before.Add(24*time.Hour-time.Second)) || exp.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("expiry %v, want about a day from now", exp)
	}
	c := connect2(t, e)
	ok := fast2(t, c, "alice", token, "ua-fast-1", "", `<bind xmlns='urn:xmpp:bind:0'><tag>fast</tag></bind>`)
	if cond(ok) != "success" || !strings.HasPrefix(ok.ChildText(nsSASL2, "authorization-identifier"), "alice@"+domain+"/fast.") {
		t.Fatalf("FAST login: %s", ok)
	}
	if ok.Child(nsFast, "token") != nil {
		t.Errorf("a fresh token was rotated unasked: %s", ok)
	}
	features(t, c)
	if r := c.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`); r.Get("type") != "result" {
		t.Fatalf("ping after FAST: %s", r)
	}
	for _, tc := range []struct{ name, user, token, uaid string }{
		{"wrong token", "alice", token[:len(token)-1] + "x", "ua-fast-1"},
		{"other device", "alice", token, "ua-fast-2"},
		{"other user", "bob", token, "ua-fast-1"},
	} {
		if el := fastLogin(t, e, tc.user, tc.token, tc.uaid, "", ""); cond(el) != "not-authorized" {
			t.Errorf("%s: %s, want not-authorized", tc.name, el)
		}
	}
	// No <fast/> marker or no user-agent: malformed.
	c = connect2(t, e)
	c.SendRaw(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>` + htProof("alice", token) + `</initial-response></authenticate>`)
	if el, _ := c.Next(); cond(el) != "malformed-request" {
		t.Errorf("FAST without <fast/>: %s", el)
	}
	// Privacy: neither the token nor the user-agent id is in the file
	// (bbolt writes every commit to it).
	if hits := storetest.ScanDir(t, filepath.Dir(e.db.Path()), token, "ua-fast-1"); len(hits) > 0 {
		t.Errorf("data directory holds %q", hits)
	}
}

// TestFASTReplay: a count must grow with every login with a token; once
// a client counted, a login without a count fails too.
func TestFASTReplay(t *testing.T) {
	t.Parallel()
	e, _ := startFast(t, 0, 0)
	e.user(t, "alice")
	token := getToken(t, e, "alice", "ua-r")
	for _, tc := range []struct {
		attrs, want string
	}{
		{"count='5'", "success"},
		{"count='5'", "not-authorized"},
		{"count='4'", "not-authorized"},
		{"", "not-authorized"},
		{"count='6'", "success"},
		{"count='x'", "malformed-request"},
	} {
		if el := fastLogin(t, e, "alice", token, "ua-r", tc.attrs, ""); cond(el) != tc.want {
			t.Errorf("<fast %s/>: %s, want %s", tc.attrs, el, tc.want)
		}
	}
}

// TestFASTExpiryAndRotation: a token used past half its life comes back
// with a new one; the old stays valid until the new one is used, then
// stops; a token past its expiry fails; asking for a token in a FAST login
// rotates too.
func TestFASTExpiryAndRotation(t *testing.T) {
	t.Parallel()
	const ttl = 10 * time.Hour
	e, clk := startFast(t, ttl, 0)
	e.user(t, "alice")
	old := getToken(t, e, "alice", "ua-x")
	clk.add(6 * time.Hour)
	ok := fastLogin(t, e, "alice", old, "ua-x", "", "")
	tok := ok.Child(nsFast, "token")
	if cond(ok) != "success" || tok == nil {
		t.Fatalf("login past half the life: %s, want success with a new token", ok)
	}
	next := tok.Get("token")
	// The old token still works; it is still due, so it brings another
	// new token, which replaces the unused one (XEP-0484 §4.4).
	el := fastLogin(t, e, "alice", old, "ua-x", "", "")
	if cond(el) != "success" || el.Child(nsFast, "token") == nil {
		t.Fatalf("old token before the new one was used: %s, want success with a new token", el)
	}
	if el := fastLogin(t, e, "alice", next, "ua-x", "", ""); cond(el) != "not-authorized" {
		t.Errorf("replaced unused token: %s, want not-authorized", el)
	}
	next = el.Child(nsFast, "token").Get("token")
	if el := fastLogin(t, e, "alice", next, "ua-x", "", ""); cond(el) != "success" || el.Child(nsFast, "token") != nil {
		t.Errorf("new token: %s, want success without rotation", el)
	}
	if el := fastLogin(t, e, "alice", old, "ua-x", "", ""); cond(el) != "not-authorized" {
		t.Errorf("old token after the new one was used: %s, want not-authorized", el)
	}
	// Asked rotation.
	ok = fastLogin(t, e, "alice", next, "ua-x", "", `<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`)
	if cond(ok) != "success" || ok.Child(nsFast, "token") == nil {
		t.Fatalf("requested rotation: %s", ok)
	}
	third := ok.Child(nsFast, "token").Get("token")
	clk.add(ttl + time.Minute)
	if el := fastLogin(t, e, "alice", third, "ua-x", "", ""); cond(el) != "not-authorized" {
		t.Errorf("expired token: %s, want not-authorized", el)
	}
}

// TestFASTRevocation: invalidate='true' ends a token; a password change
// and the account's deletion revoke tokens; the per-user cap drops the
// oldest device's token.
func TestFASTRevocation(t *testing.T) {
	t.Parallel()
	e, _ := startFast(t, 0, 2)
	e.user(t, "alice")
	tok := getToken(t, e, "alice", "ua-1")
	if el := fastLogin(t, e, "alice", tok, "ua-1", "invalidate='true'", ""); cond(el) != "success" || el.Child(nsFast, "token") != nil {
		t.Errorf("invalidating login: %s", el)
	}
	if el := fastLogin(t, e, "alice", tok, "ua-1", "", ""); cond(el) != "not-authorized" {
		t.Errorf("invalidated token: %s", el)
	}
	tok = getToken(t, e, "alice", "ua-1")
	c, err := store.DeriveCredentials("secret-alice", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetCredentials(t.Context(), "alice", c); err != nil {
		t.Fatal(err)
	}
	if el := fastLogin(t, e, "alice", tok, "ua-1", "", ""); cond(el) != "not-authorized" {
		t.Errorf("token after a password change: %s", el)
	}
	t1 := getToken(t, e, "alice", "ua-1")
	t2 := getToken(t, e, "alice", "ua-2")
	t3 := getToken(t, e, "alice", "ua-3")
	for _, tc := range []struct{ tok, uaid, want string }{
		{t1, "ua-1", "not-authorized"}, {t2, "ua-2", "success"}, {t3, "ua-3", "success"},
	} {
		if el := fastLogin(t, e, "alice", tc.tok, tc.uaid, "", ""); cond(el) != tc.want {
			t.Errorf("cap 2, device %s: %s, want %s", tc.uaid, el, tc.want)
		}
	}
	if err := e.db.DeleteUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	e.user(t, "alice")
	if el := fastLogin(t, e, "alice", t3, "ua-3", "", ""); cond(el) != "not-authorized" {
		t.Errorf("token after the account was deleted and made again: %s", el)
	}
}

// TestSASL2Guard: wrong FAST tokens and wrong SASL2 passwords count
// against the account guard like legacy SASL, and once it closes even the
// right token gets temporary-auth-failure.
func TestSASL2Guard(t *testing.T) {
	e, _ := startGuarded(t, 3)
	e.user(t, "alice")
	tok := getToken(t, e, "alice", "ua-g")
	var got []string
	for range 2 {
		got = append(got, cond(fastLogin(t, e, "alice", "wrong", "ua-g", "", "")))
	}
	c := connect2(t, e)
	el, _ := scram2(t, c, "alice", "wrong", "")
	got = append(got, cond(el))
	c.Close()
	got = append(got, cond(fastLogin(t, e, "alice", tok, "ua-g", "", "")))
	want := []string{"not-authorized", "not-authorized", "not-authorized", "temporary-auth-failure"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("conditions %v, want %v", got, want)
	}
}

// TestFASTEndpoint: HT-SHA-256-ENDP binds a token login to the server
// certificate (tls-server-end-point, RFC 5929): the right binding data
// logs in, other data does not, and a token issued for ENDP does not log
// in with NONE (XEP-0484: tokens are bound to their mechanism).
func TestFASTEndpoint(t *testing.T) {
	t.Parallel()
	e, _ := startFast(t, 0, 0)
	e.user(t, "alice")
	c := connect2(t, e)
	ok, _ := scram2(t, c, "alice", "secret-alice", `<user-agent id='ua-e'/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-ENDP'/>`)
	tok := ok.Child(nsFast, "token")
	if tok == nil {
		t.Fatalf("ENDP token request: %s", ok)
	}
	c.Close()
	for _, direct := range []bool{false, true} {
		c, err := xmpptest.Connect(t, map[bool]string{false: e.plain, true: e.direct}[direct], domain, xmpptest.Options{Pool: e.ca.Pool, Direct: direct})
		if err != nil {
			t.Fatal(err)
		}
		leaf := c.Conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
		cb := sha256.Sum256(leaf.Raw) // the test CA signs with ECDSA-SHA256
		if el := fastMech(t, c, auth.HTEndp, []byte("wrong binding data"), "alice", tok.Get("token"), "ua-e", "", ""); cond(el) != "not-authorized" {
			t.Errorf("direct %v, wrong binding: %s", direct, el)
		}
		if el := fastMech(t, c, auth.HTNone, nil, "alice", tok.Get("token"), "ua-e", "", ""); cond(el) != "not-authorized" {
			t.Errorf("direct %v, ENDP token with NONE: %s", direct, el)
		}
		if el := fastMech(t, c, auth.HTEndp, cb[:], "alice", tok.Get("token"), "ua-e", "", ""); cond(el) != "success" {
			t.Errorf("direct %v, ENDP: %s", direct, el)
		}
		c.Close()
	}
}

// TestSASL2AbortAndFallback: without an initial response the server asks
// for one with an empty challenge; <abort/> fails the attempt with
// aborted; the client may then log in with legacy SASL on the same
// stream, which restarts it as RFC 6120 says.
func TestSASL2AbortAndFallback(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.user(t, "alice")
	c := connect2(t, e)
	c.SendRaw(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'/>`)
	if el, err := c.Next(); err != nil || el.Local != "challenge" || el.Text() != "" {
		t.Fatalf("no initial response: %v %v, want an empty challenge", el, err)
	}
	c.SendRaw(`<abort xmlns='urn:xmpp:sasl:2'/>`)
	if el, err := c.Next(); err != nil || cond(el) != "aborted" {
		t.Fatalf("abort: %v %v, want aborted", el, err)
	}
	if err := c.Auth("alice", "secret-alice", xmpptest.Options{}.Mechanism); err != nil {
		t.Fatalf("legacy SASL after a SASL2 failure: %v", err)
	}
}

// TestSASL2StreamManagement: stream management and CSI are Bind2 inline
// features (XEP-0386 §2.4) and resumption works inline in SASL2
// (XEP-0198 with XEP-0388): <enabled/> comes back in <bound/>, a lost
// connection hibernates the session, <resume/> inside <authenticate/>
// takes it over with <resumed/> in <success/> and resends what the client
// had not acknowledged; an unknown previd gets <failed/> in <success/>
// and the Bind2 request binds a new session.
func TestSASL2StreamManagement(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	bob := e.login(t, "bob")
	c := connect2(t, e)
	inline := c.Features.Child(nsSASL2, "authentication").Child(nsSASL2, "inline")
	if inline.Child("urn:xmpp:sm:3", "sm") == nil {
		t.Errorf("SASL2 inline features %s, want <sm/> for inline resumption", inline)
	}
	offer := inline.Child(nsBind2, "bind").String()
	if !strings.Contains(offer, "urn:xmpp:sm:3") || !strings.Contains(offer, "urn:xmpp:csi:0") {
		t.Errorf("Bind2 inline features %s, want sm and csi", offer)
	}
	bind := `<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/><inactive xmlns='urn:xmpp:csi:0'/></bind>`
	ok, _ := scram2(t, c, "alice", "secret-alice", bind)
	enabled := ok.Child(nsBind2, "bound")
	if enabled != nil {
		enabled = enabled.Child("urn:xmpp:sm:3", "enabled")
	}
	if cond(ok) != "success" || enabled == nil || enabled.Get("resume") != "true" || enabled.Get("id") == "" {
		t.Fatalf("SASL2 with inline SM: %s", ok)
	}
	full := ok.ChildText(nsSASL2, "authorization-identifier")
	features(t, c)
	c.SendRaw(`<presence/>`)
	// Inactive (CSI inline): a message with a body still comes at once.
	bob.SendRaw(`<message to='alice@` + domain + `' type='chat' id='m1'><body>one</body></message>`)
	c.Expect("first message", func(el *wire.Element) bool {
		return el.Local == "message" && el.ChildText(wire.NSClient, "body") == "one"
	})
	c.Conn.(*tls.Conn).NetConn().Close() // no <a/>: "one" stays unacknowledged

	// Resume inline; h=0: "one" is sent again.
	c2 := connect2(t, e)
	ok2, _ := scram2(t, c2, "alice", "secret-alice",
		`<resume xmlns='urn:xmpp:sm:3' previd='`+enabled.Get("id")+`' h='0'/>`+bind)
	resumed := ok2.Child("urn:xmpp:sm:3", "resumed")
	if cond(ok2) != "success" || resumed == nil || resumed.Get("previd") != enabled.Get("id") || ok2.Child(nsBind2, "bound") != nil {
		t.Fatalf("SASL2 inline resume: %s", ok2)
	}
	if got := ok2.ChildText(nsSASL2, "authorization-identifier"); got != full {
		t.Errorf("resumed as %q, want %q", got, full)
	}
	features(t, c2)
	c2.Expect("resent message", func(el *wire.Element) bool {
		return el.Local == "message" && el.ChildText(wire.NSClient, "body") == "one"
	})
	bob.SendRaw(`<message to='alice@` + domain + `' type='chat' id='m2'><body>two</body></message>`)
	c2.Expect("new message", func(el *wire.Element) bool {
		return el.Local == "message" && el.ChildText(wire.NSClient, "body") == "two"
	})

	// An unknown session: <failed/>, then Bind2 binds anew.
	c3 := connect2(t, e)
	ok3, _ := scram2(t, c3, "alice", "secret-alice", `<resume xmlns='urn:xmpp:sm:3' previd='nope' h='0'/>`+bind)
	if cond(ok3) != "success" || ok3.Child("urn:xmpp:sm:3", "failed") == nil || ok3.Child(nsBind2, "bound") == nil {
		t.Fatalf("SASL2 resume of an unknown session: %s", ok3)
	}
}

// TestSASL2Locked: a locked account (GDPR Art. 18) gets
// <account-disabled/> after the right password over SASL2 with Bind2,
// and after a valid FAST token, as on the legacy SASL path; nothing is
// bound. Unlocked, both log in again.
func TestSASL2Locked(t *testing.T) {
	t.Parallel()
	var locked atomic.Bool
	met := metrics.New(metrics.Sources{})
	e := startWith(t, nil, func(_ *server.Config, d *server.Deps) {
		d.Locked = func(user string) bool { return user == "alice" && locked.Load() }
		d.Metrics = met
	})
	e.user(t, "alice")
	token := getToken(t, e, "alice", "ua-lock")
	locked.Store(true)
	bind := `<bind xmlns='urn:xmpp:bind:0'><tag>t</tag></bind>`
	c := connect2(t, e)
	f, _ := scram2(t, c, "alice", "secret-alice", bind)
	if cond(f) != "account-disabled" || f.Child(nsBind2, "bound") != nil || !strings.Contains(f.String(), "locked") {
		t.Errorf("SASL2 login of a locked account: %s", f)
	}
	if f := fastLogin(t, e, "alice", token, "ua-lock", "count='1'", bind); cond(f) != "account-disabled" {
		t.Errorf("FAST login of a locked account: %s", f)
	}
	locked.Store(false)
	c = connect2(t, e)
	if ok, _ := scram2(t, c, "alice", "secret-alice", bind); cond(ok) != "success" || ok.Child(nsBind2, "bound") == nil {
		t.Errorf("SASL2 login after unlock: %s", ok)
	}
	if ok := fastLogin(t, e, "alice", token, "ua-lock", "count='2'", bind); cond(ok) != "success" {
		t.Errorf("FAST login after unlock: %s", ok)
	}
	// SASL2 and FAST logins count in the metrics like legacy SASL ones:
	// three ok (the token request, SCRAM and FAST after the unlock), two
	// refused.
	rec := httptest.NewRecorder()
	met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`chatbx_logins_total{result="ok"} 3`, `chatbx_logins_total{result="failed"} 2`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
