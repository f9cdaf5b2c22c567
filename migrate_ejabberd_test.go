package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// TestImportFromEjabberd runs a private ejabberd (Debian's 23.01: its own
// configuration, spool and log directories, no listeners, its own Erlang
// node name), creates accounts with `ejabberdctl register`, a roster
// item, a vCard and an offline message with mod_admin_extra, exports with
// `ejabberdctl export_piefxis`, imports into chatbx, and logs the users in
// with their old passwords: once with ejabberd's default plaintext
// storage and once with auth_password_format: scram.
func TestImportFromEjabberd(t *testing.T) {
	t.Parallel()
	ctl := xmpptest.RequireCommand(t, "ejabberdctl")
	xmpptest.RequireCommand(t, "erl")
	for _, tc := range []struct{ name, format, hash string }{
		{"plain", "plain", ""}, {"scram", "scram", ""}, {"scram-sha256", "scram", "sha256"},
	} {
		format := tc.format
		t.Run(tc.name, func(t *testing.T) {
			out := ejabberdExport(t, ctl, format, tc.hash)
			dir := t.TempDir()
			te := newTestEnv(t)
			if code := te.runWith("", "import", "--dev", "--data-dir", dir, out); code != exitOK {
				t.Fatalf("import = %d: %s%s", code, te.out, te.errOut)
			}
			t.Logf("import report:\n%s", te.out)
			if !strings.Contains(te.out.String(), "new: alice, bob, carol") {
				t.Errorf("import output:\n%s", te.out)
			}
			if format == "plain" && !strings.Contains(te.out.String(), "plaintext password") {
				t.Errorf("import output does not mention the plaintext passwords:\n%s", te.out)
			}
			mech := "SCRAM-SHA-1"
			if tc.hash == "sha256" {
				mech = "SCRAM-SHA-256"
			}
			a := checkImportedLoginsMech(t, dir, "Alice from ejabberd", map[string]string{"bob@localhost": "both"}, mech)
			// The offline message ejabberd held for alice arrives.
			c := xmpptest.Login(t, a.addrs.xmpp()[0].String(), "localhost", "alice", migrationUsers["alice"],
				xmpptest.Options{Pool: devPool(t, dir), Mechanism: map[bool]sasl.Mechanism{false: sasl.ScramSha1, true: sasl.ScramSha256}[tc.hash == "sha256"]})
			c.SendRaw(`<presence/>`)
			c.Expect("offline message", func(e *wire.Element) bool {
				return e.Local == "message" && e.ChildText(wire.NSClient, "body") == "offline hello from ejabberd"
			})
			if s := xmpptest.String(c.IQ(`<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)); !strings.Contains(s, "spam@example.net") {
				t.Errorf("blocklist after the import: %s", s)
			}
			c.Close()
		})
	}
}

// ejabberdExport runs a private ejabberd with the given
// auth_password_format, fills it and returns the export directory.
func ejabberdExport(t *testing.T, ctl, format, hash string) string {
	t.Helper()
	base := t.TempDir()
	conf, spool, logs, out := filepath.Join(base, "etc"), filepath.Join(base, "spool"), filepath.Join(base, "logs"), filepath.Join(base, "export")
	for _, d := range []string{conf, spool, logs, out} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(conf, "ejabberd.yml"), `hosts:
  - localhost
loglevel: warning
certfiles: []
listen: []
auth_method: internal
auth_password_format: `+format+`
`+map[bool]string{true: "auth_scram_hash: " + hash + "\n"}[hash != ""]+`modules:
  mod_roster: {}
  mod_vcard: {}
  mod_offline: {}
  mod_private: {}
  mod_privacy: {}
  mod_blocking: {}
  mod_admin_extra: {}
`)
	writeFile(t, filepath.Join(conf, "ejabberdctl.cfg"), "")
	writeFile(t, filepath.Join(conf, "inetrc"), "")
	// ejabberdctl runs itself as the user ejabberd when started by root
	// and refuses other users: a copy without INSTALLUSER runs as the
	// current user.
	src, err := os.ReadFile(ctl)
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Replace(string(src), "\nINSTALLUSER=ejabberd\n", "\nINSTALLUSER=\n", 1)
	own := filepath.Join(base, "ejabberdctl")
	if err := os.WriteFile(own, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	node := "chatbxtest" + hex.EncodeToString(rnd[:]) + "@localhost"
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		full := append([]string{"--config-dir", conf, "--config", filepath.Join(conf, "ejabberd.yml"),
			"--ctl-config", filepath.Join(conf, "ejabberdctl.cfg"), "--spool", spool, "--logs", logs, "--node", node}, args...)
		cmd := exec.CommandContext(ctx, own, full...)
		cmd.Dir = base
		b, err := cmd.CombinedOutput()
		if err != nil {
			logText, _ := os.ReadFile(filepath.Join(logs, "ejabberd.log"))
			t.Fatalf("ejabberdctl %s: %v\n%s\nlog:\n%s", strings.Join(args, " "), err, b, logText)
		}
		return string(b)
	}
	run("start")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		stop := func(arg string) {
			cmd := exec.CommandContext(ctx, own, "--config-dir", conf, "--config", filepath.Join(conf, "ejabberd.yml"),
				"--ctl-config", filepath.Join(conf, "ejabberdctl.cfg"), "--spool", spool, "--logs", logs, "--node", node, arg)
			cmd.Dir = base
			cmd.Run()
		}
		stop("stop")
		stop("stopped")
	})
	run("started")
	for name, pw := range migrationUsers {
		run("register", name, "localhost", pw)
	}
	run("add_rosteritem", "alice", "localhost", "bob", "localhost", "Bob", "Friends", "both")
	run("set_vcard", "alice", "localhost", "FN", "Alice from ejabberd")
	run("send_message", "chat", "bob@localhost", "alice@localhost", "", "offline hello from ejabberd")
	// A blocked address, as ejabberd keeps it: a privacy list, the default.
	run("privacy_set", "alice", "localhost", "<query xmlns='jabber:iq:privacy'><list name='Blocked contacts'><item type='jid' value='spam@example.net' action='deny' order='1'/></list></query>")
	run("privacy_set", "alice", "localhost", "<query xmlns='jabber:iq:privacy'><default name='Blocked contacts'/></query>")
	run("export_piefxis", out)
	files, _ := filepath.Glob(filepath.Join(out, "*.xml"))
	if len(files) != 2 {
		t.Fatalf("export_piefxis wrote %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		t.Logf("%s from export_piefxis (%s):\n%s", filepath.Base(f), format, b)
	}
	return out
}
