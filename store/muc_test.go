package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

func TestMUCRoomPutReplace(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	r := store.MUCRoom{JID: "team@conference.example.org", Owners: []string{"alice@example.org"}, Data: []byte(`{"a":1}`)}
	for i := range 3 {
		if err := db.PutMUCRoom(ctx, r, 0); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	r.Owners = []string{"bob@example.org"}
	if err := db.PutMUCRoom(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.MUCRoomsOwnedBy(ctx, "alice@example.org"); len(got) != 0 {
		t.Errorf("alice still owns %v", got)
	}
	if got, _ := db.MUCRoomsOwnedBy(ctx, "bob@example.org"); len(got) != 1 || got[0] != r.JID {
		t.Errorf("bob owns %v", got)
	}
	if err := db.PutMUCRoom(ctx, store.MUCRoom{JID: r.JID, Data: make([]byte, 100)}, 50); !errors.Is(err, store.ErrQuota) {
		t.Errorf("oversized room state: %v, want ErrQuota", err)
	}
	got, err := db.MUCRoomData(ctx, r.JID)
	if err != nil || string(got.Data) != `{"a":1}` {
		t.Errorf("room = %+v, %v", got, err)
	}
}

func TestMUCArchivePagingAndCaps(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	room := "team@conference.example.org"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 10 {
		id, err := db.AppendMUCArchive(ctx, room, t0.Add(time.Duration(i)*time.Minute), "occ", []byte("<message>m</message>"), 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	p, err := db.QueryMUCArchive(ctx, room, store.MUCArchiveQuery{Max: 4})
	if err != nil || len(p.Messages) != 4 || p.Messages[0].ID != ids[0] || p.Complete || p.Count != 10 {
		t.Fatalf("first page = %+v, %v", p, err)
	}
	p, err = db.QueryMUCArchive(ctx, room, store.MUCArchiveQuery{Max: 4, After: ids[7]})
	if err != nil || len(p.Messages) != 2 || !p.Complete || p.Messages[0].ID != ids[8] {
		t.Fatalf("after page = %+v, %v", p, err)
	}
	p, err = db.QueryMUCArchive(ctx, room, store.MUCArchiveQuery{Max: 3, Last: true})
	if err != nil || len(p.Messages) != 3 || p.Messages[2].ID != ids[9] {
		t.Fatalf("last page = %+v, %v", p, err)
	}
	p, err = db.QueryMUCArchive(ctx, room, store.MUCArchiveQuery{Max: 3, Before: ids[2]})
	if err != nil || len(p.Messages) != 2 || !p.Complete || p.Messages[0].ID != ids[0] {
		t.Fatalf("before page = %+v, %v", p, err)
	}
	if _, err := db.QueryMUCArchive(ctx, room, store.MUCArchiveQuery{Max: 3, After: "zzz"}); !errors.Is(err, store.ErrArchiveID) {
		t.Errorf("unknown id: %v", err)
	}
	n, err := db.ExpireMUCArchive(ctx, t0.Add(5*time.Minute))
	if err != nil || n != 5 {
		t.Errorf("expire = %d, %v; want 5", n, err)
	}
	// The byte cap drops the oldest.
	size := int64(len("<message>m</message>")) + 20
	for range 5 {
		if _, err := db.AppendMUCArchive(ctx, "small@x", t0, "occ", []byte("<message>m</message>"), 2*size); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := db.MUCArchiveBytes(ctx, "small@x"); b > 2*size {
		t.Errorf("archive bytes %d over cap %d", b, 2*size)
	}
	if _, err := db.AppendMUCArchive(ctx, "small@x", t0, "occ", make([]byte, 100), 50); !errors.Is(err, store.ErrQuota) {
		t.Errorf("oversized message: %v", err)
	}
}

func TestMUCForget(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	a := store.MUCRoom{JID: "a@conf", Owners: []string{"alice@x", "bob@x"}, Data: []byte("state-a-bob")}
	b := store.MUCRoom{JID: "b@conf", Owners: []string{"bob@x"}, Data: []byte("state-b")}
	for _, r := range []store.MUCRoom{a, b} {
		if err := db.PutMUCRoom(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	db.AppendMUCArchive(ctx, "a@conf", now, "occ-bob", []byte("<message>bob-words</message>"), 0)
	db.AppendMUCArchive(ctx, "a@conf", now, "occ-alice", []byte("<message>alice-words</message>"), 0)
	db.AppendMUCArchive(ctx, "b@conf", now, "occ-bob", []byte("<message>bob-own-room</message>"), 0)
	destroyed, n, err := db.MUCForget(ctx, func(r store.MUCRoom) (*store.MUCRoom, bool, string) {
		if r.JID == "b@conf" {
			return nil, true, ""
		}
		return &store.MUCRoom{JID: r.JID, Owners: []string{"alice@x"}, Data: []byte("state-a")}, false, "occ-bob"
	})
	if err != nil || len(destroyed) != 1 || destroyed[0] != "b@conf" || n != 1 {
		t.Fatalf("forget = %v, %d, %v", destroyed, n, err)
	}
	if owned, _ := db.MUCRoomsOwnedBy(ctx, "bob@x"); len(owned) != 0 {
		t.Errorf("bob still owns %v", owned)
	}
	if _, err := db.MUCRoomData(ctx, "b@conf"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("destroyed room: %v", err)
	}
	p, _ := db.QueryMUCArchive(ctx, "a@conf", store.MUCArchiveQuery{Max: 10})
	if len(p.Messages) != 1 || p.Messages[0].OccupantID != "occ-alice" {
		t.Errorf("archive after forget = %+v", p.Messages)
	}
	if hits := storetest.ScanDir(t, filepath.Dir(db.Path()), "bob-words", "bob-own-room", "state-a-bob"); len(hits) > 0 {
		t.Errorf("forgotten data on disk: %v", hits)
	}
}
