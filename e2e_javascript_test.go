package main

// End-to-end tests of XMPP over WebSocket (RFC 7395, issue 10) with real
// JavaScript clients against the wired application: xmpp.js under node
// discovers the endpoint from host-meta (XEP-0156), and Converse.js in
// headless Chromium logs in from a page on another origin. Each chats with
// a TCP client. The npm packages live in testdata/js (installed by .ci/run
// with npm ci). Not parallel: see e2e_retention_test.go; this file's name
// sorts before it, so that TestZZZLogScan, which runs after the tests of
// the files before its own, scans these tests' logs too.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"chatbx/retention/logs"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/web/browsertest"
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
// the WebSocket endpoint on. The certificate also names the hosts other
// (for a test's own servers).
func newWSE2E(t *testing.T, other ...string) *e2eApp {
	t.Helper()
	ca := xmpptest.NewCA(t, append([]string{wsDomain}, other...)...)
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
	Profile   string   `json:"profile"` // sasl or sasl2
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
	// server's SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN; it prefers SASL2.
	if ev := next("auth"); ev.Mechanism != "SCRAM-SHA-1" || ev.Profile != "sasl2" {
		t.Errorf("xmpp.js authenticated with %q over %q, want SCRAM-SHA-1 over sasl2", ev.Mechanism, ev.Profile)
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

// TestConverseJS runs Converse.js in headless Chromium from a test page on
// another origin (https://page.test:<port>), with every
// file served locally from testdata/js/node_modules. The page discovers the
// WebSocket URL from host-meta (a cross-origin fetch), Converse logs in
// over WebSocket and chats with a TCP client: a message each way, checked
// at the TCP client and in the page's DOM. Nothing is requested from any
// other host.
func TestConverseJS(t *testing.T) {
	const (
		webUser   = "convalice"
		webPW     = "convalice-pw-18c3"
		tcpUser   = "convbob"
		tcpPW     = "convbob-pw-e5a0"
		toTCP     = "hello from converse 3b7d"
		toBrowser = "hello from tcp a41c"
		deadline  = 90 * time.Second // each wait, on a loaded 2-core machine
		pageHost  = "page.test"      // the test page's origin
	)
	dir := requireJSModules(t, "converse.js")
	xmpptest.RequireCommand(t, "chromium")
	e := newWSE2E(t, pageHost)
	e.addUser(webUser, webPW)
	e.addUser(tcpUser, tcpPW)
	webJID, tcpJID := webUser+"@"+wsDomain, tcpUser+"@"+wsDomain
	webHost := fmt.Sprintf("%s:%d", wsDomain, tcpPort(e.a.addrs.https))

	// The test page's server: the page and Converse's dist directory.
	var pageMu sync.Mutex
	var notFound []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "converse.html"))
	})
	dist := http.StripPrefix("/dist/", http.FileServer(http.Dir(filepath.Join(dir, "node_modules", "converse.js", "dist"))))
	mux.Handle("GET /dist/", dist)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		pageMu.Lock()
		notFound = append(notFound, r.URL.Path)
		pageMu.Unlock()
		http.NotFound(w, r)
	})
	page := httptest.NewUnstartedServer(mux)
	page.TLS = e.ca.ServerConfig()
	page.StartTLS()
	t.Cleanup(page.Close)
	pageURL := fmt.Sprintf("https://%s:%d", pageHost, tcpPort(page.Listener.Addr()))

	bob := e.wsLogin(tcpUser, tcpPW)
	bob.SendRaw(`<presence/>`)
	ping(bob)

	// The browser, with more time than browsertest.Start gives.
	opts := browsertest.Options(t, browsertest.Home(t, e.ca.PEM), wsDomain, pageHost)
	bctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(bctx, opts...)
	t.Cleanup(acancel)
	ctx, ccancel := chromedp.NewContext(actx)
	t.Cleanup(ccancel)

	// Record every request, WebSocket and the frames the page sends, and
	// the page's errors for the log.
	var mu sync.Mutex
	var requested, sockets, sent, pageErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requested = append(requested, ev.Request.URL)
		case *network.EventWebSocketCreated:
			sockets = append(sockets, ev.URL)
		case *network.EventWebSocketFrameSent:
			sent = append(sent, string(ev.Response.PayloadData))
		case *cdpruntime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				pageErrors = append(pageErrors, d.Text+" "+d.Exception.Description)
			} else {
				pageErrors = append(pageErrors, d.Text)
			}
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.ConsoleAPICalledTypeError || ev.Type == cdpruntime.ConsoleAPICalledTypeWarning {
				var b strings.Builder
				for _, a := range ev.Args {
					b.WriteString(string(a.Value) + a.Description + " ")
				}
				pageErrors = append(pageErrors, string(ev.Type)+": "+b.String())
			}
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dump := func() string {
		mu.Lock()
		defer mu.Unlock()
		pageMu.Lock()
		defer pageMu.Unlock()
		return fmt.Sprintf("\npage errors: %q\nwebsockets: %q\nnot found: %q\nframes sent: %q", pageErrors, sockets, notFound, sent)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(deadline))); err != nil {
			t.Fatalf("waiting for %s: %v%s", what, err, dump())
		}
	}

	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL+"/")); err != nil {
		t.Fatalf("load the test page: %v%s", err, dump())
	}
	poll("the page", `typeof window.startChat === "function" && typeof converse === "object"`)
	t.Logf("page loaded after %v", time.Since(start).Round(time.Millisecond))
	call := fmt.Sprintf(`window.startChat(%q, %q, %q).then(u => { window.chatbx.started = u }, e => { window.chatbx.startError = String(e && e.stack || e) }), true`,
		webHost, webJID, webPW)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](call)); err != nil {
		t.Fatal(err)
	}
	poll("Converse to connect", `window.chatbx.connected || window.chatbx.startError`)
	if msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.chatbx.startError || ""`)); msg != "" {
		t.Fatalf("startChat: %s%s", msg, dump())
	}
	t.Logf("Converse connected after %v", time.Since(start).Round(time.Millisecond))
	wantURL := fmt.Sprintf("wss://%s/xmpp-websocket", webHost)
	if url, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.chatbx.websocketURL`)); url != wantURL {
		t.Errorf("the page discovered %q, want %q", url, wantURL)
	}

	// Converse → TCP, typed into the chat box.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.chatbx.api.chats.open(%q, {}, true), undefined`, tcpJID))); err != nil {
		t.Fatal(err)
	}
	textarea := chromedp.CSS(`converse-chat textarea.chat-textarea`)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(textarea), chromedp.SendKeys(textarea, toTCP+kb.Enter)); err != nil {
		t.Fatalf("type the message: %v%s", err, dump())
	}
	t.Logf("message typed after %v", time.Since(start).Round(time.Millisecond))
	msg := bob.Expect("message from Converse", func(el *wire.Element) bool {
		return el.Local == "message" && el.ChildText(wire.NSClient, "body") != ""
	})
	if got := msg.ChildText(wire.NSClient, "body"); got != toTCP {
		t.Errorf("TCP client got body %q, want %q", got, toTCP)
	}
	from := msg.Get("from")
	if !strings.HasPrefix(from, webJID+"/") {
		t.Fatalf("message from %q, want %s/…", from, webJID)
	}
	t.Logf("message at the TCP client after %v", time.Since(start).Round(time.Millisecond))
	poll("the sent message in the page", fmt.Sprintf(`[...document.querySelectorAll("converse-chat .chat-msg__text")].some(e => e.textContent.includes(%q))`, toTCP))

	// TCP → Converse, shown in the open chat.
	bob.SendRaw(`<message type='chat' to='` + from + `' id='to-converse'><body>` + toBrowser + `</body></message>`)
	poll("the TCP client's message in the page", fmt.Sprintf(`[...document.querySelectorAll("converse-chat .chat-msg__text")].some(e => e.textContent.includes(%q))`, toBrowser))
	t.Logf("both messages shown after %v", time.Since(start).Round(time.Millisecond))

	// Log out: the connection log has the WebSocket session's lines.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.chatbx.api.user.logout(), undefined`)); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	e.checkWSConnLog(webUser, tcpUser)

	mu.Lock()
	defer mu.Unlock()
	mech := ""
	for _, f := range sent {
		if i := strings.Index(f, "mechanism='"); i >= 0 && strings.HasPrefix(f, "<auth") {
			mech, _, _ = strings.Cut(f[i+len("mechanism='"):], "'")
		} else if i := strings.Index(f, `mechanism="`); i >= 0 && strings.HasPrefix(f, "<auth") {
			mech, _, _ = strings.Cut(f[i+len(`mechanism="`):], `"`)
		}
	}
	t.Logf("Converse authenticated with %s", mech)
	if !strings.HasPrefix(mech, "SCRAM-") {
		t.Errorf("Converse authenticated with %q, want a SCRAM mechanism%s", mech, dump())
	}
	if !slices.Equal(sockets, []string{wantURL}) {
		t.Errorf("WebSockets opened: %q, want one to %s", sockets, wantURL)
	}
	for _, u := range requested {
		if !strings.HasPrefix(u, pageURL+"/") && !strings.HasPrefix(u, "https://"+webHost+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			t.Errorf("the page requested %s, from neither the page's server nor the XMPP web host", u)
		}
	}
	pageMu.Lock()
	defer pageMu.Unlock()
	if len(notFound) > 0 {
		t.Errorf("the page asked for files that are not there: %q", notFound)
	}
}
