package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// archiveTestDB opens a throw-away database with the given users
// (storetest cannot be used here: it imports this package).
func archiveTestDB(t testing.TB, users ...string) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "chatbx.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(context.Background()); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		db.Close()
	})
	c, err := DeriveCredentials("secret", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := db.CreateUser(context.Background(), u, c); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func archiveStanza(body string) []byte {
	return []byte("<message xmlns='jabber:client' type='chat'><body>" + body + "</body></message>")
}

// fillArchive archives n messages for alice, one second apart from t0,
// alternating between bob and carol, and returns their ids.
func fillArchive(t *testing.T, db *DB, t0 time.Time, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		with := []string{"bob@example.org", "carol@example.net"}[i%2]
		id, err := db.AppendArchive(t.Context(), "alice", 0, t0.Add(time.Duration(i)*time.Second), with, i%3 == 0, archiveStanza(fmt.Sprint("m", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func pageIDs(p ArchivePage) []string {
	var ids []string
	for _, m := range p.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestArchiveIDs(t *testing.T) {
	t.Parallel()
	for _, seq := range []uint64{0, 1, 1 << 40, 1<<64 - 1} {
		tag := []byte{1, 2, 3, 4}
		id := formatArchiveID(seq, tag)
		s, gotTag, ok := parseArchiveID(id)
		if !ok || s != seq || !bytes.Equal(gotTag, tag) || len(id) != archiveIDLen {
			t.Errorf("parseArchiveID(formatArchiveID(%d)) = %d, %x, %v", seq, s, gotTag, ok)
		}
	}
	for _, bad := range []string{"", "short", "0123456789abcdefghij0", "ZZZZZZZZZZZZZZZZZZZZ", "0123456789abcdefghi!"} {
		if _, _, ok := parseArchiveID(bad); ok {
			t.Errorf("parseArchiveID(%q) ok, want failure", bad)
		}
	}
}

func FuzzParseArchiveID(f *testing.F) {
	f.Add(formatArchiveID(1234567890, []byte{9, 8, 7, 6}))
	f.Add("")
	f.Add("vvvvvvvvvvvvvvvvvvvv")
	f.Fuzz(func(t *testing.T, id string) {
		seq, tag, ok := parseArchiveID(id)
		if !ok {
			return
		}
		if got := formatArchiveID(seq, tag); got != id {
			// Non-canonical trailing bits decode but do not round-trip;
			// they must still name the same seq and tag.
			s2, t2, ok2 := parseArchiveID(got)
			if !ok2 || s2 != seq || !bytes.Equal(t2, tag) {
				t.Errorf("round trip of %q: %q", id, got)
			}
		}
	})
}

func TestArchiveOrderAndPaging(t *testing.T) {
	t.Parallel()
	db := archiveTestDB(t, "alice")
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ids := fillArchive(t, db, t0, 7)
	// Two messages at the same instant still get increasing ids.
	same1, err := db.AppendArchive(ctx, "alice", 0, t0.Add(time.Hour), "bob@example.org", false, archiveStanza("same1"))
	if err != nil {
		t.Fatal(err)
	}
	same2, err := db.AppendArchive(ctx, "alice", 0, t0.Add(time.Hour), "bob@example.org", false, archiveStanza("same2"))
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, same1, same2)

	// Forward paging with max=2 over every page.
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p, err := db.QueryArchive(ctx, "alice", ArchiveQuery{After: after, Max: 2})
		if err != nil {
			t.Fatal(err)
		}
		if p.Count != len(ids) || p.Index != len(got) {
			t.Errorf("page %d: count %d index %d, want %d %d", pages, p.Count, p.Index, len(ids), len(got))
		}
		got = append(got, pageIDs(p)...)
		if p.Complete {
			break
		}
		after = p.Messages[len(p.Messages)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("forward pages = %v, want %v", got, ids)
	}

	// Backward paging from the last page.
	got = nil
	p, err := db.QueryArchive(ctx, "alice", ArchiveQuery{Last: true, Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if p.Index != len(ids)-len(got)-len(p.Messages) {
			t.Errorf("backward page index %d, want %d", p.Index, len(ids)-len(got)-len(p.Messages))
		}
		got = append(pageIDs(p), got...)
		if p.Complete {
			break
		}
		if p, err = db.QueryArchive(ctx, "alice", ArchiveQuery{Before: p.Messages[0].ID, Max: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("backward pages = %v, want %v", got, ids)
	}

	// The messages decode with their time, partner and direction.
	p, err = db.QueryArchive(ctx, "alice", ArchiveQuery{Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := p.Messages[0]
	if !m.At.Equal(t0) || m.With != "bob@example.org" || !m.Outgoing || !bytes.Equal(m.Stanza, archiveStanza("m0")) {
		t.Errorf("first message = %+v", m)
	}
	if n, err := db.ArchiveCount(ctx, "alice"); err != nil || n != len(ids) {
		t.Errorf("ArchiveCount = %d, %v, want %d", n, err, len(ids))
	}
	first, last, ok, err := db.ArchiveEnds(ctx, "alice")
	if err != nil || !ok || first.ID != ids[0] || last.ID != same2 {
		t.Errorf("ArchiveEnds = %s, %s, %v, %v", first.ID, last.ID, ok, err)
	}
}

func TestArchiveFilters(t *testing.T) {
	t.Parallel()
	db := archiveTestDB(t, "alice", "dave")
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ids := fillArchive(t, db, t0, 10) // even: bob, odd: carol
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	tests := []struct {
		name     string
		q        ArchiveQuery
		want     []int
		complete bool
		count    int
		index    int
	}{
		{"all", ArchiveQuery{Max: 100}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, true, 10, 0},
		{"with bob", ArchiveQuery{With: "bob@example.org", Max: 100}, []int{0, 2, 4, 6, 8}, true, 5, 0},
		{"with bob page", ArchiveQuery{With: "bob@example.org", Max: 2, After: ids[2]}, []int{4, 6}, false, 5, 2},
		{"with bob last", ArchiveQuery{With: "bob@example.org", Max: 2, Last: true}, []int{6, 8}, false, 5, 3},
		{"with nobody", ArchiveQuery{With: "nobody@example.org", Max: 100}, nil, true, 0, -1},
		{"start", ArchiveQuery{Start: at(7), Max: 100}, []int{7, 8, 9}, true, 3, 0},
		{"end", ArchiveQuery{End: at(2), Max: 100}, []int{0, 1, 2}, true, 3, 0},
		{"start end", ArchiveQuery{Start: at(3), End: at(5), Max: 100}, []int{3, 4, 5}, true, 3, 0},
		{"start end with", ArchiveQuery{With: "carol@example.net", Start: at(2), End: at(8), Max: 100}, []int{3, 5, 7}, true, 3, 0},
		{"start end between", ArchiveQuery{Start: at(3).Add(time.Millisecond), End: at(4).Add(-time.Millisecond), Max: 100}, nil, true, 0, -1},
		{"end before epoch", ArchiveQuery{End: time.Unix(-5, 0), Max: 100}, nil, true, 0, -1},
		{"after-id", ArchiveQuery{AfterID: ids[6], Max: 100}, []int{7, 8, 9}, true, 3, 0},
		{"before-id", ArchiveQuery{BeforeID: ids[2], Max: 100}, []int{0, 1}, true, 2, 0},
		{"between ids", ArchiveQuery{AfterID: ids[2], BeforeID: ids[6], Max: 2}, []int{3, 4}, false, 3, 0},
		{"between ids last", ArchiveQuery{AfterID: ids[2], BeforeID: ids[6], Max: 2, Last: true}, []int{4, 5}, false, 3, 1},
		{"ids", ArchiveQuery{IDs: []string{ids[5], ids[1], ids[5]}, Max: 100}, []int{1, 5}, true, 2, 0},
		{"ids with", ArchiveQuery{IDs: []string{ids[5], ids[2]}, With: "bob@example.org", Max: 100}, []int{2}, true, 1, 0},
		{"ids paged", ArchiveQuery{IDs: []string{ids[1], ids[2], ids[3]}, After: ids[1], Max: 1}, []int{2}, false, 3, 1},
		{"ids before", ArchiveQuery{IDs: []string{ids[1], ids[2], ids[3]}, Before: ids[3], Max: 1}, []int{2}, false, 3, 1},
		{"count only", ArchiveQuery{Max: 0}, nil, false, 10, -1},
		{"after last", ArchiveQuery{After: ids[9], Max: 5}, nil, true, 10, -1},
		{"before first", ArchiveQuery{Before: ids[0], Max: 5}, nil, true, 10, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := db.QueryArchive(ctx, "alice", tc.q)
			if err != nil {
				t.Fatalf("QueryArchive(%+v) = %v", tc.q, err)
			}
			var want []string
			for _, i := range tc.want {
				want = append(want, ids[i])
			}
			if got := pageIDs(p); !slices.Equal(got, want) {
				t.Errorf("ids = %v, want %v (%v)", got, want, tc.want)
			}
			if p.Complete != tc.complete || p.Count != tc.count || p.Index != tc.index {
				t.Errorf("complete %v count %d index %d, want %v %d %d", p.Complete, p.Count, p.Index, tc.complete, tc.count, tc.index)
			}
		})
	}

	// Unknown, malformed and foreign ids are item-not-found.
	foreign, err := db.AppendArchive(ctx, "dave", 0, t0, "bob@example.org", false, archiveStanza("dave"))
	if err != nil {
		t.Fatal(err)
	}
	seq, tag, _ := parseArchiveID(ids[3])
	tag[0] ^= 1
	forged := formatArchiveID(seq, tag)
	for _, id := range []string{"nope", foreign, forged, formatArchiveID(1, []byte{0, 0, 0, 0})} {
		for _, q := range []ArchiveQuery{{After: id, Max: 1}, {Before: id, Max: 1}, {AfterID: id}, {BeforeID: id}, {IDs: []string{ids[0], id}}} {
			if _, err := db.QueryArchive(ctx, "alice", q); !errors.Is(err, ErrArchiveID) {
				t.Errorf("QueryArchive(%+v) = %v, want ErrArchiveID", q, err)
			}
		}
	}
	for _, q := range []ArchiveQuery{{Max: -1}, {After: ids[0], Before: ids[1]}, {After: ids[0], Last: true}} {
		if _, err := db.QueryArchive(ctx, "alice", q); !errors.Is(err, ErrInvalid) {
			t.Errorf("QueryArchive(%+v) = %v, want ErrInvalid", q, err)
		}
	}
	if _, err := db.QueryArchive(ctx, "nobody", ArchiveQuery{Max: 1}); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrArchiveID) {
		t.Errorf("QueryArchive(nobody) = %v, want ErrNotFound", err)
	}
	// An archive that never existed is empty, not an error.
	p, err := db.QueryArchive(ctx, "dave", ArchiveQuery{With: "carol@example.net", Max: 10})
	if err != nil || len(p.Messages) != 0 || !p.Complete || p.Count != 0 {
		t.Errorf("QueryArchive(dave, carol) = %+v, %v", p, err)
	}
}

// TestArchiveCountLarge checks that count and index are omitted, not
// wrong, when a bounded range is larger than the counting walk.
func TestArchiveCountLarge(t *testing.T) {
	t.Parallel()
	db := archiveTestDB(t, "alice")
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 2*archiveCountScan + 10
	err := db.update(ctx, func(tx *bolt.Tx) error {
		for i := range n {
			if _, err := appendArchiveTx(tx, "alice", t0.Add(time.Duration(i)*time.Second), "bob@example.org", false, []byte("<message/>"), []byte{0, 0, 0, 0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.QueryArchive(ctx, "alice", ArchiveQuery{Start: t0.Add(time.Second), Max: 5})
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != -1 || p.Index != 0 || len(p.Messages) != 5 {
		t.Errorf("large bounded range: count %d index %d len %d, want -1 0 5", p.Count, p.Index, len(p.Messages))
	}
	p, err = db.QueryArchive(ctx, "alice", ArchiveQuery{With: "bob@example.org", Last: true, Max: 5})
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != n || p.Index != n-5 {
		t.Errorf("unbounded last page: count %d index %d, want %d %d", p.Count, p.Index, n, n-5)
	}
	mid := p.Messages[0].ID
	p, err = db.QueryArchive(ctx, "alice", ArchiveQuery{Start: t0, Before: mid, Max: 5})
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != -1 || p.Index != -1 || len(p.Messages) != 5 {
		t.Errorf("large bounded middle: count %d index %d, want -1 -1", p.Count, p.Index)
	}
}

func TestArchivePrefs(t *testing.T) {
	t.Parallel()
	db := archiveTestDB(t, "alice")
	ctx := t.Context()
	p, err := db.ArchivePrefs(ctx, "alice")
	if err != nil || p.Default != "" || p.Always != nil || p.Never != nil {
		t.Errorf("ArchivePrefs(new account) = %+v, %v, want zero", p, err)
	}
	want := ArchivePrefs{Default: "roster", Always: []string{"bob@example.org"}, Never: []string{"eve@example.com", "mallory@example.com"}}
	gen, err := db.SetArchivePrefs(ctx, "alice", want)
	if err != nil || gen == 0 {
		t.Fatalf("SetArchivePrefs = %d, %v", gen, err)
	}
	p, err = db.ArchivePrefs(ctx, "alice")
	if err != nil || p.Default != want.Default || !slices.Equal(p.Always, want.Always) || !slices.Equal(p.Never, want.Never) || p.Gen != gen {
		t.Errorf("ArchivePrefs = %+v, %v, want %+v gen %d", p, err, want, gen)
	}
	// Appending checks that the caller's view of the preferences is current.
	if _, err := db.AppendArchive(ctx, "alice", 0, time.Now(), "bob@example.org", false, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("AppendArchive(stale gen) = %v, want ErrConflict", err)
	}
	if _, err := db.AppendArchive(ctx, "alice", gen, time.Now(), "bob@example.org", false, nil); err != nil {
		t.Errorf("AppendArchive(current gen) = %v", err)
	}
	if _, err := db.SetArchivePrefs(ctx, "alice", ArchivePrefs{Default: "always", Never: []string{""}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetArchivePrefs(empty jid) = %v, want ErrInvalid", err)
	}
	if _, err := db.SetArchivePrefs(ctx, "alice", ArchivePrefs{Default: "always", Always: make([]string, maxArchivePrefsJIDs+1)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetArchivePrefs(too many) = %v, want ErrInvalid", err)
	}
	if _, err := db.ArchivePrefs(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ArchivePrefs(nobody) = %v, want ErrNotFound", err)
	}
	if _, err := db.SetArchivePrefs(ctx, "nobody", want); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetArchivePrefs(nobody) = %v, want ErrNotFound", err)
	}
	if _, err := db.AppendArchive(ctx, "nobody", 0, time.Now(), "bob@example.org", false, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("AppendArchive(nobody) = %v, want ErrNotFound", err)
	}
	if _, err := db.AppendArchive(ctx, "alice", 0, time.Now(), "", false, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendArchive(with \"\") = %v, want ErrInvalid", err)
	}
}

func fileHas(t *testing.T, path string, marker []byte) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, marker)
}

func TestArchivePurgeScrub(t *testing.T) {
	t.Parallel()
	db := archiveTestDB(t, "alice", "bob")
	ctx := t.Context()
	marker := []byte("purple-elephant-7781")
	withMarker := "zebra-partner-5521@example.org"
	t0 := time.Now()
	var lastID string
	for i := range 300 {
		id, err := db.AppendArchive(ctx, "alice", 0, t0, withMarker, false, archiveStanza(fmt.Sprintf("%s %d", marker, i)))
		if err != nil {
			t.Fatal(err)
		}
		lastID = id
	}
	if _, err := db.AppendArchive(ctx, "bob", 0, t0, "alice@example.org", true, archiveStanza("bob keeps this")); err != nil {
		t.Fatal(err)
	}
	if !fileHas(t, db.Path(), marker) {
		t.Fatal("marker not in the file before the purge: the test proves nothing")
	}
	if err := db.PurgeArchive(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][]byte{marker, []byte(withMarker)} {
		if fileHas(t, db.Path(), m) {
			t.Errorf("%q still in the database file after PurgeArchive", m)
		}
	}
	p, err := db.QueryArchive(ctx, "alice", ArchiveQuery{Max: 10})
	if err != nil || len(p.Messages) != 0 || p.Count != 0 {
		t.Errorf("QueryArchive after purge = %+v, %v", p, err)
	}
	if _, err := db.QueryArchive(ctx, "alice", ArchiveQuery{After: lastID, Max: 10}); !errors.Is(err, ErrArchiveID) {
		t.Errorf("QueryArchive(after purged id) = %v, want ErrArchiveID", err)
	}
	// Ids are not reused, even with the clock going back.
	id, err := db.AppendArchive(ctx, "alice", 0, t0.Add(-time.Hour), "bob@example.org", false, archiveStanza("again"))
	if err != nil {
		t.Fatal(err)
	}
	s1, _, _ := parseArchiveID(lastID)
	s2, _, _ := parseArchiveID(id)
	if s2 <= s1 {
		t.Errorf("seq after purge %d <= seq before %d", s2, s1)
	}
	// Bob's archive is independent.
	if n, err := db.ArchiveCount(ctx, "bob"); err != nil || n != 1 {
		t.Errorf("ArchiveCount(bob) = %d, %v, want 1", n, err)
	}
	if err := db.PurgeArchive(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("PurgeArchive(nobody) = %v, want ErrNotFound", err)
	}

	// Deleting the account takes the archive along.
	if _, err := db.AppendArchive(ctx, "bob", 0, t0, "alice@example.org", true, archiveStanza(string(marker))); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if fileHas(t, db.Path(), marker) {
		t.Error("marker still in the database file after DeleteUser")
	}
}

func TestExpireArchive(t *testing.T) {
	t.Parallel()
	db := archiveTestDB(t, "alice", "bob", "carol")
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ids := fillArchive(t, db, t0, 10)
	if _, err := db.AppendArchive(ctx, "bob", 0, t0, "alice@example.org", false, archiveStanza("old")); err != nil {
		t.Fatal(err)
	}
	n, err := db.ExpireArchive(ctx, t0.Add(4*time.Second))
	if err != nil || n != 5 {
		t.Fatalf("ExpireArchive = %d, %v, want 5", n, err)
	}
	p, err := db.QueryArchive(ctx, "alice", ArchiveQuery{Max: 100})
	if err != nil || !slices.Equal(pageIDs(p), ids[4:]) || p.Count != 6 {
		t.Errorf("after expiry: %v count %d, %v; want %v", pageIDs(p), p.Count, err, ids[4:])
	}
	p, err = db.QueryArchive(ctx, "alice", ArchiveQuery{With: "bob@example.org", Max: 100})
	if err != nil || !slices.Equal(pageIDs(p), []string{ids[4], ids[6], ids[8]}) || p.Count != 3 {
		t.Errorf("with bob after expiry: %v count %d, %v", pageIDs(p), p.Count, err)
	}
	if c, _ := db.ArchiveCount(ctx, "bob"); c != 0 {
		t.Errorf("ArchiveCount(bob) = %d, want 0", c)
	}
	if n, err := db.ExpireArchive(ctx, t0); err != nil || n != 0 {
		t.Errorf("second ExpireArchive = %d, %v, want 0", n, err)
	}

	// More than one chunk.
	big := archiveExpireChunk + 5
	err = db.update(ctx, func(tx *bolt.Tx) error {
		for i := range big {
			if _, err := appendArchiveTx(tx, "carol", t0.Add(time.Duration(i)*time.Millisecond), "dave@example.org", false, []byte("<message/>"), []byte{0, 0, 0, 0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Alice's six remaining messages go too.
	if n, err := db.ExpireArchive(ctx, t0.Add(time.Hour)); err != nil || n != big+6 {
		t.Errorf("ExpireArchive over chunks = %d, %v, want %d", n, err, big+6)
	}
	if c, _ := db.ArchiveCount(ctx, "carol"); c != 0 {
		t.Errorf("ArchiveCount(carol) = %d, want 0", c)
	}
}

// BenchmarkArchiveWrite measures archiving one message: "fsync" with the
// durable settings the server uses, "nosync" the CPU cost alone.
func BenchmarkArchiveWrite(b *testing.B) {
	stanza := []byte("<message from='bob@example.org' to='alice@example.org' type='chat' id='abc123'><body>hello there, how are you today?</body></message>")
	for _, tc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "chatbx.db"), Options{NoSync: tc.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			c, err := DeriveCredentials("secret", MinIterations)
			if err != nil {
				b.Fatal(err)
			}
			if err := db.CreateUser(b.Context(), "alice", c); err != nil {
				b.Fatal(err)
			}
			withs := []string{"bob@example.org", "carol@example.net", "dave@example.com"}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if _, err := db.AppendArchive(b.Context(), "alice", 0, time.Now(), withs[i%3], i%2 == 0, stanza); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// archiveBenchN is the archive size of the query benchmarks.
const archiveBenchN = 1_000_000

// archiveBenchDB builds an archive of archiveBenchN messages of one user
// (one message per second, ten partners), in transactions of 10,000.
func archiveBenchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "chatbx.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	c, err := DeriveCredentials("secret", MinIterations)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := db.CreateUser(ctx, "alice", c); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for done := 0; done < archiveBenchN; {
		err := db.update(ctx, func(tx *bolt.Tx) error {
			for i := done; i < min(done+10_000, archiveBenchN); i++ {
				with := fmt.Sprintf("friend%d@example.org", i%10)
				stanza := fmt.Appendf(nil, "<message from='%s' to='alice@example.org' type='chat' id='m%d'><body>message number %d, a sentence of ordinary length</body></message>", with, i, i)
				if _, err := appendArchiveTx(tx, "alice", t0.Add(time.Duration(i)*time.Second), with, i%2 == 0, stanza, []byte{1, 2, 3, 4}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done = min(done+10_000, archiveBenchN)
	}
	if fi, err := os.Stat(db.Path()); err == nil {
		b.Logf("fixture: %d messages, %d MB, built in %v", archiveBenchN, fi.Size()>>20, time.Since(start).Round(time.Second))
	}
	return db
}

// BenchmarkQueryNewestPage measures the query a client makes on login:
// the newest 50 messages (RSM <before/>), with and without a with filter.
func BenchmarkQueryNewestPage(b *testing.B) {
	db := archiveBenchDB(b)
	for _, tc := range []struct {
		name string
		q    ArchiveQuery
	}{
		{"all", ArchiveQuery{Last: true, Max: 50}},
		{"with", ArchiveQuery{With: "friend3@example.org", Last: true, Max: 50}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := db.QueryArchive(b.Context(), "alice", tc.q)
				if err != nil || len(p.Messages) != 50 {
					b.Fatalf("QueryArchive = %d messages, %v", len(p.Messages), err)
				}
			}
		})
	}
}

// BenchmarkQueryMiddlePage measures a page of 50 in the middle of the
// archive: after an id, in a time range, and for one partner.
func BenchmarkQueryMiddlePage(b *testing.B) {
	db := archiveBenchDB(b)
	ctx := context.Background()
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	mid := t0.Add(archiveBenchN / 2 * time.Second)
	p, err := db.QueryArchive(ctx, "alice", ArchiveQuery{Start: mid, Max: 1})
	if err != nil || len(p.Messages) != 1 {
		b.Fatal(err)
	}
	midID := p.Messages[0].ID
	for _, tc := range []struct {
		name string
		q    ArchiveQuery
	}{
		{"after-id", ArchiveQuery{After: midID, Max: 50}},
		{"start-end", ArchiveQuery{Start: mid, End: mid.Add(time.Hour), Max: 50}},
		{"with-after", ArchiveQuery{With: "friend3@example.org", After: midID, Max: 50}},
		{"with-start", ArchiveQuery{With: "friend3@example.org", Start: mid, Max: 50}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := db.QueryArchive(b.Context(), "alice", tc.q)
				if err != nil || len(p.Messages) != 50 {
					b.Fatalf("QueryArchive = %d messages, %v", len(p.Messages), err)
				}
			}
		})
	}
}

// TestArchiveQueryModel compares random queries with a plain model of the
// archive: a sorted list filtered and paged in memory.
func TestArchiveQueryModel(t *testing.T) {
	t.Parallel()
	db := archiveTestDB(t, "alice")
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	withs := []string{"a@x.org", "b@x.org", "c@y.org", "d@y.org"}
	type item struct {
		id   string
		seq  uint64
		with string
	}
	var all []item
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200 {
		// Times repeat and sometimes go back: seqs still grow.
		at := t0.Add(time.Duration(i/3-rng.IntN(2)) * time.Second)
		w := withs[rng.IntN(len(withs))]
		id, err := db.AppendArchive(ctx, "alice", 0, at, w, false, archiveStanza(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		seq, _, _ := parseArchiveID(id)
		all = append(all, item{id, seq, w})
	}
	pick := func() item { return all[rng.IntN(len(all))] }
	timeOf := func(it item) time.Time { return time.Unix(0, int64(it.seq)) }
	for n := range 3000 {
		var q ArchiveQuery
		if rng.IntN(2) == 0 {
			q.With = withs[rng.IntN(len(withs))]
		}
		if rng.IntN(3) == 0 {
			q.Start = timeOf(pick()).Add(time.Duration(rng.IntN(3)-1) * time.Nanosecond)
		}
		if rng.IntN(3) == 0 {
			q.End = timeOf(pick()).Add(time.Duration(rng.IntN(3)-1) * time.Nanosecond)
		}
		if rng.IntN(4) == 0 {
			q.AfterID = pick().id
		}
		if rng.IntN(4) == 0 {
			q.BeforeID = pick().id
		}
		switch rng.IntN(4) {
		case 1:
			q.After = pick().id
		case 2:
			q.Before = pick().id
		case 3:
			q.Last = true
		}
		q.Max = rng.IntN(12)
		inIDs := map[string]bool{}
		if rng.IntN(5) == 0 {
			for range 1 + rng.IntN(8) {
				id := pick().id
				q.IDs = append(q.IDs, id)
				inIDs[id] = true
			}
		}

		// The model.
		var lo, hi uint64 = 0, 1<<64 - 1
		if !q.Start.IsZero() {
			lo = uint64(q.Start.UnixNano())
		}
		if !q.End.IsZero() {
			hi = uint64(q.End.UnixNano())
		}
		var set []item
		for _, it := range all {
			ok := it.seq >= lo && it.seq <= hi && (q.With == "" || it.with == q.With) && (len(q.IDs) == 0 || inIDs[it.id])
			if q.AfterID != "" {
				s, _, _ := parseArchiveID(q.AfterID)
				ok = ok && it.seq > s
			}
			if q.BeforeID != "" {
				s, _, _ := parseArchiveID(q.BeforeID)
				ok = ok && it.seq < s
			}
			if ok {
				set = append(set, it)
			}
		}
		var cand []int // indexes into set in the paging direction's range
		for i, it := range set {
			switch {
			case q.After != "":
				s, _, _ := parseArchiveID(q.After)
				if it.seq > s {
					cand = append(cand, i)
				}
			case q.Before != "":
				s, _, _ := parseArchiveID(q.Before)
				if it.seq < s {
					cand = append(cand, i)
				}
			default:
				cand = append(cand, i)
			}
		}
		page := cand
		if len(page) > q.Max {
			if q.Last || q.Before != "" {
				page = page[len(page)-q.Max:]
			} else {
				page = page[:q.Max]
			}
		}
		var want []string
		for _, i := range page {
			want = append(want, set[i].id)
		}
		wantIndex := -1
		if len(page) > 0 {
			wantIndex = page[0]
		}

		got, err := db.QueryArchive(ctx, "alice", q)
		if err != nil {
			t.Fatalf("query %d %+v: %v", n, q, err)
		}
		if ids := pageIDs(got); !slices.Equal(ids, want) {
			t.Fatalf("query %d %+v:\n got %v\nwant %v", n, q, ids, want)
		}
		if got.Complete != (len(cand) <= q.Max) {
			t.Errorf("query %d %+v: complete %v, want %v", n, q, got.Complete, len(cand) <= q.Max)
		}
		if got.Count != len(set) {
			t.Errorf("query %d %+v: count %d, want %d", n, q, got.Count, len(set))
		}
		if got.Index != wantIndex {
			t.Errorf("query %d %+v: index %d, want %d", n, q, got.Index, wantIndex)
		}
	}
}
