package migrate_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chatbx/internal/migrate"
	"chatbx/store"
	"chatbx/store/storetest"
)

// prosodyKeys makes a verifier as Prosody 0.12 stores it: SCRAM-SHA-1,
// 10,000 iterations, a UUID string as the salt.
func prosodyKeys(t testing.TB, password, salt string) string {
	t.Helper()
	k, err := store.ComputeKeys(sha1.New, password, []byte(salt), 10000)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString
	el := fmt.Sprintf("<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>"+
		"<server-key>%s</server-key><stored-key>%s</stored-key><iter-count>10000</iter-count><salt>%s</salt></scram-credentials>",
		enc(k.ServerKey), enc(k.StoredKey), enc([]byte(salt)))
	// Prosody 0.12's exporter repeats the element.
	return el + el + el
}

func prosodyFile(t testing.TB) string {
	return `<?xml version='1.0' encoding='utf-8'?>
<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='Alice'>` +
		prosodyKeys(t, "old secret", "1b7c2a8e-3f4d-4c5e-9a6b-7c8d9e0f1a2b") + `
<query xmlns='jabber:iq:roster' version='3'>
 <item jid='bob@example.org' subscription='both' name='Bob'><group>Friends</group><group>Work</group></item>
 <item jid='carol@elsewhere.net/phone' subscription='to' ask='subscribe'/>
 <item jid='not a jid@@' subscription='both'/>
</query>
<presence xmlns='jabber:client' from='dave@example.org' type='subscribe'/>
<vCard xmlns='vcard-temp'><FN>Alice A.</FN><NICKNAME>al</NICKNAME></vCard>
<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='room@conference.example.org' autojoin='true'/></storage></query>
<blocklist xmlns='urn:xmpp:blocking'><item jid='spam@bad.example'/></blocklist>
<offline-messages><message xmlns='jabber:client' from='bob@example.org/x' to='alice@example.org' type='chat'><body>hi</body><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/></message><message from='carol@example.org' to='alice@example.org'><body>inherited namespace</body></message></offline-messages>
<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#send_last_published_item'><value>never</value></field></x></configure><configure node='urn:xmpp:avatar:metadata'/></pubsub>
<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'><item id='room1@conference.example.org'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true' name='Room 1'/></item><item id='room2@conference.example.org'><conference xmlns='urn:xmpp:bookmarks:1' name='Room 2'/></item></items></pubsub>
</user><user name='bob' password='bobs password'/></host>
<host jid='other.net'><user name='eve' password='x'/></host></server-data>
`
}

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadProsodyShape(t *testing.T) {
	r := migrate.NewReader(strings.NewReader(prosodyFile(t)), "p.xml", migrate.Limits{})
	a, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if a.Host != "example.org" || a.Name != "Alice" || len(a.SCRAM) != 1 || a.SCRAM["SCRAM-SHA-1"].Iterations != 10000 {
		t.Errorf("account = %+v", a)
	}
	if len(a.Roster) != 3 || a.Roster[0].Groups[1] != "Work" || a.Roster[1].Ask != "subscribe" || len(a.PendingIn) != 1 {
		t.Errorf("roster = %+v pending %v", a.Roster, a.PendingIn)
	}
	if a.VCard == nil || len(a.Private) != 1 || len(a.Blocklist) != 1 || len(a.Offline) != 2 || len(a.PEP) != 2 || len(a.PEP[0].Items) != 2 {
		t.Errorf("data = %+v", a)
	}
	if a.Offline[0].At.Year() != 2024 {
		t.Errorf("offline at = %v", a.Offline[0].At)
	}
	b, err := r.Next()
	if err != nil || b.Name != "bob" || !b.HasPassword || b.Password != "bobs password" {
		t.Fatalf("second = %+v, %v", b, err)
	}
	if e, err := r.Next(); err != nil || e.Host != "other.net" {
		t.Fatalf("third = %+v, %v", e, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end = %v, want EOF", err)
	}
}

func TestImport(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t)
	dir := t.TempDir()
	f := write(t, dir, "alice@example.org.xml", prosodyFile(t))
	opt := migrate.Options{Domain: "example.org"}

	// A dry run counts and writes nothing.
	rep, err := migrate.Import(ctx, db, []string{dir}, migrate.Options{Domain: "example.org", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Created) != 2 {
		t.Errorf("dry run report:\n%s", rep)
	}
	if users, _ := db.Users(ctx); len(users) != 0 {
		t.Fatalf("dry run wrote users %v", users)
	}

	rep, err = migrate.Import(ctx, db, []string{f}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", rep)
	if strings.Join(rep.Created, ",") != "alice,bob" || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].User, "other.net") {
		t.Errorf("report:\n%s", rep)
	}
	c, err := db.Credentials(ctx, "alice")
	if err != nil || !c.VerifyPlain("old secret") || c.VerifyPlain("wrong") {
		t.Fatalf("alice's credentials: %v", err)
	}
	c, err = db.Credentials(ctx, "bob")
	if err != nil || !c.VerifyPlain("bobs password") || len(c.SHA256.StoredKey) == 0 {
		t.Fatalf("bob's credentials: %v", err)
	}
	_, items, err := db.Roster(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bob@example.org": "both", "carol@elsewhere.net": "to", "dave@example.org": "none"}
	if len(items) != len(want) {
		t.Fatalf("roster = %+v", items)
	}
	for _, it := range items {
		if want[it.JID] != it.Sub.String() {
			t.Errorf("item %s: sub %s, want %s", it.JID, it.Sub, want[it.JID])
		}
		switch it.JID {
		case "bob@example.org":
			if it.Name != "Bob" || len(it.Groups) != 2 {
				t.Errorf("bob = %+v", it)
			}
		case "carol@elsewhere.net":
			if !it.AskOut {
				t.Errorf("carol = %+v", it)
			}
		case "dave@example.org":
			if !it.PendingIn {
				t.Errorf("dave = %+v", it)
			}
		}
	}
	if v, err := db.VCard(ctx, "alice"); err != nil || !strings.Contains(string(v), "Alice A.") {
		t.Errorf("vcard = %q, %v", v, err)
	}
	if v, err := db.Private(ctx, "alice", "storage storage:bookmarks"); err != nil || !strings.Contains(string(v), "room@conference") {
		t.Errorf("private = %q, %v", v, err)
	}
	if bl, _ := db.Blocklist(ctx, "alice"); len(bl) != 1 {
		t.Errorf("blocklist = %v", bl)
	}
	off, _ := db.Offline(ctx, "alice")
	if len(off) != 2 || !strings.Contains(string(off[0].Stanza), "<body>hi</body>") || off[0].At.Year() != 2024 {
		t.Errorf("offline = %+v", off)
	} else if s := string(off[1].Stanza); !strings.Contains(s, "<body>inherited namespace</body>") || strings.Contains(s, "xmlns") {
		t.Errorf("offline message in the inherited namespace stored as %s", s)
	}
	// PEP: the bookmarks node with its configuration and both items.
	n, pitems, err := db.PEPItems(ctx, "alice", "urn:xmpp:bookmarks:1", nil, 0)
	if err != nil || n.Access != "whitelist" || n.SendLast != "never" || n.MaxItems < 2 || len(pitems) != 2 ||
		!strings.Contains(string(pitems[1].Payload), "Room 2") {
		t.Errorf("bookmarks node = %+v, items %q, %v", n, pitems, err)
	}
	if n, err := db.PEPNode(ctx, "alice", "urn:xmpp:avatar:metadata"); err != nil || n.Access != "presence" {
		t.Errorf("avatar node = %+v, %v", n, err)
	}

	// No archive preferences come in: the server's default (never) applies.
	if p, err := db.ArchivePrefs(ctx, "alice"); err != nil || p.Default != "" {
		t.Errorf("archive prefs after import = %+v, %v", p, err)
	}

	// A second run changes nothing.
	rep, err = migrate.Import(ctx, db, []string{f}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unchanged) != 2 || len(rep.Created)+len(rep.Updated) != 0 {
		t.Errorf("second run:\n%s", rep)
	}
	if off, _ := db.Offline(ctx, "alice"); len(off) != 2 {
		t.Errorf("offline after a second run = %d messages", len(off))
	}
}

func TestImportConflict(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t)
	c, _ := store.DeriveCredentials("another password", store.MinIterations)
	if err := db.CreateUser(ctx, "alice", c); err != nil {
		t.Fatal(err)
	}
	f := write(t, t.TempDir(), "a.xml", prosodyFile(t))
	rep, err := migrate.Import(ctx, db, []string{f}, migrate.Options{Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) != 2 || rep.Skipped[1].User != "alice" || !strings.Contains(rep.Skipped[1].Reason, "another password") {
		t.Errorf("report:\n%s", rep)
	}
	if got, _ := db.Credentials(ctx, "alice"); !got.VerifyPlain("another password") {
		t.Error("the existing account's password changed")
	}
	if _, items, _ := db.Roster(ctx, "alice"); len(items) != 0 {
		t.Errorf("the existing account got roster items %v", items)
	}
}

func TestPlaintextNeverStored(t *testing.T) {
	dir := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(dir, "chatbx.db"))
	f := write(t, t.TempDir(), "a.xml", `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='u' password='UniquePlaintextMarker'/></host></server-data>`)
	if _, err := migrate.Import(t.Context(), db, []string{f}, migrate.Options{Domain: "example.org"}); err != nil {
		t.Fatal(err)
	}
	if hits := storetest.ScanDir(t, dir, "UniquePlaintextMarker"); len(hits) > 0 {
		t.Errorf("the plaintext password is in %v", hits)
	}
}

