package store_test

import (
	"fmt"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

// BenchmarkPutUploadQuota measures a slot request with the quota on for
// an account that already holds 5,000 uploads: the check reads the
// running total, so the cost does not grow with the records.
func BenchmarkPutUploadQuota(b *testing.B) {
	db := storetest.Open(b)
	ctx := b.Context()
	user := storetest.User(b, db, "alice")
	lim := store.UploadLimits{Quota: 1 << 40}
	for i := range 5000 {
		u := slot(fmt.Sprintf("old%05d", i), 1000, time.Duration(i)*time.Second)
		if err := db.PutUpload(ctx, user, u, lim); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		u := slot(fmt.Sprintf("new%08d", i), 1000, 2*time.Hour+time.Duration(i)*time.Millisecond)
		if err := db.PutUpload(ctx, user, u, lim); err != nil {
			b.Fatal(err)
		}
	}
}
