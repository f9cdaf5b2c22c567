// Package storetest opens throw-away databases for tests: Open, OpenPath
// and OpenLimits make a store.DB in a temporary file that bbolt's
// consistency check verifies on cleanup; User creates an account; ScanDir
// scans a data directory's bytes for markers (the privacy tests: what was
// deleted must not be readable in any file).
//
// It is imported by tests only.
package storetest

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"chatbx/store"
)

// Open opens a new database in t.TempDir(). On cleanup it runs bbolt's
// consistency check, failing the test on any problem, and closes the
// database. The file is opened with store.Options.NoSync, since it does
// not outlive the test: crash tests open their files with store.Open.
func Open(t testing.TB) *store.DB {
	t.Helper()
	return OpenPath(t, filepath.Join(t.TempDir(), "chatbx.db"))
}

// OpenPath is Open for a given path, for tests that scan or reopen the file.
func OpenPath(t testing.TB, path string) *store.DB {
	t.Helper()
	return OpenLimits(t, path, store.Limits{})
}

// OpenLimits is OpenPath with the given per-user caps (zero fields are the
// defaults), for tests that show a cap holding.
func OpenLimits(t testing.TB, path string, lim store.Limits) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{NoSync: true, Limits: lim})
	if err != nil {
		t.Fatalf("store.Open(%q) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Check(context.Background()); err != nil {
			t.Errorf("consistency check of %s: %v", path, err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close %s: %v", path, err)
		}
	})
	return db
}

// User creates an account with a cheap valid verifier and returns its name.
// The password is "secret"; the iteration count is store.MinIterations.
func User(t testing.TB, db *store.DB, name string) string {
	t.Helper()
	c, err := store.DeriveCredentials("secret", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(context.Background(), name, c); err != nil {
		t.Fatalf("CreateUser(%q) = %v", name, err)
	}
	return name
}

// ScanDir reads every regular file under dir and returns one
// "path: marker" entry for each marker found in a file's bytes, for the
// privacy tests that prove deleted data is gone from the data directory.
func ScanDir(t testing.TB, dir string, markers ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				hits = append(hits, path+": "+m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	return hits
}
