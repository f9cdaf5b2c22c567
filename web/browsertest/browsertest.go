// Package browsertest starts headless Debian Chromium for chatbx's page
// tests, driven by chromedp, the way ../shared/notes/acme-and-browser.md
// describes it: the test CA is trusted through a temporary NSS database
// (so certificate checks stay on), only the given host names resolve (to
// 127.0.0.1) and every other lookup fails, so a page that loads anything
// from another host shows up as an error instead of leaving the machine.
//
// It is imported by tests only.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// RequireCommand returns the path of name. Without it the test is skipped,
// except under CI=true, where it fails: CI must run every browser test.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (run .ci/run): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// Home returns a temporary HOME whose NSS database ($HOME/.pki/nssdb)
// trusts the PEM certificate caPEM as a CA, as a user's browser would.
func Home(t testing.TB, caPEM []byte) string {
	t.Helper()
	certutil := RequireCommand(t, "certutil")
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(home, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-d", "sql:" + db, "-N", "--empty-password"},
		{"-d", "sql:" + db, "-A", "-t", "C,,", "-n", "chatbx-test-ca", "-i", caFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return home
}

// Options returns the allocator options: Debian's chromium with the
// brief's flags, home as HOME and profile, and hosts mapped to 127.0.0.1
// with every other name unresolvable.
func Options(t testing.TB, home string, hosts ...string) []chromedp.ExecAllocatorOption {
	t.Helper()
	chromium := RequireCommand(t, "chromium")
	rules := make([]string, 0, len(hosts)+1)
	for _, h := range hosts {
		rules = append(rules, "MAP "+h+" 127.0.0.1")
	}
	rules = append(rules, "MAP * ~NOTFOUND")
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Privacy and hermeticity: no name lookup leaves the machine.
		chromedp.Flag("host-resolver-rules", strings.Join(rules, ", ")),
		chromedp.UserDataDir(filepath.Join(home, "profile")),
		chromedp.Env("HOME="+home),
	)
}

// Start launches Chromium trusting caPEM and resolving only hosts. The
// returned browser context ends with the test (and after a minute at
// most).
func Start(t testing.TB, caPEM []byte, hosts ...string) context.Context {
	t.Helper()
	opts := Options(t, Home(t, caPEM), hosts...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// Cookies returns the browser's cookies (a browser-level call).
func Cookies(ctx context.Context) ([]*network.Cookie, error) {
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
	return res.Cookies, err
}
