package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"chatbx/store"
	"chatbx/store/storetest"
)

// Push registrations (XEP-0357): the per-account cap holds, a replaced
// registration does not count twice, disable by JID removes all of its
// nodes, and deleting the account leaves no byte of them in the file.
func TestPushRegistrations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(dir, "chatbx.db"))
	ctx := t.Context()
	storetest.User(t, db, "alice")
	const secret = "push-secret-marker-3e7a"
	opts := []byte("<x xmlns='jabber:x:data' type='submit'><field var='secret'><value>" + secret + "</value></field></x>")
	for _, n := range []string{"n1", "n2"} {
		if err := db.PutPush(ctx, "alice", store.PushRegistration{JID: "push.example.org", Node: n, Options: opts}, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutPush(ctx, "alice", store.PushRegistration{JID: "push.example.org", Node: "n2"}, 2); err != nil {
		t.Errorf("replacing at the cap: %v", err)
	}
	if err := db.PutPush(ctx, "alice", store.PushRegistration{JID: "other.example", Node: "n3"}, 2); !errors.Is(err, store.ErrQuota) {
		t.Errorf("third registration: %v, want ErrQuota", err)
	}
	for _, bad := range []store.PushRegistration{{JID: "", Node: "n"}, {JID: "j", Node: ""}, {JID: "a\x00b", Node: "n"}} {
		if err := db.PutPush(ctx, "alice", bad, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutPush(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := db.PutPush(ctx, "nobody", store.PushRegistration{JID: "j", Node: "n"}, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	regs, err := db.PushRegistrations(ctx, "alice")
	if err != nil || len(regs) != 2 || regs[0].Node != "n1" || string(regs[0].Options) != string(opts) || len(regs[1].Options) != 0 {
		t.Fatalf("registrations %q, %v", regs, err)
	}
	if err := db.PutPush(ctx, "alice", store.PushRegistration{JID: "push.example.orgX", Node: "n"}, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeletePush(ctx, "alice", "push.example.org", ""); err != nil || n != 2 {
		t.Errorf("DeletePush(all at jid) = %d, %v; want 2", n, err)
	}
	if regs, _ := db.PushRegistrations(ctx, "alice"); len(regs) != 1 || regs[0].JID != "push.example.orgX" {
		t.Errorf("left: %q", regs)
	}
	if err := db.PutPush(ctx, "alice", store.PushRegistration{JID: "push.example.org", Node: "n1", Options: opts}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteAccount(ctx, "alice", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if hits := storetest.ScanDir(t, dir, secret); len(hits) > 0 {
		t.Errorf("push registration survives the account: %v", hits)
	}
}
