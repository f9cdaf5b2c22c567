package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"chatbx/store"
)

// TestUserLockDirect locks and unlocks an account with no server running
// (the CLI opens the database itself); the next server start loads the
// flag (TestE2ELock covers the running server).
func TestUserLockDirect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	te := newTestEnv(t)
	run := func(stdin string, want int, args ...string) string {
		t.Helper()
		if got := te.runWith(stdin, append(args, "--dev", "--data-dir", dir)...); got != want {
			t.Fatalf("run(%q) = %d, want %d\nstdout: %s\nstderr: %s", args, got, want, te.out, te.errOut)
		}
		return te.out.String()
	}
	run("carol-pw\n", exitOK, "user", "add", "carol")
	if out := run("", exitOK, "user", "lock", "Carol"); !strings.Contains(out, "user carol locked") {
		t.Errorf("user lock printed %q", out)
	}
	run("", exitError, "user", "lock", "nobody")
	if !strings.Contains(te.errOut.String(), "no such user: nobody") {
		t.Errorf("user lock nobody: stderr %q", te.errOut)
	}
	run("", exitUsage, "user", "lock")
	locked := func() bool {
		t.Helper()
		db, err := store.Open(filepath.Join(dir, dbFileName), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		l, _, err := db.Locked(context.Background(), "carol")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if !locked() {
		t.Fatal("carol not locked in the store")
	}
	if out := run("", exitOK, "user", "unlock", "carol"); !strings.Contains(out, "user carol unlocked") {
		t.Errorf("user unlock printed %q", out)
	}
	if locked() {
		t.Error("carol still locked after user unlock")
	}
}
