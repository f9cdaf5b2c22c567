package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

var uploadT0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// slot returns an upload made at t0 plus offset.
func slot(id string, size int64, offset time.Duration) store.Upload {
	created := uploadT0.Add(offset)
	return store.Upload{
		ID: id, Name: id + ".png", ContentType: "image/png", Size: size,
		Created: created, Expires: created.Add(30 * 24 * time.Hour), PutBy: created.Add(5 * time.Minute),
		PutHash: []byte("hash-" + id),
	}
}

func uploadIDs(ups []store.Upload) []string {
	var ids []string
	for _, u := range ups {
		ids = append(ids, u.ID)
	}
	return ids
}

func TestUploads(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	alice := storetest.User(t, db, "alice")
	bob := storetest.User(t, db, "bob")

	a1, a2, b1 := slot("a1", 10, 0), slot("a2", 20, time.Hour), slot("b1", 30, 2*time.Hour)
	for _, tc := range []struct {
		user string
		u    store.Upload
	}{{alice, a2}, {alice, a1}, {bob, b1}} {
		if err := db.PutUpload(ctx, tc.user, tc.u, store.UploadLimits{}); err != nil {
			t.Fatalf("PutUpload(%s, %s) = %v", tc.user, tc.u.ID, err)
		}
	}
	for _, tc := range []struct {
		name string
		user string
		u    store.Upload
		want error
	}{
		{"duplicate id", bob, a1, store.ErrExists},
		{"unknown user", "nobody", slot("x", 1, 0), store.ErrNotFound},
		{"empty id", alice, slot("", 1, 0), store.ErrInvalid},
		{"negative size", alice, slot("neg", -1, 0), store.ErrInvalid},
		{"no time", alice, store.Upload{ID: "zero"}, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.PutUpload(ctx, tc.user, tc.u, store.UploadLimits{}); !errors.Is(err, tc.want) {
				t.Errorf("PutUpload(%q, %q) = %v, want %v", tc.user, tc.u.ID, err, tc.want)
			}
		})
	}

	got, err := db.Upload(ctx, "a1")
	want := a1
	want.Owner = alice
	if err != nil || !equalUpload(got, want) {
		t.Errorf("Upload(a1) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := db.Upload(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Upload(nope) = %v, want ErrNotFound", err)
	}

	if err := db.CompleteUpload(ctx, "a1", uploadT0, 0); err != nil {
		t.Fatalf("CompleteUpload(a1) = %v", err)
	}
	if err := db.CompleteUpload(ctx, "a1", uploadT0, 0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CompleteUpload(a1) again = %v, want ErrConflict", err)
	}
	if err := db.CompleteUpload(ctx, "nope", uploadT0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CompleteUpload(nope) = %v, want ErrNotFound", err)
	}
	if got, _ := db.Upload(ctx, "a1"); !got.Complete {
		t.Errorf("Upload(a1).Complete = false after CompleteUpload")
	}

	ups, err := db.UserUploads(ctx, alice)
	if err != nil || !slices.Equal(uploadIDs(ups), []string{"a1", "a2"}) || ups[0].Owner != alice {
		t.Errorf("UserUploads(alice) = %v, %v; want a1, a2 owned by alice", uploadIDs(ups), err)
	}
	if _, err := db.UserUploads(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserUploads(nobody) = %v, want ErrNotFound", err)
	}

	// Expiry: at or before the cutoff, oldest first.
	for _, tc := range []struct {
		name   string
		cutoff time.Time
		max    int
		want   []string
	}{
		{"before all", uploadT0.Add(-time.Nanosecond), 0, nil},
		{"exactly first", uploadT0, 0, []string{"a1"}},
		{"just before second", uploadT0.Add(time.Hour - time.Nanosecond), 0, []string{"a1"}},
		{"all", uploadT0.Add(2 * time.Hour), 0, []string{"a1", "a2", "b1"}},
		{"limited", uploadT0.Add(2 * time.Hour), 2, []string{"a1", "a2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups, err := db.ExpiredUploads(ctx, tc.cutoff, tc.max)
			if err != nil || !slices.Equal(uploadIDs(ups), tc.want) {
				t.Errorf("ExpiredUploads(%v, %d) = %v, %v; want %v", tc.cutoff, tc.max, uploadIDs(ups), err, tc.want)
			}
			for _, u := range ups {
				if u.Owner == "" {
					t.Errorf("ExpiredUploads: %s has no owner", u.ID)
				}
			}
		})
	}

	if err := db.DeleteUpload(ctx, "a1"); err != nil {
		t.Fatalf("DeleteUpload(a1) = %v", err)
	}
	if err := db.DeleteUpload(ctx, "a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUpload(a1) again = %v, want ErrNotFound", err)
	}
	ups, _ = db.UserUploads(ctx, alice)
	if !slices.Equal(uploadIDs(ups), []string{"a2"}) {
		t.Errorf("UserUploads(alice) after delete = %v, want [a2]", uploadIDs(ups))
	}
	ups, _ = db.ExpiredUploads(ctx, uploadT0.Add(24*time.Hour), 0)
	if !slices.Equal(uploadIDs(ups), []string{"a2", "b1"}) {
		t.Errorf("ExpiredUploads after delete = %v, want [a2 b1]", uploadIDs(ups))
	}
	// Deleting an upload leaves no trash: only account deletion does.
	if ids, err := db.TrashedUploads(ctx); err != nil || len(ids) != 0 {
		t.Errorf("TrashedUploads = %v, %v; want none", ids, err)
	}
}

