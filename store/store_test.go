package store_test

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

func TestAccounts(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	c, err := store.DeriveCredentials("pencil", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, "alice", c); err != nil {
		t.Fatalf("CreateUser(alice) = %v", err)
	}
	if err := db.CreateUser(ctx, "alice", c); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateUser(alice) again = %v, want ErrExists", err)
	}
	if err := db.CreateUser(ctx, "", c); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateUser(\"\") = %v, want ErrInvalid", err)
	}
	weak := c
	weak.SHA1.Iterations = 1000
	if err := db.CreateUser(ctx, "bob", weak); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateUser with 1000 iterations = %v, want ErrInvalid", err)
	}
	if err := db.CreateUser(ctx, "bob", store.Credentials{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateUser with empty credentials = %v, want ErrInvalid", err)
	}
	storetest.User(t, db, "carol")

	got, err := db.Credentials(ctx, "alice")
	if err != nil {
		t.Fatalf("Credentials(alice) = %v", err)
	}
	if !got.VerifyPlain("pencil") || got.VerifyPlain("wrong") {
		t.Errorf("stored credentials do not verify")
	}
	for _, user := range []string{"nobody", ""} {
		if _, err := db.Credentials(ctx, user); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Credentials(%q) = %v, want ErrNotFound", user, err)
		}
	}

	c2, err := store.DeriveCredentials("eraser", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetCredentials(ctx, "alice", c2); err != nil {
		t.Fatalf("SetCredentials = %v", err)
	}
	if err := db.SetCredentials(ctx, "nobody", c2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetCredentials(nobody) = %v, want ErrNotFound", err)
	}
	got, _ = db.Credentials(ctx, "alice")
	if got.VerifyPlain("pencil") || !got.VerifyPlain("eraser") {
		t.Errorf("password change did not take")
	}

	for _, tc := range []struct {
		user string
		want bool
	}{{"alice", true}, {"carol", true}, {"nobody", false}, {"", false}} {
		if ok, err := db.UserExists(ctx, tc.user); ok != tc.want || err != nil {
			t.Errorf("UserExists(%q) = %v, %v; want %v", tc.user, ok, err, tc.want)
		}
	}
	users, err := db.Users(ctx)
	if err != nil || !slices.Equal(users, []string{"alice", "carol"}) {
		t.Errorf("Users() = %v, %v; want [alice carol]", users, err)
	}

	if err := db.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser(alice) = %v", err)
	}
	if err := db.DeleteUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser(alice) again = %v, want ErrNotFound", err)
	}
	if ok, _ := db.UserExists(ctx, "alice"); ok {
		t.Errorf("alice exists after DeleteUser")
	}
	if _, err := db.Credentials(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Credentials(deleted) = %v, want ErrNotFound", err)
	}
	// The name is free again.
	if err := db.CreateUser(ctx, "alice", c); err != nil {
		t.Errorf("CreateUser after delete = %v", err)
	}
	if _, items, err := db.Roster(ctx, "alice"); err != nil || len(items) != 0 {
		t.Errorf("Roster of re-created user = %v, %v; want empty", items, err)
	}
}

func TestRoster(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")

	ver, items, err := db.Roster(ctx, user)
	if ver != 0 || len(items) != 0 || err != nil {
		t.Fatalf("Roster(new) = %d, %v, %v; want 0, empty, nil", ver, items, err)
	}
	if _, _, err := db.Roster(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Roster(nobody) = %v, want ErrNotFound", err)
	}

	bob := store.RosterItem{JID: "bob@example.org", Name: "Bob", Groups: []string{"Friends", "Work"}, Sub: store.SubBoth}
	carol := store.RosterItem{JID: "carol@example.net", Sub: store.SubNone, AskOut: true, PendingIn: true, PreApproved: true}
	var last uint64
	for i, it := range []store.RosterItem{carol, bob} {
		ver, err := db.PutRosterItem(ctx, user, it)
		if err != nil {
			t.Fatalf("PutRosterItem(%s) = %v", it.JID, err)
		}
		if ver != uint64(i+1) {
			t.Errorf("PutRosterItem(%s) version = %d, want %d", it.JID, ver, i+1)
		}
		last = ver
	}
	if _, err := db.PutRosterItem(ctx, user, store.RosterItem{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutRosterItem(empty JID) = %v, want ErrInvalid", err)
	}
	if _, err := db.PutRosterItem(ctx, "nobody", bob); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutRosterItem(nobody) = %v, want ErrNotFound", err)
	}

	ver, items, err = db.Roster(ctx, user)
	if err != nil || ver != last {
		t.Fatalf("Roster = %d, %v; want version %d", ver, err, last)
	}
	want := []store.RosterItem{bob, carol} // JID order
	if fmt.Sprint(items) != fmt.Sprint(want) {
		t.Errorf("Roster items = %+v, want %+v", items, want)
	}
	if v, err := db.RosterVersion(ctx, user); v != last || err != nil {
		t.Errorf("RosterVersion = %d, %v; want %d", v, err, last)
	}
	got, err := db.RosterItem(ctx, user, bob.JID)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(bob) {
		t.Errorf("RosterItem(bob) = %+v, %v; want %+v", got, err, bob)
	}
	for _, jid := range []string{"dave@example.org", "", "\x00"} {
		if _, err := db.RosterItem(ctx, user, jid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RosterItem(%q) = %v, want ErrNotFound", jid, err)
		}
	}

	ver, err = db.DeleteRosterItem(ctx, user, carol.JID)
	if err != nil || ver != last+1 {
		t.Errorf("DeleteRosterItem(carol) = %d, %v; want %d", ver, err, last+1)
	}
	if _, err := db.DeleteRosterItem(ctx, user, carol.JID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRosterItem(carol) again = %v, want ErrNotFound", err)
	}
	if _, items, _ := db.Roster(ctx, user); len(items) != 1 || items[0].JID != bob.JID {
		t.Errorf("Roster after delete = %+v, want only bob", items)
	}
}