// Hostile and malformed files fail the whole import and change nothing.
func TestHostileFiles(t *testing.T) {
	user := `<user name='u' password='p'/>`
	doc := func(inner string) string {
		return `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'>` + inner + `</host></server-data>`
	}
	deep := strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)
	many := "<user name='m' password='p'><vCard xmlns='vcard-temp'>" + strings.Repeat("<X/>", 2000) + "</vCard></user>"
	huge := "<user name='h' password='p'><vCard xmlns='vcard-temp'><FN>" + strings.Repeat("A", 200_000) + "</FN></vCard></user>"
	lim := migrate.Limits{UserBytes: 100_000, Elements: 1000}
	for _, tc := range []struct{ name, content, want string }{
		{"wrong root namespace", `<server-data xmlns='urn:xmpp:pie:1'>` + user + `</server-data>`, "root element"},
		{"wrong user namespace", `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user xmlns='jabber:client' name='u'/></host></server-data>`, "unexpected element"},
		{"dtd", `<!DOCTYPE x [<!ENTITY a "b">]>` + doc(user), "DTD"},
		{"entity", doc(`<user name='&a;' password='p'/>`), "not well-formed"},
		{"not xml", "hello", "text before"},
		{"truncated", `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='u'>`, "unexpected EOF"},
		{"deep", doc(`<user name='d' password='p'>` + deep + `</user>`), "deeper"},
		{"many elements", doc(many), "elements"},
		{"huge element", doc(huge), "larger than"},
		{"duplicate users", doc(user + user), "named twice"},
		{"duplicate after PRECIS", doc(user + `<user name='U' password='q'/>`), "named twice"},
		{"undeclared prefix", doc(`<user name='u' password='p'><x:y/></user>`), "undeclared"},
		{"different scram repeated", doc(`<user name='u'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>YQ==</salt><server-key>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</server-key><stored-key>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</stored-key></scram-credentials><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4097</iter-count><salt>YQ==</salt><server-key>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</server-key><stored-key>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</stored-key></scram-credentials></user>`), "two different"},
		{"bad iter-count", doc(`<user name='u'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>x</iter-count></scram-credentials></user>`), "iter-count"},
		{"content after root", doc(user) + "<x/>", "after"},
		{"include outside the directory", `<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='../etc/x.xml'/></server-data>`, "same directory"},
		{"include of a missing file", `<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='missing.xml'/></server-data>`, "no such file"},
		{"short scram keys", doc(`<user name='u'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>YQ==</salt><server-key>YQ==</server-key><stored-key>YQ==</stored-key></scram-credentials></user>`), "wrong length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.Open(t)
			dir := t.TempDir()
			// A good file first: it must not be imported either.
			good := write(t, dir, "a-good.xml", doc(`<user name='good' password='p'/>`))
			bad := write(t, dir, "b-bad.xml", tc.content)
			_, err := migrate.Import(t.Context(), db, []string{good, bad}, migrate.Options{Domain: "example.org", Limits: lim})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import = %v, want an error with %q", err, tc.want)
			}
			if users, _ := db.Users(t.Context()); len(users) != 0 {
				t.Errorf("users after a failed import: %v", users)
			}
		})
	}
	t.Run("users per file", func(t *testing.T) {
		f := write(t, t.TempDir(), "a.xml", doc(`<user name='a' password='p'/><user name='b' password='p'/><user name='c' password='p'/>`))
		_, err := migrate.Import(t.Context(), storetest.Open(t), []string{f}, migrate.Options{Domain: "example.org", Limits: migrate.Limits{Users: 2}})
		if err == nil || !strings.Contains(err.Error(), "more than 2 users") {
			t.Errorf("Import = %v, want more than 2 users", err)
		}
	})
	t.Run("file size", func(t *testing.T) {
		f := write(t, t.TempDir(), "a.xml", doc(strings.Repeat(user, 1)))
		_, err := migrate.Import(t.Context(), storetest.Open(t), []string{f}, migrate.Options{Domain: "example.org", Limits: migrate.Limits{FileBytes: 50}})
		if !errors.Is(err, migrate.ErrTooLarge) && (err == nil || !strings.Contains(err.Error(), "file larger")) {
			t.Errorf("Import = %v, want file too large", err)
		}
	})
}

