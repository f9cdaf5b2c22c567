package store_test

import (
	"crypto/sha1"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

func importData(t *testing.T) store.ImportData {
	t.Helper()
	k, err := store.ComputeKeys(sha1.New, "pw", []byte("uuid-like salt"), 10000)
	if err != nil {
		t.Fatal(err)
	}
	return store.ImportData{
		Credentials: store.Credentials{SHA1: k},
		Roster:      []store.RosterItem{{JID: "bob@example.org", Sub: store.SubBoth, Groups: []string{"g"}}},
		VCard:       []byte("<vCard xmlns='vcard-temp'><FN>A</FN></vCard>"),
		Private:     map[string][]byte{"storage storage:bookmarks": []byte("<storage xmlns='storage:bookmarks'/>")},
		Blocklist:   []string{"spam@example.net"},
		Offline:     []store.ImportedMessage{{At: time.Unix(1700000000, 0), Stanza: []byte("<message><body>x</body></message>")}},
	}
}

// TestImportAccount: a new account gets everything in one transaction; a
// dry run and a conflict write nothing; a second import changes nothing;
// deleting the imported account removes it all.
func TestImportAccount(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	d := importData(t)
	same := func(c store.Credentials) bool { return c.VerifyPlain("pw") }

	res, err := db.ImportAccount(ctx, "alice", d, same, true)
	if err != nil || !res.Created || res.Roster != 1 || res.Offline != 1 || !res.VCard {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if ok, _ := db.UserExists(ctx, "alice"); ok {
		t.Fatal("a dry run created the account")
	}
	res, err = db.ImportAccount(ctx, "alice", d, same, false)
	if err != nil || !res.Created || res.Private != 1 || res.Blocked != 1 {
		t.Fatalf("import = %+v, %v", res, err)
	}
	if c, _ := db.Credentials(ctx, "alice"); !c.VerifyPlain("pw") || len(c.SHA256.StoredKey) != 0 {
		t.Error("imported SHA-1-only credentials do not verify")
	}
	res, err = db.ImportAccount(ctx, "alice", d, same, false)
	if err != nil || res.Changed() {
		t.Errorf("second import = %+v, %v; want no change", res, err)
	}
	if off, _ := db.Offline(ctx, "alice"); len(off) != 1 {
		t.Errorf("offline after two imports: %d", len(off))
	}
	_, err = db.ImportAccount(ctx, "alice", d, func(store.Credentials) bool { return false }, false)
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("import over another account = %v, want ErrConflict", err)
	}
	if _, err := db.DeleteAccount(ctx, "alice", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.UserExists(ctx, "alice"); ok {
		t.Error("alice exists after deletion")
	}

	// Invalid input changes nothing.
	bad := d
	bad.Credentials = store.Credentials{}
	if _, err := db.ImportAccount(ctx, "carol", bad, same, false); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no verifier: %v", err)
	}
	bad = d
	bad.Credentials.SHA1.StoredKey = []byte("short")
	if _, err := db.ImportAccount(ctx, "carol", bad, same, false); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("short key: %v", err)
	}
	if ok, _ := db.UserExists(ctx, "carol"); ok {
		t.Error("an invalid import created carol")
	}
}

// TestImportAccountCaps: each per-account cap holds for imports and fails
// the whole account.
func TestImportAccountCaps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		lim  store.Limits
	}{
		{"roster", store.Limits{RosterItems: 0 + 1}},
		{"private", store.Limits{PrivateBytes: 10}},
		{"offline", store.Limits{OfflineBytes: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.OpenLimits(t, filepath.Join(t.TempDir(), "x.db"), tc.lim)
			d := importData(t)
			d.Roster = append(d.Roster, store.RosterItem{JID: "carol@example.org"})
			_, err := db.ImportAccount(t.Context(), "alice", d, nil, false)
			if !errors.Is(err, store.ErrQuota) {
				t.Fatalf("import = %v, want ErrQuota", err)
			}
			if ok, _ := db.UserExists(t.Context(), "alice"); ok {
				t.Error("the account exists after a failed import")
			}
		})
	}
}

func TestImportAccountArchivePrefs(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t)
	creds, err := store.DeriveCredentials("pw-archive-1", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	same := func(c store.Credentials) bool { return c.VerifyPlain("pw-archive-1") }
	for _, bad := range []store.ArchivePrefs{{Default: "sometimes"}, {Default: "always", Always: []string{""}}} {
		if _, err := db.ImportAccount(ctx, "x", store.ImportData{Credentials: creds, ArchivePrefs: &bad}, same, false); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("prefs %+v: %v, want ErrInvalid", bad, err)
		}
	}
	d := store.ImportData{Credentials: creds, ArchivePrefs: &store.ArchivePrefs{Default: "always", Never: []string{"no@example.org"}}}
	res, err := db.ImportAccount(ctx, "x", d, same, false)
	if err != nil || !res.ArchivePrefs || res.ArchivePrefsKept {
		t.Fatalf("import = %+v, %v", res, err)
	}
	p, err := db.ArchivePrefs(ctx, "x")
	if err != nil || p.Default != "always" || len(p.Never) != 1 || p.Gen == 0 {
		t.Fatalf("prefs = %+v, %v", p, err)
	}
	// Set once: a second import keeps them and changes nothing.
	res, err = db.ImportAccount(ctx, "x", store.ImportData{Credentials: creds, ArchivePrefs: &store.ArchivePrefs{Default: "never"}}, same, false)
	if err != nil || res.Changed() || !res.ArchivePrefsKept {
		t.Fatalf("second import = %+v, %v", res, err)
	}
	if q, _ := db.ArchivePrefs(ctx, "x"); q.Default != "always" || q.Gen != p.Gen {
		t.Errorf("prefs after the second import = %+v", q)
	}
}
