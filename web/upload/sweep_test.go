package upload_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/retention"
	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web/upload"
)

var (
	_ retention.Sweeper = (*upload.Uploads)(nil)
	_ retention.Sweeper = retention.SweeperFunc((*upload.Uploads)(nil).SweepDeleted)
	_ accounts.Uploads  = (*upload.Uploads)(nil).Account()
)

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := put(t, e, "old.txt", "text/plain", []byte("old"))
	e.clock.Set(t0.Add(time.Hour))
	young := put(t, e, "young.txt", "text/plain", []byte("young"))
	// A slot that never got its file is swept all the same.
	e.clock.Set(t0.Add(2 * time.Hour))
	abandoned, _ := e.slot(t, e.user, "abandoned.txt", "text/plain", 3)
	if err := os.WriteFile(filepath.Join(e.dir, abandoned+".part"), []byte("ab"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		cutoff time.Time
		want   int
		gone   []string
	}{
		{"just before the first", t0.Add(-time.Nanosecond), 0, nil},
		{"at the first", t0, 1, []string{old}},
		{"again", t0, 0, []string{old}},
		{"all", t0.Add(2 * time.Hour), 2, []string{old, young, abandoned}},
	} {
		n, err := e.up.Sweep(t.Context(), tc.cutoff)
		if err != nil || n != tc.want {
			t.Errorf("%s: Sweep(%v) = %d, %v; want %d", tc.name, tc.cutoff, n, err, tc.want)
		}
		for _, id := range []string{old, young, abandoned} {
			gone := slices.Contains(tc.gone, id)
			if _, err := e.db.Upload(t.Context(), id); errors.Is(err, store.ErrNotFound) != gone {
				t.Errorf("%s: record %s: %v, want gone %v", tc.name, id, err, gone)
			}
			if exists(t, filepath.Join(e.dir, id)) && gone || exists(t, filepath.Join(e.dir, id+".part")) && gone {
				t.Errorf("%s: file of %s still on disk", tc.name, id)
			}
		}
	}
	if !exists(t, e.dir) {
		t.Errorf("the upload directory itself was removed")
	}
}