// PEP caps (nodes, items, bytes per account; items per node; item size)
// hold for imported data.
func TestImportPEPCaps(t *testing.T) {
	ctx := t.Context()
	f := write(t, t.TempDir(), "a.xml", prosodyFile(t))
	for _, tc := range []struct {
		name string
		opt  migrate.Options
		ok   bool
		want int // bookmarks kept
	}{
		{"nodes", migrate.Options{PEPLimits: store.PEPLimits{Nodes: 1}}, false, 0},
		{"items", migrate.Options{PEPLimits: store.PEPLimits{Items: 1}}, false, 0},
		{"bytes", migrate.Options{PEPLimits: store.PEPLimits{Bytes: 50}}, false, 0},
		{"items per node", migrate.Options{PEPNodeItems: 1}, true, 1},
		{"item size", migrate.Options{PEPItemBytes: 70}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.Open(t)
			opt := tc.opt
			opt.Domain = "example.org"
			rep, err := migrate.Import(ctx, db, []string{f}, opt)
			if err != nil {
				t.Fatal(err)
			}
			exists, _ := db.UserExists(ctx, "alice")
			if exists != tc.ok {
				t.Fatalf("alice imported = %v, want %v:\n%s", exists, tc.ok, rep)
			}
			if !tc.ok {
				return
			}
			_, items, err := db.PEPItems(ctx, "alice", "urn:xmpp:bookmarks:1", nil, 0)
			if err != nil || len(items) != tc.want {
				t.Errorf("bookmarks = %d, %v; want %d\n%s", len(items), err, tc.want, rep)
			}
		})
	}
}

