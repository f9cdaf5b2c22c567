package migrate_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"chatbx/internal/migrate"
	"chatbx/store"
	"chatbx/store/storetest"
)

// prefsFile has accounts with archiving preferences in the namespaces
// exporters use: mam:2 (chatbx's own export), mam:1 and mam:0, one with
// a default chatbx does not know, and one without preferences.
const prefsFile = `<?xml version='1.0'?>
<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'>
<user name='ann' password='ann password'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>Bob@Example.org/phone</jid><jid>not a jid@@</jid><jid>bob@example.org</jid></always><never><jid>spam@bad.example</jid></never></prefs></user>
<user name='ben' password='ben password'><prefs xmlns='urn:xmpp:mam:1' default='always'/></user>
<user name='cat' password='cat password'><prefs xmlns='urn:xmpp:mam:0' default='never'><always><jid>ann@example.org</jid></always></prefs></user>
<user name='dan' password='dan password'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></user>
<user name='eve' password='eve password'/>
</host></server-data>`

func TestImportArchivePrefs(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t)
	f := write(t, t.TempDir(), "all.xml", prefsFile)
	var imported []string
	opt := migrate.Options{Domain: "example.org", Imported: func(u string) { imported = append(imported, u) }}

	// A dry run writes no preferences and calls no hook.
	dry := opt
	dry.DryRun = true
	if _, err := migrate.Import(ctx, db, []string{f}, dry); err != nil {
		t.Fatal(err)
	}
	if len(imported) != 0 {
		t.Errorf("dry run called Imported for %v", imported)
	}

	rep, err := migrate.Import(ctx, db, []string{f}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", rep)
	if len(rep.Created) != 5 || strings.Join(imported, ",") != "ann,ben,cat,dan,eve" {
		t.Errorf("created %v, hook %v", rep.Created, imported)
	}
	want := map[string]store.ArchivePrefs{
		"ann": {Default: "roster", Always: []string{"bob@example.org"}, Never: []string{"spam@bad.example"}},
		"ben": {Default: "always"},
		"cat": {Default: "never", Always: []string{"ann@example.org"}},
		"dan": {}, // unknown default: left out, the server's default (never) applies
		"eve": {}, // no <prefs/>: the same
	}
	for u, w := range want {
		p, err := db.ArchivePrefs(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if p.Default != w.Default || !slices.Equal(p.Always, w.Always) || !slices.Equal(p.Never, w.Never) {
			t.Errorf("%s: prefs %+v, want %+v", u, p, w)
		}
		if (w.Default == "") != (p.Gen == 0) {
			t.Errorf("%s: gen %d", u, p.Gen)
		}
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, s := range []string{`dan: archive preferences with default "sometimes" left out`, "ann: 1 invalid JID(s) of the archive preferences"} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes lack %q:\n%s", s, notes)
		}
	}

	// The user changes them on chatbx; a second import keeps the choice.
	if _, err := db.SetArchivePrefs(ctx, "ben", store.ArchivePrefs{Default: "never"}); err != nil {
		t.Fatal(err)
	}
	imported = nil
	rep, err = migrate.Import(ctx, db, []string{f}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unchanged) != 5 || len(imported) != 0 {
		t.Errorf("second run: hook %v\n%s", imported, rep)
	}
	if p, _ := db.ArchivePrefs(ctx, "ben"); p.Default != "never" {
		t.Errorf("ben's own choice overwritten by the second import: %+v", p)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "ben: archive preferences in the file not applied") {
		t.Errorf("second run does not report the kept preferences:\n%s", rep)
	}
}

func TestReadArchivePrefsTwice(t *testing.T) {
	doc := `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='a' password='p'>` +
		`<prefs xmlns='urn:xmpp:mam:2' default='always'/><prefs xmlns='urn:xmpp:mam:2' default='never'/></user></host></server-data>`
	_, err := migrate.NewReader(strings.NewReader(doc), "x.xml", migrate.Limits{}).Next()
	if err == nil || !strings.Contains(err.Error(), "two archive preferences") {
		t.Fatalf("two <prefs/>: %v", err)
	}
}

// TestImportArchivePrefsCap: lists longer than the store keeps are cut at
// 1000 JIDs each, reported, and the account is still imported.
func TestImportArchivePrefsCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='many' password='many password'><prefs xmlns='urn:xmpp:mam:2' default='always'><never>`)
	for i := range 1003 {
		b.WriteString("<jid>u" + strconv.Itoa(i) + "@example.net</jid>")
	}
	b.WriteString(`</never></prefs></user></host></server-data>`)
	db := storetest.Open(t)
	rep, err := migrate.Import(t.Context(), db, []string{write(t, t.TempDir(), "many.xml", b.String())}, migrate.Options{Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.ArchivePrefs(t.Context(), "many")
	if err != nil || p.Default != "always" || len(p.Never) != 1000 {
		t.Fatalf("prefs: default %q, %d never, %v", p.Default, len(p.Never), err)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "3 JID(s) of the archive preferences over the limit") {
		t.Errorf("report:\n%s", rep)
	}
}
