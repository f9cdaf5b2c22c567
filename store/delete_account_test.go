package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

// TestDeleteAccount: one call removes everything of the account and the
// account from every other local roster (bumping those rosters' versions),
// leaves rosters without it and other accounts' data alone, reports the
// old roster and the counts, and moves the upload record to the trash.
// The whole of it runs in one bbolt Update (DB.DeleteAccount: one
// db.update whose function does summary, contacts' rosters and buckets).
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		storetest.User(t, db, u)
	}
	const jid = "alice@example.org"
	put := func(user, contact string, sub store.Subscription) {
		t.Helper()
		if _, err := db.PutRosterItem(ctx, user, store.RosterItem{JID: contact, Sub: sub, Groups: []string{"g"}}); err != nil {
			t.Fatal(err)
		}
	}
	put("alice", "bob@example.org", store.SubBoth)
	put("alice", "remote@elsewhere.example", store.SubTo)
	put("bob", jid, store.SubBoth)
	put("bob", "carol@example.org", store.SubBoth)
	put("carol", jid, store.SubNone) // a request that never got an answer
	put("dave", "carol@example.org", store.SubFrom)
	now := time.Now()
	if _, err := db.PushOffline(ctx, "alice", now, []byte("<message>offline-marker</message>"), 10); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPrivate(ctx, "alice", "k ns", []byte("<k xmlns='ns'/>")); err != nil {
		t.Fatal(err)
	}
	if err := db.SetVCard(ctx, "alice", []byte("<vCard xmlns='vcard-temp'/>")); err != nil {
		t.Fatal(err)
	}
	if err := db.Block(ctx, "alice", []string{"spam@elsewhere.example", "x@elsewhere.example"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUpload(ctx, "alice", store.Upload{ID: "upload-of-alice", Size: 3, Created: now}, store.UploadLimits{}); err != nil {
		t.Fatal(err)
	}
	bobVer, _ := db.RosterVersion(ctx, "bob")
	daveVer, _ := db.RosterVersion(ctx, "dave")

	d, err := db.DeleteAccount(ctx, "alice", jid)
	if err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if got := len(d.Roster); got != 2 || d.Roster[0].JID != "bob@example.org" || d.Roster[0].Sub != store.SubBoth {
		t.Errorf("roster before deletion = %+v", d.Roster)
	}
	want := store.DeletedAccount{Roster: d.Roster, OfflineMessages: 1, PrivateItems: 1, BlockedJIDs: 2, Uploads: 1, VCard: true, ContactRosters: 2}
	if d.OfflineMessages != want.OfflineMessages || d.PrivateItems != want.PrivateItems || d.BlockedJIDs != want.BlockedJIDs ||
		d.Uploads != want.Uploads || d.VCard != want.VCard || d.ContactRosters != want.ContactRosters {
		t.Errorf("DeleteAccount = %+v, want counts of %+v", d, want)
	}

	// Everything of alice is gone.
	if ok, _ := db.UserExists(ctx, "alice"); ok {
		t.Error("alice still exists")
	}
	if _, err := db.Credentials(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("credentials: %v", err)
	}
	if _, _, err := db.Roster(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("roster: %v", err)
	}
	if _, err := db.Upload(ctx, "upload-of-alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("upload record: %v", err)
	}
	if ids, err := db.TrashedUploads(ctx); err != nil || !slices.Equal(ids, []string{"upload-of-alice"}) {
		t.Errorf("trashed uploads = %q, %v", ids, err)
	}
	// The contacts' rosters no longer hold alice; their versions moved.
	for _, u := range []string{"bob", "carol"} {
		if _, err := db.RosterItem(ctx, u, jid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s's roster still holds alice: %v", u, err)
		}
	}
	if v, _ := db.RosterVersion(ctx, "bob"); v != bobVer+1 {
		t.Errorf("bob's roster version %d, want %d", v, bobVer+1)
	}
	if _, items, _ := db.Roster(ctx, "bob"); len(items) != 1 || items[0].JID != "carol@example.org" {
		t.Errorf("bob's roster = %+v, want carol only", items)
	}
	// dave never had alice: untouched.
	if v, _ := db.RosterVersion(ctx, "dave"); v != daveVer {
		t.Errorf("dave's roster version %d, want %d (unchanged)", v, daveVer)
	}
	// The other accounts are all there.
	if users, _ := db.Users(ctx); !slices.Equal(users, []string{"bob", "carol", "dave"}) {
		t.Errorf("users = %q", users)
	}

	// A second deletion finds nothing and changes nothing.
	if _, err := db.DeleteAccount(ctx, "alice", jid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteAccount: %v, want ErrNotFound", err)
	}
	if v, _ := db.RosterVersion(ctx, "bob"); v != bobVer+1 {
		t.Errorf("bob's roster version after a failed deletion %d, want %d", v, bobVer+1)
	}
}

// TestDeleteAccountMarkersGone: after DeleteAccount the account's bytes
// are gone from the database file (the scrub runs as with DeleteUser),
// including the contacts' roster entries naming it.
func TestDeleteAccountMarkersGone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := storetest.OpenPath(t, dir+"/chatbx.db")
	ctx := t.Context()
	storetest.User(t, db, "zeta-marker-user")
	storetest.User(t, db, "bob")
	const jid = "zeta-marker-user@example.org"
	if _, err := db.PutRosterItem(ctx, "bob", store.RosterItem{JID: jid, Name: "roster-name-marker"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetVCard(ctx, "zeta-marker-user", []byte("<vCard xmlns='vcard-temp'>vcard-marker</vCard>")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteAccount(ctx, "zeta-marker-user", jid); err != nil {
		t.Fatal(err)
	}
	if hits := storetest.ScanDir(t, dir, "zeta-marker-user", "roster-name-marker", "vcard-marker"); len(hits) > 0 {
		t.Errorf("deleted data still in the file: %q", hits)
	}
}
