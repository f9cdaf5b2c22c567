package account_test

import (
	"archive/zip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"chatbx/internal/accounts"
	"chatbx/retention/logs"
	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web"
	"chatbx/web/account"
	"chatbx/web/browsertest"
)

const webHost = "accounts.xmpp.test"

// testCA makes a CA and a leaf for webHost; it returns the server config
// and the CA certificate in PEM.
func testCA(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chatbx account test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: webHost},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{webHost}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

// site is the account pages behind the real web site on HTTPS, with a
// browser that trusts its certificate.
type site struct {
	ctx  context.Context
	db   *store.DB
	dir  string // data directory
	logs string // connection logs under dir
	kick *kicks
	url  string // https://accounts.xmpp.test:PORT/account/
}

// newSite starts the site for a browser test; name is a user with data.
func newSite(t *testing.T, name string) *site {
	t.Helper()
	tlsCfg, caPEM := testCA(t)
	s := &site{ctx: browsertest.Start(t, caPEM, webHost), dir: t.TempDir(), kick: &kicks{}}
	s.db = storetest.OpenPath(t, filepath.Join(s.dir, "chatbx.db"))
	user(t, s.db, name)
	user(t, s.db, "bob")
	fill(t, s.db, name)
	if _, err := s.db.PutRosterItem(context.Background(), "bob", store.RosterItem{JID: name + "@" + domain, Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}

	// Connection log lines of the account, as c2s writes them.
	s.logs = filepath.Join(s.dir, "logs")
	if err := os.MkdirAll(s.logs, 0o700); err != nil {
		t.Fatal(err)
	}
	sink := logs.NewSink(s.logs, "conn", time.Hour, time.Now)
	for _, u := range []string{name, "bob", name} {
		line, _ := json.Marshal(map[string]string{"time": time.Now().UTC().Format(time.RFC3339), "event": "login", "user": u, "ip_anon": "127.0.0.0"})
		if _, err := sink.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}

	acc, err := accounts.New(accounts.DefaultConfig(domain), accounts.Deps{Store: s.db})
	if err != nil {
		t.Fatal(err)
	}
	acc.AddHooks(accounts.Hooks{
		AfterDelete: func(_ context.Context, d accounts.Deleted, _ string) error {
			s.kick.KickUser(d.User, "not-authorized")
			_, err := logs.Rewrite(s.logs, "conn", logs.DropUser(d.User))
			return err
		},
		Effects:         accounts.RewritesLogs,
		PasswordChanged: func(user, _ string) { s.kick.KickUser(user, "reset") },
	})
	pages, err := account.New(account.DefaultConfig(), account.Deps{Accounts: acc, Settings: s.db})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	wcfg := web.DefaultConfig()
	wcfg.ServiceName = "Testchat"
	wcfg.Domain = domain
	wcfg.Hosts = []string{webHost}
	wcfg.HTTPSPort = port
	wcfg.ContactAdmin = []string{"mailto:admin@" + domain}
	w, err := web.New(wcfg, web.Deps{ErrorLog: zerolog.Nop(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	w.Mount("/account/", pages.Handler())
	srv := web.NewServer(w.Handler())
	go srv.Serve(tls.NewListener(ln, tlsCfg))
	t.Cleanup(func() { srv.Close() })
	s.url = fmt.Sprintf("https://%s:%d/account/", webHost, port)
	return s
}

// load opens page and fails unless it answers 200.
func (s *site) load(t *testing.T, page string) {
	t.Helper()
	resp, err := chromedp.Run(s.ctx, chromedp.NavigateResponse(s.url+page))
	if err != nil {
		t.Fatalf("load %s: %v", page, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("load %s: status %d", page, resp.Status)
	}
}

// submit types the fields (id, text pairs), ticks the boxes and submits;
// it returns the status and the text of #result (2xx) or #error.
func (s *site) submit(t *testing.T, fields []string, boxes ...string) (int64, string) {
	t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SendKeys(chromedp.ID(fields[i]), fields[i+1]))
	}
	for _, b := range boxes {
		steps = append(steps, chromedp.Click(chromedp.ID(b)))
	}
	if err := chromedp.Do(s.ctx, steps...); err != nil {
		t.Fatalf("fill form: %v", err)
	}
	resp, err := chromedp.RunResponse(s.ctx, chromedp.Click(chromedp.ID("submit")))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	sel := "result"
	if resp.Status != http.StatusOK {
		sel = "error"
	}
	text, err := chromedp.Run(s.ctx, chromedp.Text(chromedp.ID(sel)))
	if err != nil {
		t.Fatalf("read #%s: %v", sel, err)
	}
	return resp.Status, text
}

// noCookies fails if the browser holds any cookie.
func (s *site) noCookies(t *testing.T) {
	t.Helper()
	cookies, err := chromedp.CallBrowser(s.ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) > 0 {
		t.Errorf("browser holds %d cookies, want none", len(cookies.Cookies))
	}
}

// TestBrowserDelete deletes an account through the page in headless
// Chromium over real HTTPS, behind the site's own security headers, and
// then scans the data directory for anything of the account.
func TestBrowserDelete(t *testing.T) {
	const name = "quentinmarker"
	s := newSite(t, name)
	bg := context.Background()
	dir, db, logDir := s.dir, s.db, s.logs

	// Control: the scan sees the account before the deletion.
	if hits := storetest.ScanDir(t, dir, name, "vcard-marker", "offline-marker"); len(hits) < 4 {
		t.Fatalf("scan before deletion found only %q", hits)
	}

	s.load(t, "delete")
	if status, text := s.submit(t, []string{"username", name, "password", "secret-password"}); status != http.StatusBadRequest || !strings.Contains(text, "tick the box") {
		t.Fatalf("without confirmation: %d %q", status, text)
	}
	s.load(t, "delete")
	if status, text := s.submit(t, []string{"username", name, "password", "wrong-password"}, "confirm"); status != http.StatusForbidden || !strings.Contains(text, "Wrong username or password") {
		t.Fatalf("wrong password: %d %q", status, text)
	}
	s.load(t, "delete")
	status, text := s.submit(t, []string{"username", name, "password", "secret-password"}, "confirm")
	if status != http.StatusOK || !strings.Contains(text, name+"@"+domain+" has been deleted") {
		t.Fatalf("delete: %d %q", status, text)
	}
	s.noCookies(t)
	if got := s.kick.list(); len(got) != 1 || got[0] != name+" not-authorized" {
		t.Errorf("kicks = %q", got)
	}
	if _, err := db.RosterItem(bg, "bob", name+"@"+domain); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob's roster still holds the account: %v", err)
	}
	if _, err := db.Credentials(bg, "bob"); err != nil {
		t.Errorf("bob's account hurt: %v", err)
	}
	hits := storetest.ScanDir(t, dir, name, "roster-marker", "offline-marker", "vcard-marker", "private-marker")
	if len(hits) > 0 {
		t.Errorf("deleted account readable in the data directory: %q", hits)
	}
	if h := storetest.ScanDir(t, logDir, `"bob"`); len(h) != 1 {
		t.Errorf("bob's log line: %q, want one file with it", h)
	}
}

// TestBrowserPasswordExport changes the password through the page and
// then downloads the export with the new password.
func TestBrowserPasswordExport(t *testing.T) {
	s := newSite(t, "alice")
	s.load(t, "password")
	status, text := s.submit(t, []string{"username", "alice", "password", "secret-password", "new", "changed-password", "new2", "changed-password"})
	if status != http.StatusOK || !strings.Contains(text, "has been changed") {
		t.Fatalf("password change: %d %q", status, text)
	}
	if got := s.kick.list(); len(got) != 1 || got[0] != "alice reset" {
		t.Errorf("kicks = %q", got)
	}
	s.load(t, "export")
	if status, text := s.submit(t, []string{"username", "alice", "password", "secret-password"}); status != http.StatusForbidden || !strings.Contains(text, "Wrong username or password") {
		t.Fatalf("export with the old password: %d %q", status, text)
	}

	s.load(t, "export")
	downloads := t.TempDir()
	progress := chromedp.Events(s.ctx, cdpbrowser.DownloadProgress)
	allow := true
	if _, err := chromedp.Call(s.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &allow,
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(s.ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "changed-password"),
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
	z, err := zip.OpenReader(file)
	if err != nil {
		t.Fatalf("downloaded export: %v", err)
	}
	defer z.Close()
	var doc []byte
	for _, f := range z.File {
		if f.Name == "account.xml" {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			doc, _ = io.ReadAll(r)
			r.Close()
		}
	}
	for _, want := range []string{"<user name='alice'>", "vcard-marker", "roster-marker", "offline-marker"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("downloaded account.xml lacks %q", want)
		}
	}
	s.noCookies(t)
}
