package main

// End-to-end tests of `chatbx status` and SIGHUP (issue 14).

import (
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestE2EStatus(t *testing.T) {
	const user, pw = "statususer3e", "status-pw-5b21"
	e := newE2E(t, nil)
	e.addUser(user, pw)
	c := e.login(user, pw)
	c.SendRaw(`<presence/>`)
	ping(c)
	out := e.cli("", "status")
	for _, want := range []string{
		"serving " + e2eDomain,
		"certificates:",
		e2eDomain, "file", "expires ",
		"sessions: tcp 1, websocket 0",
		"s2s links: 0",
		"locked accounts: 0",
		"maintenance: off",
		"retention:",
		"uploads", "connection-logs", "last run ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("chatbx status lacks %q:\n%s", want, out)
		}
	}
	// XEP-0377: a report that comes with a block counts for the remote
	// domain only; chatbx check shows the counts of the running server.
	r := c.IQ(`<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='spammer@spam.example'><report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item></block></iq>`)
	if r.Get("type") != "result" {
		t.Fatalf("block with report: %s", r)
	}
	check := e.cli("", "check", "--domain", e2eDomain, "--tls-cert-file", e.flags["tls.cert_file"], "--tls-key-file", e.flags["tls.key_file"])
	if !strings.Contains(check, "spam reports") || !regexp.MustCompile(`spam\.example +1\n`).MatchString(check) || strings.Contains(check, "spammer") {
		t.Errorf("chatbx check: want one spam report for spam.example and no address:\n%s", check)
	}
	// Privacy: the report names no user.
	if strings.Contains(out, user) {
		t.Errorf("chatbx status names the user:\n%s", out)
	}
	e.cli("", "maintenance", "on", "--for", "1h")
	if out := e.cli("", "status"); !strings.Contains(out, "maintenance: ON until ") {
		t.Errorf("status during maintenance:\n%s", out)
	}
	e.stop()
	// Without a server it says so.
	if code := e.te.runWith("", "status", "--data-dir", e.dir); code == exitOK || !strings.Contains(e.te.errOut.String(), "needs a running server") {
		t.Errorf("status without a server: exit %d, %q", code, e.te.errOut.String())
	}
}

// TestE2ESIGHUP replaces the operator's content directory while the
// server runs: the old pages are served until SIGHUP, the new ones after.
func TestE2ESIGHUP(t *testing.T) {
	content := filepath.Join(t.TempDir(), "content")
	write := func(text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(content, "en"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(content, "en", "imprint.md"), []byte("# Imprint\n\n"+text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("IMPRINT-VERSION-ONE")
	e := newE2E(t, map[string]string{"web.content_dir": content})
	<-e.a.served
	if _, body := e.get(e.site("/en/imprint")); !strings.Contains(body, "IMPRINT-VERSION-ONE") {
		t.Fatalf("imprint before the change:\n%s", body)
	}
	// Replace the directory, as a deployment that swaps it does.
	if err := os.Rename(content, content+".old"); err != nil {
		t.Fatal(err)
	}
	write("IMPRINT-VERSION-TWO")
	if _, body := e.get(e.site("/en/imprint")); !strings.Contains(body, "IMPRINT-VERSION-ONE") {
		t.Fatalf("the new directory was served before SIGHUP:\n%s", body)
	}
	// A handler of our own, so that a signal the server has not yet
	// subscribed to cannot end the test binary.
	mine := make(chan os.Signal, 8)
	signal.Notify(mine, syscall.SIGHUP)
	defer signal.Stop(mine)
	waitFor(t, "the new imprint after SIGHUP", 10*time.Second, func() bool {
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		_, body := e.get(e.site("/en/imprint"))
		return strings.Contains(body, "IMPRINT-VERSION-TWO")
	})
}

// TestReloaders runs every reloader even after a failure and names it.
func TestReloaders(t *testing.T) {
	var r reloaders
	var ran []string
	r.Add("one", func() error { ran = append(ran, "one"); return errors.New("broken") })
	r.Add("two", func() error { ran = append(ran, "two"); return nil })
	err := r.Reload()
	if len(ran) != 2 || err == nil || !strings.Contains(err.Error(), "reload one: broken") {
		t.Errorf("Reload: ran %v, err %v", ran, err)
	}
}
