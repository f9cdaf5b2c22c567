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
