package store_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

// BenchmarkPushOffline measures one committed offline push: "fsync" with
// the durable settings the server uses (dominated by the disk's fsync
// latency), "nosync" the CPU cost alone.
func BenchmarkPushOffline(b *testing.B) {
	stanza := []byte("<message from='bob@example.org/phone' to='alice@example.org' type='chat' id='abc123'><body>hello there, how are you today?</body></message>")
	for _, tc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := store.Open(filepath.Join(b.TempDir(), "chatbx.db"), store.Options{NoSync: tc.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := b.Context()
			user := storetest.User(b, db, "alice")
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.PushOffline(ctx, user, now, stanza, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCredentials measures the login-path lookup of SCRAM verifiers.
func BenchmarkCredentials(b *testing.B) {
	db := storetest.Open(b)
	ctx := b.Context()
	for i := range 1000 {
		c, err := store.DeriveCredentials("secret", store.MinIterations)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.CreateUser(ctx, fmt.Sprintf("user%04d", i), c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Credentials(ctx, "user0500"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRosterGet measures reading a roster of 100 items.
func BenchmarkRosterGet(b *testing.B) {
	db := storetest.Open(b)
	ctx := b.Context()
	user := storetest.User(b, db, "alice")
	for i := range 100 {
		it := store.RosterItem{JID: fmt.Sprintf("contact%03d@example.org", i), Name: fmt.Sprintf("Contact %d", i), Groups: []string{"Friends"}, Sub: store.SubBoth}
		if _, err := db.PutRosterItem(ctx, user, it); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, items, err := db.Roster(ctx, user); err != nil || len(items) != 100 {
			b.Fatal(len(items), err)
		}
	}
}

// BenchmarkScrub measures Scrub on a file of about 24 MB in which a
// quarter of the pages are free: "idle" finds them already zeroed (the
// retention tick's usual case), "dirty" deletes 100 messages first.
func BenchmarkScrub(b *testing.B) {
	db := storetest.Open(b)
	ctx := b.Context()
	stanza := make([]byte, 1000)
	for i := range stanza {
		stanza[i] = 'a' + byte(i%26)
	}
	var ids []uint64
	for u := range 20 {
		user := storetest.User(b, db, fmt.Sprintf("user%02d", u))
		for range 10 {
			var batch []uint64
			for range 100 {
				id, err := db.PushOffline(ctx, user, time.Now(), stanza, 0)
				if err != nil {
					b.Fatal(err)
				}
				batch = append(batch, id)
			}
			if u == 0 {
				ids = append(ids, batch...)
			}
		}
		// Free some pages in every user's queue.
		msgs, _ := db.Offline(ctx, user)
		for i := 0; i < len(msgs); i += 4 {
			db.DeleteOffline(ctx, user, msgs[i].ID)
		}
	}
	if err := db.Scrub(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("idle", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := db.Scrub(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dirty", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for _, id := range ids[:100] {
				if _, err := db.PushOffline(ctx, "user00", time.Now(), stanza, 0); err != nil {
					b.Fatal(err)
				}
				db.DeleteOffline(ctx, "user00", id)
			}
			ids = ids[100:]
			if len(ids) < 100 {
				msgs, _ := db.Offline(ctx, "user00")
				for _, m := range msgs {
					ids = append(ids, m.ID)
				}
			}
			b.StartTimer()
			if err := db.Scrub(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