func TestImportCaps(t *testing.T) {
	db := storetest.OpenLimits(t, filepath.Join(t.TempDir(), "c.db"), store.Limits{RosterItems: 1})
	f := write(t, t.TempDir(), "a.xml", prosodyFile(t))
	rep, err := migrate.Import(context.Background(), db, []string{f}, migrate.Options{Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Created) != 1 || rep.Created[0] != "bob" {
		t.Errorf("report:\n%s", rep)
	}
	if ok, _ := db.UserExists(t.Context(), "alice"); ok {
		t.Error("alice exists although her roster is over the cap")
	}
}

func FuzzReader(f *testing.F) {
	f.Add(prosodyFile(f))
	f.Add(`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='u' password='p'/></host></server-data>`)
	f.Add(`<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'><offline-messages><message xmlns='jabber:client'><body>x</body></message></offline-messages></user></host></server-data>`)
	f.Add(`<!DOCTYPE x><x/>`)
	f.Add(prefsFile)
	f.Add(`<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='h.xml'/></server-data>`)
	f.Add(`<host xmlns='urn:xmpp:pie:0' jid='h'><user name='s'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>YQ==</salt><server-key>QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBPQ==</server-key><stored-key>QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBPQ==</stored-key></scram-credentials><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'><item id='1'><x xmlns='y'/></item></items></pubsub></user></host>`)
	f.Fuzz(func(t *testing.T, s string) {
		r := migrate.NewReader(strings.NewReader(s), "f", migrate.Limits{UserBytes: 1 << 16, Elements: 500})
		for range 100 {
			a, err := r.Next()
			if err != nil {
				if _, err2 := r.Next(); err2 == nil {
					t.Fatal("Next succeeded after an error")
				}
				return
			}
			// What was read serialises to well-formed XML again.
			if a.VCard != nil {
				if _, err := migrate.NewReader(strings.NewReader("<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'>"+string(a.VCard.Bytes(""))+"</user></host></server-data>"), "", migrate.Limits{}).Next(); err != nil {
					t.Fatalf("vCard does not round-trip: %v", err)
				}
			}
		}
	})
}

// ejabberd 23.01's export_piefxis: a main file including one file per
// host whose root is <host/>, SCRAM values base64-encoded twice.
func TestReadEjabberdShape(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k, err := store.ComputeKeys(sha1.New, "ej pw", []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	twice := func(b []byte) string {
		return base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString(b)))
	}
	write(t, dir, "20261202-183026.xml", `<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='20261202-183026_example.org.xml'/></server-data>`)
	write(t, dir, "20261202-183026_example.org.xml", `<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='example.org'><user name='scram'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>`+twice(k.Salt)+`</salt><server-key>`+twice(k.ServerKey)+`</server-key><stored-key>`+twice(k.StoredKey)+`</stored-key></scram-credentials></user><user name='plain' password='plain pw'><query xmlns='jabber:iq:privacy'><default name='Blocked contacts'/><list name='Blocked contacts'><item type='jid' value='spam@example.net' action='deny' order='1'/><item type='jid' value='x@example.net' action='deny' order='2'><message/></item></list><list name='other'><item action='allow' order='1'/></list></query><offline-messages><message to='plain@example.org' from='scram@example.org' type='chat' id='1' xmlns='jabber:client'><delay from='example.org' stamp='2026-12-02T18:30:44.709163Z' xmlns='urn:xmpp:delay'>Offline storage</delay><body>offline hello</body></message></offline-messages></user></host>`)
	db := storetest.Open(t)
	// The directory holds both files: the host file is read once.
	rep, err := migrate.Import(ctx, db, []string{dir}, migrate.Options{Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Created, ",") != "plain,scram" {
		t.Errorf("report:\n%s", rep)
	}
	if c, err := db.Credentials(ctx, "scram"); err != nil || !c.VerifyPlain("ej pw") {
		t.Errorf("scram's credentials: %v", err)
	}
	if off, _ := db.Offline(ctx, "plain"); len(off) != 1 || !strings.Contains(string(off[0].Stanza), "offline hello") {
		t.Errorf("offline = %+v", off)
	}
	// The default privacy list's full blocks became the blocklist.
	if bl, _ := db.Blocklist(ctx, "plain"); len(bl) != 1 || bl[0] != "spam@example.net" {
		t.Errorf("blocklist from privacy lists = %v", bl)
	}
	if !strings.Contains(rep.String(), "privacy list \"other\"") || !strings.Contains(rep.String(), "1 privacy rule(s)") {
		t.Errorf("report does not name the privacy rules left out:\n%s", rep)
	}
	// The main file alone finds the host file too.
	rep, err = migrate.Import(ctx, storetest.Open(t), []string{filepath.Join(dir, "20261202-183026.xml")}, migrate.Options{Domain: "example.org"})
	if err != nil || len(rep.Created) != 2 {
		t.Errorf("import of the main file: %v\n%s", err, rep)
	}
}
