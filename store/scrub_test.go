package store_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

func fileContains(t *testing.T, path, marker string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(marker))
}

// TestScrubControl shows why Scrub exists: without it, a deleted value is
// still in the file.
func TestScrubControl(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db := storetest.OpenPath(t, path)
	ctx := t.Context()
	user := storetest.User(t, db, "alice")
	const marker = "CONTROL-MARKER-5d1f"
	id, err := db.PushOffline(ctx, user, time.Now(), []byte("<body>"+marker+"</body>"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOffline(ctx, user, id); err != nil {
		t.Fatal(err)
	}
	if !fileContains(t, path, marker) {
		t.Skip("bbolt reused the page at once; the control proves nothing this time")
	}
	if err := db.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	if fileContains(t, path, marker) {
		t.Errorf("marker %q still in the file after Scrub", marker)
	}
}

// TestScrubRemovesDeletedData deletes markers from every kind of user data
// and a whole account, and checks that no byte of them is left in the file
// while the remaining data is intact.
func TestScrubRemovesDeletedData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db, err := store.Open(path, store.Options{}) // closed and reopened below
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	keeper := storetest.User(t, db, "keeper")
	victim := storetest.User(t, db, "victim-user-7c3a")
	big := strings.Repeat("OVERFLOW-MARKER-91b2 ", 2000) // spans several pages

	gone := []string{
		"victim-user-7c3a",
		"OFFLINE-MARKER-a71c", "VCARD-MARKER-0b2e", "ROSTER-MARKER-4f19", "PRIVATE-MARKER-e3d0",
		"BLOCK-MARKER-66aa", "KEEPER-OFFLINE-GONE-19fe", "OVERFLOW-MARKER-91b2",
		"KEEPER-ROSTER-GONE-8e8e",
	}
	kept := []string{"KEEPER-VCARD-c0ff", "KEEPER-ROSTER-d00d", "KEEPER-OFFLINE-KEPT-2bad"}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Data of the account that will be deleted.
	_, err = db.PushOffline(ctx, victim, time.Now(), []byte("<body>OFFLINE-MARKER-a71c</body>"), 0)
	must(err)
	_, err = db.PushOffline(ctx, victim, time.Now(), []byte(big), 0)
	must(err)
	must(db.SetVCard(ctx, victim, []byte("<FN>VCARD-MARKER-0b2e</FN>")))
	_, err = db.PutRosterItem(ctx, victim, store.RosterItem{JID: "friend@example.org", Name: "ROSTER-MARKER-4f19"})
	must(err)
	must(db.SetPrivate(ctx, victim, "k", []byte("<x>PRIVATE-MARKER-e3d0</x>")))
	must(db.Block(ctx, victim, []string{"BLOCK-MARKER-66aa@example.org"}))
	// Keeper: a delivered offline message and a removed contact go; the rest stays.
	gid, err := db.PushOffline(ctx, keeper, time.Now(), []byte("<body>KEEPER-OFFLINE-GONE-19fe</body>"), 0)
	must(err)
	_, err = db.PushOffline(ctx, keeper, time.Now(), []byte("<body>KEEPER-OFFLINE-KEPT-2bad</body>"), 0)
	must(err)
	must(db.SetVCard(ctx, keeper, []byte("<FN>KEEPER-VCARD-c0ff</FN>")))
	_, err = db.PutRosterItem(ctx, keeper, store.RosterItem{JID: "a@example.org", Name: "KEEPER-ROSTER-d00d"})
	must(err)
	_, err = db.PutRosterItem(ctx, keeper, store.RosterItem{JID: "b@example.org", Name: "KEEPER-ROSTER-GONE-8e8e"})
	must(err)
	for _, m := range append(append([]string(nil), gone...), kept...) {
		if !fileContains(t, path, m) {
			t.Fatalf("marker %q not in the file before deletion; the test proves nothing", m)
		}
	}

	must(db.DeleteOffline(ctx, keeper, gid))
	_, err = db.DeleteRosterItem(ctx, keeper, "b@example.org")
	must(err)
	must(db.DeleteUser(ctx, victim)) // scrubs
	for _, m := range gone {
		if fileContains(t, path, m) {
			t.Errorf("deleted marker %q is still in the database file", m)
		}
	}
	for _, m := range kept {
		if !fileContains(t, path, m) {
			t.Errorf("kept marker %q is missing from the database file", m)
		}
	}
	must(db.Check(ctx))
	if vc, err := db.VCard(ctx, keeper); err != nil || string(vc) != "<FN>KEEPER-VCARD-c0ff</FN>" {
		t.Errorf("keeper's vCard after scrub = %q, %v", vc, err)
	}
	if msgs, err := db.Offline(ctx, keeper); err != nil || len(msgs) != 1 || !bytes.Contains(msgs[0].Stanza, []byte("KEPT")) {
		t.Errorf("keeper's offline queue after scrub = %v, %v", msgs, err)
	}

	// The file keeps working: write over the zeroed pages, then reopen.
	for i := range 200 {
		_, err := db.PushOffline(ctx, keeper, time.Now(), bytes.Repeat([]byte{'x'}, 100+i*10), 0)
		must(err)
	}
	must(db.Check(ctx))
	must(db.Close())
	db2 := storetest.OpenPath(t, path)
	if msgs, err := db2.Offline(ctx, keeper); err != nil || len(msgs) != 201 {
		t.Errorf("after reopen: %d offline messages, %v; want 201", len(msgs), err)
	}
	// A scrub with nothing new to do writes nothing and fails nothing.
	must(db2.Scrub(ctx))
	must(db2.Scrub(ctx))
}

// TestScrubConcurrent runs Scrub while other goroutines read and write.
// Run with -race; it checks consistency and that nothing committed is lost.
func TestScrubConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db := storetest.OpenPath(t, path)
	ctx := t.Context()
	const workers, rounds = 4, 25

	var wg sync.WaitGroup
	errs := make(chan error, workers*3+1)
	for w := range workers {
		user := storetest.User(t, db, fmt.Sprintf("user%d", w))
		wg.Add(2)
		go func() { // writer: push two, delete one, change the roster
			defer wg.Done()
			for i := range rounds {
				id, err := db.PushOffline(ctx, user, time.Now(), fmt.Appendf(nil, "<m>drop-%d-%d</m>", w, i), 0)
				if err == nil {
					_, err = db.PushOffline(ctx, user, time.Now(), fmt.Appendf(nil, "<m>keep-%d-%d</m>", w, i), 0)
				}
				if err == nil {
					err = db.DeleteOffline(ctx, user, id)
				}
				if err == nil {
					_, err = db.PutRosterItem(ctx, user, store.RosterItem{JID: fmt.Sprintf("c%d@example.org", i%7), Name: fmt.Sprint(i)})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			for range rounds {
				if _, err := db.Offline(ctx, user); err != nil {
					errs <- err
					return
				}
				if _, err := db.Credentials(ctx, user); err != nil {
					errs <- err
					return
				}
				if _, _, err := db.Roster(ctx, user); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	scrubbed := make(chan int)
	go func() { // scrubber, until the others are done
		n := 0
		defer func() { scrubbed <- n }()
		for {
			if err := db.Scrub(ctx); err != nil {
				errs <- err
				return
			}
			n++
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(done)
	if n := <-scrubbed; n < 2 {
		t.Logf("only %d scrubs ran concurrently", n)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := db.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for w := range workers {
		msgs, err := db.Offline(ctx, fmt.Sprintf("user%d", w))
		if err != nil || len(msgs) != rounds {
			t.Fatalf("user%d: %d messages, %v; want %d", w, len(msgs), err, rounds)
		}
		for i, m := range msgs {
			if want := fmt.Sprintf("<m>keep-%d-%d</m>", w, i); string(m.Stanza) != want {
				t.Errorf("user%d message %d = %q, want %q", w, i, m.Stanza, want)
			}
		}
	}
	if hits := storetest.ScanDir(t, filepath.Dir(path), "drop-"); len(hits) != 0 {
		t.Errorf("deleted messages still on disk after the final Scrub: %q", hits)
	}
}
