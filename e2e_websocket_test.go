package main

// End-to-end tests of XMPP over WebSocket (RFC 7395, issue 10) with real
// JavaScript clients against the wired application: xmpp.js under node
// discovers the endpoint from host-meta (XEP-0156), and Converse.js in
// headless Chromium logs in from a page on another origin. Each chats with
// a TCP client. The npm packages live in testdata/js (installed by .ci/run
// with npm ci). Not parallel: see e2e_retention_test.go.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chatbx/retention/logs"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// wsDomain is the XMPP domain and web host of the WebSocket tests. Unlike
// e2eDomain it resolves without help in node (to the loopback address;
// node runs with --dns-result-order=ipv4first since the listeners are on
// 127.0.0.1 only).
const wsDomain = "localhost"

// jsDir is the npm project of the JavaScript clients.
const jsDir = "testdata/js"

// requireJSModules returns the absolute path of jsDir after checking that
// node is there and the npm packages are installed: without them the test
// is skipped, except under CI=true, where .ci/run installs them.
func requireJSModules(t *testing.T, pkgs ...string) string {
	t.Helper()
	xmpptest.RequireCommand(t, "node")
	dir, err := filepath.Abs(jsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("npm package %s is required in CI (.ci/run installs it with npm ci in %s): %v", p, jsDir, err)
			}
			t.Skipf("npm package %s not installed (run npm ci --ignore-scripts in %s)", p, jsDir)
		}
	}
	return dir
}

// newWSE2E starts the application with domain and web host wsDomain and
// the WebSocket endpoint on.
func newWSE2E(t *testing.T) *e2eApp {
	t.Helper()
	ca := xmpptest.NewCA(t, wsDomain)
	_, certFile, keyFile := ca.WriteFiles(t, t.TempDir())
	e := &e2eApp{t: t, dir: t.TempDir(), ca: ca, te: newTestEnv(t), flags: map[string]string{
		"domain":                  wsDomain,
		"tls.cert_file":           certFile,
		"tls.key_file":            keyFile,
		"web.websocket":           "true",
		"c2s.negotiation_timeout": "10s",
	}}
	e.start()
	registerLogs(e)
	return e
}

// wsLogin logs name in over STARTTLS to the wsDomain application.
func (e *e2eApp) wsLogin(name, password string) *xmpptest.Client {
	e.t.Helper()
	return xmpptest.Login(e.t, e.a.addrs.xmpp()[0].String(), wsDomain, name, password, xmpptest.Options{Pool: e.ca.Pool})
}

// rawConnLog returns the connection log lines as decoded JSON objects.
func (e *e2eApp) rawConnLog() []map[string]any {
	e.t.Helper()
	files, err := filepath.Glob(filepath.Join(e.dir, logsDir, logs.PrefixConn+"-*.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(files)
	var lines []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			e.t.Fatal(err)
		}
		for l := range bytes.SplitSeq(bytes.TrimSpace(data), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				e.t.Fatalf("%s: line %q: %v", f, l, err)
			}
			lines = append(lines, m)
		}
	}
	return lines
}

// checkWSConnLog waits for the login and logout lines of wsUser (a
// WebSocket session) and checks that they carry the same fields as those
// of tcpUser (a TCP session, logged in and out before), with the address
// anonymised.
func (e *e2eApp) checkWSConnLog(wsUser, tcpUser string) {
	e.t.Helper()
	for _, ev := range []string{"login", "logout"} {
		l := e.waitConnLine(ev, wsUser)
		if l.IPAnon != "127.0.0.0" {
			e.t.Errorf("%s line of the WebSocket session: ip_anon %q, want 127.0.0.0", ev, l.IPAnon)
		}
		if _, err := time.Parse(time.RFC3339, l.Time); err != nil {
			e.t.Errorf("%s line of the WebSocket session: time %q: %v", ev, l.Time, err)
		}
		e.waitConnLine(ev, tcpUser)
	}
	fields := map[string][]string{} // user+event → sorted keys
	for _, m := range e.rawConnLog() {
		u, _ := m["user"].(string)
		ev, _ := m["event"].(string)
		fields[u+" "+ev] = slices.Sorted(maps.Keys(m))
		for k, v := range m {
			if s, ok := v.(string); ok && strings.Contains(s, "127.0.0.1") {
				e.t.Errorf("connection log field %s holds the full address: %v", k, m)
			}
		}
	}
	for _, ev := range []string{"login", "logout"} {
		ws, tcp := fields[wsUser+" "+ev], fields[tcpUser+" "+ev]
		if !slices.Equal(ws, tcp) {
			e.t.Errorf("%s line fields: WebSocket %v, TCP %v; want the same", ev, ws, tcp)
		}
	}
}

// jsEvent is one line the xmppjs.mjs script prints.
type jsEvent struct {
	Event     string   `json:"event"`
	Message   string   `json:"message"`
	Mechanism string   `json:"mechanism"`
	JID       string   `json:"jid"`
	URL       string   `json:"url"`
	Links     []string `json:"links"`
	From      string   `json:"from"`
	Body      string   `json:"body"`
	Type      string   `json:"type"`
	Condition string   `json:"condition"`
	raw       string
}

