package account_test

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/web/account"
	webupload "chatbx/web/upload"
)

// TestUploadsPage lists a user's uploads (name, size, expiry) and deletes
// one: its record goes to the trash and its file is unlinked at once; the
// other user's upload cannot be deleted through the page.
func TestUploadsPage(t *testing.T) {
	var files *webupload.Uploads
	var dir string
	e := newEnv(t, func(_ *account.Config, d *account.Deps, ad *accounts.Deps) {
		db := ad.Store.(*store.DB)
		dir = filepath.Join(t.TempDir(), "uploads")
		var err error
		files, err = webupload.New(webupload.Config{Dir: dir, BaseURL: "https://" + domain + "/upload/"}, db)
		if err != nil {
			t.Fatal(err)
		}
		d.Uploads = files
	})
	user(t, e.db, "alice")
	user(t, e.db, "bob")
	ctx := t.Context()
	now := time.Now().UTC()
	put := func(owner, id, name string, size int) {
		t.Helper()
		h := sha256.Sum256([]byte("secret"))
		err := e.db.PutUpload(ctx, owner, store.Upload{ID: id, Name: name, ContentType: "text/plain", Size: int64(size),
			Created: now, Expires: now.Add(30 * 24 * time.Hour), PutBy: now.Add(time.Minute), PutHash: h[:]}, store.UploadLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, id), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := e.db.CompleteUpload(ctx, id, now, 0); err != nil {
			t.Fatal(err)
		}
	}
	aliceA, aliceB, bobC := "aa"+strings.Repeat("1", 30), "aa"+strings.Repeat("2", 30), "bb"+strings.Repeat("3", 30)
	put("alice", aliceA, "holiday-photo.jpg", 2048)
	put("alice", aliceB, "notes.txt", 10)
	put("bob", bobC, "bob-only.txt", 5)

	post := func(kv ...string) (int, string) {
		t.Helper()
		v := url.Values{"token": {e.token(t, "uploads")}, "username": {"alice"}, "password": {"secret-password"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		resp, body := e.post(t, "uploads", v, "Sec-Fetch-Site", "same-origin")
		return resp.StatusCode, body
	}
	status, body := post()
	expires := now.Add(30 * 24 * time.Hour).Format(time.DateOnly)
	for _, want := range []string{"holiday-photo.jpg", "2.0 KiB", "notes.txt", "10 B", expires, `value="` + aliceA + `"`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("list: status %d, want 200 with %q:\n%s", status, want, body)
		}
	}
	if strings.Contains(body, "bob-only.txt") {
		t.Error("alice's list shows bob's upload")
	}

	status, body = post("delete", aliceA)
	if status != http.StatusOK || !strings.Contains(body, "The file was deleted") || strings.Contains(body, "holiday-photo.jpg") {
		t.Fatalf("delete: status %d:\n%s", status, body)
	}
	if _, err := os.Stat(filepath.Join(dir, aliceA)); !os.IsNotExist(err) {
		t.Errorf("file of the deleted upload: %v, want gone", err)
	}
	if _, err := e.db.Upload(ctx, aliceA); err == nil {
		t.Error("record of the deleted upload still there")
	}
	if trash, _ := e.db.TrashedUploads(ctx); len(trash) != 0 {
		t.Errorf("trash after the deletion = %v, want emptied", trash)
	}

	// Another user's upload id is not hers to delete.
	status, body = post("delete", bobC)
	if status != http.StatusOK || !strings.Contains(body, "not found") {
		t.Errorf("delete of bob's upload by alice: %d:\n%s", status, body)
	}
	if _, err := os.Stat(filepath.Join(dir, bobC)); err != nil {
		t.Errorf("bob's file after alice's attempt: %v", err)
	}
	if _, err := e.db.Upload(ctx, bobC); err != nil {
		t.Errorf("bob's record after alice's attempt: %v", err)
	}
	// A wrong password lists nothing.
	v := url.Values{"token": {e.token(t, "uploads")}, "username": {"alice"}, "password": {"wrong-password"}}
	resp, body := e.post(t, "uploads", v, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "notes.txt") {
		t.Errorf("wrong password: %d, listed %v", resp.StatusCode, strings.Contains(body, "notes.txt"))
	}
}