// TestSweepBatches sweeps more uploads than one batch holds.
func TestSweepBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 300
	for i := range n {
		e.clock.Set(t0.Add(time.Duration(i) * time.Second))
		id, secret := e.slot(t, e.user, "f.txt", "text/plain", 1)
		_ = secret
		if err := os.WriteFile(filepath.Join(e.dir, id), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.up.Sweep(t.Context(), t0.Add(time.Hour))
	if err != nil || got != n {
		t.Errorf("Sweep = %d, %v; want %d", got, err, n)
	}
	if entries, _ := os.ReadDir(e.dir); len(entries) != 0 {
		t.Errorf("%d files left", len(entries))
	}
}

// TestAccountDeletion runs the account deletion path: DeleteUser, then
// UnlinkDeleted; the files are gone, and a byte scan of the data
// directory finds neither the user name, nor the file names, nor the
// files' contents.
func TestAccountDeletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const userMarker = "upload-owner-5b1e"
	const nameMarker = "NAME-MARKER-c4d2"
	const bodyMarker = "CONTENT-MARKER-09fa"
	victim := storetest.User(t, e.db, userMarker)
	var ids []string
	for i, ctype := range []string{"text/plain", "image/png", "application/pdf"} {
		name := nameMarker + "-" + strings.Repeat("x", i) + ".bin"
		id, secret := e.slot(t, victim, name, ctype, int64(len(bodyMarker)))
		if res := e.do(t, "PUT", putURL(id, name, secret), []byte(bodyMarker), nil); res.StatusCode != 201 {
			t.Fatalf("PUT = %d", res.StatusCode)
		}
		ids = append(ids, id)
	}
	pending, _ := e.slot(t, victim, nameMarker+"-pending.txt", "text/plain", 3)
	ids = append(ids, pending)
	kept := put(t, e, "kept.txt", "text/plain", []byte("KEPT-CONTENT"))

	acc := e.up.Account()
	list, err := acc.UserUploads(ctx, victim)
	if err != nil || len(list) != 4 {
		t.Fatalf("UserUploads = %v, %v; want 4", list, err)
	}
	first := list[0]
	if !strings.HasPrefix(first.URL, base+ids[0]+"/") || first.Size != int64(len(bodyMarker)) ||
		!first.Uploaded.Equal(t0) || !first.Expires.Equal(t0.Add(30*24*time.Hour)) || first.Type != "text/plain" {
		t.Errorf("export entry = %+v", first)
	}
	if hits := storetest.ScanDir(t, e.dataDir, userMarker, nameMarker, bodyMarker); len(hits) == 0 {
		t.Fatal("markers not in the data directory before deletion; the test proves nothing")
	}

	if err := e.db.DeleteUser(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := acc.UnlinkDeleted(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if exists(t, filepath.Join(e.dir, id)) {
			t.Errorf("file %s of the deleted account still on disk", id)
		}
	}
	if hits := storetest.ScanDir(t, e.dataDir, userMarker, nameMarker, bodyMarker); len(hits) != 0 {
		t.Errorf("after deletion the data directory still holds %v", hits)
	}
	if trashed, _ := e.db.TrashedUploads(ctx); len(trashed) != 0 {
		t.Errorf("trash after UnlinkDeleted = %v", trashed)
	}
	if res := e.do(t, "GET", "/upload/"+kept+"/kept.txt", nil, nil); res.StatusCode != 200 {
		t.Errorf("another user's upload: GET = %d", res.StatusCode)
	}
}

// TestSweepDeleted covers a crash between DeleteUser and the unlinking,
// and files that no record knows.
func TestSweepDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	victim := storetest.User(t, e.db, "bob")
	id, secret := e.slot(t, victim, "b.txt", "text/plain", 3)
	if res := e.do(t, "PUT", putURL(id, "b.txt", secret), []byte("bob"), nil); res.StatusCode != 201 {
		t.Fatalf("PUT = %d", res.StatusCode)
	}
	if err := e.db.DeleteUser(ctx, victim); err != nil { // and then "crash": no UnlinkDeleted
		t.Fatal(err)
	}
	// Orphans: a file and a partial file without records, a partial file
	// of a complete upload; kept: a partial file of a pending slot, a file
	// the package did not write.
	kept := put(t, e, "k.txt", "text/plain", []byte("k"))
	pending, _ := e.slot(t, e.user, "p.txt", "text/plain", 3)
	files := map[string]bool{ // name → removed
		strings.Repeat("e", 32):                 true,
		strings.Repeat("d", 32) + ".part":       true,
		kept + ".part":                          true,
		pending + ".part":                       false,
		"README":                                false,
		strings.Repeat("E", 32):                 false,
		strings.Repeat("c", 31) + ".part.extra": false,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.up.SweepDeleted(ctx, time.Time{})
	if err != nil || n != 4 {
		t.Errorf("SweepDeleted = %d, %v; want 4 (the deleted account's file and three orphans)", n, err)
	}
	if exists(t, filepath.Join(e.dir, id)) {
		t.Errorf("file of the deleted account still on disk")
	}
	for name, removed := range files {
		if exists(t, filepath.Join(e.dir, name)) == removed {
			t.Errorf("%s: removed %v, want %v", name, !removed, removed)
		}
	}
	if !exists(t, filepath.Join(e.dir, kept)) {
		t.Errorf("a complete upload was removed")
	}
	if n, err := e.up.SweepDeleted(ctx, time.Time{}); err != nil || n != 0 {
		t.Errorf("second SweepDeleted = %d, %v; want 0", n, err)
	}
}

func TestDeleteFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := put(t, e, "a.txt", "text/plain", []byte("a"))
	b := put(t, e, "b.txt", "text/plain", []byte("b"))
	if err := e.up.DeleteFiles(t.Context(), []string{a, strings.Repeat("f", 32)}); err != nil {
		t.Fatal(err)
	}
	ups, err := e.up.UserFiles(t.Context(), e.user)
	if err != nil || len(ups) != 1 || ups[0].ID != b {
		t.Errorf("UserFiles after DeleteFiles = %v, %v; want only %s", ups, err, b)
	}
	if exists(t, filepath.Join(e.dir, a)) || !exists(t, filepath.Join(e.dir, b)) {
		t.Errorf("DeleteFiles removed the wrong files")
	}
}
