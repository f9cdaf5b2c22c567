package main

// End-to-end tests of the retention promises (issue 4) against the wired
// application: real listeners on loopback, real XMPP logins, a real upload
// and a real web error, and periods of a few seconds so that the promises
// can be watched coming true in real time.
//
// The tests of this file and of e2e_account_test.go do not call
// t.Parallel: TestZZZLogScan must run after them (sequential tests run in
// source order, before any parallel test resumes), and it scans the log
// files every one of them registered with registerLogs.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/retention/logs"
	"chatbx/server/upload"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// e2eDomain is the XMPP domain and web host of the end-to-end tests. It is
// not "localhost" so that a browser resolves it only through its
// host-resolver rules, to 127.0.0.1.
const e2eDomain = "xmpp.test"

// e2eApp is a running application on a fresh data directory with a
// certificate from a test CA, a CLI environment and an HTTPS client.
type e2eApp struct {
	t     *testing.T
	dir   string // data directory
	a     *app
	stop  func()
	flags map[string]string // configuration keys of every start
	ca    *xmpptest.CA
	te    *testEnv
	web   *http.Client // trusts ca; dials the HTTPS listener for any host
}

// newE2E starts the application with the configuration keys extra on a
// new data directory. The certificate files live outside the data
// directory, which holds only what the application writes.
func newE2E(t *testing.T, extra map[string]string) *e2eApp {
	t.Helper()
	ca := xmpptest.NewCA(t, e2eDomain)
	_, certFile, keyFile := ca.WriteFiles(t, t.TempDir())
	e := &e2eApp{t: t, dir: t.TempDir(), ca: ca, te: newTestEnv(t)}
	e.flags = map[string]string{
		"domain":        e2eDomain,
		"tls.cert_file": certFile,
		"tls.key_file":  keyFile,
		// A stream left in negotiation (a failed login) delays shutdown
		// by up to this long.
		"c2s.negotiation_timeout": "2s",
	}
	for k, v := range extra {
		e.flags[k] = v
	}
	e.start()
	e.web = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, e.a.addrs.https.String())
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	return e
}

// start (re)starts the application on the data directory.
func (e *e2eApp) start() {
	e.t.Helper()
	e.a, e.stop = runTestServer(e.t, e.dir, e.flags)
}

// restart stops the application and starts it again on the same data
// directory and configuration.
func (e *e2eApp) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

// cli runs a chatbx command against the running application (through its
// admin socket) and fails the test unless it exits 0. It returns stdout.
func (e *e2eApp) cli(stdin string, args ...string) string {
	e.t.Helper()
	args = append(args, "--data-dir", e.dir)
	if code := e.te.runWith(stdin, args...); code != exitOK {
		e.t.Fatalf("chatbx %q = %d: %s", args, code, e.te.errOut)
	}
	return e.te.out.String()
}

// addUser creates an account through the CLI.
func (e *e2eApp) addUser(name, password string) {
	e.t.Helper()
	e.cli(password+"\n", "user", "add", name)
}

// login logs name in over STARTTLS; it fails the test on any error.
func (e *e2eApp) login(name, password string) *xmpptest.Client {
	e.t.Helper()
	return xmpptest.Login(e.t, e.a.addrs.xmpp()[0].String(), e2eDomain, name, password, xmpptest.Options{Pool: e.ca.Pool})
}

// dial tries to log name in over direct TLS and returns the error.
func (e *e2eApp) dial(name, password string) error {
	e.t.Helper()
	c, err := xmpptest.Dial(e.t, e.a.addrs.xmpp()[1].String(), e2eDomain, name, password, xmpptest.Options{Pool: e.ca.Pool, Direct: true})
	if err == nil {
		c.Close()
	}
	return err
}

// site returns the HTTPS URL of path on the web host.
func (e *e2eApp) site(path string) string {
	return fmt.Sprintf("https://%s:%d%s", e2eDomain, tcpPort(e.a.addrs.https), path)
}

// upload asks for an XEP-0363 slot over XMPP and PUTs content to it over
// HTTPS; it returns the GET URL.
func (e *e2eApp) upload(c *xmpptest.Client, name, content string) string {
	e.t.Helper()
	reply := c.IQ(fmt.Sprintf(`<iq type='get' id='slot-%s' to='%s'><request xmlns='%s' filename='%s' size='%d' content-type='text/plain'/></iq>`,
		name, e2eDomain, upload.NS, name, len(content)))
	slot := reply.Child(upload.NS, "slot")
	if reply.Get("type") != "result" || slot == nil {
		e.t.Fatalf("slot request: %s", reply)
	}
	putURL, getURL := slot.Child(upload.NS, "put").Get("url"), slot.Child(upload.NS, "get").Get("url")
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPut, putURL, strings.NewReader(content))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	res, err := e.web.Do(req)
	if err != nil {
		e.t.Fatalf("PUT %s: %v", putURL, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("PUT %s = %d, want 201", putURL, res.StatusCode)
	}
	return getURL
}