func equalUpload(a, b store.Upload) bool {
	return a.ID == b.ID && a.Owner == b.Owner && a.Name == b.Name && a.ContentType == b.ContentType &&
		a.Size == b.Size && a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) &&
		a.PutBy.Equal(b.PutBy) && string(a.PutHash) == string(b.PutHash) && a.Complete == b.Complete
}

func TestUploadQuota(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")
	const quota = 100

	// A complete upload of 60 and a pending slot of 30, valid for 5 minutes.
	done := slot("done", 60, 0)
	if err := db.PutUpload(ctx, user, done, store.UploadLimits{Quota: quota}); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteUpload(ctx, "done", uploadT0, 0); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUpload(ctx, user, slot("pending", 30, time.Minute), store.UploadLimits{Quota: quota}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		u    store.Upload
		want error
	}{
		{"over while the slot is valid", slot("q1", 11, 2*time.Minute), store.ErrQuota},
		{"fits while the slot is valid", slot("q2", 10, 2*time.Minute), nil},
		// q2 (10) is valid until 7 min; pending until 6 min.
		{"abandoned slots stop counting", slot("q3", 30, 6*time.Minute), nil},
		{"larger than the quota", slot("q4", quota+1, time.Hour), store.ErrQuota},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.PutUpload(ctx, user, tc.u, store.UploadLimits{Quota: quota}); !errors.Is(err, tc.want) {
				t.Errorf("PutUpload(%s, size %d) = %v, want %v", tc.u.ID, tc.u.Size, err, tc.want)
			}
		})
	}
	if _, err := db.Upload(ctx, "q1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused slot q1 was stored: %v", err)
	}
}

