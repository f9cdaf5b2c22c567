package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
)

const crashEnv = "CHATBX_STORE_CRASH_CHILD"

// TestCrashChild is the child of TestCrash: it writes offline messages in a
// loop (deleting every second one and scrubbing now and then) and prints
// "<id> <n>" after each committed push of a message it keeps, until killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("child of TestCrash only")
	}
	ctx := context.Background()
	db, err := store.Open(path, store.Options{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if ok, _ := db.UserExists(ctx, "alice"); !ok {
		c, err := store.DeriveCredentials("secret", store.MinIterations)
		if err == nil {
			err = db.CreateUser(ctx, "alice", c)
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	for n := 0; ; n++ {
		id, err := db.PushOffline(ctx, "alice", time.Now(), fmt.Appendf(nil, "<message n='%d'/>", n), 0)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("%d %d\n", id, n) // committed: PushOffline returned after fsync
		drop, err := db.PushOffline(ctx, "alice", time.Now(), []byte("<message>dropped</message>"), 0)
		if err == nil {
			err = db.DeleteOffline(ctx, "alice", drop)
		}
		if err == nil && n%10 == 0 {
			err = db.Scrub(ctx)
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
}

// TestCrash kills a writing process with SIGKILL three times and checks
// after each kill that the file is consistent and holds every message the
// child reported as committed.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	committed := make(map[uint64]string)
	for round := range 3 {
		killAfter := 40 + 25*round
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		seen, killed := 0, false
		for sc.Scan() {
			line := sc.Text()
			fields := strings.Fields(line)
			if len(fields) != 2 || fields[0] == "error" {
				if strings.HasPrefix(line, "error") {
					t.Errorf("round %d: child: %s", round, line)
				}
				continue // test framework output
			}
			id, err1 := strconv.ParseUint(fields[0], 10, 64)
			n, err2 := strconv.Atoi(fields[1])
			if err1 != nil || err2 != nil {
				continue
			}
			committed[id] = fmt.Sprintf("<message n='%d'/>", n)
			if seen++; seen == killAfter && !killed {
				cmd.Process.Kill() // SIGKILL: no deferred code, no Close
				killed = true
			}
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !killed || !errors.As(err, &exit) {
			t.Fatalf("round %d: child ended with %v after %d commits, want to kill it", round, err, seen)
		}

		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if err := db.Check(t.Context()); err != nil {
			t.Errorf("round %d: consistency after kill: %v", round, err)
		}
		msgs, err := db.Offline(t.Context(), "alice")
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		stored := make(map[uint64]string, len(msgs))
		for _, m := range msgs {
			stored[m.ID] = string(m.Stanza)
		}
		for id, want := range committed {
			if got, ok := stored[id]; !ok || got != want {
				t.Errorf("round %d: committed message %d = %q (present %v), want %q", round, id, got, ok, want)
			}
		}
		// At most the push after the last report and one "dropped" message
		// whose delete had not committed can be extra.
		if extra := len(msgs) - len(committed); extra < 0 || extra > 2 {
			t.Errorf("round %d: %d stored messages for %d committed", round, len(msgs), len(committed))
		}
		// Forget unreported extras so the next round's count stays exact.
		var ids []uint64
		for id := range stored {
			if _, ok := committed[id]; !ok {
				ids = append(ids, id)
			}
		}
		if err := db.DeleteOffline(t.Context(), "alice", ids...); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	storetest.OpenPath(t, path) // final consistency check on cleanup
}
