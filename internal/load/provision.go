package load

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"chatbx/store"
)

// Provision creates accounts prefix+"0" … prefix+(n-1) with password in db,
// deriving their SCRAM verifiers (PBKDF2, store.MinIterations) on every
// CPU. Existing accounts are left as they are and counted in existed.
// It is for load tests: chatbx has in-band registration off by default.
func Provision(ctx context.Context, db *store.DB, prefix, password string, n int) (created, existed int, err error) {
	type result struct{ created, existed bool }
	results := make([]result, n)
	var errs errorLog
	parallel(ctx, n, runtime.GOMAXPROCS(0), func(i int) {
		user := fmt.Sprint(prefix, i)
		if ok, err := db.UserExists(ctx, user); err == nil && ok {
			results[i].existed = true
			return
		}
		c, err := store.DeriveCredentials(password, store.MinIterations)
		if err != nil {
			errs.add(err)
			return
		}
		switch err := db.CreateUser(ctx, user, c); {
		case errors.Is(err, store.ErrExists):
			results[i].existed = true
		case err != nil:
			errs.add(err)
		default:
			results[i].created = true
		}
	})
	for _, r := range results {
		if r.created {
			created++
		}
		if r.existed {
			existed++
		}
	}
	if n := errs.Count(); n > 0 {
		return created, existed, fmt.Errorf("load: provision: %d errors:\n%s", n, errs.String())
	}
	return created, existed, ctx.Err()
}