// TestDeleteUserUploads checks that account deletion removes the user's
// upload records and index entries, hands the ids over through the trash,
// and that no byte of the user name or the file names is left in the
// database file once the trash is cleared and the file scrubbed.
func TestDeleteUserUploads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db := storetest.OpenPath(t, path)
	ctx := t.Context()
	const userMarker = "upload-victim-3e9d"
	const nameMarker = "FILENAME-MARKER-77c1"
	victim := storetest.User(t, db, userMarker)
	keeper := storetest.User(t, db, "keeper")

	var ids []string
	for i := range 3 {
		u := slot(fmt.Sprintf("v%d", i), 5, time.Duration(i)*time.Minute)
		u.Name = fmt.Sprintf("%s-%d.jpg", nameMarker, i)
		if err := db.PutUpload(ctx, victim, u, store.UploadLimits{}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	if err := db.PutUpload(ctx, keeper, slot("k1", 5, 0), store.UploadLimits{}); err != nil {
		t.Fatal(err)
	}
	if !fileContains(t, path, userMarker) || !fileContains(t, path, nameMarker) {
		t.Fatal("markers not in the file before deletion; the test proves nothing")
	}

	if err := db.DeleteUser(ctx, victim); err != nil { // scrubs
		t.Fatal(err)
	}
	if fileContains(t, path, userMarker) {
		t.Errorf("user name %q still in the database file after DeleteUser", userMarker)
	}
	for _, id := range ids {
		if _, err := db.Upload(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Upload(%s) after DeleteUser = %v, want ErrNotFound", id, err)
		}
	}
	ups, err := db.ExpiredUploads(ctx, uploadT0.Add(time.Hour), 0)
	if err != nil || !slices.Equal(uploadIDs(ups), []string{"k1"}) {
		t.Errorf("ExpiredUploads after DeleteUser = %v, %v; want [k1]", uploadIDs(ups), err)
	}
	trashed, err := db.TrashedUploads(ctx)
	if err != nil || !slices.Equal(trashed, ids) {
		t.Fatalf("TrashedUploads = %v, %v; want %v", trashed, err, ids)
	}

	if err := db.ClearTrashedUploads(ctx, trashed); err != nil {
		t.Fatal(err)
	}
	if trashed, _ := db.TrashedUploads(ctx); len(trashed) != 0 {
		t.Errorf("TrashedUploads after clearing = %v", trashed)
	}
	if err := db.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{userMarker, nameMarker} {
		if fileContains(t, path, m) {
			t.Errorf("marker %q still in the database file after clearing the trash and Scrub", m)
		}
	}
	if got, err := db.Upload(ctx, "k1"); err != nil || got.Owner != keeper {
		t.Errorf("keeper's upload after the deletion = %+v, %v", got, err)
	}
	// The user can be created again, with an empty upload list.
	storetest.User(t, db, userMarker)
	if ups, err := db.UserUploads(ctx, userMarker); err != nil || len(ups) != 0 {
		t.Errorf("UserUploads of the re-created user = %v, %v", uploadIDs(ups), err)
	}
}

// TestUploadQuotaLifecycle follows the running total through a slot's
// life: a pending slot counts, an expired one stops counting, completion
// re-checks the quota (a PUT that outlived its slot while the space was
// handed to another slot is refused), and deletion frees the bytes.
// Fails on main before the running totals (completion did not re-check).
func TestUploadQuotaLifecycle(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")
	const quota = 100
	lim := store.UploadLimits{Quota: quota}
	at := func(d time.Duration) time.Time { return uploadT0.Add(d) }

	steps := []struct {
		name string
		do   func() error
		want error
	}{
		// late: 60 bytes, pending until 5 min.
		{"slot late", func() error { return db.PutUpload(ctx, user, slot("late", 60, 0), lim) }, nil},
		{"pending slot counts", func() error { return db.PutUpload(ctx, user, slot("x1", 41, time.Minute), lim) }, store.ErrQuota},
		// At 5 min late expires unfinished; its space goes to other (60).
		{"slot other after expiry", func() error { return db.PutUpload(ctx, user, slot("other", 60, 5*time.Minute), lim) }, nil},
		{"other completes", func() error { return db.CompleteUpload(ctx, "other", at(6*time.Minute), quota) }, nil},
		// late's PUT started before 5 min and ends now: 120 > 100.
		{"late completion re-checks the quota", func() error { return db.CompleteUpload(ctx, "late", at(6*time.Minute), quota) }, store.ErrQuota},
		{"refused completion does not count", func() error { return db.PutUpload(ctx, user, slot("fit", 40, 7*time.Minute), lim) }, nil},
		{"fit completes", func() error { return db.CompleteUpload(ctx, "fit", at(8*time.Minute), quota) }, nil},
		{"full", func() error { return db.PutUpload(ctx, user, slot("x2", 1, 9*time.Minute), lim) }, store.ErrQuota},
		{"delete other", func() error { return db.DeleteUpload(ctx, "other") }, nil},
		{"deletion frees the bytes", func() error { return db.PutUpload(ctx, user, slot("again", 60, 10*time.Minute), lim) }, nil},
		// A retried PUT of late fits only once there is room: 40+60 = 100.
		{"late still does not fit", func() error { return db.CompleteUpload(ctx, "late", at(11*time.Minute), quota) }, store.ErrQuota},
		{"delete pending again", func() error { return db.DeleteUpload(ctx, "again") }, nil},
		{"late fits now", func() error { return db.CompleteUpload(ctx, "late", at(12*time.Minute), quota) }, nil},
		{"full again", func() error { return db.PutUpload(ctx, user, slot("x3", 1, 13*time.Minute), lim) }, store.ErrQuota},
	}
	for _, s := range steps {
		if err := s.do(); !errors.Is(err, s.want) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	if u, err := db.Upload(ctx, "late"); err != nil || !u.Complete {
		t.Errorf("late = %+v, %v; want complete", u, err)
	}
}

// TestUploadsPerDay: the records one account creates per UTC day are
// capped, zero-byte slots included; deleting records does not reset the
// count; the next day starts afresh; other accounts are not affected.
// Fails on main before the cap (there was none).
func TestUploadsPerDay(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	alice := storetest.User(t, db, "alice")
	bob := storetest.User(t, db, "bob")
	lim := store.UploadLimits{PerDay: 3}
	steps := []struct {
		name string
		user string
		u    store.Upload
		del  bool
		want error
	}{
		{"first", alice, slot("a1", 0, 0), false, nil},
		{"second", alice, slot("a2", 0, time.Minute), false, nil},
		{"third", alice, slot("a3", 5, 2*time.Minute), false, nil},
		{"fourth zero-byte slot", alice, slot("a4", 0, 3*time.Minute), false, store.ErrUploadsPerDay},
		{"delete a1", alice, slot("a1", 0, 0), true, nil},
		{"deletion does not reset", alice, slot("a5", 0, 4*time.Minute), false, store.ErrUploadsPerDay},
		{"another account", bob, slot("b1", 0, 5*time.Minute), false, nil},
		{"next UTC day", alice, slot("a6", 0, 12*time.Hour), false, nil},
	}
	for _, s := range steps {
		var err error
		if s.del {
			err = db.DeleteUpload(ctx, s.u.ID)
		} else {
			err = db.PutUpload(ctx, s.user, s.u, lim)
		}
		if !errors.Is(err, s.want) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	if _, err := db.Upload(ctx, "a4"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused slot a4 was stored: %v", err)
	}
}
