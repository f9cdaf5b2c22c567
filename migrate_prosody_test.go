package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"chatbx/internal/certs"
	"chatbx/server/xmpptest"
)

// Accounts of the migration tests: name → password.
var migrationUsers = map[string]string{
	"alice": "alice old pw ü",
	"bob":   "bob-pw-2e8f",
	"carol": "carol-pw-77aa",
}

// TestImportFromProsody makes a real export: Debian's Prosody registers
// the accounts (internal_hashed: SCRAM-SHA-1, 10,000 iterations, UUID
// salts), its data files get a roster and a vCard, prosody-migrator
// writes XEP-0227, chatbx imports it, and the users log in with their old
// passwords (the raw client and slixmpp) and find roster and vCard.
//
// Prosody 0.12's XEP-0227 driver has no offline store (the migrator
// answers unsupported-datastore), so offline messages come only from
// ejabberd (TestImportFromEjabberd).
func TestImportFromProsody(t *testing.T) {
	t.Parallel()
	prosodyctl := xmpptest.RequireCommand(t, "prosodyctl")
	migrator := xmpptest.RequireCommand(t, "prosody-migrator")
	lua := xmpptest.RequireCommand(t, "lua5.4")

	pdir := t.TempDir()
	data := filepath.Join(pdir, "data")
	out := filepath.Join(pdir, "out")
	host := filepath.Join(data, "localhost") // Prosody escapes '.', none here
	for _, d := range []string{"accounts", "roster", "vcard", "private"} {
		if err := os.MkdirAll(filepath.Join(host, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// As root, prosodyctl switches to prosody_user: keep the current one.
	who := `prosody_user = "` + me.Username + `"` + "\n" + `prosody_group = "` + me.Username + `"` + "\n"
	cfg := filepath.Join(pdir, "prosody.cfg.lua")
	writeFile(t, cfg, who+`pidfile = "`+pdir+`/prosody.pid"
data_path = "`+data+`"
certificates = "`+pdir+`"
authentication = "internal_hashed"
storage = "internal"
log = { error = "`+pdir+`/error.log" }
VirtualHost "localhost"
`)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for name, pw := range migrationUsers {
		cmd := exec.CommandContext(ctx, prosodyctl, "--config", cfg, "register", name, "localhost", pw)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", name, err, b)
		}
	}
	acct, err := os.ReadFile(filepath.Join(host, "accounts", "alice.dat"))
	if err != nil || !strings.Contains(string(acct), "stored_key") || strings.Contains(string(acct), "password") {
		t.Fatalf("Prosody's account file is not internal_hashed: %s (%v)", acct, err)
	}
	// Prosody's own store format (util.datamanager): a roster with a
	// pending request and a vCard.
	writeFile(t, filepath.Join(host, "roster", "alice.dat"), `return {
	[false] = { ["version"] = 4; ["pending"] = { ["dave@localhost"] = true; }; };
	["bob@localhost"] = { ["subscription"] = "both"; ["name"] = "Bob"; ["groups"] = { ["Friends"] = true; }; };
	["carol@localhost"] = { ["subscription"] = "to"; ["groups"] = {}; };
	["erin@remote.example"] = { ["subscription"] = "none"; ["ask"] = "subscribe"; ["groups"] = {}; };
};
`)
	writeFile(t, filepath.Join(host, "roster", "bob.dat"), `return {
	[false] = { ["version"] = 1; ["pending"] = {}; };
	["alice@localhost"] = { ["subscription"] = "both"; ["groups"] = {}; };
};
`)
	writeFile(t, filepath.Join(host, "vcard", "alice.dat"), `return {
	["name"] = "vCard"; ["attr"] = { ["xmlns"] = "vcard-temp"; };
	[1] = { ["name"] = "FN"; ["attr"] = {}; [1] = "Alice from Prosody"; };
	[2] = { ["name"] = "NICKNAME"; ["attr"] = {}; [1] = "al"; };
};
`)
	// prosody-migrator writes XEP-0227 into Prosody's compiled-in data
	// path (/var/lib/prosody), whatever the output block says: run the
	// same script with the data path pointed at the test's directory
	// (and, as root, without the switch to the prosody user).
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
	hosts = { ["localhost"] = { "accounts"; "roster"; "vcard"; "private" } };
}
output { type = "xep0227"; path = "`+out+`"; }
`)
	cmd := exec.CommandContext(ctx, lua, migScript, "--config="+migCfg, "input", "output")
	cmd.Dir = pdir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prosody-migrator: %v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*@localhost.xml"))
	if len(files) != len(migrationUsers) {
		t.Fatalf("prosody-migrator wrote %v", files)
	}
	exported, _ := os.ReadFile(filepath.Join(out, "alice@localhost.xml"))
	t.Logf("alice@localhost.xml from prosody-migrator: %s", exported)

	dir := t.TempDir()
	te := newTestEnv(t)
	if code := te.runWith("", "import", "--dev", "--data-dir", dir, out); code != exitOK {
		t.Fatalf("import = %d: %s%s", code, te.out, te.errOut)
	}
	if !strings.Contains(te.out.String(), "new: alice, bob, carol") {
		t.Errorf("import output:\n%s", te.out)
	}
	checkImportedLogins(t, dir, "Alice from Prosody", map[string]string{
		"bob@localhost": "both", "carol@localhost": "to", "erin@remote.example": "none",
	})
}

// checkImportedLogins starts chatbx on dir and logs every migration user
// in with the old password over SCRAM-SHA-1 (the raw client) and with
// slixmpp; alice's roster and vCard must be as given. It returns the
// running server.
func checkImportedLogins(t *testing.T, dir, aliceFN string, roster map[string]string) *app {
	t.Helper()
	return checkImportedLoginsMech(t, dir, aliceFN, roster, "SCRAM-SHA-1")
}

// checkImportedLoginsMech is checkImportedLogins with the mechanism the
// old server's verifiers allow ("SCRAM-SHA-1" or "SCRAM-SHA-256").
func checkImportedLoginsMech(t *testing.T, dir, aliceFN string, roster map[string]string, mechName string) *app {
	t.Helper()
	mech := sasl.ScramSha1
	if mechName == "SCRAM-SHA-256" {
		mech = sasl.ScramSha256
	}
	a := startTestServer(t, dir)
	pool := devPool(t, dir)
	addr := a.addrs.xmpp()[0].String()
	for name, pw := range migrationUsers {
		xmpptest.Login(t, addr, "localhost", name, pw, xmpptest.Options{Pool: pool, Mechanism: mech}).Close()
		if _, err := xmpptest.Dial(t, addr, "localhost", name, pw+"x", xmpptest.Options{Pool: pool, Mechanism: mech}); err == nil {
			t.Errorf("%s logged in with a wrong password", name)
		}
	}
	c := xmpptest.Login(t, addr, "localhost", "alice", migrationUsers["alice"], xmpptest.Options{Pool: pool, Mechanism: mech})
	r := xmpptest.String(c.IQ(`<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`))
	for j, sub := range roster {
		if !strings.Contains(r, "jid='"+j+"'") && !strings.Contains(r, `jid="`+j+`"`) {
			t.Errorf("roster lacks %s (%s): %s", j, sub, r)
		}
	}
	if v := xmpptest.String(c.IQ(`<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>`)); !strings.Contains(v, aliceFN) {
		t.Errorf("vCard: %s", v)
	}
	c.Close()

	// slixmpp, with SCRAM-SHA-1 as the old server offered it.
	py := xmpptest.RequireCommand(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-slixmpp is required in CI")
		}
		t.Log("python3-slixmpp not installed: no slixmpp login")
		return a
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// Once with the mechanism the old server offered, once with
	// slixmpp's own choice (it tries SCRAM-SHA-256 first and falls back
	// to SCRAM-SHA-1 when the account has no SHA-256 verifier).
	var got string
	for _, mech := range []string{mechName, ""} {
		cmd := exec.CommandContext(ctx, py, "testdata/slix_imported.py", "alice@localhost", migrationUsers["alice"], host, port, mech, filepath.Join(dir, certs.DevCertFile))
		b, err := cmd.CombinedOutput()
		got = string(b)
		if err != nil || !strings.Contains(got, "DONE") {
			t.Fatalf("slixmpp (mechanism %q): %v\n%s", mech, err, got)
		}
	}
	for j, sub := range roster {
		if !strings.Contains(got, "ROSTER "+j+" "+sub) {
			t.Errorf("slixmpp roster lacks %s %s:\n%s", j, sub, got)
		}
	}
	if !strings.Contains(got, "FN "+aliceFN) {
		t.Errorf("slixmpp vCard:\n%s", got)
	}
	return a
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