// TestXMPPJS runs xmpp.js (@xmpp/client) under node against the
// application: it discovers the WebSocket URL from host-meta, logs in with
// SCRAM, exchanges a message each way with a TCP client, gets a
// service-unavailable error for a message to an account that does not
// exist, and logs out. The connection log has the same login and logout
// lines for the WebSocket session as for the TCP one.
func TestXMPPJS(t *testing.T) {
	const (
		jsUser   = "jsalice"
		jsPW     = "jsalice-pw-4d1e"
		tcpUser  = "tcpbob"
		tcpPW    = "tcpbob-pw-70a2"
		toTCP    = "hello from xmpp.js 5c1f"
		toJS     = "hello from tcp 9e02"
		scriptTO = 90 * time.Second
	)
	node := xmpptest.RequireCommand(t, "node")
	dir := requireJSModules(t, "@xmpp/client")
	e := newWSE2E(t)
	e.addUser(jsUser, jsPW)
	e.addUser(tcpUser, tcpPW)
	jsJID, tcpJID := jsUser+"@"+wsDomain, tcpUser+"@"+wsDomain
	webHost := fmt.Sprintf("%s:%d", wsDomain, tcpPort(e.a.addrs.https))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, e.ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}

	bob := e.wsLogin(tcpUser, tcpPW)
	bob.SendRaw(`<presence/>`)
	ping(bob)

	ctx, cancel := context.WithTimeout(t.Context(), scriptTO+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--dns-result-order=ipv4first", "--no-warnings", "xmppjs.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+caFile,
		"WEB_HOST="+webHost,
		"DOMAIN="+wsDomain,
		"USERNAME="+jsUser,
		"PASSWORD="+jsPW,
		"PEER="+tcpJID,
		"UNKNOWN=nobody7f3a@"+wsDomain,
		"BODY="+toTCP,
		"REPLY_BODY="+toJS,
		fmt.Sprintf("TIMEOUT_MS=%d", scriptTO.Milliseconds()),
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan jsEvent, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ev := jsEvent{Event: "stdout", Message: sc.Text()}
			json.Unmarshal(sc.Bytes(), &ev)
			ev.raw = sc.Text()
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
		io.Copy(io.Discard, out)
	}()
	var seen []jsEvent
	// next waits for the script's event named want and returns it.
	next := func(want string) jsEvent {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("xmppjs.mjs ended before %q: %v\nevents: %s\nstderr: %s", want, cmd.Wait(), rawEvents(seen), stderr.String())
				}
				seen = append(seen, ev)
				t.Logf("xmpp.js: %s", ev.raw)
				if ev.Event == want {
					return ev
				}
				if ev.Event == "fail" {
					t.Fatalf("xmppjs.mjs failed: %s\nevents: %s\nstderr: %s", ev.Message, rawEvents(seen), stderr.String())
				}
			case <-ctx.Done():
				t.Fatalf("waiting for %q from xmppjs.mjs: %v\nevents: %s\nstderr: %s", want, ctx.Err(), rawEvents(seen), stderr.String())
			}
		}
	}

	wantURL := fmt.Sprintf("wss://%s/xmpp-websocket", webHost)
	if ev := next("discovered"); !slices.Equal(ev.Links, []string{wantURL}) {
		t.Errorf("host-meta links %q, want [%s]", ev.Links, wantURL)
	}
	// xmpp.js 0.14 knows SCRAM-SHA-1 and PLAIN (in that order) of the
	// server's SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN.
	if ev := next("auth"); ev.Mechanism != "SCRAM-SHA-1" {
		t.Errorf("xmpp.js authenticated with %q, want SCRAM-SHA-1", ev.Mechanism)
	}
	online := next("online")
	if !strings.HasPrefix(online.JID, jsJID+"/") || online.URL != wantURL {
		t.Errorf("xmpp.js online as %q at %q, want %s/… at %s", online.JID, online.URL, jsJID, wantURL)
	}
	t.Logf("xmpp.js online after %v", time.Since(start).Round(time.Millisecond))

	// A message each way between the WebSocket and the TCP session.
	msg := bob.Expect("message from xmpp.js", func(el *wire.Element) bool {
		return el.Local == "message" && strings.HasPrefix(el.Get("from"), jsJID+"/")
	})
	if got := msg.ChildText(wire.NSClient, "body"); got != toTCP {
		t.Errorf("TCP client got body %q, want %q", got, toTCP)
	}
	if msg.Get("from") != online.JID {
		t.Errorf("message from %q, want the WebSocket session's %q", msg.Get("from"), online.JID)
	}
	bob.SendRaw(`<message type='chat' to='` + online.JID + `' id='to-js'><body>` + toJS + `</body></message>`)

	next("done")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xmppjs.mjs: %v\nstderr: %s", err, stderr.String())
	}
	t.Logf("xmpp.js session done after %v", time.Since(start).Round(time.Millisecond))
	var bounce, reply bool
	for _, ev := range seen {
		switch {
		case ev.Event == "message-error":
			bounce = true
			if ev.Type != "cancel" || ev.Condition != "service-unavailable" {
				t.Errorf("error for the unknown recipient: type %q condition %q, want cancel service-unavailable", ev.Type, ev.Condition)
			}
		case ev.Event == "message" && strings.HasPrefix(ev.From, tcpJID+"/") && ev.Body == toJS:
			reply = true
		case ev.Event == "error":
			t.Errorf("xmpp.js reported an error: %s", ev.Message)
		}
	}
	if !bounce || !reply {
		t.Errorf("xmpp.js saw the bounce %v, the TCP client's message %v; want both", bounce, reply)
	}

	bob.Close()
	e.checkWSConnLog(jsUser, tcpUser)
}

// rawEvents returns the script's lines.
func rawEvents(evs []jsEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("\n  " + ev.raw)
	}
	return b.String()
}
