package main

// End-to-end tests of the account pages (issue 6) against the wired
// application: headless Chromium drives /account/ over HTTPS it trusts
// through a temporary NSS database, while real XMPP clients of the account
// and of a contact are online. Not parallel: see e2e_retention_test.go.

import (
	"archive/zip"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/web/browsertest"
)

const (
	nsRoster = "jabber:iq:roster"
	nsStream = "http://etherx.jabber.org/streams"
)

// load opens an account page in the browser and fails unless it answers 200.
func (e *e2eApp) load(ctx context.Context, page string) {
	e.t.Helper()
	url := e.site("/account/" + page)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		e.t.Fatalf("load %s: %v", url, err)
	}
	if resp.Status != http.StatusOK {
		e.t.Fatalf("load %s: status %d", url, resp.Status)
	}
	if resp.SecurityDetails == nil {
		e.t.Errorf("load %s: no TLS", url)
	}
}

// submit types the fields (id, text pairs), ticks the boxes and submits
// the form; it returns the status and the text of #result (200) or #error.
func submit(t *testing.T, ctx context.Context, fields []string, boxes ...string) (int64, string) {
	t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SendKeys(chromedp.ID(fields[i]), fields[i+1]))
	}
	for _, b := range boxes {
		steps = append(steps, chromedp.Click(chromedp.ID(b)))
	}
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("fill form: %v", err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("submit")))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	sel := "result"
	if resp.Status != http.StatusOK {
		sel = "error"
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(sel)))
	if err != nil {
		t.Fatalf("read #%s: %v", sel, err)
	}
	return resp.Status, text
}

// noCookies fails if the browser holds any cookie.
func noCookies(t *testing.T, ctx context.Context) {
	t.Helper()
	cookies, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) > 0 {
		t.Errorf("browser holds %d cookies, want none", len(cookies.Cookies))
	}
}

// ping makes a round trip, so that everything c sent before is processed.
func ping(c *xmpptest.Client) {
	c.IQ(`<iq type='get' id='ping-` + time.Now().Format("150405.000000000") + `' to='` + e2eDomain + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
}

// rosterItem returns c's roster item for jid, nil when there is none.
func rosterItem(t *testing.T, c *xmpptest.Client, jid string) *wire.Element {
	t.Helper()
	res := c.IQ(`<iq type='get' id='roster-` + time.Now().Format("150405.000000000") + `'><query xmlns='jabber:iq:roster'/></iq>`)
	q := res.Child(nsRoster, "query")
	if res.Get("type") != "result" || q == nil {
		t.Fatalf("roster get: %s", res)
	}
	for _, it := range q.Elements() {
		if it.Local == "item" && it.Get("jid") == jid {
			return it
		}
	}
	return nil
}

// subscribe sets up a mutual presence subscription between a and b
// (RFC 6121 §3), both online with available presence.
func subscribe(t *testing.T, a, b *xmpptest.Client, aJID, bJID string) {
	t.Helper()
	isPresence := func(typ, from string) func(*wire.Element) bool {
		return func(e *wire.Element) bool {
			return e.Local == "presence" && e.Get("type") == typ && strings.HasPrefix(e.Get("from"), from)
		}
	}
	a.SendRaw(`<presence type='subscribe' to='` + bJID + `'/>`)
	b.Expect("subscription request", isPresence("subscribe", aJID))
	b.SendRaw(`<presence type='subscribed' to='` + aJID + `'/>`)
	a.Expect("subscription approval", isPresence("subscribed", bJID))
	b.SendRaw(`<presence type='subscribe' to='` + aJID + `'/>`)
	a.Expect("subscription request", isPresence("subscribe", bJID))
	a.SendRaw(`<presence type='subscribed' to='` + bJID + `'/>`)
	b.Expect("subscription approval", isPresence("subscribed", aJID))
	ping(a)
	ping(b)
	for _, x := range []struct {
		c   *xmpptest.Client
		jid string
	}{{a, bJID}, {b, aJID}} {
		if it := rosterItem(t, x.c, x.jid); it == nil || it.Get("subscription") != "both" {
			t.Fatalf("%s's roster item for %s = %v, want subscription both", x.c.JID, x.jid, it)
		}
	}
}

// setVCard stores a vCard (vcard-temp) whose full name is fn.
func setVCard(t *testing.T, c *xmpptest.Client, fn string) {
	t.Helper()
	if res := c.IQ(`<iq type='set' id='vcard1'><vCard xmlns='vcard-temp'><FN>` + fn + `</FN></vCard></iq>`); res.Get("type") != "result" {
		t.Fatalf("vcard set: %s", res)
	}
}

// expectStreamError reads from c until the server's stream error and the
// end of the connection; it returns the error condition.
func expectStreamError(t *testing.T, c *xmpptest.Client) string {
	t.Helper()
	el := c.Expect("stream error", func(e *wire.Element) bool { return e.Local == "error" && e.Space == nsStream })
	cond := ""
	if first := el.FirstChild(); first != nil {
		cond = first.Local
	}
	for {
		if _, err := c.Next(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: stream not closed after the stream error", c.JID)
			}
			break
		}
	}
	c.Conn.Close()
	return cond
}

