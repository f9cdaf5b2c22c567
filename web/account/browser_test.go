package account_test

import (
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
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"chatbx/retention/logs"
	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web"
	"chatbx/web/account"
)

const webHost = "accounts.xmpp.test"

// requireCommand returns the path of name, skipping the test when it is
// missing, unless CI=true, where a missing tool is a failure.
func requireCommand(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (CI=true): %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

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

// browser starts headless Chromium that trusts caPEM through a temporary
// NSS database and resolves only webHost (to 127.0.0.1).
func browser(t *testing.T, caPEM []byte) context.Context {
	t.Helper()
	chromium := requireCommand(t, "chromium")
	certutil := requireCommand(t, "certutil")
	home := t.TempDir()
	nss := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(nss, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(home, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-d", "sql:" + nss, "-N", "--empty-password"},
		{"-d", "sql:" + nss, "-A", "-t", "C,,", "-n", "chatbx-test-ca", "-i", caFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %q: %v\n%s", args, err, out)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// Privacy and hermeticity: no name lookup leaves the machine.
		chromedp.Flag("host-resolver-rules", "MAP "+webHost+" 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.UserDataDir(filepath.Join(home, "profile")),
		chromedp.Env("HOME="+home),
	)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// TestBrowserDelete deletes an account through the page in headless
// Chromium over real HTTPS, behind the site's own security headers, and
// then scans the data directory for anything of the account.
func TestBrowserDelete(t *testing.T) {
	tlsCfg, caPEM := testCA(t)
	ctx := browser(t, caPEM)

	dir := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(dir, "chatbx.db"))
	const name = "quentinmarker"
	user(t, db, name)
	user(t, db, "bob")
	fill(t, db, name)
	bg := context.Background()
	if _, err := db.PutRosterItem(bg, "bob", store.RosterItem{JID: name + "@" + domain, Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}

	// Connection log lines of the account, as c2s writes them.
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	sink := logs.NewSink(logDir, "conn", time.Hour, time.Now)
	for _, u := range []string{name, "bob", name} {
		line, _ := json.Marshal(map[string]string{"time": time.Now().UTC().Format(time.RFC3339), "event": "login", "user": u, "ip_anon": "127.0.0.0"})
		if _, err := sink.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}

	k := &kicks{}
	pages, err := account.New(account.DefaultConfig(domain), account.Deps{
		Store: db, Sessions: k,
		ConnLogRewriter: func(user string) error {
			_, err := logs.Rewrite(logDir, "conn", logs.DropUser(user))
			return err
		},
	})
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
	site, err := web.New(wcfg, web.Deps{ErrorLog: zerolog.Nop(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { site.Close() })
	site.Mount("/account/", pages.Handler())
	srv := web.NewServer(site.Handler())
	go srv.Serve(tls.NewListener(ln, tlsCfg))
	t.Cleanup(func() { srv.Close() })

	base := fmt.Sprintf("https://%s:%d/account/delete", webHost, port)
	load := func() {
		t.Helper()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base))
		if err != nil {
			t.Fatalf("load %s: %v", base, err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("load %s: status %d", base, resp.Status)
		}
	}
	submit := func(password string, confirm bool) (int64, string) {
		t.Helper()
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.ID("username"), name),
			chromedp.SendKeys(chromedp.ID("password"), password),
		}
		if confirm {
			steps = append(steps, chromedp.Click(chromedp.ID("confirm")))
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

	// Control: the scan sees the account before the deletion.
	if hits := storetest.ScanDir(t, dir, name, "vcard-marker", "offline-marker"); len(hits) < 4 {
		t.Fatalf("scan before deletion found only %q", hits)
	}

	load()
	if status, text := submit("secret-password", false); status != http.StatusBadRequest || !strings.Contains(text, "tick the box") {
		t.Fatalf("without confirmation: %d %q", status, text)
	}
	load()
	if status, text := submit("wrong-password", true); status != http.StatusForbidden || !strings.Contains(text, "Wrong username or password") {
		t.Fatalf("wrong password: %d %q", status, text)
	}
	load()
	status, text := submit("secret-password", true)
	if status != http.StatusOK || !strings.Contains(text, name+"@"+domain+" has been deleted") {
		t.Fatalf("delete: %d %q", status, text)
	}

	cookies, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) > 0 {
		t.Errorf("browser holds %d cookies, want none", len(cookies.Cookies))
	}
	if got := k.list(); len(got) != 1 || got[0] != name+" not-authorized" {
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
