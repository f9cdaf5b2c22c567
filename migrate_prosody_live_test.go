package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mellium.im/sasl"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// TestImportFromProsodyLive fills a running Prosody over XMPP: alice and
// bob subscribe to each other, alice asks carol (offline), sets her vCard
// and publishes a XEP-0402 bookmark with publish-options; then Prosody
// stops, prosody-migrator exports (accounts, rosters, vCards, PEP) and
// chatbx imports: logins with the old passwords, the roster states on
// both sides, the vCard and the bookmark node with its access model.
func TestImportFromProsodyLive(t *testing.T) {
	t.Parallel()
	prosody := xmpptest.RequireCommand(t, "prosody")
	prosodyctl := xmpptest.RequireCommand(t, "prosodyctl")
	migrator := xmpptest.RequireCommand(t, "prosody-migrator")
	lua := xmpptest.RequireCommand(t, "lua5.4")

	pdir := t.TempDir()
	data, out := filepath.Join(pdir, "data"), filepath.Join(pdir, "out")
	if err := os.MkdirAll(filepath.Join(data, "localhost", "accounts"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := xmpptest.NewCA(t, "localhost")
	_, certFile, keyFile := ca.WriteFiles(t, pdir)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// A free loopback port for Prosody's c2s listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := filepath.Join(pdir, "prosody.cfg.lua")
	writeFile(t, cfg, `prosody_user = "`+me.Username+`"
prosody_group = "`+me.Username+`"
run_as_root = true
pidfile = "`+pdir+`/prosody.pid"
data_path = "`+data+`"
daemonize = false
authentication = "internal_hashed"
storage = "internal"
log = { info = "*console" }
certificates = "`+pdir+`"
c2s_ports = { `+strconv.Itoa(port)+` }
c2s_direct_tls_ports = {}
legacy_ssl_ports = {}
interfaces = { "127.0.0.1" }
s2s_ports = {}
http_ports = {}
https_ports = {}
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "private"; "vcard"; "pep"; "offline"; "blocklist"; "ping" }
modules_disabled = { "s2s"; "vcard_legacy"; "posix" }
VirtualHost "localhost"
	ssl = { certificate = "`+certFile+`"; key = "`+keyFile+`" }
`)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for name, pw := range migrationUsers {
		if b, err := exec.CommandContext(ctx, prosodyctl, "--config", cfg, "register", name, "localhost", pw).CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", name, err, b)
		}
	}
	srv := exec.CommandContext(ctx, prosody, "--config", cfg)
	srv.Dir = pdir
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = srv.Stdout
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			srv.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	// Prosody says when the c2s listener is up.
	ready := make(chan struct{})
	var logLines []string
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			logLines = append(logLines, sc.Text())
			if !once && strings.Contains(sc.Text(), "Activated service 'c2s' on [127.0.0.1]:"+strconv.Itoa(port)) {
				once = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-logDone:
		t.Fatalf("prosody ended before listening:\n%s", strings.Join(logLines, "\n"))
	case <-ctx.Done():
		t.Fatal("prosody did not start listening")
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	opts := xmpptest.Options{Pool: ca.Pool, Mechanism: sasl.ScramSha1}
	alice := xmpptest.Login(t, addr, "localhost", "alice", migrationUsers["alice"], opts)
	bob := xmpptest.Login(t, addr, "localhost", "bob", migrationUsers["bob"], opts)
	alice.SendRaw(`<presence/>`)
	bob.SendRaw(`<presence/>`)
	ping := func(c *xmpptest.Client) {
		c.IQ(`<iq type='get' id='ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	}
	alice.IQ(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group></item></query></iq>`)
	alice.SendRaw(`<presence to='bob@localhost' type='subscribe'/>`)
	ping(alice)
	bob.SendRaw(`<presence to='alice@localhost' type='subscribed'/>`)
	bob.SendRaw(`<presence to='alice@localhost' type='subscribe'/>`)
	ping(bob)
	alice.SendRaw(`<presence to='bob@localhost' type='subscribed'/>`)
	alice.SendRaw(`<presence to='carol@localhost' type='subscribe'/>`)
	alice.IQ(`<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice live from Prosody</FN></vCard></iq>`)
	pub := alice.IQ(`<iq type='set' id='b1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'>` +
		`<item id='room@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='Prosody Room' autojoin='true'/></item></publish>` +
		`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
		`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#max_items'><value>max</value></field></x></publish-options></pubsub></iq>`)
	if pub.Get("type") != "result" {
		t.Fatalf("prosody refused the bookmark: %s", xmpptest.String(pub))
	}
	ping(alice)
	alice.Close()
	bob.Close()
	stop()

	src, err := os.ReadFile(migrator)
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile(`(?m)^CFG_DATADIR='[^']*';`).ReplaceAllString(string(src), "CFG_DATADIR='"+out+"';")
	if me.Uid == "0" {
		script = strings.Replace(script, "\tstartup.switch_user();", "", 1)
	}
	migScript := filepath.Join(pdir, "prosody-migrator.lua")
	writeFile(t, migScript, script)
	migCfg := filepath.Join(pdir, "migrator.cfg.lua")
	writeFile(t, migCfg, `input {
	type = "internal";
	path = "`+data+`";
	hosts = { ["localhost"] = { "accounts"; "roster"; "vcard"; "private"; "pep-pubsub" } };
}
output { type = "xep0227"; path = "`+out+`"; }
`)
	mig := exec.CommandContext(ctx, lua, migScript, "--config="+migCfg, "input", "output")
	mig.Dir = pdir
	if b, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("prosody-migrator: %v\n%s", err, b)
	}
	exported, _ := os.ReadFile(filepath.Join(out, "alice@localhost.xml"))
	t.Logf("alice@localhost.xml from prosody-migrator: %s", exported)

	dir := t.TempDir()
	te := newTestEnv(t)
	if code := te.runWith("", "import", "--dev", "--data-dir", dir, out); code != exitOK {
		t.Fatalf("import = %d: %s%s", code, te.out, te.errOut)
	}
	t.Logf("import report:\n%s", te.out)
	a := checkImportedLogins(t, dir, "Alice live from Prosody", map[string]string{"bob@localhost": "both", "carol@localhost": "none"})
	c := xmpptest.Login(t, a.addrs.xmpp()[0].String(), "localhost", "bob", migrationUsers["bob"], xmpptest.Options{Pool: devPool(t, dir), Mechanism: sasl.ScramSha1})
	if r := xmpptest.String(c.IQ(`<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`)); !strings.Contains(r, `jid="alice@localhost"`) || !strings.Contains(r, `subscription="both"`) {
		t.Errorf("bob's roster: %s", r)
	}
	c.Close()
	c = xmpptest.Login(t, a.addrs.xmpp()[0].String(), "localhost", "alice", migrationUsers["alice"], xmpptest.Options{Pool: devPool(t, dir), Mechanism: sasl.ScramSha1})
	items := c.IQ(`<iq type='get' id='b2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`)
	if s := xmpptest.String(items); !strings.Contains(s, "Prosody Room") {
		t.Errorf("bookmarks after the import: %s", s)
	}
	conf := c.IQ(`<iq type='get' id='b3'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:bookmarks:1'/></pubsub></iq>`)
	if s := xmpptest.String(conf); !strings.Contains(s, "whitelist") {
		t.Errorf("bookmark node configuration after the import: %s", s)
	}
	c.Close()
	// carol's pending request from alice survived: she gets it at login.
	c = xmpptest.Login(t, a.addrs.xmpp()[0].String(), "localhost", "carol", migrationUsers["carol"], xmpptest.Options{Pool: devPool(t, dir), Mechanism: sasl.ScramSha1})
	c.SendRaw(`<presence/>`)
	c.Expect("alice's subscription request", func(e *wire.Element) bool {
		return e.Local == "presence" && e.Get("type") == "subscribe" && strings.HasPrefix(e.Get("from"), "alice@localhost")
	})
	c.Close()
}