// authCondition returns the SASL failure condition of err, "" for none.
func authCondition(err error) string {
	var ae *xmpptest.AuthError
	if errors.As(err, &ae) {
		return ae.Condition
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestE2EAccountDelete deletes an account through /account/delete in
// headless Chromium while a client of the account is online and a local
// contact has it in the roster with a mutual subscription. Afterwards the
// client's stream has been closed with a stream error, the account cannot
// log in, the contact got the presences and the roster push of the
// removal and its roster no longer holds the account, and no byte of the
// data directory (database and logs included) holds the username or a
// marker of its vCard, messages or upload.
func TestE2EAccountDelete(t *testing.T) {
	const (
		victim      = "victim8c2d"
		victimPW    = "victim-pw-5b19"
		contact     = "carol"
		contactPW   = "carol-pw-33e0"
		vcardFN     = "vcard-marker-7e41"
		offlineBody = "offline-marker-2a9c"
		content     = "upload-marker-c06b"
		fileName    = "file-marker-d5a3.txt"
	)
	victimJID, contactJID := victim+"@"+e2eDomain, contact+"@"+e2eDomain
	e := newE2E(t, nil)
	registerLogs(e)
	browser := browsertest.Start(t, e.ca.PEM, e2eDomain)
	e.addUser(victim, victimPW)
	e.addUser(contact, contactPW)

	// The account's data: roster (mutual subscription), vCard, an upload
	// and a message waiting offline.
	v := e.login(victim, victimPW)
	c := e.login(contact, contactPW)
	v.SendRaw(`<presence/>`)
	c.SendRaw(`<presence/>`)
	subscribe(t, v, c, victimJID, contactJID)
	setVCard(t, v, vcardFN)
	e.upload(v, fileName, content)
	v.Close()
	e.waitConnLine("logout", victim)
	c.SendRaw(`<message to='` + victimJID + `' type='chat'><body>` + offlineBody + `</body></message>`)
	ping(c)
	// Online again, without available presence: the message stays queued.
	v = e.login(victim, victimPW)
	ping(v)

	markers := []string{victim, vcardFN, offlineBody, content, fileName}
	// Control: the scan sees each marker before the deletion.
	for _, m := range markers {
		if hits := findMarkers(t, e.dir, m); len(hits) == 0 {
			t.Fatalf("before the deletion no file holds %q", m)
		}
	}

	e.load(browser, "delete")
	status, text := submit(t, browser, []string{"username", victim, "password", victimPW}, "confirm")
	if status != http.StatusOK || !strings.Contains(text, victimJID+" has been deleted") {
		t.Fatalf("delete page: %d %q", status, text)
	}
	for _, want := range []string{"1 contact(s)", "1 waiting message(s)", "the profile (vCard)", "1 uploaded file(s)", "removed from 1 other local contact list(s)", "Its lines were removed from the connection logs"} {
		if !strings.Contains(text, want) {
			t.Errorf("delete page says %q, want it to mention %q", text, want)
		}
	}
	noCookies(t, browser)

	// The online client's stream ends with a stream error.
	if cond := expectStreamError(t, v); cond == "" {
		t.Error("stream error without a condition")
	} else {
		t.Logf("the deleted account's stream ended with <%s/>", cond)
	}
	// The contact is told: presences and a roster push removing the account.
	types := map[string]bool{}
	c.Expect("roster push removing the account", func(el *wire.Element) bool {
		if el.Local == "presence" && strings.HasPrefix(el.Get("from"), victimJID) {
			types[el.Get("type")] = true
		}
		if el.Local != "iq" || el.Get("type") != "set" {
			return false
		}
		q := el.Child(nsRoster, "query")
		if q == nil {
			return false
		}
		it := q.Child(nsRoster, "item")
		return it != nil && it.Get("jid") == victimJID && it.Get("subscription") == "remove"
	})
	for _, typ := range []string{"unavailable", "unsubscribed", "unsubscribe"} {
		if !types[typ] {
			t.Errorf("contact got presences %v from the deleted account, want %q", types, typ)
		}
	}
	if it := rosterItem(t, c, victimJID); it != nil {
		t.Errorf("contact's roster still holds the deleted account: %s", it)
	}
	c.Close()
	if cond := authCondition(e.dial(victim, victimPW)); cond != "not-authorized" {
		t.Errorf("login of the deleted account: %q, want SASL not-authorized", cond)
	}

	// Nothing of the account is left anywhere in the data directory, the
	// database file and the logs included, also after shutdown.
	if hits := findMarkers(t, e.dir, markers...); len(hits) > 0 {
		t.Errorf("after the deletion the data directory holds %q", hits)
	}
	e.stop()
	scanDir(t, e.dir, markers...)
	// The contact is untouched.
	e.start()
	c = e.login(contact, contactPW)
	c.Close()
}

// TestE2EAccountPasswordExport changes an account's password through
// /account/password in headless Chromium while two clients of the account
// are online, then downloads the export through /account/export.
func TestE2EAccountPasswordExport(t *testing.T) {
	const (
		user        = "pat"
		oldPW       = "pat-old-pw-4c81"
		newPW       = "pat-new-pw-9e27"
		contact     = "dave"
		vcardFN     = "vcard-marker-15fd"
		offlineBody = "offline-marker-8b30"
		content     = "upload-marker-6ac4"
		fileName    = "file-marker-e7d2.txt"
	)
	userJID, contactJID := user+"@"+e2eDomain, contact+"@"+e2eDomain
	e := newE2E(t, nil)
	registerLogs(e)
	browser := browsertest.Start(t, e.ca.PEM, e2eDomain)
	e.addUser(user, oldPW)
	e.addUser(contact, "dave-pw-0000")

	p := e.login(user, oldPW)
	d := e.login(contact, "dave-pw-0000")
	p.SendRaw(`<presence/>`)
	d.SendRaw(`<presence/>`)
	subscribe(t, p, d, userJID, contactJID)
	setVCard(t, p, vcardFN)
	e.upload(p, fileName, content)
	p.Close()
	e.waitConnLine("logout", user)
	d.SendRaw(`<message to='` + userJID + `' type='chat'><body>` + offlineBody + `</body></message>`)
	ping(d)
	d.Close()

	// Two sessions of the account are online while the password changes.
	s1, s2 := e.login(user, oldPW), e.login(user, oldPW)
	ping(s1)
	ping(s2)
	e.load(browser, "password")
	status, text := submit(t, browser, []string{"username", user, "password", oldPW, "new", newPW, "new2", newPW})
	if status != http.StatusOK || !strings.Contains(text, "has been changed") {
		t.Fatalf("password page: %d %q", status, text)
	}
	for _, s := range []*xmpptest.Client{s1, s2} {
		expectStreamError(t, s)
	}
	if cond := authCondition(e.dial(user, oldPW)); cond != "not-authorized" {
		t.Errorf("login with the old password: %q, want SASL not-authorized", cond)
	}
	if err := e.dial(user, newPW); err != nil {
		t.Errorf("login with the new password: %v", err)
	}

	// The old password no longer opens the export; the new one does, and
	// the browser downloads the zip.
	e.load(browser, "export")
	if status, text := submit(t, browser, []string{"username", user, "password", oldPW}); status != http.StatusForbidden || !strings.Contains(text, "Wrong username or password") {
		t.Fatalf("export with the old password: %d %q", status, text)
	}
	e.load(browser, "export")
	downloads := t.TempDir()
	progress := chromedp.Events(browser, cdpbrowser.DownloadProgress)
	allow := true
	if _, err := chromedp.Call(browser, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &allow,
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(browser,
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), newPW),
		chromedp.Click(chromedp.ID("submit")),
	); err != nil {
		t.Fatal(err)
	}
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("download canceled")
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			file = filepath.Join(downloads, ev.GUID)
			break
		}
	}
	noCookies(t, browser)
	z, err := zip.OpenReader(file)
	if err != nil {
		t.Fatalf("downloaded export: %v", err)
	}
	defer z.Close()
	got := map[string]string{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		got[f.Name] = string(b)
	}
	for _, want := range []struct{ file, text string }{
		{"account.xml", "name='" + user + "'"},
		{"account.xml", vcardFN},
		{"account.xml", contactJID},
		{"account.xml", offlineBody},
		{"uploads.json", fileName},
	} {
		if !strings.Contains(got[want.file], want.text) {
			t.Errorf("export %s lacks %q:\n%s", want.file, want.text, got[want.file])
		}
	}
	// Nothing of other users beyond the account's own roster.
	for name, data := range got {
		if strings.Contains(data, "dave-pw") {
			t.Errorf("export %s holds the contact's password", name)
		}
	}
	// The passwords never reach the logs.
	e.stop()
	scanDir(t, filepath.Join(e.dir, logsDir), oldPW, newPW)
}
