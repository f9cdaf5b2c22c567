package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/server/xmpptest"
)

func TestRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := t.TempDir()
	te := newTestEnv(t)
	const pw = "rita-pw-0f0f"
	for _, u := range []string{"rita", "sam"} {
		if code := te.runWith(pw+"\n", "user", "add", "--dev", "--data-dir", dir, u); code != exitOK {
			t.Fatalf("user add = %d: %s", code, te.errOut)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, uploadsDir, "f0e1d2c3"), []byte("upload content"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, stop := runTestServer(t, dir, nil)
	pool := devPool(t, dir)
	addr := a.addrs.xmpp()[0].String()

	// Traffic while the backups are taken: rita sends sam (offline)
	// messages, each confirmed by a ping round trip.
	c := xmpptest.Login(t, addr, "localhost", "rita", pw, xmpptest.Options{Pool: pool})
	done, running := make(chan struct{}), make(chan struct{})
	var (
		wg      sync.WaitGroup
		rounds  int
		trafErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			c.SendRaw(`<message to='sam@localhost' type='chat'><body>traffic</body></message>`)
			c.SendRaw(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
			for {
				el, err := c.Next()
				if err != nil {
					trafErr = err
					if rounds == 0 {
						close(running)
					}
					return
				}
				if el.Local == "iq" {
					break
				}
			}
			if rounds++; rounds == 1 {
				close(running)
			}
		}
	}()
	<-running
	plain, withUp := filepath.Join(out, "plain.db"), filepath.Join(out, "with.tar")
	if code := te.runWith("", "backup", "--dev", "--data-dir", dir, plain); code != exitOK {
		t.Fatalf("backup = %d: %s", code, te.errOut)
	}
	if code := te.runWith("", "backup", "--uploads", "--dev", "--data-dir", dir, withUp); code != exitOK {
		t.Fatalf("backup --uploads = %d: %s", code, te.errOut)
	}
	if !strings.Contains(te.out.String(), "1 upload files") {
		t.Errorf("backup --uploads output: %s", te.out)
	}
	// While the server runs, restore refuses.
	if code := te.runWith("", "restore", "--force", "--dev", "--data-dir", dir, plain); code != exitError || !strings.Contains(te.errOut.String(), "stop it first") {
		t.Errorf("restore onto a running server = %d: %s", code, te.errOut)
	}
	close(done)
	wg.Wait()
	if trafErr != nil {
		t.Fatalf("traffic: %v", trafErr)
	}
	t.Logf("%d messages sent while the backups were taken", rounds)
	c.Close()
	stop()

	// Into a new directory, then start and log in.
	dir2 := t.TempDir()
	if code := te.runWith("", "restore", "--dev", "--data-dir", dir2, withUp); code != exitOK {
		t.Fatalf("restore = %d: %s", code, te.errOut)
	}
	if b, err := os.ReadFile(filepath.Join(dir2, uploadsDir, "f0e1d2c3")); err != nil || string(b) != "upload content" {
		t.Errorf("restored upload: %q, %v", b, err)
	}
	// Over existing data without --force: refused, nothing changed.
	if code := te.runWith("", "restore", "--dev", "--data-dir", dir2, plain); code != exitError || !strings.Contains(te.errOut.String(), "--force") {
		t.Errorf("restore over existing data = %d: %s", code, te.errOut)
	}
	// A damaged backup: refused before anything moves.
	bad := filepath.Join(out, "bad.db")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := te.runWith("", "restore", "--force", "--dev", "--data-dir", dir2, bad); code != exitError {
		t.Errorf("restore of a damaged backup = %d: %s", code, te.errOut)
	}
	dir3 := t.TempDir()
	if code := te.runWith("", "restore", "--dev", "--data-dir", dir3, bad); code != exitError {
		t.Errorf("restore of a damaged backup = %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir3, dbFileName)); err == nil {
		t.Error("a damaged backup left a database behind")
	}
	// With --force the plain backup replaces the database; the old one is kept aside.
	if code := te.runWith("", "restore", "--force", "--dev", "--data-dir", dir2, plain); code != exitOK {
		t.Fatalf("restore --force = %d: %s", code, te.errOut)
	}
	if m, _ := filepath.Glob(filepath.Join(dir2, dbFileName+".replaced-*")); len(m) != 1 {
		t.Errorf("replaced database kept as %v", m)
	}
	b := startTestServer(t, dir2)
	xmpptest.Login(t, b.addrs.xmpp()[0].String(), "localhost", "rita", pw, xmpptest.Options{Pool: devPool(t, dir2)}).Close()
	xmpptest.Login(t, b.addrs.xmpp()[0].String(), "localhost", "sam", pw, xmpptest.Options{Pool: devPool(t, dir2)}).Close()
}

// A backup archive with anything but chatbx.db and plain upload names is
// refused before anything moves.
func TestRestoreHostileArchive(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"../escape", "uploads/../../escape", "uploads/a/b", "/abs", "other.db"} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			for _, n := range []string{dbFileName, name} {
				tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
				tw.Write([]byte("x"))
			}
			tw.Close()
			src := filepath.Join(t.TempDir(), "b.tar")
			if err := os.WriteFile(src, b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if _, err := restore(t.Context(), src, dir, false, time.Now()); err == nil || !strings.Contains(err.Error(), "unexpected entry") {
				t.Errorf("restore = %v, want unexpected entry", err)
			}
			if _, err := os.Stat(filepath.Join(dir, dbFileName)); err == nil {
				t.Error("a database was moved in")
			}
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "escape")); len(m) > 0 {
				t.Error("a file escaped the data directory")
			}
		})
	}
}