// get fetches url and returns the status and body.
func (e *e2eApp) get(url string) (int, string) {
	e.t.Helper()
	res, err := e.web.Get(url)
	if err != nil {
		e.t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// connLine is one line of the connection log.
type connLine struct {
	Time   string `json:"time"`
	Event  string `json:"event"`
	User   string `json:"user"`
	IPAnon string `json:"ip_anon"`
}

// connLog returns the lines of every connection log file, oldest file first.
func (e *e2eApp) connLog() []connLine {
	e.t.Helper()
	files, err := filepath.Glob(filepath.Join(e.dir, logsDir, logs.PrefixConn+"-*.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(files)
	var lines []connLine
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue // expired meanwhile
			}
			e.t.Fatal(err)
		}
		for l := range bytes.SplitSeq(bytes.TrimSpace(data), []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			var cl connLine
			if err := json.Unmarshal(l, &cl); err != nil {
				e.t.Fatalf("%s: line %q: %v", f, l, err)
			}
			lines = append(lines, cl)
		}
	}
	return lines
}

// waitConnLine waits until the connection log has an event line for user
// and returns it.
func (e *e2eApp) waitConnLine(event, user string) connLine {
	e.t.Helper()
	var found connLine
	waitFor(e.t, fmt.Sprintf("%s line of %s in the connection log", event, user), 10*time.Second, func() bool {
		for _, l := range e.connLog() {
			if l.Event == event && l.User == user {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

// waitFor polls cond every 100 ms until it holds and fails the test when
// it still does not after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("waited %v for %s", timeout, what)
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		case <-tick.C:
		}
	}
}

// findMarkers returns "file: marker" for every file under dir that holds
// one of the markers (all files, the database included).
func findMarkers(t *testing.T, dir string, markers ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // deleted while walking
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, m := range markers {
			if bytes.Contains(data, []byte(m)) {
				hits = append(hits, rel+": "+m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// regularFiles returns the names of the regular files in dir.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestE2ERetention runs the application with retention periods of three
// seconds: a client logs in, uploads a file and leaves a message for an
// offline user, a browser-like client hits an unknown page. The markers
// are on disk at first; once the periods have passed, the uploaded file,
// the connection-log and web-error lines and the offline message are gone,
// and no byte of the data directory (database file included) holds a
// marker.
func TestE2ERetention(t *testing.T) {
	const (
		user        = "retuser5e1c"
		userPW      = "retuser-pw-91d0"
		peer        = "retpeer"
		content     = "upload-content-marker-3f7a"
		fileName    = "filename-marker-b2c4.txt"
		unknownPath = "/no-such-page-marker-6d8e"
		offlineBody = "offline-body-marker-0a5f"
	)
	e := newE2E(t, map[string]string{
		"retention.uploads":         "3s",
		"retention.web_errors":      "3s",
		"retention.connection_logs": "3s",
		"retention.offline":         "3s",
		"retention.sweep":           "1s",
	})
	registerLogs(e)
	e.addUser(user, userPW)
	e.addUser(peer, "retpeer-pw-1")

	c := e.login(user, userPW)
	// The server discloses the running periods (in seconds) in its
	// data-policy form.
	info := c.IQ(`<iq type='get' id='info1' to='` + e2eDomain + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	policy := map[string]string{}
	if q := info.Child("http://jabber.org/protocol/disco#info", "query"); q != nil {
		for _, x := range q.Elements() {
			for _, f := range x.Elements() {
				if x.Local == "x" && f.Local == "field" {
					policy[f.Get("var")] = f.ChildText(x.Space, "value")
				}
			}
		}
	}
	for _, f := range []string{"retention-uploads", "retention-connection-logs", "retention-web-error-logs", "retention-offline-messages"} {
		if policy[f] != "3" {
			t.Errorf("data-policy form field %s = %q, want 3 (seconds): %s", f, policy[f], info)
		}
	}
	getURL := e.upload(c, fileName, content)
	if status, body := e.get(getURL); status != http.StatusOK || body != content {
		t.Fatalf("GET %s = %d %q, want the upload", getURL, status, body)
	}
	c.SendRaw(`<message to='` + peer + `@` + e2eDomain + `' type='chat'><body>` + offlineBody + `</body></message>`)
	// A ping round trip: the message has been stored when it returns.
	c.IQ(`<iq type='get' id='ping1' to='` + e2eDomain + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.Close()
	if status, _ := e.get(e.site(unknownPath + "?q=query-marker")); status != http.StatusNotFound {
		t.Fatalf("GET %s = %d, want 404", unknownPath, status)
	}
	e.waitConnLine("logout", user)

	// Control: before the periods end, every marker is on disk, where
	// the promise says it is.
	logDir, uploadDir := filepath.Join(e.dir, logsDir), filepath.Join(e.dir, uploadsDir)
	if hits := findMarkers(t, logDir, user, unknownPath); len(hits) < 2 {
		t.Fatalf("before expiry the logs hold only %q; want the user and the path", hits)
	}
	if hits := findMarkers(t, uploadDir, content); len(hits) != 1 {
		t.Fatalf("before expiry the uploads hold %q; want the file", hits)
	}
	if hits := findMarkers(t, filepath.Join(e.dir, dbFileName), fileName, offlineBody); len(hits) != 2 {
		t.Fatalf("before expiry the database holds %q; want the upload's name and the offline message", hits)
	}
	// The site never logs a query string.
	if hits := findMarkers(t, e.dir, "query-marker"); len(hits) > 0 {
		t.Errorf("query string stored: %q", hits)
	}
	snapshotLogs(e)

	// After the periods (3 s, plus a one-second bucket and a one-second
	// tick), nothing is left.
	markers := []string{content, fileName, unknownPath, offlineBody, "query-marker"}
	start := time.Now()
	waitFor(t, "the retention periods to delete every marker", 20*time.Second, func() bool {
		return len(findMarkers(t, e.dir, markers...)) == 0 &&
			len(findMarkers(t, logDir, user)) == 0 &&
			len(regularFiles(t, uploadDir)) == 0
	})
	t.Logf("everything expired %v after the last line", time.Since(start).Round(100*time.Millisecond))
	if status, _ := e.get(getURL); status != http.StatusNotFound {
		t.Errorf("GET of the expired upload = %d, want 404", status)
	}
	for _, l := range e.connLog() {
		if l.User == user {
			t.Errorf("connection log line %+v outlived its period", l)
		}
	}
	// The peer never sees the expired message.
	p := e.login(peer, "retpeer-pw-1")
	p.SendRaw(`<presence/><iq type='get' id='ping2' to='` + e2eDomain + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
	p.Expect("ping answer", func(el *wire.Element) bool {
		if el.Local == "message" && strings.Contains(el.String(), offlineBody) {
			t.Errorf("the expired offline message was delivered: %s", el)
		}
		return el.Local == "iq" && el.Get("id") == "ping2"
	})
	p.Close()

	// Stopped, the data directory still holds no marker, and the user's
	// name is nowhere but in the account itself.
	e.stop()
	scanDir(t, e.dir, markers...)
	scanDir(t, logDir, user)
	scanDir(t, uploadDir, user)
}

// maintenanceUntil parses the end of the window from the output of
// `maintenance on` or `maintenance status`.
func maintenanceUntil(t *testing.T, out string) time.Time {
	t.Helper()
	rest, ok := strings.CutPrefix(out, maintenanceOnPrefix)
	if !ok {
		t.Fatalf("maintenance output %q, want prefix %q", out, maintenanceOnPrefix)
	}
	// RFC 3339 has colons; the time ends at the first ": ".
	s, _, _ := strings.Cut(rest, ": ")
	until, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("maintenance output %q: %v", out, err)
	}
	return until
}

// TestE2EMaintenance: while the maintenance switch is on, the connection
// log carries the client's full address; when the window ends it is
// anonymised again, also for a session opened during the window; a window
// survives a restart; switching on and off is logged.
func TestE2EMaintenance(t *testing.T) {
	e := newE2E(t, map[string]string{
		// A short maximum makes the policy that ends windows tick every
		// three seconds (it also bounds --for).
		"retention.maintenance_max": "30s",
	})
	users := []string{"maint1", "maint2", "maint3", "maint4"}
	for _, u := range users {
		e.addUser(u, u+"-pw")
	}
	if out := e.cli("", "maintenance", "status"); !strings.HasPrefix(out, "maintenance off") {
		t.Fatalf("maintenance status = %q, want off", out)
	}
	if code := e.te.runWith("", "maintenance", "on", "--for", "31s", "--data-dir", e.dir); code == exitOK {
		t.Errorf("maintenance on --for 31s over a 30s maximum succeeded")
	}

	// A short window: a login inside it logs the full address.
	from := time.Now()
	until := maintenanceUntil(t, e.cli("", "maintenance", "on", "--for", "4s"))
	w := registerLogs(e)
	w.window(from, until)
	m1 := e.login("maint1", "maint1-pw")
	if time.Now().After(until) {
		t.Fatalf("the login took longer than the 4 s window; the machine is too slow for this test")
	}
	if l := e.waitConnLine("login", "maint1"); l.IPAnon != "127.0.0.1" {
		t.Errorf("login during maintenance logged ip_anon %q, want the full 127.0.0.1", l.IPAnon)
	}

	// The window ends by itself: status says off, the next login is
	// anonymised, and so is the logout of the session opened during it.
	waitFor(t, "the maintenance window to end", time.Until(until)+10*time.Second, func() bool {
		return strings.HasPrefix(e.cli("", "maintenance", "status"), "maintenance off")
	})
	// Log lines carry whole seconds: the lines below are told apart from
	// the window's last second (TestZZZLogScan relies on it).
	waitFor(t, "the second after the window", 3*time.Second, func() bool {
		return !time.Now().Before(until.Add(time.Second))
	})
	m2 := e.login("maint2", "maint2-pw")
	if l := e.waitConnLine("login", "maint2"); l.IPAnon != "127.0.0.0" {
		t.Errorf("login after the window logged ip_anon %q, want 127.0.0.0", l.IPAnon)
	}
	m2.Close()
	m1.Close()
	if l := e.waitConnLine("logout", "maint1"); l.IPAnon != "127.0.0.0" {
		// server/c2s anonymises the address once, when the connection is
		// accepted, and reuses it for every line of the session.
		t.Errorf("logout after the window of a session opened during it logged ip_anon %q, want 127.0.0.0 (the address must be anonymised when the line is written)", l.IPAnon)
	}
	// The policy that ends windows logs it (it ticks every 3 s here).
	waitFor(t, `"maintenance off" in the server log`, 10*time.Second, func() bool {
		return len(findMarkers(t, filepath.Join(e.dir, logsDir), `"message":"maintenance off"`)) > 0
	})
	if hits := findMarkers(t, filepath.Join(e.dir, logsDir), `"message":"maintenance on"`); len(hits) == 0 {
		t.Error(`switching maintenance on was not logged`)
	}

	// A window survives a restart.
	from = time.Now()
	until = maintenanceUntil(t, e.cli("", "maintenance", "on", "--for", "20s"))
	e.restart()
	if got := maintenanceUntil(t, e.cli("", "maintenance", "status")); !got.Equal(until) {
		t.Errorf("after a restart the window ends %v, want %v", got, until)
	}
	m3 := e.login("maint3", "maint3-pw")
	if l := e.waitConnLine("login", "maint3"); l.IPAnon != "127.0.0.1" {
		t.Errorf("login in a window carried over a restart logged ip_anon %q, want 127.0.0.1", l.IPAnon)
	}
	m3.Close()
	e.waitConnLine("logout", "maint3")
	if out := e.cli("", "maintenance", "off"); !strings.HasPrefix(out, "maintenance off") {
		t.Errorf("maintenance off = %q", out)
	}
	w.window(from, time.Now())
	m4 := e.login("maint4", "maint4-pw")
	if l := e.waitConnLine("login", "maint4"); l.IPAnon != "127.0.0.0" {
		t.Errorf("login after maintenance off logged ip_anon %q, want 127.0.0.0", l.IPAnon)
	}
	m4.Close()
	e.waitConnLine("logout", "maint4")
}

// logRun is the log directory of one end-to-end test, with the
// maintenance windows during which full addresses were allowed.
type logRun struct {
	name string
	e    *e2eApp

	mu      sync.Mutex
	windows [][2]time.Time
	// files are snapshots of the log files (name → content), taken before
	// retention deletes them and when the test ends.
	files map[string][]byte
}

// window records a maintenance window [from, until].
func (r *logRun) window(from, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.windows = append(r.windows, [2]time.Time{from, until})
}

// inWindow reports whether a log line's time lies in a window. Log times
// are cut to whole seconds (so the window starts at its whole second) and
// the windows' ends as the CLI prints them too.
func (r *logRun) inWindow(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.windows {
		if !t.Before(w[0].Truncate(time.Second)) && !t.After(w[1]) {
			return true
		}
	}
	return false
}

// logRuns are the log directories registered by this package's
// end-to-end tests, scanned by TestZZZLogScan.
var logRuns struct {
	mu   sync.Mutex
	runs []*logRun
}

// registerLogs registers e's log directory for TestZZZLogScan: its files
// are snapshotted when the test ends (after the application stopped) and
// whenever snapshotLogs is called. It returns the run so the caller can
// add maintenance windows. Calling it again for the same app returns the
// same run.
func registerLogs(e *e2eApp) *logRun {
	logRuns.mu.Lock()
	defer logRuns.mu.Unlock()
	for _, r := range logRuns.runs {
		if r.e == e {
			return r
		}
	}
	r := &logRun{name: e.t.Name(), e: e, files: map[string][]byte{}}
	logRuns.runs = append(logRuns.runs, r)
	e.t.Cleanup(func() {
		e.stop()
		snapshotLogs(e)
	})
	return r
}

// snapshotLogs copies e's log files into its registered run.
func snapshotLogs(e *e2eApp) {
	logRuns.mu.Lock()
	var run *logRun
	for _, r := range logRuns.runs {
		if r.e == e {
			run = r
		}
	}
	logRuns.mu.Unlock()
	if run == nil {
		return
	}
	dir := filepath.Join(e.dir, logsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		e.t.Errorf("snapshot logs: %v", err)
		return
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	for _, ent := range entries {
		if !ent.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			continue // expired meanwhile
		}
		// A later snapshot of a growing file supersedes an earlier one.
		if len(data) >= len(run.files[ent.Name()]) {
			run.files[ent.Name()] = data
		}
	}
}

// TestZZZLogScan scans the log files of every end-to-end test of this
// package that ran before it (see registerLogs; its name sorts it last)
// for full client addresses (logs.FindFullIPs). Lines written during a
// maintenance window may hold them. Web error lines hold the client's
// address in their ip field, as the privacy policy states ("Fehler, mit
// Verbindungszeit und IP-Adresse", kept 30 days); anywhere else in those
// lines a full address is a leak too.
func TestZZZLogScan(t *testing.T) {
	logRuns.mu.Lock()
	runs := slices.Clone(logRuns.runs)
	logRuns.mu.Unlock()
	if len(runs) == 0 {
		t.Skip("no end-to-end test registered log files (filtered out with -run?)")
	}
	var lines, allowed int
	for _, r := range runs {
		dir := filepath.Join(t.TempDir(), "logs")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		for name, data := range r.files {
			lines += bytes.Count(data, []byte("\n"))
			if strings.HasPrefix(name, logs.PrefixWebErrors+"-") {
				data = dropWebErrorIP(t, data)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		windows := len(r.windows)
		r.mu.Unlock()
		leaks, err := logs.FindFullIPs(dir)
		if err != nil {
			t.Fatal(err)
		}
		inWindows := 0
		for _, l := range leaks {
			line := lineOf(t, l.Path, l.Line)
			var m struct {
				Time time.Time `json:"time"`
			}
			if err := json.Unmarshal(line, &m); err == nil && !m.Time.IsZero() && r.inWindow(m.Time) {
				inWindows++
				continue
			}
			t.Errorf("%s: %s line %d holds the full address %s outside a maintenance window: %s",
				r.name, filepath.Base(l.Path), l.Line, l.Addr, line)
		}
		// Control: the scan finds the addresses maintenance logged.
		if windows > 0 && inWindows == 0 {
			t.Errorf("%s had maintenance windows, but the scan found no full address in its logs", r.name)
		}
		allowed += inWindows
	}
	t.Logf("scanned %d log lines of %d tests; %d full addresses were written during maintenance windows", lines, len(runs), allowed)
}

// dropWebErrorIP removes the ip field from each web error line.
func dropWebErrorIP(t *testing.T, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for l := range bytes.SplitSeq(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Errorf("web error line %q: %v", l, err)
			out.Write(l)
			out.WriteByte('\n')
			continue
		}
		delete(m, "ip")
		b, _ := json.Marshal(m)
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// lineOf returns line n (from 1) of the file.
func lineOf(t *testing.T, path string, n int) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return nil
	}
	return lines[n-1]
}
