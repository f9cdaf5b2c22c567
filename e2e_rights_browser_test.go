package main

// Browser tests of the issue 14 account pages: headless Chromium locks
// and unlocks an account, and lists and deletes an upload, over HTTPS
// against the wired application.

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"chatbx/server/xmpptest"
	"chatbx/web/browsertest"
)

// submitMain is submit that returns the status and the HTML of the
// answer's <main>; it reads the new page with OuterHTML, which waited
// reliably for the answer here where reading #result by id did not.
func submitMain(t *testing.T, ctx context.Context, fields []string, boxes ...string) (int64, string) {
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
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return resp.Status, html
}

func TestE2EBrowserLockAndUploads(t *testing.T) {
	const (
		user, pw = "browserlock5d", "browser-lock-pw-6f"
		fileName = "browser-upload-marker.txt"
	)
	e := newE2E(t, nil)
	browser := browsertest.Start(t, e.ca.PEM, e2eDomain)
	e.addUser(user, pw)
	c := e.login(user, pw)
	getURL := e.upload(c, fileName, "browser upload content")

	// Lock: the radio button "lock" is the default; the box confirms.
	e.load(browser, "lock")
	status, text := submitMain(t, browser, []string{"username", user, "password", pw}, "confirm")
	if status != http.StatusOK || !strings.Contains(text, "Your account is locked") {
		t.Fatalf("lock in the browser: %d %q", status, text)
	}
	var ae *xmpptest.AuthError
	if err := e.dial(user, pw); !errors.As(err, &ae) || ae.Condition != "account-disabled" {
		t.Errorf("login while locked: %v, want account-disabled", err)
	}
	// Other pages refuse the account.
	e.load(browser, "uploads")
	if status, text := submitMain(t, browser, []string{"username", user, "password", pw}); status != http.StatusForbidden || !strings.Contains(text, "locked") {
		t.Errorf("uploads page while locked: %d %q", status, text)
	}
	// Unlock.
	e.load(browser, "lock")
	status, text = submitMain(t, browser, []string{"username", user, "password", pw}, "action-unlock")
	if status != http.StatusOK || !strings.Contains(text, "unlocked") {
		t.Fatalf("unlock in the browser: %d %q", status, text)
	}
	if err := e.dial(user, pw); err != nil {
		t.Errorf("login after unlock: %v", err)
	}

	// The uploads page lists the file and deletes it.
	e.load(browser, "uploads")
	if status, html := submitMain(t, browser, []string{"username", user, "password", pw}); status != http.StatusOK || !strings.Contains(html, fileName) {
		t.Fatalf("uploads list: %d, want the file in\n%s", status, html)
	}
	if err := chromedp.Do(browser, chromedp.SendKeys(chromedp.ID("password"), pw)); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(browser, chromedp.Click(chromedp.CSS(`button[name="delete"]`)))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("delete click: %v %v", resp, err)
	}
	result, err := chromedp.Run(browser, chromedp.OuterHTML(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(result, "The file was deleted") {
		t.Errorf("after delete: %q", result)
	}
	if status, _ := e.get(getURL); status != http.StatusNotFound {
		t.Errorf("GET of the deleted upload = %d, want 404", status)
	}
	files, _ := os.ReadDir(filepath.Join(e.dir, uploadsDir))
	if len(files) != 0 {
		t.Errorf("upload directory after the deletion holds %d files", len(files))
	}
}
