package main

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/sasl"

	"chatbx/internal/certs"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
)

// devPool trusts the dev certificate of a data directory.
func devPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dir, certs.DevCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return pool
}

// pieFile is a XEP-0227 file as Prosody 0.12 writes it: SCRAM-SHA-1 only,
// 10,000 iterations, a UUID string as the salt, the element repeated.
func pieFile(t *testing.T, host, user, password string) string {
	t.Helper()
	salt := "6f1d0a3e-2b4c-4d5e-8f90-a1b2c3d4e5f6"
	k, err := store.ComputeKeys(sha1.New, password, []byte(salt), 10000)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString
	scram := fmt.Sprintf("<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><server-key>%s</server-key><stored-key>%s</stored-key><iter-count>10000</iter-count><salt>%s</salt></scram-credentials>",
		enc(k.ServerKey), enc(k.StoredKey), enc([]byte(salt)))
	return `<?xml version='1.0' encoding='utf-8'?><server-data xmlns='urn:xmpp:pie:0'><host jid='` + host + `'><user name='` + user + `'>` +
		scram + scram + `<query xmlns='jabber:iq:roster'><item jid='friend@` + host + `' subscription='both'><group>Pals</group></item></query>` +
		`<vCard xmlns='vcard-temp'><FN>Imported Person</FN></vCard></user>` +
		`<user name='plain' password='plain-pw-123'/></host><host jid='other.example'><user name='x' password='y'/></host></server-data>`
}

func TestImportCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := t.TempDir()
	f := filepath.Join(files, "alice@localhost.xml")
	if err := os.WriteFile(f, []byte(pieFile(t, "localhost", "alice", "alice-old-pw")), 0o600); err != nil {
		t.Fatal(err)
	}
	te := newTestEnv(t)
	// Without a domain nothing can be matched.
	if code := te.runWith("", "import", "--data-dir", t.TempDir(), f); code != exitError || !strings.Contains(te.errOut.String(), "needs the domain") {
		t.Errorf("import without a domain = %d: %s", code, te.errOut)
	}
	// A dry run on a stopped server writes nothing.
	if code := te.runWith("", "import", "--dev", "--data-dir", dir, "--dry-run", files); code != exitOK {
		t.Fatalf("import --dry-run = %d: %s", code, te.errOut)
	}
	if out := te.out.String(); !strings.Contains(out, "dry run") || !strings.Contains(out, "new: alice, plain") || !strings.Contains(out, "other.example") {
		t.Errorf("dry run output:\n%s", out)
	}
	if code := te.runWith("", "user", "list", "--dev", "--data-dir", dir); code != exitOK || te.out.String() != "" {
		t.Errorf("users after a dry run: %q (%d)", te.out, code)
	}
	// Direct mode.
	if code := te.runWith("", "import", "--dev", "--data-dir", dir, f); code != exitOK {
		t.Fatalf("import = %d: %s", code, te.errOut)
	}
	if out := te.out.String(); !strings.Contains(out, "new: alice, plain") || !strings.Contains(out, "1 account(s) with a SCRAM-SHA-1 verifier only") || !strings.Contains(out, "1 plaintext password(s)") {
		t.Errorf("import output:\n%s", out)
	}
	// Through a running server: a second run changes nothing.
	a := startTestServer(t, dir)
	if code := te.runWith("", "import", "--dev", "--data-dir", dir, f); code != exitOK {
		t.Fatalf("import through the server = %d: %s", code, te.errOut)
	}
	if out := te.out.String(); !strings.Contains(out, "unchanged: alice, plain") {
		t.Errorf("second import output:\n%s", out)
	}
	if code := te.runWith("", "import", "--dev", "--data-dir", dir, filepath.Join(files, "nope.xml")); code != exitError {
		t.Errorf("import of a missing file = %d", code)
	}
	pool := devPool(t, dir)
	addr := a.addrs.xmpp()[0].String()
	c := xmpptest.Login(t, addr, "localhost", "alice", "alice-old-pw", xmpptest.Options{Pool: pool, Mechanism: sasl.ScramSha1})
	roster := c.IQ(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	if s := xmpptest.String(roster); !strings.Contains(s, "friend@localhost") || !strings.Contains(s, "Pals") {
		t.Errorf("roster after import: %s", s)
	}
	vc := c.IQ(`<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>`)
	if s := xmpptest.String(vc); !strings.Contains(s, "Imported Person") {
		t.Errorf("vCard after import: %s", s)
	}
	c.Close()
	// The plaintext account has both verifiers: the default SCRAM-SHA-256.
	xmpptest.Login(t, addr, "localhost", "plain", "plain-pw-123", xmpptest.Options{Pool: pool}).Close()
	if _, err := xmpptest.Dial(t, addr, "localhost", "alice", "wrong", xmpptest.Options{Pool: pool, Mechanism: sasl.ScramSha1}); err == nil {
		t.Error("alice logged in with a wrong password")
	}
}

func TestExportAllRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	te := newTestEnv(t)
	users := map[string]string{"ann": "ann-pw-1a2b", "ben": "ben-pw-3c4d", "admin": "admin-pw-5e"}
	for u, pw := range users {
		if code := te.runWith(pw+"\n", "user", "add", "--dev", "--allow-reserved", "--data-dir", dir, u); code != exitOK {
			t.Fatalf("user add %s = %d: %s", u, code, te.errOut)
		}
	}
	a := startTestServer(t, dir)
	pool := devPool(t, dir)
	c := xmpptest.Login(t, a.addrs.xmpp()[0].String(), "localhost", "ann", users["ann"], xmpptest.Options{Pool: pool})
	c.IQ(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='ben@localhost' name='Ben'><group>G</group></item></query></iq>`)
	c.IQ(`<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Ann Export</FN></vCard></iq>`)
	pub := c.IQ(`<iq type='set' id='b1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='room@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='Round Trip Room' autojoin='true'/></item></publish></pubsub></iq>`)
	if pub.Get("type") != "result" {
		t.Fatalf("publish: %s", xmpptest.String(pub))
	}
	// ann chose to archive with her roster; the choice travels along.
	if pr := c.IQ(`<iq type='set' id='m1'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>ben@localhost</jid></always><never/></prefs></iq>`); pr.Get("type") != "result" {
		t.Fatalf("archive prefs: %s", xmpptest.String(pr))
	}
	// ben is offline: the message waits in his queue and travels along.
	c.SendRaw(`<message to='ben@localhost' type='chat'><body>waiting for ben</body></message>`)
	c.IQ(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.Close()

	out := filepath.Join(t.TempDir(), "all.xml")
	if code := te.runWith("", "user", "export", "--all", "--dev", "--data-dir", dir, out); code != exitOK {
		t.Fatalf("user export --all = %d: %s", code, te.errOut)
	}
	if !strings.Contains(te.out.String(), "3 accounts") {
		t.Errorf("export output: %s", te.out)
	}
	if code := te.runWith("", "user", "export", "--all", "--dev", "--data-dir", dir, out); code != exitError {
		t.Errorf("export over an existing file = %d, want error", code)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", fi, err)
	}

	// Into an empty data directory.
	dir2 := t.TempDir()
	if code := te.runWith("", "import", "--dev", "--data-dir", dir2, out); code != exitOK {
		t.Fatalf("import = %d: %s", code, te.errOut)
	}
	if !strings.Contains(te.out.String(), "new: admin, ann, ben") {
		t.Errorf("import output:\n%s", te.out)
	}
	b := startTestServer(t, dir2)
	pool2 := devPool(t, dir2)
	for u, pw := range users {
		for _, m := range []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1} {
			xmpptest.Login(t, b.addrs.xmpp()[0].String(), "localhost", u, pw, xmpptest.Options{Pool: pool2, Mechanism: m}).Close()
		}
	}
	c = xmpptest.Login(t, b.addrs.xmpp()[0].String(), "localhost", "ann", users["ann"], xmpptest.Options{Pool: pool2})
	r := c.IQ(`<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>`)
	item := r.FirstChild().FirstChild()
	if item == nil || item.Get("jid") != "ben@localhost" || item.Get("name") != "Ben" || item.ChildText(wire.NSClient, "group") == "" && item.ChildText("jabber:iq:roster", "group") != "G" {
		t.Errorf("roster after the round trip: %s", xmpptest.String(r))
	}
	if s := xmpptest.String(c.IQ(`<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>`)); !strings.Contains(s, "Ann Export") {
		t.Errorf("vCard after the round trip: %s", s)
	}
	if s := xmpptest.String(c.IQ(`<iq type='get' id='b2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`)); !strings.Contains(s, "Round Trip Room") {
		t.Errorf("PEP bookmarks after the round trip: %s", s)
	}
	if s := xmpptest.String(c.IQ(`<iq type='get' id='m2'><prefs xmlns='urn:xmpp:mam:2'/></iq>`)); !strings.Contains(s, "default='roster'") && !strings.Contains(s, `default="roster"`) || !strings.Contains(s, "ben@localhost") {
		t.Errorf("archive prefs after the round trip: %s", s)
	}
	c.Close()
	// ben never chose: his archive stays off (the server's default).
	c = xmpptest.Login(t, b.addrs.xmpp()[0].String(), "localhost", "ben", users["ben"], xmpptest.Options{Pool: pool2})
	if s := xmpptest.String(c.IQ(`<iq type='get' id='m3'><prefs xmlns='urn:xmpp:mam:2'/></iq>`)); !strings.Contains(s, "never") {
		t.Errorf("ben's archive prefs after the round trip: %s", s)
	}
	c.Close()
	c = xmpptest.Login(t, b.addrs.xmpp()[0].String(), "localhost", "ben", users["ben"], xmpptest.Options{Pool: pool2})
	c.SendRaw(`<presence/>`)
	c.Expect("offline message", func(e *wire.Element) bool {
		return e.Local == "message" && e.ChildText(wire.NSClient, "body") == "waiting for ben"
	})
	c.Close()
}