func TestUpdateRosterItem(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")
	const jid = "bob@example.org"
	boom := errors.New("boom")

	steps := []struct {
		name       string
		fn         func(it *store.RosterItem, exists bool) (bool, error)
		wantExists bool
		wantErr    error
		wantVer    uint64
		wantSub    store.Subscription
		wantStored bool
	}{
		{
			name:    "absent, not kept",
			fn:      func(it *store.RosterItem, exists bool) (bool, error) { return false, nil },
			wantVer: 0,
		},
		{
			name: "create with subscribe request",
			fn: func(it *store.RosterItem, exists bool) (bool, error) {
				it.AskOut = true
				it.JID = "ignored@example.org"
				return true, nil
			},
			wantVer: 1, wantStored: true,
		},
		{
			name: "subscribed answer",
			fn: func(it *store.RosterItem, exists bool) (bool, error) {
				it.AskOut = false
				it.Sub = store.SubTo
				return true, nil
			},
			wantExists: true, wantVer: 2, wantSub: store.SubTo, wantStored: true,
		},
		{
			name:       "no change keeps the version",
			fn:         func(it *store.RosterItem, exists bool) (bool, error) { return true, nil },
			wantExists: true, wantVer: 2, wantSub: store.SubTo, wantStored: true,
		},
		{
			name: "error rolls back",
			fn: func(it *store.RosterItem, exists bool) (bool, error) {
				it.Sub = store.SubBoth
				return true, boom
			},
			wantExists: true, wantErr: boom, wantSub: store.SubTo, wantStored: true,
		},
		{
			name:       "remove",
			fn:         func(it *store.RosterItem, exists bool) (bool, error) { return false, nil },
			wantExists: true, wantVer: 3, wantSub: store.SubTo,
		},
	}
	for _, st := range steps {
		var sawExists bool
		it, ver, err := db.UpdateRosterItem(ctx, user, jid, func(it *store.RosterItem, exists bool) (bool, error) {
			sawExists = exists
			if it.JID != jid {
				t.Errorf("%s: fn got JID %q, want %q", st.name, it.JID, jid)
			}
			return st.fn(it, exists)
		})
		if sawExists != st.wantExists {
			t.Errorf("%s: exists = %v, want %v", st.name, sawExists, st.wantExists)
		}
		if !errors.Is(err, st.wantErr) {
			t.Errorf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		if st.wantErr == nil && (ver != st.wantVer || it.JID != jid) {
			t.Errorf("%s: = %+v, %d; want JID %s, version %d", st.name, it, ver, jid, st.wantVer)
		}
		stored, err := db.RosterItem(ctx, user, jid)
		if (err == nil) != st.wantStored {
			t.Errorf("%s: RosterItem err = %v, want stored %v", st.name, err, st.wantStored)
		}
		if err == nil && stored.Sub != st.wantSub {
			t.Errorf("%s: stored Sub = %v, want %v", st.name, stored.Sub, st.wantSub)
		}
	}
	if _, _, err := db.UpdateRosterItem(ctx, "nobody", jid, func(*store.RosterItem, bool) (bool, error) { return true, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRosterItem(nobody) = %v, want ErrNotFound", err)
	}
}

func TestSubscriptionString(t *testing.T) {
	t.Parallel()
	for s, want := range map[store.Subscription]string{store.SubNone: "none", store.SubTo: "to", store.SubFrom: "from", store.SubBoth: "both"} {
		if got := s.String(); got != want {
			t.Errorf("Subscription(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestOffline(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")
	base := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

	var ids []uint64
	for i := range 3 {
		id, err := db.PushOffline(ctx, user, base.Add(time.Duration(i)*time.Hour), fmt.Appendf(nil, "<message n='%d'/>", i), 3)
		if err != nil {
			t.Fatalf("PushOffline %d = %v", i, err)
		}
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Errorf("PushOffline id %d after %d, want increasing", id, ids[len(ids)-1])
		}
		ids = append(ids, id)
	}
	if _, err := db.PushOffline(ctx, user, base, []byte("<message/>"), 3); !errors.Is(err, store.ErrQuota) {
		t.Errorf("PushOffline over max = %v, want ErrQuota", err)
	}
	if _, err := db.PushOffline(ctx, "nobody", base, []byte("<message/>"), 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PushOffline(nobody) = %v, want ErrNotFound", err)
	}
	if n, err := db.OfflineCount(ctx, user); n != 3 || err != nil {
		t.Errorf("OfflineCount = %d, %v; want 3", n, err)
	}
	msgs, err := db.Offline(ctx, user)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Offline = %d messages, %v; want 3", len(msgs), err)
	}
	for i, m := range msgs {
		if m.ID != ids[i] || !m.At.Equal(base.Add(time.Duration(i)*time.Hour)) || string(m.Stanza) != fmt.Sprintf("<message n='%d'/>", i) {
			t.Errorf("Offline[%d] = %+v", i, m)
		}
	}

	if err := db.DeleteOffline(ctx, user, ids[0], 999); err != nil {
		t.Fatalf("DeleteOffline = %v", err)
	}
	if n, _ := db.OfflineCount(ctx, user); n != 2 {
		t.Errorf("OfflineCount after delete = %d, want 2", n)
	}
	// Room again under the cap; ids keep growing.
	id, err := db.PushOffline(ctx, user, base.Add(5*time.Hour), []byte("<message n='late'/>"), 3)
	if err != nil || id <= ids[2] {
		t.Errorf("PushOffline after delete = %d, %v; want id > %d", id, err, ids[2])
	}
	// Unlimited when max <= 0.
	if _, err := db.PushOffline(ctx, user, base.Add(6*time.Hour), []byte("<message/>"), 0); err != nil {
		t.Errorf("PushOffline(max 0) = %v", err)
	}
}

func TestExpireOffline(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, u := range []string{"alice", "bob", "carol"} {
		storetest.User(t, db, u)
	}
	// alice: t0, t1, t2; bob: t2, t0; carol: none.
	push := func(user string, hours int) {
		if _, err := db.PushOffline(ctx, user, base.Add(time.Duration(hours)*time.Hour), fmt.Appendf(nil, "%s-%d", user, hours), 0); err != nil {
			t.Fatal(err)
		}
	}
	push("alice", 0)
	push("alice", 1)
	push("alice", 2)
	push("bob", 2)
	push("bob", 0)

	var seen []string
	n, err := db.ExpireOffline(ctx, base.Add(time.Hour), func(user string, m store.OfflineMessage) {
		seen = append(seen, user+":"+string(m.Stanza))
	})
	if err != nil || n != 2 {
		t.Fatalf("ExpireOffline = %d, %v; want 2", n, err)
	}
	if want := []string{"alice:alice-0", "bob:bob-0"}; !slices.Equal(seen, want) {
		t.Errorf("ExpireOffline saw %v, want %v", seen, want)
	}
	for user, want := range map[string]int{"alice": 2, "bob": 1, "carol": 0} {
		msgs, _ := db.Offline(ctx, user)
		cnt, _ := db.OfflineCount(ctx, user)
		if len(msgs) != want || cnt != want {
			t.Errorf("after expiry %s has %d messages (count %d), want %d", user, len(msgs), cnt, want)
		}
	}
	// The boundary is exclusive: a message at exactly "before" stays.
	if n, _ := db.ExpireOffline(ctx, base.Add(time.Hour), nil); n != 0 {
		t.Errorf("second ExpireOffline = %d, want 0", n)
	}
	if n, _ := db.ExpireOffline(ctx, base.Add(time.Hour+1), nil); n != 1 {
		t.Errorf("ExpireOffline just after t1 = %d, want 1", n)
	}
}

func TestBlocklist(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")
	check := func(step string, want []string) {
		t.Helper()
		got, err := db.Blocklist(ctx, user)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Blocklist = %v, %v; want %v", step, got, err, want)
		}
	}
	check("new", nil)
	if err := db.Block(ctx, user, []string{"spam@example.org", "a@example.org", "spam@example.org"}); err != nil {
		t.Fatal(err)
	}
	check("block", []string{"a@example.org", "spam@example.org"})
	if err := db.Block(ctx, user, []string{""}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Block(\"\") = %v, want ErrInvalid", err)
	}
	if err := db.Unblock(ctx, user, []string{"a@example.org", "never@example.org"}); err != nil {
		t.Fatal(err)
	}
	check("unblock one", []string{"spam@example.org"})
	db.Block(ctx, user, []string{"b@example.org"})
	if err := db.Unblock(ctx, user, nil); err != nil {
		t.Fatal(err)
	}
	check("unblock all", nil)
	if err := db.Block(ctx, "nobody", []string{"x@y"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Block(nobody) = %v, want ErrNotFound", err)
	}
	if _, err := db.Blocklist(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Blocklist(nobody) = %v, want ErrNotFound", err)
	}
}

func TestVCardPrivateSettings(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")

	if _, err := db.VCard(ctx, user); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("VCard(unset) = %v, want ErrNotFound", err)
	}
	vc := []byte("<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>")
	if err := db.SetVCard(ctx, user, vc); err != nil {
		t.Fatal(err)
	}
	if got, err := db.VCard(ctx, user); err != nil || string(got) != string(vc) {
		t.Errorf("VCard = %q, %v; want %q", got, err, vc)
	}
	if err := db.SetVCard(ctx, user, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VCard(ctx, user); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("VCard(deleted) = %v, want ErrNotFound", err)
	}
	if err := db.SetVCard(ctx, "nobody", vc); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetVCard(nobody) = %v, want ErrNotFound", err)
	}

	const key = "storage storage:bookmarks"
	px := []byte("<storage xmlns='storage:bookmarks'/>")
	if _, err := db.Private(ctx, user, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Private(unset) = %v, want ErrNotFound", err)
	}
	if err := db.SetPrivate(ctx, user, key, px); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Private(ctx, user, key); err != nil || string(got) != string(px) {
		t.Errorf("Private = %q, %v; want %q", got, err, px)
	}
	if keys, err := db.PrivateKeys(ctx, user); err != nil || !slices.Equal(keys, []string{key}) {
		t.Errorf("PrivateKeys = %v, %v", keys, err)
	}
	if err := db.SetPrivate(ctx, user, "", px); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetPrivate(empty key) = %v, want ErrInvalid", err)
	}
	if err := db.SetPrivate(ctx, user, key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Private(ctx, user, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Private(deleted) = %v, want ErrNotFound", err)
	}

	if _, err := db.Setting(ctx, "web-secret"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Setting(unset) = %v, want ErrNotFound", err)
	}
	if err := db.SetSetting(ctx, "web-secret", []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, "empty", []byte{}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Setting(ctx, "web-secret"); err != nil || string(got) != "\x00\x01\x02" {
		t.Errorf("Setting = %x, %v", got, err)
	}
	if got, err := db.Setting(ctx, "empty"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("Setting(empty) = %v, %v; want empty non-nil", got, err)
	}
	if err := db.SetSetting(ctx, "web-secret", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Setting(ctx, "web-secret"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Setting(deleted) = %v, want ErrNotFound", err)
	}
	if err := db.SetSetting(ctx, "", []byte("x")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetSetting(\"\") = %v, want ErrInvalid", err)
	}
}

func TestReturnedBytesAreCopies(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")
	db.SetVCard(ctx, user, []byte("<vCard/>"))
	v, _ := db.VCard(ctx, user)
	clear(v)
	if again, _ := db.VCard(ctx, user); string(again) != "<vCard/>" {
		t.Errorf("changing a returned slice changed the store: %q", again)
	}
	c, _ := db.Credentials(ctx, user)
	// Appends must not overwrite the fields that follow in the one buffer.
	_ = append(c.SHA1.Salt, 'y')
	_ = append(c.SHA1.ServerKey, 'z', 'z', 'z', 'z')
	if !c.VerifyPlain("secret") || !c.SHA1.Verify(sha1.New, "secret") {
		t.Errorf("appending to a returned salt corrupted the credentials")
	}
}

func TestBackup(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	storetest.User(t, db, "alice")
	path := t.TempDir() + "/backup.db"
	f, err := createFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup(ctx, f); err != nil {
		t.Fatalf("Backup = %v", err)
	}
	f.Close()
	copyDB := storetest.OpenPath(t, path)
	if ok, err := copyDB.UserExists(context.Background(), "alice"); !ok || err != nil {
		t.Errorf("backup lacks alice: %v, %v", ok, err)
	}
}
