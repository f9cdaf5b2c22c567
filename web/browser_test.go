package web_test

// A real browser test: Debian's Chromium, driven with chromedp, loads every
// page over HTTPS from an in-process server whose certificate chains to a
// test CA that the browser trusts through its own NSS database (no
// certificate errors are ignored). The host-resolver rules map the site's
// name to 127.0.0.1 and every other name to "not found", so no lookup
// leaves the machine and any third-party fetch would fail visibly.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"chatbx/web"
	"chatbx/web/browsertest"
)

const browserHost = "chatbx.test"

// testPKI returns a CA certificate (PEM) and a server certificate for
// names signed by it.
func testPKI(t *testing.T, names ...string) (caPEM []byte, leaf tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chatbx browser test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestBrowser(t *testing.T) {
	caPEM, leaf := testPKI(t, browserHost)

	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpsPort := httpsLn.Addr().(*net.TCPAddr).Port
	httpPort := httpLn.Addr().(*net.TCPAddr).Port

	cfg := testConfig()
	cfg.Domain = browserHost
	cfg.Hosts = []string{browserHost}
	cfg.HTTPSPort = httpsPort
	w, errlog := newWeb(t, cfg)
	httpsSrv := web.NewServer(w.Handler())
	go httpsSrv.Serve(tls.NewListener(httpsLn, &tls.Config{
		Certificates: []tls.Certificate{leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}))
	httpSrv := web.NewServer(w.RedirectHandler(nil))
	go httpSrv.Serve(httpLn)
	t.Cleanup(func() {
		httpsSrv.Close()
		httpSrv.Close()
	})

	ctx := browsertest.Start(t, caPEM, browserHost)

	// Record every request the page makes, whatever its origin.
	var mu sync.Mutex
	var requested []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// A phone-sized viewport: the pages must read well there.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}

	base := "https://" + browserHost + ":" + strconv.Itoa(httpsPort)
	// Plain HTTP ends on HTTPS. This comes first: once the browser has
	// seen the HSTS header it never tries plain HTTP for the host again.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+browserHost+":"+strconv.Itoa(httpPort)+"/de/imprint")); err != nil {
		t.Fatal(err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || loc != base+"/de/imprint" {
		t.Errorf("HTTP redirect ended at %q (%v), want %q", loc, err, base+"/de/imprint")
	}

	shots := t.TempDir()
	pages := []struct {
		path, lang string
		want       []string
	}{
		{"/", "en", []string{"How to connect", "Conversations", "name@chatbx.test"}},
		{"/privacy", "en", []string{"Privacy policy", "No tracking, no analytics, no cookies.", "deleted after 30 days", "deleted after 24 hours", "IPv4 /24, IPv6 /48"}},
		{"/imprint", "en", []string{"Imprint", "admin@xmpp.test"}},
		{"/en/", "en", []string{"Recommended apps"}},
		{"/en/privacy", "en", []string{"Your rights under the GDPR"}},
		{"/en/imprint", "en", []string{"Reports of abuse or spam"}},
		{"/de/", "de", []string{"So verbindet ihr euch", "Empfohlene Apps"}},
		{"/de/privacy", "de", []string{"Datenschutzerklärung", "Kein Tracking, keine Statistik, keine Cookies.", "höchstens 30 Tage lang", "höchstens 24 Stunden lang", "Eure Rechte nach der DSGVO"}},
		{"/de/imprint", "de", []string{"Impressum", "Meldungen zu Missbrauch oder Spam"}},
	}
	for _, p := range pages {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+p.path))
		if err != nil {
			t.Fatalf("load %s: %v", p.path, err)
		}
		if resp.Status != 200 {
			t.Errorf("load %s: status %d", p.path, resp.Status)
		}
		if resp.SecurityState != "secure" {
			t.Errorf("load %s: security state %q, want secure", p.path, resp.SecurityState)
		}
		// A node can be replaced between the query and the read while the
		// page settles ("No node with given id"); ask again then.
		var text string
		for try := 0; try < 3; try++ {
			if text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.want {
			if !strings.Contains(text, s) {
				t.Errorf("%s: page text lacks %q", p.path, s)
			}
		}
		lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		if err != nil || lang != p.lang {
			t.Errorf("%s: <html lang=%q> (%v), want %q", p.path, lang, err, p.lang)
		}
		// The same-origin style sheet applied despite the strict CSP, and
		// the page has no script at all.
		styled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header nav")).display`))
		if err != nil || styled != "flex" {
			t.Errorf("%s: style sheet not applied (nav display %q, %v)", p.path, styled, err)
		}
		scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
		if err != nil || scripts != 0 {
			t.Errorf("%s: %d scripts (%v), want none", p.path, scripts, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives PNG
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Trim(strings.ReplaceAll(p.path, "/", "-"), "-")
		if name == "" {
			name = "root"
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The language switch leads to the same page in the other language.
	switches := []struct{ from, to, want string }{
		{"/en/privacy", "/de/privacy", "Datenschutzerklärung"},
		{"/de/privacy", "/en/privacy", "Privacy policy"},
		{"/de/", "/en/", "How to connect"},
	}
	for _, s := range switches {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+s.from)); err != nil {
			t.Fatal(err)
		}
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("lang-switch")))
		if err != nil {
			t.Fatalf("switch from %s: %v", s.from, err)
		}
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || loc != base+s.to {
			t.Errorf("switch from %s: %d at %s, want 200 at %s", s.from, resp.Status, loc, base+s.to)
		}
		if text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); err != nil || !strings.Contains(text, s.want) {
			t.Errorf("switch from %s: page lacks %q (%v)", s.from, s.want, err)
		}
	}

	// An unknown page: the 404 page, and one error-log line.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/en/no-such-page?q=secret"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 404 {
		t.Errorf("unknown page: status %d, want 404", resp.Status)
	}
	if n := strings.Count(errlog.String(), "\n"); n != 1 || !strings.Contains(errlog.String(), `"path":"/en/no-such-page"`) || strings.Contains(errlog.String(), "secret") {
		t.Errorf("error log after one 404: %q", errlog.String())
	}

	cookies, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) != 0 {
		t.Errorf("browser holds %d cookies, want none", len(cookies.Cookies))
	}

	mu.Lock()
	defer mu.Unlock()
	if len(requested) < len(pages) {
		t.Errorf("recorded %d requests, want at least %d", len(requested), len(pages))
	}
	for _, raw := range requested {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("request to unparsable URL %q", raw)
			continue
		}
		if u.Scheme == "data" {
			continue
		}
		if u.Hostname() != browserHost {
			t.Errorf("request to another host: %s", raw)
		}
	}
	t.Logf("%d requests, all to %s; screenshots in %s", len(requested), browserHost, shots)
}
